//! `kith search` and `kith reindex`: parse, call the app, render.

use clap::Args;

use super::output::io_err;
use super::{Ctx, Out};
use std::io::IsTerminal;

use crate::app::AppError;

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Words to find; each must match the start of a word (case and accents ignored)
    #[arg(required = true, num_args = 1..)]
    pub query: Vec<String>,
    /// At most this many results
    #[arg(long, short = 'n', default_value_t = 20)]
    pub limit: usize,
}

pub fn search(ctx: &Ctx, a: SearchArgs, out: &mut Out) -> Result<(), AppError> {
    let app = ctx.open_read()?;
    let (total, hits) = app.search(&a.query.join(" "), a.limit)?;
    // Contacts from persons' slices (docs/design/sharing.md), after your own.
    let shared = super::share::shared_search_lines(&app, &a.query.join(" "));
    if ctx.json {
        let received = super::share::shared_search_json(&app, &a.query.join(" "));
        out.json(&serde_json::json!({ "total": total, "hits": hits, "shared": received }))
            .map_err(io_err)?;
        if total == 0 && !shared.is_empty() {
            return Ok(());
        }
    } else if total == 0 && !shared.is_empty() {
        for l in &shared {
            out.line(l).map_err(io_err)?;
        }
        return Ok(());
    } else if total == 0 {
        out.note("no matches");
    }
    if total == 0 {
        // Nothing matched: exit 1 without an error line, as grep and ripgrep do, so scripts
        // can test `kith search ... && ...`.
        drop(app);
        out.flush().map_err(io_err)?;
        std::process::exit(1);
    }
    if ctx.json {
        return Ok(());
    }
    let table: Vec<Vec<String>> = hits
        .iter()
        .map(|h| {
            vec![
                h.id.short(),
                h.kind.as_str().to_string(),
                h.date.clone(),
                h.title.clone(),
                h.text.clone(),
            ]
        })
        .collect();
    out.table(&table).map_err(io_err)?;
    for l in &shared {
        out.line(l).map_err(io_err)?;
    }
    if total > hits.len() {
        out.note(format!(
            "{} of {total} matches shown; use --limit for more",
            hits.len()
        ));
    }
    Ok(())
}

pub fn reindex(ctx: &Ctx, out: &mut Out) -> Result<(), AppError> {
    let mut app = ctx.open()?;
    let tty = std::io::stderr().is_terminal();
    let mut progress = |done: u64, total: u64| {
        if tty && total > 0 {
            eprint!("\rreindexing {done}/{total} documents");
        }
    };
    let n = app.vault.reindex(&mut progress)?;
    if tty {
        eprintln!();
    }
    // Maintenance: rewrite the tables densely and give free space back to the file system.
    app.vault.optimize()?;
    if ctx.json {
        out.json(&serde_json::json!({ "documents": n }))
            .map_err(io_err)
    } else {
        out.note(format!("reindexed {n} documents"));
        Ok(())
    }
}
