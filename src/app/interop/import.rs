//! `kith import`: vCard, Google/LinkedIn CSV (kith's JSON export is in `json.rs`), matching
//! cards to contacts, and the compaction after a large write.

use std::collections::BTreeSet;
use std::io::{BufReader, Read};

use kith_core::interop::dedup;
use kith_core::interop::map::{self, MapOptions};
use kith_core::interop::{
    detect, CardData, CsvImporter, CsvKind, Format, VCardReader, DETECT_PREFIX_LEN,
};
use kith_core::model::{self, Contact, Interaction, Note};
use kith_core::{DocId, Kind};

use super::json::{import_json, MAX_JSON_IMPORT};
use super::pipeline::{Builder, Job};
use super::{
    expand, read_line_capped, Abort, Action, Change, ImportOptions, ImportSummary, Incoming, Input,
    Problem, Progress, Source, LINE_CAP, LINKEDIN_SUMMARY,
};
use crate::app::{am_err, App, AppError, Result};
use crate::store::Writer;

impl App {
    /// Imports every source in one write transaction. See the module invariants. An import
    /// that wrote many documents then keeps the file compact ([`COMPACT_AFTER`]).
    pub fn import(
        &mut self,
        sources: Vec<Source>,
        opts: ImportOptions,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<ImportSummary> {
        let inputs = expand(sources)?;
        let now = self.now();
        let result = self.vault.write(now, |w| {
            std::thread::scope(|scope| import_all(w, scope, inputs, opts, progress))
        });
        match result {
            Ok(s) => {
                if s.created + s.updated >= COMPACT_AFTER {
                    self.keep_compact();
                }
                Ok(s)
            }
            Err(Abort::Dry(s)) => Ok(*s),
            Err(Abort::Err(e)) => Err(e),
        }
    }

    /// After a write of many documents: gives the free space the write left behind back to the
    /// file system when the file is mostly free space (`Vault::compact_if_sparse`). The write
    /// has committed already, so a compaction that cannot run now (another process holds a
    /// transaction, the disk is full) is skipped: the file stays valid, just larger.
    pub fn keep_compact(&mut self) {
        let _ = self.vault.keep_compact();
    }
}

/// An import or restore that wrote at least this many documents checks whether the vault file
/// needs compacting.
pub const COMPACT_AFTER: usize = 256;

/// The body of [`App::import`]'s write transaction; new documents are built on threads of
/// `scope` ([`Builder`]).
fn import_all<'scope, 'env>(
    w: &mut Writer,
    scope: &'scope std::thread::Scope<'scope, 'env>,
    inputs: Vec<Input>,
    opts: ImportOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<ImportSummary, Abort> {
    let mut b = Builder::new(scope, w);
    let mut s = ImportSummary {
        dry_run: opts.dry_run,
        files: inputs.len(),
        ..Default::default()
    };
    let mut p = Progress { cards: 0, bytes: 0 };
    for input in inputs {
        import_one(w, &mut b, input, opts, &mut s, &mut p, progress)?;
    }
    b.finish(w)?;
    resolve_links(w, &mut s)?;
    s.skipped = s.invalid.len() + s.deleted.len();
    if !s.invalid.is_empty() && !opts.skip_invalid {
        let n = s.invalid.len();
        let list: Vec<String> = s.invalid.iter().map(|p| format!("  {p}")).collect();
        return Err(Abort::Err(AppError::hint(
            format!(
                "{n} invalid card{}; nothing was imported:\n{}",
                if n == 1 { "" } else { "s" },
                list.join("\n")
            ),
            "fix them, or pass --skip-invalid to import the valid cards",
        )));
    }
    if opts.dry_run {
        return Err(Abort::Dry(Box::new(s)));
    }
    Ok(s)
}

fn import_one(
    w: &mut Writer,
    b: &mut Builder,
    input: Input,
    opts: ImportOptions,
    s: &mut ImportSummary,
    p: &mut Progress,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), Abort> {
    let name = input.name;
    let mut reader = input.reader;
    let io_err = |e: std::io::Error| AppError::user(format!("cannot read {name}: {e}"));
    // The first bytes decide the format; then read on from where detection stopped.
    let mut prefix = Vec::with_capacity(DETECT_PREFIX_LEN);
    (&mut reader)
        .take(DETECT_PREFIX_LEN as u64)
        .read_to_end(&mut prefix)
        .map_err(io_err)?;
    let format = detect(&prefix).map_err(|e| AppError::user(format!("{name}: {e}")))?;
    let mut r = BufReader::with_capacity(64 * 1024, std::io::Cursor::new(prefix).chain(reader));
    let mut buf = Vec::new();
    let mut cards = 0usize;
    let map_opts = MapOptions {
        skip_photos: opts.skip_photos,
        ..Default::default()
    };
    let mut handle = |w: &mut Writer,
                      s: &mut ImportSummary,
                      item: std::result::Result<Incoming, (usize, String)>|
     -> Result<(), Abort> {
        cards += 1;
        match item {
            Ok(inc) => apply(w, b, inc, &name, &map_opts, s)?,
            Err((line, reason)) => s.invalid.push(Problem {
                file: name.clone(),
                line,
                reason,
            }),
        }
        Ok(())
    };
    match format {
        Format::VCard => {
            let mut vr = VCardReader::new();
            while read_line_capped(&mut r, &mut buf, LINE_CAP).map_err(io_err)? {
                p.bytes += buf.len() as u64;
                if let Some(res) = vr.push_line(&buf) {
                    let item = res
                        .map(|raw| Incoming {
                            line: raw.line,
                            card: CardData::from_raw(&raw),
                            connected_on: None,
                        })
                        .map_err(|e| (e.line, e.kind.to_string()));
                    handle(w, s, item)?;
                    p.cards += 1;
                    if p.cards.is_multiple_of(256) {
                        progress(*p);
                    }
                }
            }
            if let Some(Err(e)) = vr.finish() {
                handle(w, s, Err((e.line, e.kind.to_string())))?;
            }
        }
        Format::GoogleCsv | Format::LinkedInCsv => {
            let kind = if format == Format::GoogleCsv {
                CsvKind::Google
            } else {
                CsvKind::LinkedIn
            };
            let mut ci = CsvImporter::new(kind);
            while read_line_capped(&mut r, &mut buf, LINE_CAP).map_err(io_err)? {
                p.bytes += buf.len() as u64;
                if let Some(res) = ci.push_line(&buf) {
                    let item = res
                        .map(|rec| Incoming {
                            line: rec.line,
                            card: rec.card,
                            connected_on: rec.connected_on,
                        })
                        .map_err(|e| (e.line, e.kind.to_string()));
                    handle(w, s, item)?;
                    p.cards += 1;
                    if p.cards.is_multiple_of(256) {
                        progress(*p);
                    }
                }
            }
            if let Some(e) = ci.finish() {
                handle(w, s, Err((e.line, e.kind.to_string())))?;
            }
        }
        Format::KithJson => {
            // It matches by id and loads what it finds: everything before it is stored first.
            b.finish(w)?;
            let mut data = Vec::new();
            (&mut r)
                .take(MAX_JSON_IMPORT + 1)
                .read_to_end(&mut data)
                .map_err(io_err)?;
            p.bytes += data.len() as u64;
            if data.len() as u64 > MAX_JSON_IMPORT {
                return Err(Abort::Err(AppError::hint(
                    format!("{name}: a kith JSON export larger than 1 GiB is not imported"),
                    "move vaults this large with kith backup and kith restore",
                )));
            }
            cards = import_json(w, &name, &data, s)?;
            p.cards += cards as u64;
        }
    }
    progress(*p);
    if cards == 0 {
        return Err(Abort::Err(AppError::user(format!(
            "{name}: no contact found in the file"
        ))));
    }
    Ok(())
}

/// Follows merges from `id` to the surviving contact; None when no such contact exists.
fn survivor(w: &Writer, id: DocId) -> Result<Option<DocId>> {
    let (end, exists) = crate::app::follow_merge_by(|i| w.contact(i), id)?;
    Ok(exists.then_some(end))
}

/// How an incoming card found its contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    /// The contact holds the card's UID.
    Uid,
    /// The card's UID is kith's export UID of this contact ([`map::kith_uid`] of its id).
    DocId,
    /// A shared email or phone, and the same name (see `dedup::same_name`).
    Contact,
}

/// The contact an incoming one is the same person as: by UID; by kith's export UID (the
/// document id); else by a shared email, then phone, but only when the names are the same
/// (`dedup::same_name`): a shared household phone or team address never merges two people.
fn find_match(w: &Writer, c: &Contact) -> Result<Option<(DocId, Via)>> {
    if !c.uid.is_empty() {
        for id in w.by_uid(&c.uid)? {
            if let Some(s) = survivor(w, id)? {
                return Ok(Some((s, Via::Uid)));
            }
        }
        if let Some(id) = map::doc_id_of_uid(&c.uid) {
            if let Some(s) = survivor(w, id)? {
                return Ok(Some((s, Via::DocId)));
            }
        }
    }
    let mut candidates: Vec<DocId> = Vec::new();
    for e in c.emails.values() {
        candidates.extend(w.by_email(&e.value.trim().to_lowercase())?);
    }
    for ph in c.phones.values() {
        let k = kith_core::index::phone_key(&ph.value);
        if !k.is_empty() {
            candidates.extend(w.by_phone(&k)?);
        }
    }
    let mut tried = BTreeSet::new();
    for id in candidates {
        let Some(s) = survivor(w, id)? else { continue };
        if !tried.insert(s) {
            continue;
        }
        let Some(summary) = w.contact(s)? else {
            continue;
        };
        if dedup::same_name(&summary.name, &c.name) {
            return Ok(Some((s, Via::Contact)));
        }
    }
    Ok(None)
}

/// Whether two contacts are the same apart from their timestamps (`write_contact` would write
/// nothing).
fn same_contact(a: &Contact, b: &Contact) -> bool {
    Contact {
        created: a.created,
        updated: a.updated,
        ..b.clone()
    } == *a
}

fn linked_note_bodies(w: &Writer, contact: DocId) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (id, kind) in w.timeline(contact)? {
        if kind == Kind::Note {
            if let Some(l) = w.load(id)? {
                out.push(model::read_note(&l.doc).body);
            }
        }
    }
    Ok(out)
}

