//! Note, interaction, reminder, search and maintenance commands.

use std::io::Read;

use clap::Args;
use kith_core::time::Date;

use super::output::io_err;
use super::{Ctx, Out};
use crate::app::{self, App, AppError};

#[derive(Args, Debug)]
pub struct NoteArgs {
    /// `REF [TEXT]`: one contact, then the text (with no text, $EDITOR opens; `-` reads
    /// standard input). For several contacts, give each with --about (every argument is then
    /// text) or put `--` before the text: `kith note ada babbage -- Met both`.
    #[arg(value_name = "ARGS")]
    pub args: Vec<String>,
    /// The text, after `--`
    #[arg(last = true, value_name = "TEXT", hide = true)]
    pub rest: Vec<String>,
    /// A contact the note is about (repeat); every positional argument is then text
    #[arg(long, short = 'a', value_name = "REF")]
    pub about: Vec<String>,
    /// A tag for the note (repeat)
    #[arg(long = "tag", short = 't')]
    pub tags: Vec<String>,
}

/// Which arguments of `note`/`log` name contacts and which are the text, without guessing:
/// `--about REF` (repeatable) makes every positional argument text; `REFS... -- TEXT` splits at
/// the `--`; otherwise the first argument is the one contact and the rest is the text (for
/// `log`, whose text is required, the last argument is the text and the others contacts, as
/// before). Returns the references and the text (None: none given).
struct Split {
    pub refs: Vec<String>,
    pub text: Option<String>,
}

fn split_args(
    cmd: &str,
    about: &[String],
    args: &[String],
    rest: &[String],
    many_refs: bool,
) -> Result<Split, AppError> {
    let usage = format!(
        "kith {cmd} REF TEXT, or kith {cmd} --about REF --about REF TEXT, or kith {cmd} REF REF -- TEXT"
    );
    let joined = |v: &[String]| (!v.is_empty()).then(|| v.join(" "));
    if !about.is_empty() {
        let all: Vec<String> = args.iter().chain(rest).cloned().collect();
        return Ok(Split {
            refs: about.to_vec(),
            text: joined(&all),
        });
    }
    if !rest.is_empty() {
        if args.is_empty() {
            return Err(AppError::hint(
                format!("kith {cmd} needs a contact before `--`"),
                usage,
            ));
        }
        return Ok(Split {
            refs: args.to_vec(),
            text: joined(rest),
        });
    }
    match args {
        [] => Err(AppError::hint(format!("kith {cmd} needs a contact"), usage)),
        [one] => Ok(Split {
            refs: vec![one.clone()],
            text: None,
        }),
        [refs @ .., last] if last == "-" || many_refs => Ok(Split {
            refs: refs.to_vec(),
            text: Some(last.clone()),
        }),
        [one, text] => Ok(Split {
            refs: vec![one.clone()],
            text: Some(text.clone()),
        }),
        _ => Err(AppError::hint(
            format!(
                "kith {cmd} got {} arguments: it cannot tell which are contacts and which is the text",
                args.len()
            ),
            format!("quote the text, or for several contacts use --about for each or `--` before the text: {usage}"),
        )),
    }
}

/// Warns when the text of `kith note REF TEXT` is one word that names a contact: the user may
/// have meant a note about both.
fn warn_text_is_contact(app: &App, text: &str, out: &mut Out) -> Result<(), AppError> {
    if app.text_names_contact(text)? {
        out.warn(format!(
            "'{text}' is taken as the text; for a note about both contacts, use `--about REF` for each (or `--` before the text)"
        ));
    }
    Ok(())
}

