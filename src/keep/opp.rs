//! Opportunities (issue 11): a job lead, collaboration, project or referral, with a stage and
//! the contacts it involves. Each is its own Automerge document (`kind = opportunity`, see
//! docs/design/schema.md), so it syncs like everything else; its `ix_items` summary (stage as
//! label, title as snippet) puts it on each linked contact's timeline.
//!
//! Invariant, as for the rest of `app`: nothing here prints or reads the environment; stages
//! are checked against the known list (defaults plus the settings file's `opp_stages`) when
//! written, but any stage a peer wrote is shown as it is.

use kith_core::model::{self, Kind, Opportunity};
use kith_core::DocId;
use serde::Serialize;

use crate::app::{am_err, check_text_size, resolve_contact, App, AppError, Result};
use crate::store::Reader;

/// The stages every vault knows, in order.
pub const DEFAULT_STAGES: [&str; 4] = ["lead", "active", "won", "lost"];

/// The known stages: [`DEFAULT_STAGES`] then the settings file's `opp_stages` (in its order,
/// lower-cased, without repeats).
pub fn stages(extra: &[String]) -> Vec<String> {
    let mut out: Vec<String> = DEFAULT_STAGES.iter().map(|s| s.to_string()).collect();
    for s in extra {
        let s = s.trim().to_lowercase();
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// The stages of this process: defaults plus the loaded settings.
pub fn known_stages() -> Vec<String> {
    let extra = crate::config::current()
        .and_then(|c| c.opp_stages.clone())
        .unwrap_or_default();
    stages(&extra)
}

/// Checks a stage against the known list.
pub fn check_stage(stage: &str, known: &[String]) -> Result<String> {
    let s = stage.trim().to_lowercase();
    if known.contains(&s) {
        return Ok(s);
    }
    Err(AppError::hint(
        format!("unknown stage '{stage}'; stages: {}", known.join(", ")),
        "add your own stages with `opp_stages = [\"pitched\", \"negotiating\"]` in config.toml",
    ))
}

/// One opportunity as `kith opp list` and `kith show` print it (also its JSON schema).
#[derive(Debug, Clone, Serialize)]
pub struct OppRow {
    pub id: DocId,
    pub title: String,
    pub stage: String,
    /// The day it was added.
    pub date: String,
    pub contacts: Vec<OppContact>,
}

/// A contact an opportunity involves.
#[derive(Debug, Clone, Serialize)]
pub struct OppContact {
    pub id: DocId,
    pub name: String,
}

/// `kith opp show` (also its JSON schema): the row plus the note and the stage history.
#[derive(Debug, Clone, Serialize)]
pub struct OppView {
    #[serde(flatten)]
    pub row: OppRow,
    pub note: String,
    /// Conflicting concurrent values of the stage or title, if any (`field`, shown `value`,
    /// hidden `others`).
    pub conflicts: Vec<model::Conflict>,
}

/// Resolves an opportunity reference: an id prefix of at least 4 hex digits, or a word of its
/// title (case ignored) when exactly one opportunity's title contains it.
pub fn resolve_opp(r: &Reader, reference: &str) -> Result<DocId> {
    let q = reference.trim().to_lowercase();
    if q.len() >= 4 && kith_core::id::is_hex_prefix(&q) {
        let found: Vec<DocId> = r
            .ids_with_prefix(&q, 20)?
            .into_iter()
            .filter(|(_, k)| *k == Kind::Opportunity)
            .map(|(id, _)| id)
            .collect();
        match found.len() {
            1 => return Ok(found[0]),
            0 => {}
            n => {
                return Err(AppError::hint(
                    format!("'{reference}' matches {n} opportunities"),
                    "give more digits of the id",
                ))
            }
        }
    }
    let folded = kith_core::text::fold(&q);
    let mut found = Vec::new();
    if !folded.is_empty() {
        let look = r.lookup()?;
        for id in r.ids_of_kind(Kind::Opportunity)? {
            if let Some(s) = look.item(id)? {
                if kith_core::text::fold(&s.snippet).contains(&folded) {
                    found.push((id, s.snippet));
                }
            }
        }
    }
    match found.len() {
        1 => Ok(found[0].0),
        0 => Err(AppError::hint(
            format!("no opportunity matches '{reference}'"),
            "`kith opp list` shows every opportunity with its id",
        )),
        n => Err(AppError::hint(
            format!(
                "'{reference}' matches {n} opportunities: {}",
                found
                    .iter()
                    .take(5)
                    .map(|(id, t)| format!("{} {t}", id.short()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "give the id (or more of the title)",
        )),
    }
}

fn row_of(r: &Reader, id: DocId, s: &kith_core::index::ItemSummary) -> Result<OppRow> {
    let mut contacts = Vec::new();
    for c in &s.contacts {
        let name = r.contact(*c)?.map(|s| s.name).unwrap_or_default();
        contacts.push(OppContact { id: *c, name });
    }
    contacts.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
    Ok(OppRow {
        id,
        title: s.snippet.clone(),
        stage: s.label.clone(),
        date: kith_core::time::Date::from_days(s.day).to_string(),
        contacts,
    })
}

/// Order of a stage in `known` (unknown stages last).
fn stage_rank(stage: &str, known: &[String]) -> usize {
    known.iter().position(|s| s == stage).unwrap_or(known.len())
}

impl App {
    /// `kith opp add`: a new opportunity. `stage` must be a known stage.
    pub fn opp_add(
        &self,
        title: &str,
        with: &[DocId],
        stage: &str,
        note: &str,
        known: &[String],
    ) -> Result<DocId> {
        let title = title.trim();
        if title.is_empty() {
            return Err(AppError::hint(
                "the opportunity's title is empty",
                "e.g. `kith opp add \"Staff role at Acme\" --with ada`",
            ));
        }
        check_text_size("the title", title)?;
        check_text_size("the note", note)?;
        let stage = check_stage(stage, known)?;
        let o = Opportunity {
            title: title.to_string(),
            stage,
            contacts: with.iter().copied().collect(),
            note: note.to_string(),
            ..Default::default()
        };
        let now = self.now();
        self.vault.write(now, |w| {
            let mut l = w.create();
            model::write_opportunity(&mut l.doc, &o, now).map_err(am_err)?;
            let id = l.id;
            w.save(l)?;
            Ok(id)
        })
    }

    /// `kith opp list`: every opportunity (not removed), by stage (in the known order) then
    /// newest first; only those at `stage` when given.
    pub fn opp_list(&self, stage: Option<&str>, known: &[String]) -> Result<Vec<OppRow>> {
        let r = self.vault.read()?;
        let look = r.lookup()?;
        let mut rows = Vec::new();
        for id in r.ids_of_kind(Kind::Opportunity)? {
            let Some(s) = look.item(id)? else { continue };
            if stage.is_some_and(|st| st != s.label) {
                continue;
            }
            rows.push((s.created, row_of(&r, id, &s)?));
        }
        rows.sort_by(|a, b| {
            stage_rank(&a.1.stage, known)
                .cmp(&stage_rank(&b.1.stage, known))
                .then(b.0.cmp(&a.0))
                .then(a.1.id.cmp(&b.1.id))
        });
        Ok(rows.into_iter().map(|(_, r)| r).collect())
    }

    /// The opportunities a contact is part of (for `kith show`), from its timeline.
    pub fn opportunities_of(&self, r: &Reader, contact: DocId) -> Result<Vec<OppRow>> {
        let look = r.lookup()?;
        let mut out = Vec::new();
        for (id, kind) in r.timeline(contact)? {
            if kind != Kind::Opportunity {
                continue;
            }
            if let Some(s) = look.item(id)? {
                out.push(row_of(r, id, &s)?);
            }
        }
        Ok(out)
    }

    /// `kith opp show`.
    pub fn opp_show(&self, id: DocId) -> Result<OppView> {
        let r = self.vault.read()?;
        let doc = r.load(id)?.ok_or_else(|| {
            AppError::user(format!("opportunity {} no longer exists", id.short()))
        })?;
        if model::doc_kind(&doc) != Some(Kind::Opportunity) {
            return Err(AppError::user(format!(
                "{} is not an opportunity",
                id.short()
            )));
        }
        let o = model::read_opportunity(&doc);
        let s = kith_core::index::ItemSummary {
            kind: Kind::Opportunity,
            day: kith_core::index::day_of_ms(o.created),
            created: o.created,
            contacts: o.contacts.iter().copied().collect(),
            label: o.stage.clone(),
            snippet: o.title.clone(),
            done: false,
        };
        let conflicts = model::item_conflicts(&doc)
            .into_iter()
            .filter(|c| c.field == "stage" || c.field == "title")
            .collect();
        Ok(OppView {
            row: row_of(&r, id, &s)?,
            note: o.note,
            conflicts,
        })
    }

    /// Applies `f` to an opportunity and saves it if anything changed. Returns the value
    /// before and after.
    pub fn opp_update(
        &self,
        id: DocId,
        f: impl FnOnce(&mut Opportunity) -> Result<()>,
    ) -> Result<(Opportunity, Opportunity)> {
        let now = self.now();
        self.vault.write(now, |w| {
            let mut l = w.load(id)?.ok_or_else(|| {
                AppError::user(format!("opportunity {} no longer exists", id.short()))
            })?;
            if model::doc_kind(&l.doc) != Some(Kind::Opportunity) {
                return Err(AppError::user(format!(
                    "{} is not an opportunity",
                    id.short()
                )));
            }
            let before = model::read_opportunity(&l.doc);
            let mut o = before.clone();
            f(&mut o)?;
            check_text_size("the note", &o.note)?;
            model::write_opportunity(&mut l.doc, &o, now).map_err(am_err)?;
            w.save(l)?;
            Ok((before, o))
        })
    }

    /// `kith opp rm` (`--undo`): removes an opportunity the way `kith rm` removes an item (the
    /// document and its history stay). Returns whether anything changed.
    pub fn opp_remove(&self, id: DocId, undo: bool) -> Result<bool> {
        let now = self.now();
        self.vault.write(now, |w| {
            let mut l = w.load(id)?.ok_or_else(|| {
                AppError::user(format!("opportunity {} no longer exists", id.short()))
            })?;
            if model::doc_kind(&l.doc) != Some(Kind::Opportunity) {
                return Err(AppError::user(format!(
                    "{} is not an opportunity",
                    id.short()
                )));
            }
            let changed = model::set_item_deleted(&mut l.doc, !undo, now).map_err(am_err)?;
            w.save(l)?;
            Ok(changed)
        })
    }
}

/// Resolves each `--with` reference to a contact.
pub fn resolve_contacts(r: &Reader, refs: &[String]) -> Result<Vec<DocId>> {
    refs.iter().map(|c| resolve_contact(r, c)).collect()
}
