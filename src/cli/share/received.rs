//! The recipient side of sharing: pulling slices after a sync, `shared`, `who-knows`, and
//! received contacts in `show`, `search` and `status`.

use super::*;

pub(super) fn when(ms: i64) -> String {
    if ms == 0 {
        "never".into()
    } else {
        kith_core::time::format_unix_ms_utc(ms)
    }
}

/// Compacts the vault file after a pull dropped documents (revocation or a new epoch), so no
/// byte of them stays in free pages.
pub(super) fn compact_if_dropped(
    vault: Arc<crate::store::Vault>,
    reports: &[crate::net::share::PullReport],
) -> Result<(), AppError> {
    if reports.iter().any(|r| r.dropped > 0) {
        if let Ok(mut v) = Arc::try_unwrap(vault) {
            v.optimize()?;
        }
    }
    Ok(())
}

pub(super) fn render_pulls(
    ctx: &Ctx,
    reports: &[crate::net::share::PullReport],
    out: &mut Out,
) -> Result<(), AppError> {
    if ctx.json {
        return out.json(&reports).map_err(io_err);
    }
    for r in reports {
        match &r.error {
            None => out.note(format!(
                "{}: {} share(s), {} document(s) received, {} dropped; {} round trip(s)",
                r.person, r.shares, r.docs_received, r.dropped, r.round_trips
            )),
            Some(e) => out.note(format!("{}: {e}", r.person)),
        }
    }
    Ok(())
}

/// `kith sync`'s share part: pulls from persons after the device sync (errors are notes).
/// Returns whether a person's slice was received.
pub fn pull_after_sync(ctx: &Ctx, net: &NetArgs, out: &mut Out) -> Result<bool, AppError> {
    let cfg = net.config(ctx)?;
    let vault = open_shared(ctx)?;
    let reports = persons::pull_all(vault.clone(), &ctx.home, cfg)?;
    compact_if_dropped(vault, &reports)?;
    if !ctx.json {
        render_pulls(ctx, &reports, out)?;
    }
    Ok(reports.iter().any(|r| r.error.is_none()))
}

/// `kith show REF` for a contact of a received slice (REF did not name an own contact): its
/// shared fields, marked with whose slice it came from. Else the original error.
pub fn show_shared(
    ctx: &Ctx,
    app: &app::App,
    reference: &str,
    not_found: AppError,
    out: &mut Out,
) -> Result<(), AppError> {
    let q = kith_core::text::fold(reference.trim());
    let rows: Vec<_> = app
        .sharing()
        .shared(None)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| {
            let name = kith_core::text::fold(&r.get("name"));
            !q.is_empty() && (name == q || name.starts_with(&q) || r.id.starts_with(&q))
        })
        .collect();
    if rows.is_empty() {
        return Err(not_found);
    }
    if ctx.json {
        return out.json(&rows).map_err(io_err);
    }
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            out.line("").map_err(io_err)?;
        }
        let mut t = Vec::new();
        for (k, _) in r.values.iter() {
            t.push(vec![format!("{k}:"), r.get(k)]);
        }
        t.push(vec![
            "from:".into(),
            format!("{}'s slice, updated {}", r.from, when(r.updated)),
        ]);
        out.table(&t).map_err(io_err)?;
    }
    Ok(())
}

pub fn shared(ctx: &Ctx, a: SharedArgs, out: &mut Out) -> Result<(), AppError> {
    let app = ctx.open_read()?;
    let rows = app.sharing().shared(a.from.as_deref())?;
    if ctx.json {
        return out.json(&rows).map_err(io_err);
    }
    if rows.is_empty() {
        out.note("nothing shared with you yet");
        return Ok(());
    }
    let mut t = vec![vec![
        "NAME".into(),
        "ORG".into(),
        "TITLE".into(),
        "HELP".into(),
        "FROM".into(),
        "UPDATED".into(),
    ]];
    for r in rows {
        t.push(vec![
            r.get("name"),
            r.get("org"),
            r.get("title"),
            r.get("help"),
            r.from.clone(),
            when(r.updated),
        ]);
    }
    out.table(&t).map_err(io_err)
}

pub fn who_knows(ctx: &Ctx, a: WhoKnowsArgs, out: &mut Out) -> Result<(), AppError> {
    let app = ctx.open_read()?;
    let q = a.query.join(" ");
    let rows = app.sharing().who_knows(&q)?;
    if ctx.json {
        out.json(&rows).map_err(io_err)?;
    } else {
        let mut t = vec![vec![
            "NAME".into(),
            "ORG".into(),
            "TITLE".into(),
            "HELP".into(),
            "THROUGH".into(),
        ]];
        for r in &rows {
            t.push(vec![
                r.name.clone(),
                r.org.clone(),
                r.title.clone(),
                r.help.clone(),
                if r.through.is_empty() {
                    "you".into()
                } else {
                    format!("{}'s slice", r.through)
                },
            ]);
        }
        if !rows.is_empty() {
            out.table(&t).map_err(io_err)?;
        }
    }
    if rows.is_empty() {
        return Err(AppError::user(format!("nobody known matches '{q}'")));
    }
    Ok(())
}

/// For `kith status`: one warning per share a person tried to write into (refused).
pub fn status_warnings(ctx: &Ctx, out: &mut Out) -> Result<(), AppError> {
    let app = ctx.open_read()?;
    for r in app.sharing().share_rows()? {
        if r.write_attempts > 0 {
            out.warn(format!(
                "{} tried to write into share {} {} time{} (refused: shares are read-only)",
                r.with,
                &r.id[..8],
                r.write_attempts,
                if r.write_attempts == 1 { "" } else { "s" }
            ));
        }
    }
    Ok(())
}

/// For `kith search --json`: received contacts matching the query, best first, as
/// `{from, share, id, score, updated, values}` (`updated` in RFC 3339, docs/json-output.md).
pub fn shared_search_json(app: &app::App, query: &str) -> Vec<serde_json::Value> {
    app.sharing()
        .shared_matching(query)
        .unwrap_or_default()
        .into_iter()
        .map(|(score, r)| {
            serde_json::json!({
                "from": r.from,
                "share": r.share,
                "id": r.id,
                "score": score,
                "updated": when(r.updated),
                "values": r.values,
            })
        })
        .collect()
}

/// For `kith status --json`: the shares this device serves, with the refused writes
/// (`{id, with, write_attempts, last_attempt}`, `last_attempt` in RFC 3339 or "never").
pub fn status_shares_json(app: &app::App) -> Result<Vec<serde_json::Value>, AppError> {
    Ok(app
        .sharing()
        .share_rows()?
        .into_iter()
        .filter(|r| r.served_by.is_none())
        .map(|r| {
            serde_json::json!({
                "id": r.id,
                "with": r.with,
                "epoch": r.epoch,
                "contacts": r.contacts,
                "write_attempts": r.write_attempts,
                "last_attempt": when(r.last_attempt),
            })
        })
        .collect())
}

/// For `kith search`: received contacts matching the query, as lines "NAME — from X's slice".
pub fn shared_search_lines(app: &app::App, query: &str) -> Vec<String> {
    app.sharing()
        .shared_matching(query)
        .unwrap_or_default()
        .into_iter()
        .map(|(_, r)| {
            let role = [r.get("title"), r.get("org")]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "{}  {}  (from {}'s slice, updated {})",
                r.get("name"),
                role,
                r.from,
                when(r.updated)
            )
        })
        .collect()
}