pub fn note(ctx: &Ctx, a: NoteArgs, out: &mut Out) -> Result<(), AppError> {
    let split = split_args("note", &a.about, &a.args, &a.rest, false)?;
    let app = ctx.open()?;
    if a.about.is_empty() && a.rest.is_empty() && a.args.len() == 2 {
        warn_text_is_contact(&app, &a.args[1], out)?;
    }
    let refs = split.refs;
    let text = match split.text {
        Some(t) if t == "-" => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).map_err(|e| {
                AppError::user(format!("cannot read the note from standard input: {e}"))
            })?;
            Some(s)
        }
        t => t,
    };
    // Fail on a bad reference before $EDITOR opens; the write resolves them again.
    app.resolve_contacts(&refs)?;
    let body = match text {
        Some(t) => t,
        None => {
            let dir = tempfile::tempdir()
                .map_err(|e| AppError::user(format!("cannot create a temporary file: {e}")))?;
            let path = dir.path().join("kith-note.md");
            std::fs::write(&path, "\n# Write the note above. Lines starting with # are ignored; an empty note is discarded.\n")
                .map_err(|e| AppError::user(format!("cannot write {}: {e}", path.display())))?;
            super::run_editor(&path)?;
            let s = std::fs::read_to_string(&path)
                .map_err(|e| AppError::user(format!("cannot read back the note: {e}")))?;
            s.lines()
                .filter(|l| !l.starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n")
                .trim()
                .to_string()
        }
    };
    let id = app.note_refs(&refs, &body, &a.tags)?;
    if ctx.json {
        out.json(&serde_json::json!({ "id": id })).map_err(io_err)
    } else {
        out.line(id.to_hex()).map_err(io_err)
    }
}

#[derive(Args, Debug)]
pub struct LogArgs {
    /// Contacts involved, then the summary text (the last argument). With --about, every
    /// argument is text; `REF... -- TEXT` also works.
    #[arg(value_name = "ARGS")]
    pub args: Vec<String>,
    /// The text, after `--`
    #[arg(last = true, value_name = "TEXT", hide = true)]
    pub rest: Vec<String>,
    /// A contact involved (repeat); every positional argument is then text
    #[arg(long, short = 'a', value_name = "REF")]
    pub about: Vec<String>,
    /// meeting, call, email, message, coffee, event or other (any word)
    #[arg(long, short = 'k')]
    pub kind: String,
    /// When it happened: YYYY-MM-DD, today, yesterday (default: today)
    #[arg(long, value_name = "DATE", allow_hyphen_values = true)]
    pub on: Option<String>,
    /// A meeting you plan: --on is after today; it shows as planned in the timeline and counts
    /// as contact (for keep-in-touch) from its date on
    #[arg(long)]
    pub planned: bool,
}

pub fn log(ctx: &Ctx, a: LogArgs, out: &mut Out) -> Result<(), AppError> {
    let on = match &a.on {
        Some(s) => app::parse_date(s, ctx.today)?,
        None => ctx.today,
    };
    app::check_interaction_date(on, ctx.today, a.planned)?;
    let split = split_args("log", &a.about, &a.args, &a.rest, true)?;
    let Some(text) = split.text else {
        return Err(AppError::hint(
            "kith log needs at least one contact and a summary",
            "kith log REF... --kind KIND [--on DATE] TEXT",
        ));
    };
    let app = ctx.open()?;
    let id = app.log_refs(&split.refs, &a.kind, on, a.planned, &text)?;
    if ctx.json {
        out.json(&serde_json::json!({ "id": id })).map_err(io_err)
    } else {
        out.line(id.to_hex()).map_err(io_err)
    }
}

#[derive(Args, Debug)]
pub struct TimelineArgs {
    /// Contact: id prefix, name or email
    pub contact: String,
    /// Show the full text of each entry, not its first line
    #[arg(long)]
    pub full: bool,
}

