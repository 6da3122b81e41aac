//! Contact commands: add, show, list, edit, set, tag, rm, link.

use clap::Args;
use kith_core::model::{Labeled, Role};
use kith_core::time::Date;

use super::output::io_err;
use super::{Ctx, Out};
use crate::app::{self, AppError, NewContact};

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
        return out.json(&super::keep::show_json(&app, &v)?).map_err(io_err);
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
    for (k, val) in super::keep::show_rows(&app, id)? {
        row(&k, val);
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

// Moved to their own files; re-exported so `contacts::X` keeps naming them.
pub(super) use super::edit::conflict_line;
pub use super::edit::{edit, EditArgs};
pub use super::list::{list, ListArgs};
pub use super::set::{link, rm, set, tag, LinkArgs, RmArgs, SetArgs, TagArgs};