fn apply(
    w: &mut Writer,
    b: &mut Builder,
    inc: Incoming,
    file: &str,
    opts: &MapOptions,
    s: &mut ImportSummary,
) -> Result<(), Abort> {
    let now = w.now();
    let mapped = match map::card_to_contact(&inc.card, now, opts) {
        Ok(m) => m,
        Err(e) => {
            s.invalid.push(Problem {
                file: file.to_string(),
                line: inc.line,
                reason: e.to_string(),
            });
            return Ok(());
        }
    };
    if let Some(bytes) = mapped.photo_skipped {
        s.photos_skipped.push(Problem {
            file: file.to_string(),
            line: inc.line,
            reason: format!(
                "photo of {} bytes not kept{}",
                bytes,
                if opts.skip_photos {
                    " (--skip-photos)"
                } else {
                    " (over 64 KiB)"
                }
            ),
        });
    }
    let mut incoming = mapped.contact;
    if let Some(d) = inc.connected_on {
        incoming.met = format!("{LINKEDIN_SUMMARY} on {d}");
    }
    let purged_export_uid = match kith_core::interop::map::doc_id_of_uid(&incoming.uid) {
        Some(id) => w.is_deleted(id)?,
        None => false,
    };
    if purged_export_uid || w.is_purged_uid(&incoming.uid)? {
        s.deleted.push(Problem {
            file: file.to_string(),
            line: inc.line,
            reason: format!(
                "{} was deleted for good (kith rm --purge); not imported",
                incoming.name
            ),
        });
        return Ok(());
    }
    if b.must_wait_for(&incoming) {
        b.finish(w)?;
    }
    let name = incoming.name.clone();
    let (id, action) = match find_match(w, &incoming)? {
        Some((id, via)) => {
            // Its notes and interactions may be among the documents being built.
            b.finish(w)?;
            let (loaded, mut c) = w
                .load_contact(id)?
                .ok_or_else(|| AppError::user(format!("contact {id} vanished during import")))?;
            let old = c.clone();
            if via == Via::DocId {
                // kith's export UID of this very contact: nothing to record.
                incoming.uid.clear();
            }
            if s.seen.contains(&id) {
                map::merge_import_fill(&mut c, &incoming);
            } else {
                map::merge_import(&mut c, &incoming);
            }
            // Unchanged (the usual re-import): nothing to index, write or save.
            let changed = !same_contact(&old, &c) && {
                let mut l = loaded.indexed(&old);
                let changed = model::write_contact(&mut l.doc, &c, now).map_err(am_err)?;
                if changed {
                    w.save(l)?;
                }
                changed
            };
            (
                id,
                if changed {
                    Action::Updated
                } else {
                    Action::Unchanged
                },
            )
        }
        None => {
            // A new contact is built in one pass and indexed from what was built.
            let id = b.new_id();
            b.create(w, id, Job::Contact(Box::new(incoming)))?;
            (id, Action::Created)
        }
    };
    s.seen.insert(id);
    if !mapped.links.is_empty() {
        let at = s.changes.len();
        let list = s.pending_links.entry(id).or_default();
        list.extend(mapped.links.into_iter().map(|(rel, uid)| (at, rel, uid)));
    }
    let mut touched = false;
    if let Some(body) = mapped.note {
        let bodies = if action == Action::Created {
            Vec::new()
        } else {
            linked_note_bodies(w, id)?
        };
        if !bodies.contains(&body) && bodies.join("\n\n") != body {
            let note = Note {
                body,
                contacts: [id].into_iter().collect(),
                ..Default::default()
            };
            let nid = b.new_id();
            b.create(w, nid, Job::Note(note))?;
            touched = true;
        }
    }
    if let Some(d) = inc.connected_on.filter(|d| d.year.is_some()) {
        let date = d.to_string();
        let mut exists = false;
        if action != Action::Created {
            for (iid, kind) in w.timeline(id)? {
                if kind == Kind::Interaction {
                    if let Some(l) = w.load(iid)? {
                        let i = model::read_interaction(&l.doc);
                        exists |= i.date == date && i.summary == LINKEDIN_SUMMARY;
                    }
                }
            }
        }
        if !exists {
            let i = Interaction {
                date,
                kind: "event".into(),
                contacts: [id].into_iter().collect(),
                summary: LINKEDIN_SUMMARY.into(),
                ..Default::default()
            };
            let iid = b.new_id();
            b.create(w, iid, Job::Interaction(i))?;
            touched = true;
        }
    }
    let action = if action == Action::Unchanged && touched {
        Action::Updated
    } else {
        action
    };
    match action {
        Action::Created => s.created += 1,
        Action::Updated => s.updated += 1,
        Action::Unchanged => s.unchanged += 1,
    }
    s.changes.push(Change {
        action,
        id,
        name,
        file: file.to_string(),
        line: inc.line,
    });
    Ok(())
}