pub fn timeline(ctx: &Ctx, a: TimelineArgs, out: &mut Out) -> Result<(), AppError> {
    let app = ctx.open_read()?;
    let id = app::resolve_contact(&app.vault.read()?, &a.contact)?;
    let mut rows = app.timeline(id)?;
    if a.full {
        for r in rows.iter_mut() {
            r.text = app.item_text(r.id)?;
        }
    }
    if ctx.json {
        return out.json(&rows).map_err(io_err);
    }
    if rows.is_empty() {
        out.note("nothing yet; add with `kith note`, `kith log` or `kith remind`");
        return Ok(());
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let kind = match r.kind {
                kith_core::Kind::Interaction if r.planned => format!("{} (planned)", r.label),
                kith_core::Kind::Interaction => r.label.clone(),
                kith_core::Kind::Reminder if r.done => "reminder ✓".into(),
                kith_core::Kind::Opportunity => format!("opportunity ({})", r.label),
                k => k.as_str().to_string(),
            };
            vec![r.date.clone(), r.id.short(), kind, r.text.clone()]
        })
        .collect();
    out.table(&table).map_err(io_err)
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("when").required(true).args(["on", "r#in"])))]
pub struct RemindArgs {
    /// Contact: id prefix, name or email
    pub contact: String,
    /// What to do
    pub text: String,
    /// Due date: YYYY-MM-DD, today, tomorrow
    #[arg(long, value_name = "DATE", allow_hyphen_values = true)]
    pub on: Option<String>,
    /// Due in: 3d, 2w, 6m, 1y
    #[arg(
        long = "in",
        id = "r#in",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    pub r#in: Option<String>,
}

pub fn remind(ctx: &Ctx, a: RemindArgs, out: &mut Out) -> Result<(), AppError> {
    let due = match (&a.on, &a.r#in) {
        (Some(d), _) => app::parse_date(d, ctx.today)?,
        (None, Some(s)) => app::parse_span(s)?.add_to(ctx.today),
        (None, None) => unreachable!("clap requires --on or --in"),
    };
    app::check_reminder_date(due, ctx.today)?;
    let app = ctx.open()?;
    let rid = app.remind_ref(&a.contact, due, &a.text)?;
    if ctx.json {
        out.json(&serde_json::json!({ "id": rid, "due": due }))
            .map_err(io_err)
    } else {
        out.line(rid.to_hex()).map_err(io_err)?;
        out.note(format!("due {due}"));
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct DueArgs {
    /// How far ahead to look for upcoming items
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "7d",
        allow_hyphen_values = true
    )]
    pub within: String,
}

pub fn due(ctx: &Ctx, a: DueArgs, out: &mut Out) -> Result<(), AppError> {
    let within = app::parse_span(&a.within)?;
    let app = ctx.open_read()?;
    let rows = app.due(within)?;
    if ctx.json {
        return out.json(&rows).map_err(io_err);
    }
    if rows.is_empty() {
        out.note(format!("nothing due within {within}"));
        return Ok(());
    }
    out.table_of(&rows, |r, [when, id, kind, name, text]| {
        use std::fmt::Write as _;
        let _ = match r.days {
            0 => write!(when, "today"),
            d if d < 0 => write!(when, "{} d overdue", -d),
            d => write!(when, "in {d} d"),
        };
        id.push_str(&r.id.short());
        kind.push_str(r.kind);
        name.push_str(&r.name);
        text.push_str(&r.text);
    })
    .map_err(io_err)
}

#[derive(Args, Debug)]
pub struct DoneArgs {
    /// Reminder: id prefix (from `kith due`) or words of its text
    pub reminder: String,
    /// Snooze instead: hide it until this much later (3d, 2w, ...)
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub snooze: Option<String>,
}

pub fn done(ctx: &Ctx, a: DoneArgs, out: &mut Out) -> Result<(), AppError> {
    let snooze: Option<Date> = match &a.snooze {
        Some(s) => Some(app::parse_span(s)?.add_to(ctx.today)),
        None => None,
    };
    let app = ctx.open()?;
    let f = app.done_ref(&a.reminder, snooze)?;
    match f.snoozed_until {
        Some(d) => out.note(format!("snoozed until {d}: {}", f.text)),
        None => out.note(format!("done: {}", f.text)),
    }
    Ok(())
}

// Moved to their own files; re-exported so `items::X` keeps naming them.
pub(super) use super::edit::edit_item;
pub use super::search::{reindex, search, SearchArgs};
