//! Relationship-keeping commands (issue 11): `digest`.

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
    let sections: [(&str, &Vec<DigestLine>); 5] = [
        ("Overdue keep-in-touch", &d.overdue),
        ("Fading ties", &d.fading),
        ("Dates coming up", &d.dates),
        ("Reminders", &d.reminders),
        ("Reconnect with", &d.reconnect),
    ];
    let mut first = true;
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
            let who = if l.name.is_empty() {
                l.id.short()
            } else {
                l.name.clone()
            };
            out.line(format!("  {who}: {}", l.why)).map_err(io_err)?;
        }
    }
    Ok(())
}