/// Turns the `X-KITH-LINK`s of this import into links, now that every card is in: the target
/// is the contact holding that UID (or whose export UID it is). A link whose target is not in
/// the vault is kept in `extra`, so it is not lost and a later export writes it back.
fn resolve_links(w: &mut Writer, s: &mut ImportSummary) -> Result<(), Abort> {
    let now = w.now();
    let pending = std::mem::take(&mut s.pending_links);
    for (id, links) in pending {
        let Some(mut l) = w.load(id)? else { continue };
        let mut c = model::read_contact(&l.doc);
        let mut at = None;
        for (n, (ci, rel, uid)) in links.into_iter().enumerate() {
            at = Some(ci);
            let mut target = None;
            for t in w.by_uid(&uid)? {
                if let Some(t) = survivor(w, t)? {
                    target = Some(t);
                    break;
                }
            }
            if target.is_none() {
                if let Some(t) = map::doc_id_of_uid(&uid) {
                    target = survivor(w, t)?;
                }
            }
            match target {
                Some(t) => {
                    let to = t.to_hex();
                    if !c.links.values().any(|k| k.to == to && k.rel == rel) {
                        let mut k = map::import_key(now, 0xc000 + n, &to);
                        while c.links.contains_key(&k) {
                            k.push('0');
                        }
                        c.links.insert(k, model::Link { to, rel });
                    }
                }
                None => {
                    let (k, e) = map::unresolved_link(&rel, &uid);
                    c.extra.entry(k).or_insert(e);
                }
            }
        }
        if model::write_contact(&mut l.doc, &c, now).map_err(am_err)? {
            w.save(l)?;
            if let Some(ch) = at.and_then(|ci| s.changes.get_mut(ci)) {
                if ch.action == Action::Unchanged {
                    ch.action = Action::Updated;
                    s.unchanged -= 1;
                    s.updated += 1;
                }
            }
        }
    }
    Ok(())
}
