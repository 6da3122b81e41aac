//! `kith edit`: a contact, note, interaction or reminder in `$EDITOR`, merged against the
//! version shown (`App::edit_contact`, `App::edit_item`), with a recovery file when the text
//! cannot be used.
//!
//! Invariant: nothing is written unless the whole buffer parses; the user's text is never
//! lost (a failed edit leaves it in `<home>/recovery/`).

use std::collections::BTreeMap;

use clap::Args;
use kith_core::DocId;

use super::{Ctx, Out};
use crate::app::{self, App, AppError};
use crate::editbuf;

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
    match std::fs::create_dir_all(&rec_dir)
        .and_then(|_| crate::atomic::write(&rec, text.as_bytes()))
    {
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

/// `kith edit ITEM-REF`: the item's fields and text in $EDITOR, merged against the version
/// shown (see `App::edit_item`).
pub(super) fn edit_item(
    ctx: &Ctx,
    app: &App,
    id: DocId,
    a: &EditArgs,
    out: &mut Out,
) -> Result<(), AppError> {
    let current = app.item_for_edit(id)?;
    let short = id.short();
    let kind = current.value.kind().as_str();
    if current.deleted {
        return Err(AppError::hint(
            format!("{kind} {short} was removed"),
            format!("bring it back with `kith rm --undo {short}`, then edit it"),
        ));
    }
    let r = app.vault.read()?;
    let mut names = std::collections::BTreeMap::new();
    for c in current.value.contacts() {
        if let Some(s) = r.contact(c)? {
            names.insert(c.to_hex(), s.name);
        }
    }
    drop(r);
    let conflicts: Vec<String> = current.conflicts.iter().map(item_conflict_line).collect();
    let rendered = crate::editbuf::render_item(
        &id.to_hex(),
        &app::heads_text(&current.heads),
        &current.value,
        &conflicts,
        &names,
    );
    let (start, _) = start_text(a, &rendered, &current.heads)?;
    let Some(edited) = edit_text(ctx, id, &short, &rendered, &start)? else {
        out.note("no changes");
        return Ok(());
    };
    let base = match crate::editbuf::find_base(&edited) {
        Some(b) => app::parse_heads(b)?,
        None => current.heads.clone(),
    };
    let base_value = if base == current.heads {
        current.value.clone()
    } else {
        app.item_at(id, &base)?
    };
    let today = ctx.today;
    let check = |field: &str, v: &str| -> Result<String, String> {
        match field {
            "contact" => {
                let r = app.vault.read().map_err(|e| e.to_string())?;
                app::resolve_contact(&r, v)
                    .map(|i| i.to_hex())
                    .map_err(|e| e.to_string())
            }
            "date" | "due" | "snoozed" => app::parse_date(v, today)
                .map(|d| d.to_string())
                .map_err(|e| e.to_string()),
            _ => Ok(v.to_string()),
        }
    };
    let parsed = match crate::editbuf::parse_item(&edited, &base_value, &check) {
        Ok(Some(it)) => it,
        Ok(None) => {
            out.note("empty buffer: edit cancelled, nothing changed");
            return Ok(());
        }
        Err(errors) => {
            let hint = save_recovery(ctx, id, &short, &edited);
            return Err(AppError::hint(parse_errors(&errors), hint));
        }
    };
    let summary = crate::editbuf::summarize_item(&base_value, &parsed);
    let outcome = match app.edit_item(id, &base, &parsed) {
        Ok(o) => o,
        Err(e) => {
            let hint = save_recovery(ctx, id, &short, &edited);
            return Err(AppError::hint(e.to_string(), hint));
        }
    };
    if !outcome.changed {
        out.note("no changes");
        return Ok(());
    }
    out.note(format!("updated {kind} {short}"));
    for line in &summary {
        out.note(format!("  {line}"));
    }
    for cf in &outcome.merged_conflicts {
        if !current.conflicts.iter().any(|c| c.field == cf.field) {
            out.warn(format!(
                "conflict with a concurrent change: {}",
                item_conflict_line(cf)
            ));
        }
    }
    Ok(())
}

/// An item conflict in words: the buffer's field name and the values, the shown one first.
fn item_conflict_line(cf: &kith_core::model::Conflict) -> String {
    let field = match cf.field.as_str() {
        "type" => "kind",
        "snoozed_until" => "snoozed until",
        "deleted" => "removed",
        f => f,
    };
    let mut values = vec![format!("'{}'", cf.value)];
    values.extend(cf.others.iter().map(|o| format!("'{o}'")));
    format!(
        "{field}: {} — the first is shown; settle by giving that line a new value in `kith edit`",
        values.join(" vs ")
    )
}
