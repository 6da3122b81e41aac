//! `kith intro ask/list/accept/decline/made/outcome`: parsing and rendering; the use cases are
//! in `app::intro`.

use clap::{Args, Subcommand};
use kith_core::share::intro::Step;

use super::output::io_err;
use super::{Ctx, Out};
use crate::app::intro::IntroRow;
use crate::app::AppError;

#[derive(Subcommand, Debug)]
pub enum IntroCommand {
    /// Ask the person who shared a contact with you for an introduction to them
    Ask(AskArgs),
    /// Introductions you asked for and introductions asked of you, with where they stand
    #[command(visible_alias = "ls")]
    List,
    /// Accept an introduction asked of you
    Accept(AnswerArgs),
    /// Decline an introduction asked of you
    Decline(AnswerArgs),
    /// Record that you made an accepted introduction (also logged as `gave` on the contact)
    Made {
        /// The introduction's id (from `kith intro list`, at least 4 hex digits)
        id: String,
    },
    /// Record how an introduction you made turned out
    Outcome {
        /// The introduction's id (from `kith intro list`, at least 4 hex digits)
        id: String,
        /// What came of it
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
    },
}

#[derive(Args, Debug)]
pub struct AskArgs {
    /// A contact of a slice shared with you: name, start of the name, or id from `kith shared`
    pub contact: String,
    /// Why you ask for the introduction (the person sees it)
    #[arg(long)]
    pub why: String,
}

#[derive(Args, Debug)]
pub struct AnswerArgs {
    /// The introduction's id (from `kith intro list`, at least 4 hex digits)
    pub id: String,
    /// A note for the person who asked
    #[arg(long)]
    pub note: Option<String>,
}

fn render_one(ctx: &Ctx, row: &IntroRow, what: &str, out: &mut Out) -> Result<(), AppError> {
    if ctx.json {
        return out.json(row).map_err(io_err);
    }
    out.line(&row.id[..8]).map_err(io_err)?;
    out.note(format!(
        "{what}: {} ({}, {}); {} sees it after their next sync",
        row.about,
        row.person,
        row.state,
        if row.direction == "asked-by-me" {
            row.person.as_str()
        } else {
            "the asker"
        }
    ));
    Ok(())
}

pub fn intro(ctx: &Ctx, c: IntroCommand, out: &mut Out) -> Result<(), AppError> {
    match c {
        IntroCommand::Ask(a) => {
            let app = ctx.open()?;
            let row = app.intro_ask(&a.contact, &a.why)?;
            render_one(ctx, &row, "asked for an introduction to", out)
        }
        IntroCommand::List => {
            let app = ctx.open_read()?;
            let rows = app.intro_list()?;
            for (who, n) in app.intro_write_attempts()? {
                out.warn(format!(
                    "{who} tried to change an introduction document of yours {n} time{} (refused)",
                    if n == 1 { "" } else { "s" }
                ));
            }
            if ctx.json {
                return out.json(&rows).map_err(io_err);
            }
            if rows.is_empty() {
                out.note("no introductions yet (kith intro ask REF --why TEXT)");
                return Ok(());
            }
            let mut t = vec![vec![
                "ID".into(),
                "DIRECTION".into(),
                "PERSON".into(),
                "ABOUT".into(),
                "STATE".into(),
                "ASKED".into(),
                "WHY".into(),
                "OUTCOME".into(),
            ]];
            for r in rows {
                t.push(vec![
                    r.id[..8].to_string(),
                    if r.direction == "asked-by-me" {
                        "you asked".into()
                    } else {
                        "asked of you".into()
                    },
                    r.person.clone(),
                    r.about.clone(),
                    r.state.into(),
                    r.asked.clone(),
                    r.why.clone(),
                    r.answer.outcome.clone(),
                ]);
            }
            out.table(&t).map_err(io_err)
        }
        IntroCommand::Accept(a) => step(ctx, &a.id, Step::Accept { note: note(a.note) }, out),
        IntroCommand::Decline(a) => step(ctx, &a.id, Step::Decline { note: note(a.note) }, out),
        IntroCommand::Made { id } => step(ctx, &id, Step::Made, out),
        IntroCommand::Outcome { id, text } => step(
            ctx,
            &id,
            Step::Outcome {
                text: text.join(" "),
            },
            out,
        ),
    }
}

fn note(n: Option<String>) -> String {
    n.map(|s| s.trim().to_string()).unwrap_or_default()
}

fn step(ctx: &Ctx, id: &str, s: Step, out: &mut Out) -> Result<(), AppError> {
    let app = ctx.open()?;
    let what = match &s {
        Step::Accept { .. } => "accepted",
        Step::Decline { .. } => "declined",
        Step::Made => "made",
        Step::Outcome { .. } => "outcome recorded",
    };
    let row = app.intro_step(id, s)?;
    render_one(ctx, &row, what, out)
}
