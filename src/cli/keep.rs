//! Relationship-keeping commands (issue 11): `digest`, `gave`, `got`, `ledger`.

pub mod opp;

use clap::Args;

use super::output::io_err;
use super::{Ctx, Out};
use crate::app::{self, AppError};
use crate::keep::DigestLine;

#[derive(Args, Debug)]
pub struct DigestArgs {
    /// How far ahead to look for dates and reminders
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "7d",
        allow_hyphen_values = true
    )]
    pub within: String,
}

pub fn digest(ctx: &Ctx, a: DigestArgs, out: &mut Out) -> Result<(), AppError> {
    let within = app::parse_span(&a.within)?;
    let app = ctx.open_read()?;
    let d = app.digest(within)?;
    if ctx.json {
        return out.json(&d).map_err(io_err);
    }
    if d.is_empty() {
        out.note(format!("nothing needs you today ({})", d.today));
        return Ok(());
    }
    let sections: [(&str, &Vec<DigestLine>); 7] = [
        ("Overdue keep-in-touch", &d.overdue),
        ("Fading ties", &d.fading),
        ("Dates coming up", &d.dates),
        ("Reminders", &d.reminders),
        ("Promises you made", &d.promises),
        ("Introductions", &d.introductions),
        ("Reconnect with", &d.reconnect),
    ];
    let mut first = true;
    // One buffer for every line: the digest of a large network is thousands of lines.
    let mut buf = String::new();
    for (title, lines) in sections {
        if lines.is_empty() {
            continue;
        }
        if !first {
            out.line("").map_err(io_err)?;
        }
        first = false;
        out.line(format!("{title}:")).map_err(io_err)?;
        for l in lines {
            buf.clear();
            buf.push_str("  ");
            if l.name.is_empty() {
                buf.push_str(&l.id.short());
            } else {
                buf.push_str(&l.name);
            }
            buf.push_str(": ");
            buf.push_str(&l.why);
            out.line(&buf).map_err(io_err)?;
        }
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct GiveArgs {
    /// Contact: id prefix, name or email
    pub contact: String,
    /// What it was: a favour, an introduction, a referral, advice, ...
    pub text: String,
    /// When: YYYY-MM-DD, today, yesterday (default: today)
    #[arg(long, value_name = "DATE", allow_hyphen_values = true)]
    pub on: Option<String>,
}

/// `kith gave` / `kith got`: an interaction of kind `gave` or `got`.
pub fn give(ctx: &Ctx, a: GiveArgs, direction: &str, out: &mut Out) -> Result<(), AppError> {
    let on = match &a.on {
        Some(s) => app::parse_date(s, ctx.today)?,
        None => ctx.today,
    };
    if a.text.trim().is_empty() {
        return Err(AppError::hint(
            format!("kith {direction} needs a text"),
            format!("kith {direction} REF \"an introduction to Grace\""),
        ));
    }
    let app = ctx.open()?;
    let id = app.log_refs(
        std::slice::from_ref(&a.contact),
        direction,
        on,
        false,
        a.text.trim(),
    )?;
    if ctx.json {
        out.json(&serde_json::json!({ "id": id })).map_err(io_err)
    } else {
        out.line(id.to_hex()).map_err(io_err)
    }
}

#[derive(Args, Debug)]
pub struct LedgerArgs {
    /// Contact: id prefix, name or email (default: everyone with an entry)
    pub contact: Option<String>,
}

pub fn ledger(ctx: &Ctx, a: LedgerArgs, out: &mut Out) -> Result<(), AppError> {
    let app = ctx.open_read()?;
    let Some(reference) = &a.contact else {
        let rows = app.ledger()?;
        if ctx.json {
            return out.json(&rows).map_err(io_err);
        }
        if rows.is_empty() {
            out.note("nothing given or received yet (kith gave REF TEXT, kith got REF TEXT)");
            return Ok(());
        }
        return out
            .table_of(&rows, |r, [name, gave, got, balance]| {
                name.push_str(&r.name);
                gave.push_str(&format!("gave {}", r.gave));
                got.push_str(&format!("got {}", r.got));
                balance.push_str(&format!("balance {:+}", r.balance));
            })
            .map_err(io_err);
    };
    let r = app.vault.read()?;
    let id = app::resolve_contact(&r, reference)?;
    let row = app.ledger_of(&r, id, true)?;
    if ctx.json {
        return out.json(&row).map_err(io_err);
    }
    out.line(format!(
        "{}: gave {}, got {}, balance {:+}",
        row.name, row.gave, row.got, row.balance
    ))
    .map_err(io_err)?;
    for e in &row.entries {
        out.line(format!("  {}  {:<4}  {}", e.date, e.direction, e.text))
            .map_err(io_err)?;
    }
    Ok(())
}

/// The tag the changes of a command carry (`kith history` shows it): the subcommand's name in
/// lower case (`set`, `edit`, `import`, `opp`, ...), read from its parsed value.
pub fn origin_of(cmd: &super::Command) -> String {
    let dbg = format!("{cmd:?}");
    let name: String = dbg
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    name.to_lowercase()
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Contact: id prefix, name or email
    pub contact: String,
    /// Only this field: name, email, phone, org (or title), tags, birthday, date, every, a
    /// custom field's name, ...
    pub field: Option<String>,
}

/// `kith history`: one line per changed field, oldest first.
pub fn history(ctx: &Ctx, a: HistoryArgs, out: &mut Out) -> Result<(), AppError> {
    let app = ctx.open_read()?;
    let id = app::resolve_contact(&app.vault.read()?, &a.contact)?;
    let rows = app.history(id, a.field.as_deref())?;
    if ctx.json {
        return out.json(&rows).map_err(io_err);
    }
    if rows.is_empty() {
        out.note(match &a.field {
            Some(f) => format!("no change to '{f}' recorded"),
            None => "no change recorded".to_string(),
        });
        return Ok(());
    }
    let clip = |s: &Option<String>| -> String {
        match s {
            None => "(none)".to_string(),
            Some(v) => {
                let one = v.replace('\n', " ");
                if one.chars().count() > 40 {
                    format!("{}…", one.chars().take(39).collect::<String>())
                } else {
                    one
                }
            }
        }
    };
    out.table_of_headed(
        Some(["WHEN", "FIELD", "OLD", "NEW", "DEVICE", "HOW"]),
        &rows,
        |r, [when, field, old, new, device, how]| {
            when.push_str(if r.at.is_empty() { "?" } else { &r.at });
            field.push_str(&r.field);
            old.push_str(&clip(&r.old));
            new.push_str(&clip(&r.new));
            device.push_str(&r.device);
            match (r.origin.as_str(), &r.command) {
                ("sync", Some(c)) => how.push_str(&format!("sync ({c})")),
                ("command", Some(c)) => how.push_str(c),
                (o, _) => how.push_str(o),
            }
        },
    )
    .map_err(io_err)
}

/// What `kith show` adds for relationship keeping: links from other contacts and the
/// opportunities the contact is part of, as (label, value) rows.
pub fn show_rows(app: &app::App, id: kith_core::DocId) -> Result<Vec<(String, String)>, AppError> {
    let r = app.vault.read()?;
    let mut rows = Vec::new();
    for l in app.incoming_links(&r, id)? {
        rows.push(("linked from".to_string(), format!("{} ({})", l.name, l.rel)));
    }
    for o in app.opportunities_of(&r, id)? {
        rows.push((
            "opportunity".to_string(),
            format!("{} [{}] {}", o.title, o.stage, o.id.short()),
        ));
    }
    Ok(rows)
}

/// `kith show --json`: the contact view plus `links_in` and `opportunities`.
pub fn show_json(app: &app::App, v: &app::ContactView) -> Result<serde_json::Value, AppError> {
    let r = app.vault.read()?;
    let mut j = serde_json::to_value(v).map_err(|e| AppError::user(e.to_string()))?;
    if let Some(m) = j.as_object_mut() {
        let links_in = app.incoming_links(&r, v.id)?;
        let opps = app.opportunities_of(&r, v.id)?;
        m.insert(
            "links_in".into(),
            serde_json::to_value(links_in).map_err(|e| AppError::user(e.to_string()))?,
        );
        m.insert(
            "opportunities".into(),
            serde_json::to_value(opps).map_err(|e| AppError::user(e.to_string()))?,
        );
    }
    Ok(j)
}

mod graph;
pub use graph::*;
