//! Contact commands: add, show, list, edit, set, tag, rm, link.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use clap::Args;
use kith_core::model::{self, Labeled, Role};
use kith_core::time::Date;

use super::output::io_err;
use super::{Ctx, Out};
use crate::app::{self, AppError, ListQuery, NewContact, SortBy};
use crate::editbuf;
use crate::store::EncodedContacts;

#[derive(Args, Debug)]
pub struct AddArgs {
    /// The contact's name, e.g. "Ada Lovelace"
    pub name: String,
    /// An email address (repeat for several)
    #[arg(long = "email", short = 'e', value_name = "EMAIL")]
    pub emails: Vec<String>,
    /// A phone number (repeat for several)
    #[arg(long = "phone", short = 'p', value_name = "PHONE")]
    pub phones: Vec<String>,
    /// Organisation
    #[arg(long)]
    pub org: Option<String>,
    /// Title or role at the organisation
    #[arg(long)]
    pub title: Option<String>,
    /// A tag (repeat, or separate with commas)
    #[arg(long = "tag", short = 't', value_name = "TAG")]
    pub tags: Vec<String>,
    /// Relationship kind: mentor, mentee, colleague, client, friend, family, investor, ... (any word)
    #[arg(long = "kind", value_name = "KIND")]
    pub kinds: Vec<String>,
    /// How you met (free text)
    #[arg(long)]
    pub met: Option<String>,
    /// Keep-in-touch cadence, e.g. 30d, 2w, 6m, 1y
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub every: Option<String>,
    /// Birthday: YYYY-MM-DD, or --MM-DD (also MM-DD) when the year is unknown
    #[arg(long, value_name = "DATE", allow_hyphen_values = true)]
    pub birthday: Option<String>,
    /// A web address, e.g. a profile page (repeat for several)
    #[arg(long = "url", value_name = "URL")]
    pub urls: Vec<String>,
    /// Nickname
    #[arg(long)]
    pub nickname: Option<String>,
    /// A first note about the contact (saved with it; see `kith timeline`)
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
}

