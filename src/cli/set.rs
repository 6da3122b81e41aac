//! Changing a contact from the command line: `kith set`, `kith tag`, `kith rm`, `kith link`;
//! each parses, calls the app (`App::set_field`, `App::retag`, `App::remove`, ...), renders.
//!
//! Invariant: the field rules live in `app::set`, not here.

use clap::Args;

use super::output::io_err;
use super::{Ctx, Out};
use crate::app::{self, AppError};

#[derive(Args, Debug)]
pub struct SetArgs {
    /// Contact: id prefix, name or email
    pub contact: String,
    /// Field: name, nickname, given, family, email, phone, url, org, title, birthday, met, help
    /// (how they could help),
    /// every, lead (how early `due` shows dates), date.LABEL (e.g. date.anniversary), kinds,
    /// archived, custom.KEY, or one field of an entry: GROUP.ENTRY.FIELD, e.g.
    /// org.Commodore.title or email.ada@example.com.label (ENTRY: the organisation, address,
    /// ... or one of its conflicting values)
    pub field: String,
    /// New value; an empty string clears the field
    #[arg(allow_hyphen_values = true)]
    pub value: String,
}

pub fn set(ctx: &Ctx, a: SetArgs, out: &mut Out) -> Result<(), AppError> {
    let app = ctx.open()?;
    let id = app::resolve_contact(&app.vault.read()?, &a.contact)?;
    let changed = app.set_field(id, &a.field, &a.value)?;
    out.note(if changed { "updated" } else { "unchanged" });
    Ok(())
}

#[derive(Args, Debug)]
pub struct TagArgs {
    /// Contact: id prefix, name or email
    pub contact: String,
    /// +TAG adds a tag (a bare TAG too), -TAG removes one
    #[arg(required = true, allow_hyphen_values = true, num_args = 1..)]
    pub changes: Vec<String>,
}

pub fn tag(ctx: &Ctx, mut a: TagArgs, out: &mut Out) -> Result<(), AppError> {
    // `-TAG` values swallow later flags; accept a trailing --json anyway.
    let json = ctx.json || a.changes.iter().any(|c| c == "--json");
    a.changes.retain(|c| c != "--json");
    let app = ctx.open()?;
    let id = app::resolve_contact(&app.vault.read()?, &a.contact)?;
    let mut add = Vec::new();
    let mut del = Vec::new();
    for ch in &a.changes {
        if let Some(t) = ch.strip_prefix('-') {
            del.push(t.to_string());
        } else {
            add.push(ch.trim_start_matches('+').to_string());
        }
    }
    let (changed, tags) = app.retag(id, &add, &del)?;
    if json {
        out.json(&serde_json::json!({"id": id, "tags": tags}))
            .map_err(io_err)?;
    } else {
        out.note(format!(
            "{}tags: {}",
            if changed { "" } else { "unchanged; " },
            tags.join(", ")
        ));
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Contact (id prefix, name or email), or a note, interaction or reminder (id prefix)
    pub target: String,
    /// Delete the document for good instead of archiving (contacts) or removing it (items)
    #[arg(long, conflicts_with = "undo")]
    pub purge: bool,
    /// Bring back an archived contact or a removed item
    #[arg(long)]
    pub undo: bool,
}

pub fn rm(ctx: &Ctx, a: RmArgs, out: &mut Out) -> Result<(), AppError> {
    let app = ctx.open()?;
    let id = match app::resolve_target(&app.vault.read()?, &a.target)? {
        app::Target::Contact(id) => id,
        app::Target::Item(id, kind) => {
            let k = kind.as_str();
            if a.purge {
                app.remove(id, true)?;
                out.note(format!("deleted {k} {} for good", id.short()));
                return Ok(());
            }
            let (_, changed) = app.remove_item(id, a.undo)?;
            let short = id.short();
            out.note(match (a.undo, changed) {
                (false, true) => {
                    format!("removed {k} {short}; undo with `kith rm --undo {short}`")
                }
                (false, false) => format!("{k} {short} was already removed"),
                (true, true) => format!("restored {k} {short}"),
                (true, false) => format!("{k} {short} was not removed"),
            });
            return Ok(());
        }
    };
    let name = app
        .vault
        .read()?
        .contact(id)?
        .map(|s| s.name)
        .unwrap_or_default();
    if a.undo {
        let changed = app.unarchive(id)?;
        out.note(if changed {
            format!("restored {name} ({})", id.short())
        } else {
            format!("{name} ({}) was not archived", id.short())
        });
        return Ok(());
    }
    if a.purge {
        let r = app.purge_everywhere(id)?;
        out.note(format!(
            "deleted {name} ({}) on every device, with {} item(s) linked only to them; {} shared item(s) keep their other contacts",
            id.short(),
            r.items_deleted,
            r.items_unlinked
        ));
    } else {
        app.remove(id, false)?;
        out.note(format!(
            "archived {name} ({}); undo with `kith rm --undo {}`",
            id.short(),
            id.short()
        ));
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct LinkArgs {
    /// The contact the link is recorded on
    pub from: String,
    /// The contact it points to
    pub to: String,
    /// The relation, one word: introduced-by, works-with, reports-to, ...
    #[arg(long = "as", value_name = "RELATION")]
    pub relation: String,
}

pub fn link(ctx: &Ctx, a: LinkArgs, out: &mut Out) -> Result<(), AppError> {
    let app = ctx.open()?;
    let r = app.vault.read()?;
    let from = app::resolve_contact(&r, &a.from)?;
    let to = app::resolve_contact(&r, &a.to)?;
    drop(r);
    let changed = app.link(from, to, &a.relation)?;
    out.note(if changed { "linked" } else { "already linked" });
    Ok(())
}
