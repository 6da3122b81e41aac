//! `kith opp add|list|move|show|note|rm`: opportunities (parsing and rendering only).

use clap::Subcommand;

use crate::app::AppError;
use crate::cli::output::io_err;
use crate::cli::{Ctx, Out};
use crate::keep::opp::{self, known_stages, resolve_contacts, resolve_opp, OppRow};

#[derive(Subcommand, Debug)]
pub enum OppCommand {
    /// Add an opportunity (a job lead, collaboration, project or referral) and print its id
    Add {
        /// What it is, e.g. "Staff role at Acme"
        title: String,
        /// A contact it involves (id prefix, name or email); repeatable
        #[arg(long = "with", value_name = "REF")]
        with: Vec<String>,
        /// Its stage: lead (default), active, won, lost, or one of `opp_stages` in config.toml
        #[arg(long, default_value = "lead")]
        stage: String,
        /// A note about it
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
    },
    /// List opportunities by stage
    #[command(visible_alias = "ls")]
    List {
        /// Only those at this stage
        #[arg(long)]
        stage: Option<String>,
    },
    /// Move an opportunity to another stage
    Move {
        /// The opportunity: id prefix or a word of its title
        opp: String,
        /// The new stage
        stage: String,
    },
    /// Show one opportunity
    Show {
        /// The opportunity: id prefix or a word of its title
        opp: String,
    },
    /// Change an opportunity's title, note or contacts
    Set {
        /// The opportunity: id prefix or a word of its title
        opp: String,
        #[arg(long)]
        title: Option<String>,
        /// Replace the note
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
        /// Add a contact; repeatable
        #[arg(long = "with", value_name = "REF")]
        with: Vec<String>,
        /// Remove a contact; repeatable
        #[arg(long = "without", value_name = "REF")]
        without: Vec<String>,
    },
    /// Remove an opportunity (--undo brings it back)
    Rm {
        /// The opportunity: id prefix or a word of its title
        opp: String,
        #[arg(long)]
        undo: bool,
    },
    /// List the stages (defaults, then `opp_stages` from config.toml)
    Stages,
}