pub fn add(ctx: &Ctx, a: AddArgs, out: &mut Out) -> Result<(), AppError> {
    let app = ctx.open()?;
    let added = app.add_contact(NewContact {
        name: a.name,
        emails: a.emails,
        phones: a.phones,
        org: a.org,
        title: a.title,
        tags: a.tags,
        kinds: a.kinds,
        met: a.met,
        every: a.every,
        nickname: a.nickname,
        urls: a.urls,
        birthday: a.birthday,
        note: a.note,
    })?;
    for (email, other, name) in &added.duplicates {
        out.warn(format!(
            "{email} already belongs to {name} ({})",
            other.short()
        ));
    }
    for (other, name) in &added.same_name {
        out.warn(format!(
            "a contact named {name} already exists ({}); added another (`kith merge {} {}` joins them)",
            other.short(),
            other.short(),
            added.id.short()
        ));
    }
    if ctx.json {
        let v = match added.note {
            Some(n) => serde_json::json!({ "id": added.id, "note": n }),
            None => serde_json::json!({ "id": added.id }),
        };
        out.json(&v).map_err(io_err)?;
    } else {
        out.line(added.id.to_hex()).map_err(io_err)?;
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// Contact: id prefix, name or email
    pub contact: String,
}

fn day_text(today: Date, date: &str) -> String {
    let Ok(d) = date.parse::<Date>() else {
        return date.to_string();
    };
    let n = d.to_days() - today.to_days();
    match n {
        0 => format!("{date} (today)"),
        1 => format!("{date} (tomorrow)"),
        -1 => format!("{date} (yesterday)"),
        n if n < 0 => format!("{date} ({} days ago)", -n),
        n => format!("{date} (in {n} days)"),
    }
}

pub fn show(ctx: &Ctx, a: ShowArgs, out: &mut Out) -> Result<(), AppError> {
    let app = ctx.open_read()?;
    let id = match app::resolve_contact(&app.vault.read()?, &a.contact) {
        Ok(id) => id,
        // A contact from a person's slice (docs/design/sharing.md).
        Err(e) => return super::share::show_shared(ctx, &app, &a.contact, e, out),
    };
    let v = app.show(id)?;
    if ctx.json {
        return out.json(&v).map_err(io_err);
    }
    let c = &v.contact;
    let conflict = |field: &str| -> String {
        v.conflicts
            .iter()
            .find(|cf| cf.field == field)
            .map(|cf| format!("  [conflict: also {}]", cf.others.join(" | ")))
            .unwrap_or_default()
    };
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row = |k: &str, val: String| rows.push(vec![format!("{k}:"), val]);
    let mut title = c.name.clone();
    if c.archived {
        title.push_str("  [archived]");
    }
    title.push_str(&conflict("name"));
    row("name", title);
    row("id", v.id.to_hex());
    if !c.nickname.is_empty() {
        row("nickname", c.nickname.clone());
    }
    if !c.help.is_empty() {
        row("help", format!("{}{}", c.help, conflict("help")));
    }
    let labeled = |l: &Labeled| {
        if l.label.is_empty() {
            l.value.clone()
        } else {
            format!("{} ({})", l.value, l.label)
        }
    };
    for (k, e) in &c.emails {
        row(
            "email",
            labeled(e) + &conflict(&format!("emails.{k}.value")),
        );
    }
    for p in c.phones.values() {
        row("phone", labeled(p));
    }
    for u in c.urls.values() {
        row("url", labeled(u));
    }
    for r in c.orgs.values() {
        // A role with a title is a title (at an organisation); an organisation alone is an org.
        let label = if r.title.is_empty() { "org" } else { "title" };
        row(label, fmt_role(r));
    }
    for addr in c.addresses.values() {
        let parts: Vec<&str> = [
            &addr.street,
            &addr.locality,
            &addr.region,
            &addr.postcode,
            &addr.country,
        ]
        .iter()
        .map(|s| s.as_str())
        .filter(|s| !s.is_empty())
        .collect();
        row("address", parts.join(", "));
    }
    if !c.birthday.is_empty() {
        row(
            "birthday",
            birthday_text(&c.birthday, ctx.today) + &conflict("birthday"),
        );
    }
    for d in c.dates.values() {
        let when = human_date(&d.value);
        if d.label.is_empty() {
            row("date", when);
        } else {
            row("date", format!("{when} ({})", d.label));
        }
    }
    if !c.kinds.is_empty() {
        row(
            "kinds",
            c.kinds.iter().cloned().collect::<Vec<_>>().join(", "),
        );
    }
    if !c.tags.is_empty() {
        row(
            "tags",
            c.tags.iter().cloned().collect::<Vec<_>>().join(", "),
        );
    }
    if !c.every.is_empty() {
        row("every", c.every.clone() + &conflict("every"));
    }
    if !c.lead.is_empty() {
        row("lead", c.lead.clone() + &conflict("lead"));
    }
    row(
        "last contact",
        v.last_contact
            .as_deref()
            .map(|d| day_text(ctx.today, d))
            .unwrap_or_else(|| "never".into()),
    );
    if let Some(d) = &v.next_due {
        row("next due", day_text(ctx.today, d));
    }
    let give = app.ledger_of(&app.vault.read()?, id, false)?;
    if give.gave + give.got > 0 {
        row(
            "give and take",
            format!(
                "gave {}, got {} (balance {:+})",
                give.gave, give.got, give.balance
            ),
        );
    }
    for l in &v.links {
        let who = l
            .name
            .clone()
            .unwrap_or_else(|| format!("{} (unknown contact)", &l.to[..8.min(l.to.len())]));
        row("link", format!("{} {}", l.rel, who));
    }
    for (k, val) in &c.custom {
        row(k, val.clone());
    }
    if !c.extra.is_empty() {
        row("vcard extras", format!("{} kept properties", c.extra.len()));
    }
    row(
        "timeline",
        format!(
            "{} items (kith timeline {})",
            v.timeline_items,
            v.id.short()
        ),
    );
    out.table(&rows).map_err(io_err)?;
    if !c.met.is_empty() {
        out.line("how we met:").map_err(io_err)?;
        for l in c.met.lines() {
            out.line(format!("  {l}")).map_err(io_err)?;
        }
    }
    // Every conflict in words, with the command that settles it.
    for ct in &v.conflicts_explained {
        out.line(format!("conflict: {}", conflict_line(&v.id.short(), ct)))
            .map_err(io_err)?;
    }
    if !v.conflicts.is_empty() {
        out.note("hint: concurrent edits disagree; the value shown first is the one every device shows until you settle it");
    }
    Ok(())
}

use kith_core::time::MONTH_NAMES as MONTHS;

/// `--03-14` as "14 March", `1990-03-14` as "14 March 1990"; anything else as stored.
fn human_date(stored: &str) -> String {
    match stored.parse::<kith_core::time::PartialDate>() {
        Ok(p) => {
            let month = MONTHS[usize::from(p.month.clamp(1, 12)) - 1];
            match p.year {
                Some(y) => format!("{} {month} {y}", p.day),
                None => format!("{} {month}", p.day),
            }
        }
        Err(_) => stored.to_string(),
    }
}

/// A birthday for people: "14 March", or "14 March 1990 (age 36)" when the year is known (the
/// age on `today`, the pinned now).
fn birthday_text(stored: &str, today: Date) -> String {
    let text = human_date(stored);
    match stored.parse::<kith_core::time::PartialDate>() {
        Ok(kith_core::time::PartialDate {
            year: Some(y),
            month,
            day,
        }) => {
            let mut age = today.year - y;
            if (today.month, today.day) < (month, day) {
                age -= 1;
            }
            if age >= 0 {
                format!("{text} (age {age})")
            } else {
                text
            }
        }
        _ => text,
    }
}

fn fmt_role(r: &Role) -> String {
    let mut s = match (r.title.is_empty(), r.org.is_empty()) {
        (false, false) => format!("{} at {}", r.title, r.org),
        (true, false) => r.org.clone(),
        (false, true) => r.title.clone(),
        (true, true) => String::new(),
    };
    if !r.since.is_empty() || !r.until.is_empty() {
        s.push_str(&format!(" ({}–{})", r.since, r.until));
    }
    s
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only contacts with this tag (repeat: all must match)
    #[arg(long = "tag", short = 't', value_name = "TAG")]
    pub tags: Vec<String>,
    /// Only contacts of this relationship kind, e.g. mentor (repeat: all must match)
    #[arg(long = "kind", short = 'k', value_name = "KIND")]
    pub kinds: Vec<String>,
    /// Only contacts whose organisation contains this text
    #[arg(long)]
    pub org: Option<String>,
    /// Sort order
    #[arg(long, value_enum, default_value_t = SortBy::Name)]
    pub sort: SortBy,
    /// Reverse the sort order
    #[arg(long, short = 'r')]
    pub reverse: bool,
    /// Show at most N contacts (after sorting)
    #[arg(long, short = 'n', value_name = "N")]
    pub limit: Option<usize>,
    /// Leave out the column headers
    #[arg(long)]
    pub no_header: bool,
    /// Include archived contacts
    #[arg(long)]
    pub archived: bool,
}

pub fn list(ctx: &Ctx, a: ListArgs, out: &mut Out) -> Result<(), AppError> {
    let app = ctx.open_read()?;
    let mut buf = EncodedContacts::default();
    let q = ListQuery {
        only_tags: a.tags,
        kinds: a.kinds,
        org: a.org,
        sort: a.sort,
        reverse: a.reverse,
        limit: a.limit,
        archived: a.archived,
        ..Default::default()
    };
    let rows = app.list(&q, &mut buf)?;
    if ctx.json {
        return out.json(&rows).map_err(io_err);
    }
    if rows.is_empty() {
        out.note("no contacts; add one with `kith add NAME`");
        return Ok(());
    }
    let header = (!a.no_header).then_some(["ID", "NAME", "ROLE", "EMAIL", "LAST CONTACT"]);
    out.table_of_headed(header, &rows, |r, [id, name, role, email, last]| {
        id.push_str(&r.id.short());
        name.push_str(r.name);
        if r.archived {
            name.push_str(" [archived]");
        }
        role.push_str(r.title);
        if !r.org.is_empty() {
            if !r.title.is_empty() {
                role.push_str(", ");
            }
            role.push_str(r.org);
        }
        email.push_str(r.email);
        match r.last_contact {
            Some(d) => {
                let _ = write!(last, "{d}");
            }
            None => last.push('-'),
        }
    })
    .map_err(io_err)
}

#[derive(Args, Debug)]
pub struct EditArgs {
    /// Contact (id prefix, name or email), or a note, interaction or reminder (id prefix, as
    /// `kith timeline` shows it)
    pub target: String,
    /// Start from this file instead of the current text, e.g. the recovery file a failed edit
    /// left; it is merged against the version it was written from (its '# base:' line)
    #[arg(long, value_name = "FILE")]
    pub from: Option<std::path::PathBuf>,
}

/// Saves the user's text in the home's recovery folder; returns the hint to show.
pub(super) fn save_recovery(
    ctx: &Ctx,
    id: kith_core::DocId,
    reference: &str,
    text: &str,
) -> String {
    let rec_dir = ctx.home.join("recovery");
    let rec = rec_dir.join(format!("edit-{}-{}.txt", id.short(), ctx.now));
    match std::fs::create_dir_all(&rec_dir).and_then(|_| std::fs::write(&rec, text)) {
        Ok(()) => format!(
            "your text is saved in {}; fix it and run `kith edit {reference} --from {}`",
            rec.display(),
            rec.display()
        ),
        Err(err) => format!("could not save your text to {}: {err}", rec.display()),
    }
}

/// Opens the editor on `start` and returns the text the user saved, or None when it equals
/// `rendered` (nothing to do). A failing editor keeps the user's text in a recovery file.
pub(super) fn edit_text(
    ctx: &Ctx,
    id: kith_core::DocId,
    reference: &str,
    rendered: &str,
    start: &str,
) -> Result<Option<String>, AppError> {
    let dir = tempfile::tempdir()
        .map_err(|e| AppError::user(format!("cannot create a temporary file: {e}")))?;
    let path = dir.path().join(format!("kith-{}.txt", id.short()));
    std::fs::write(&path, start)
        .map_err(|e| AppError::user(format!("cannot write {}: {e}", path.display())))?;
    if let Err(e) = super::run_editor(&path) {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.trim().is_empty() || text == start {
            return Err(e);
        }
        let hint = save_recovery(ctx, id, reference, &text);
        return Err(AppError::hint(e.to_string(), hint));
    }
    let edited = std::fs::read_to_string(&path)
        .map_err(|e| AppError::user(format!("cannot read back {}: {e}", path.display())))?;
    Ok((edited != rendered).then_some(edited))
}

/// The starting text and the version it was written against: the rendered buffer, or the
/// file given with `--from`.
pub(super) fn start_text(
    a: &EditArgs,
    rendered: &str,
    current: &[automerge::ChangeHash],
) -> Result<(String, Vec<automerge::ChangeHash>), AppError> {
    let Some(file) = &a.from else {
        return Ok((rendered.to_string(), current.to_vec()));
    };
    let text = std::fs::read_to_string(file).map_err(|e| {
        AppError::hint(
            format!("cannot read {}: {e}", file.display()),
            "give the path of a saved edit buffer",
        )
    })?;
    let base = match editbuf::find_base(&text) {
        Some(b) => app::parse_heads(b)?,
        None => current.to_vec(),
    };
    Ok((text, base))
}

pub(super) fn parse_errors(errors: &[editbuf::ParseError]) -> String {
    let mut s = format!("edit buffer line {}: {}", errors[0].line, errors[0].msg);
    for e in &errors[1..] {
        s.push_str(&format!("; line {}: {}", e.line, e.msg));
    }
    s.push_str("; nothing changed");
    s
}

/// A conflict in words with the command that settles it.
pub(super) fn conflict_line(reference: &str, ct: &app::ConflictText) -> String {
    let values: Vec<String> = ct.values.iter().map(|v| format!("'{v}'")).collect();
    let settle = match &ct.set_field {
        Some(f) if f.contains(|c: char| c.is_whitespace() || c == '\'') => format!(
            "settle with `kith set {reference} '{}' VALUE`",
            f.replace('\'', "'\\''")
        ),
        Some(f) => format!("settle with `kith set {reference} {f} VALUE`"),
        None => format!("settle with `kith edit {reference}`"),
    };
    format!("{}: {} — {settle}", ct.what, values.join(" vs "))
}

pub fn edit(ctx: &Ctx, a: EditArgs, out: &mut Out) -> Result<(), AppError> {
    let app = ctx.open()?;
    match app::resolve_target(&app.vault.read()?, &a.target)? {
        app::Target::Contact(id) => edit_contact(ctx, &app, id, &a, out),
        app::Target::Item(id, _) => super::items::edit_item(ctx, &app, id, &a, out),
    }
}

fn edit_contact(
    ctx: &Ctx,
    app: &app::App,
    id: kith_core::DocId,
    a: &EditArgs,
    out: &mut Out,
) -> Result<(), AppError> {
    let view = app.show(id)?;
    let current = app.contact_for_edit(id)?;
    let reference = id.short();
    let names: BTreeMap<String, String> = view
        .links
        .iter()
        .filter_map(|l| l.name.clone().map(|n| (l.to.clone(), n)))
        .collect();
    let conflicts: Vec<String> = current
        .conflicts
        .iter()
        .map(|cf| conflict_line(&reference, &app::describe_conflict(&current.value, cf)))
        .collect();
    let rendered = editbuf::render(
        &id.to_hex(),
        &app::heads_text(&current.heads),
        &current.value,
        &conflicts,
        &names,
    );
    let (start, _) = start_text(a, &rendered, &current.heads)?;
    let Some(edited) = edit_text(ctx, id, &reference, &rendered, &start)? else {
        out.note("no changes");
        return Ok(());
    };
    // The version the text was written against: the one rendered, or the file's base line.
    let base = match editbuf::find_base(&edited) {
        Some(b) => app::parse_heads(b)?,
        None => current.heads.clone(),
    };
    let base_value = if base == current.heads {
        current.value.clone()
    } else {
        app.contact_at(id, &base)?
    };
    let check = |field: &str, v: &str| -> Result<String, String> {
        match field {
            "email" => app::check_email(v).map_err(|e| e.to_string()),
            "birthday" | "date" => app::parse_partial_date(v).map_err(|e| e.to_string()),
            "every" => app::parse_span(v)
                .map(|s| s.to_string())
                .map_err(|e| e.to_string()),
            "link" => {
                let r = app.vault.read().map_err(|e| e.to_string())?;
                app::resolve_contact(&r, v)
                    .map(|i| i.to_hex())
                    .map_err(|e| e.to_string())
            }
            _ => Ok(v.to_string()),
        }
    };
    let now = ctx.now;
    let mut n = 0;
    let mut new_key = || {
        n += 1;
        format!("{}{n}", app::entry_key(now))
    };
    let parsed = match editbuf::parse(&edited, &base_value, &mut new_key, &check) {
        Ok(Some(c)) => c,
        Ok(None) => {
            out.note("empty buffer: edit cancelled, nothing changed");
            return Ok(());
        }
        Err(errors) => {
            let hint = save_recovery(ctx, id, &reference, &edited);
            return Err(AppError::hint(parse_errors(&errors), hint));
        }
    };
    let summary = editbuf::summarize_contact(&base_value, &parsed);
    let outcome = match app.edit_contact(id, &base, &parsed) {
        Ok(o) => o,
        Err(e) => {
            let hint = save_recovery(ctx, id, &reference, &edited);
            return Err(AppError::hint(e.to_string(), hint));
        }
    };
    if !outcome.changed {
        out.note("no changes");
        return Ok(());
    }
    out.note(format!("updated {}", parsed.name));
    for line in &summary {
        out.note(format!("  {line}"));
    }
    let merged = app.contact_for_edit(id)?;
    for cf in &outcome.merged_conflicts {
        if current.conflicts.iter().any(|c| c.field == cf.field) {
            continue; // already there before this edit (and named in the buffer)
        }
        let ct = app::describe_conflict(&merged.value, cf);
        out.warn(format!(
            "conflict with a concurrent change: {}",
            conflict_line(&reference, &ct)
        ));
    }
    Ok(())
}

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
    let value = a.value.trim().to_string();
    let now = ctx.now;
    let field = a.field.to_lowercase();
    let changed = app.update_contact(id, |c, doc| {
        let settle = |doc: &mut automerge::AutoCommit, path: &str, v: &str| -> Result<(), AppError> {
            if model::contact_conflicts(doc).iter().any(|cf| cf.field == path) {
                model::settle_conflict(doc, path, v).map_err(app::am_err)?;
            }
            Ok(())
        };
        fn first_or_new<T: Default>(m: &mut BTreeMap<String, T>, now: i64) -> &mut T {
            let k = m.keys().next().cloned().unwrap_or_else(|| app::entry_key(now));
            m.entry(k).or_default()
        }
        match field.as_str() {
            "name" => {
                c.name = app::check_name(&value)?;
                settle(doc, "name", &c.name)?;
            }
            "nickname" => c.nickname = value.clone(),
            "given" => c.n.given = value.clone(),
            "family" => c.n.family = value.clone(),
            "birthday" => {
                c.birthday = if value.is_empty() { String::new() } else { app::parse_partial_date(&value)? };
                settle(doc, "birthday", &c.birthday)?;
            }
            "every" => {
                c.every = if value.is_empty() { String::new() } else { app::parse_span(&value)?.to_string() };
                settle(doc, "every", &c.every)?;
            }
            "met" => c.met = value.clone(),
            "help" => c.help = value.clone(),
            "kinds" | "kind" => c.kinds = app::clean_tags(std::slice::from_ref(&value))?,
            "archived" => {
                c.archived = match value.to_lowercase().as_str() {
                    "yes" | "true" | "1" => true,
                    "no" | "false" | "0" | "" => false,
                    other => return Err(AppError::user(format!("archived is true or false, not '{other}'"))),
                };
                settle(doc, "archived", if c.archived { "true" } else { "false" })?;
            }
            "email" | "phone" | "url" => {
                let map = match field.as_str() {
                    "email" => &mut c.emails,
                    "phone" => &mut c.phones,
                    _ => &mut c.urls,
                };
                if value.is_empty() {
                    map.clear();
                } else {
                    let v = if field == "email" { app::check_email(&value)? } else { value.clone() };
                    first_or_new(map, now).value = v;
                }
            }
            "org" | "title" => {
                if value.is_empty() && c.orgs.len() <= 1 && field == "org" {
                    c.orgs.clear();
                } else {
                    let r = first_or_new(&mut c.orgs, now);
                    if field == "org" {
                        r.org = value.clone();
                    } else {
                        r.title = value.clone();
                    }
                }
            }
            "lead" => {
                c.lead = if value.is_empty() { String::new() } else { crate::keep::parse_lead(&value)? };
                settle(doc, "lead", &c.lead)?;
            }
            f if f.starts_with("date.") && !f[5..].contains('.') => {
                crate::keep::set_date(c, &a.field[5..], &value, app::entry_key(now))?;
            }
            f if f.starts_with("custom.") && f.len() > 7 => {
                let key = a.field[7..].to_string();
                if value.is_empty() {
                    c.custom.remove(&key);
                } else {
                    c.custom.insert(key.clone(), value.clone());
                }
                settle(doc, &format!("custom.{key}"), &value)?;
            }
            f if f.contains('.') && app::entry_path(doc, c, &a.field)?.is_some() => {
                // GROUP.ENTRY.FIELD, e.g. org.Commodore.title: one field of one entry.
                let path = app::entry_path(doc, c, &a.field)?.expect("checked by the guard");
                let parts: Vec<&str> = path.splitn(3, '.').collect();
                let (group, key, fld) = (parts[0], parts[1], parts[2]);
                let v = if group == "emails" && fld == "value" && !value.is_empty() {
                    app::check_email(&value)?
                } else {
                    value.clone()
                };
                use kith_core::model::Record as _;
                match group {
                    "orgs" => c.orgs.get_mut(key).map(|r| r.set_field(fld, v.clone())),
                    "emails" => c.emails.get_mut(key).map(|r| r.set_field(fld, v.clone())),
                    "phones" => c.phones.get_mut(key).map(|r| r.set_field(fld, v.clone())),
                    "urls" => c.urls.get_mut(key).map(|r| r.set_field(fld, v.clone())),
                    "dates" => c.dates.get_mut(key).map(|r| r.set_field(fld, v.clone())),
                    "addresses" => c.addresses.get_mut(key).map(|r| r.set_field(fld, v.clone())),
                    _ => None,
                };
                settle(doc, &path, &v)?;
            }
            other => {
                return Err(AppError::hint(
                    format!("'{other}' is not a field kith can set"),
                    "fields: name, nickname, given, family, email, phone, url, org, title, birthday, met, every, lead, date.LABEL, kinds, archived, custom.KEY, or one field of an entry like org.ORGANISATION.title or email.ADDRESS.label (use `kith edit` for the rest)",
                ))
            }
        }
        Ok(())
    })?;
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
    let add = app::clean_tags(&add)?;
    let del = app::clean_tags(&del)?;
    let changed = app.update_contact(id, |c, _| {
        c.tags.extend(add.iter().cloned());
        for t in &del {
            c.tags.remove(t);
        }
        Ok(())
    })?;
    let r = app.vault.read()?;
    let tags = r.contact(id)?.map(|s| s.tags).unwrap_or_default();
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
        let changed = app.update_contact(id, |c, _| {
            c.archived = false;
            Ok(())
        })?;
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