fn names(r: &OppRow) -> String {
    r.contacts
        .iter()
        .map(|c| {
            if c.name.is_empty() {
                c.id.short()
            } else {
                c.name.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn opp(ctx: &Ctx, cmd: OppCommand, out: &mut Out) -> Result<(), AppError> {
    let known = known_stages();
    match cmd {
        OppCommand::Add {
            title,
            with,
            stage,
            note,
        } => {
            let app = ctx.open()?;
            let with = resolve_contacts(&app.vault.read()?, &with)?;
            let id = app.opp_add(&title, &with, &stage, note.as_deref().unwrap_or(""), &known)?;
            if ctx.json {
                out.json(&serde_json::json!({ "id": id })).map_err(io_err)
            } else {
                out.line(id.to_hex()).map_err(io_err)
            }
        }
        OppCommand::List { stage } => {
            let stage = match stage {
                Some(s) => Some(opp::check_stage(&s, &known)?),
                None => None,
            };
            let app = ctx.open_read()?;
            let rows = app.opp_list(stage.as_deref(), &known)?;
            if ctx.json {
                return out.json(&rows).map_err(io_err);
            }
            if rows.is_empty() {
                out.note(match &stage {
                    Some(s) => format!("no opportunity at stage {s}"),
                    None => "no opportunities yet; add one with `kith opp add TITLE --with REF`"
                        .to_string(),
                });
                return Ok(());
            }
            out.table_of_headed(
                Some(["STAGE", "ID", "ADDED", "TITLE", "WITH"]),
                &rows,
                |r, [stage, id, date, title, with]| {
                    stage.push_str(&r.stage);
                    id.push_str(&r.id.short());
                    date.push_str(&r.date);
                    title.push_str(&r.title);
                    with.push_str(&names(r));
                },
            )
            .map_err(io_err)
        }
        OppCommand::Move { opp, stage } => {
            let stage = opp::check_stage(&stage, &known)?;
            let app = ctx.open()?;
            let id = resolve_opp(&app.vault.read()?, &opp)?;
            let (before, after) = app.opp_update(id, |o| {
                o.stage = stage.clone();
                Ok(())
            })?;
            if ctx.json {
                return out
                    .json(&serde_json::json!({ "id": id, "from": before.stage, "to": after.stage }))
                    .map_err(io_err);
            }
            if before.stage == after.stage {
                out.note(format!("{} is already at {}", after.title, after.stage));
            } else {
                out.note(format!(
                    "{}: {} -> {}",
                    after.title, before.stage, after.stage
                ));
            }
            Ok(())
        }
        OppCommand::Show { opp } => {
            let app = ctx.open_read()?;
            let id = resolve_opp(&app.vault.read()?, &opp)?;
            let v = app.opp_show(id)?;
            if ctx.json {
                return out.json(&v).map_err(io_err);
            }
            let mut rows = vec![
                vec!["title:".to_string(), v.row.title.clone()],
                vec!["id:".to_string(), v.row.id.to_hex()],
                vec!["stage:".to_string(), v.row.stage.clone()],
                vec!["added:".to_string(), v.row.date.clone()],
            ];
            if !v.row.contacts.is_empty() {
                rows.push(vec!["with:".to_string(), names(&v.row)]);
            }
            for c in &v.conflicts {
                rows.push(vec![
                    "conflict:".to_string(),
                    format!("{} is {} (also {})", c.field, c.value, c.others.join(" | ")),
                ]);
            }
            out.table(&rows).map_err(io_err)?;
            if !v.note.is_empty() {
                out.line("note:").map_err(io_err)?;
                for l in v.note.lines() {
                    out.line(format!("  {l}")).map_err(io_err)?;
                }
            }
            Ok(())
        }
        OppCommand::Set {
            opp,
            title,
            note,
            with,
            without,
        } => {
            if title.is_none() && note.is_none() && with.is_empty() && without.is_empty() {
                return Err(AppError::hint(
                    "nothing to change",
                    "give --title, --note, --with or --without",
                ));
            }
            if title.as_deref().is_some_and(|t| t.trim().is_empty()) {
                return Err(AppError::user("--title is empty"));
            }
            let app = ctx.open()?;
            let r = app.vault.read()?;
            let id = resolve_opp(&r, &opp)?;
            let with = resolve_contacts(&r, &with)?;
            let without = resolve_contacts(&r, &without)?;
            drop(r);
            let (before, after) = app.opp_update(id, |o| {
                if let Some(t) = &title {
                    o.title = t.trim().to_string();
                }
                if let Some(n) = &note {
                    o.note = n.clone();
                }
                o.contacts.extend(with.iter().copied());
                for c in &without {
                    o.contacts.remove(c);
                }
                Ok(())
            })?;
            if ctx.json {
                return out
                    .json(&serde_json::json!({ "id": id, "changed": before != after }))
                    .map_err(io_err);
            }
            out.note(if before == after {
                "nothing changed".to_string()
            } else {
                format!("updated {}", after.title)
            });
            Ok(())
        }
        OppCommand::Rm { opp, undo } => {
            let app = ctx.open()?;
            let id = resolve_opp(&app.vault.read()?, &opp)?;
            let changed = app.opp_remove(id, undo)?;
            if ctx.json {
                return out
                    .json(&serde_json::json!({ "id": id, "changed": changed }))
                    .map_err(io_err);
            }
            out.note(match (undo, changed) {
                (false, true) => format!(
                    "removed opportunity {} (kith opp rm --undo {} brings it back)",
                    id.short(),
                    id.short()
                ),
                (false, false) => format!("opportunity {} was already removed", id.short()),
                (true, true) => format!("restored opportunity {}", id.short()),
                (true, false) => format!("opportunity {} was not removed", id.short()),
            });
            Ok(())
        }
        OppCommand::Stages => {
            if ctx.json {
                return out.json(&known).map_err(io_err);
            }
            for s in &known {
                out.line(s).map_err(io_err)?;
            }
            Ok(())
        }
    }
}
