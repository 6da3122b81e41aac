//! Interop use cases: import (vCard, Google/LinkedIn CSV), export (vCard, JSON, Markdown),
//! merging two contacts, backup and restore.
//!
//! Invariants:
//! - Import reads every input line by line with a hard cap ([`LINE_CAP`]), so memory is bounded
//!   by one card, never by the file; the whole import is one write transaction: either every
//!   valid card lands or (on an invalid card without `--skip-invalid`, or `--dry-run`) nothing.
//! - Re-importing the same input changes nothing: a card matches its contact by UID, else by
//!   email or phone only when the names agree (`kith_core::interop::dedup::same_name`: two
//!   people are never merged), and the merge only adds or changes (`kith_core::interop::map`);
//!   a contact already matched earlier in the same import is only filled in.
//! - Exports are deterministic: the same documents give byte-identical output (no export time).
//! - A backup is one read transaction (a consistent snapshot while other processes write);
//!   restore writes every document in one transaction and only into an empty vault.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use automerge::AutoCommit;
use kith_core::index;
use kith_core::interop::dedup;
use kith_core::interop::map::{self, MapOptions};
use kith_core::interop::{
    detect, vcard::MAX_LINE_BYTES, write_vcard, CardData, CsvImporter, CsvKind, Format,
    PartialDate, VCardReader, WriteVersion, DETECT_PREFIX_LEN,
};
use kith_core::model::{self, Contact, Interaction, Note};
use kith_core::{DocId, Kind};
use serde::{Deserialize, Serialize};

use crate::app::{am_err, App, AppError, ListQuery, Result};
use crate::store::{map_io, Reader, SharedIndex, StoreError, Writer};

/// The longest physical line import buffers; longer lines are cut here and rejected by the
/// reader ("line longer than ..."), so a 100 MB line costs 1 MiB of memory.
pub const LINE_CAP: usize = MAX_LINE_BYTES + 2;

/// Summary text of a LinkedIn connection, also the interaction it creates.
const LINKEDIN_SUMMARY: &str = "Connected on LinkedIn";

/// Where import reads from.
pub enum Source {
    /// A file, or a directory whose `.vcf`/`.vcard`/`.csv` files are read in name order.
    Path(PathBuf),
    /// Standard input (`-`), as the CLI hands it over.
    Stdin(Box<dyn Read>),
}

#[derive(Debug, Default, Clone, Copy)]
pub struct ImportOptions {
    pub dry_run: bool,
    pub skip_invalid: bool,
    pub skip_photos: bool,
}

/// A card that was not imported (or a photo that was not kept), and why.
#[derive(Debug, Serialize, Clone)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.reason)
    }
}

#[derive(Debug, Serialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Created,
    Updated,
    Unchanged,
}

/// What happened to one card.
#[derive(Debug, Serialize, Clone)]
pub struct Change {
    pub action: Action,
    pub id: DocId,
    pub name: String,
    pub file: String,
    pub line: usize,
}

/// The result of `kith import` (also its `--json` schema).
#[derive(Debug, Serialize, Default)]
pub struct ImportSummary {
    pub dry_run: bool,
    pub files: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub skipped: usize,
    /// Invalid cards (skipped with `--skip-invalid`).
    pub invalid: Vec<Problem>,
    /// Inline photos not kept (over 64 KiB, or `--skip-photos`); the card itself is imported.
    pub photos_skipped: Vec<Problem>,
    /// Cards whose UID belongs to a contact deleted for good: skipped, never re-created.
    pub deleted: Vec<Problem>,
    pub changes: Vec<Change>,
    /// Contacts an earlier card of this import already matched or created: a later card only
    /// fills what they lack, so the outcome does not depend on how often the import runs.
    #[serde(skip)]
    seen: BTreeSet<DocId>,
    /// `X-KITH-LINK`s to resolve once every card is in: contact -> (change index, rel, UID).
    #[serde(skip)]
    pending_links: BTreeMap<DocId, Vec<(usize, String, String)>>,
}

/// Progress of a running import: cards handled and bytes read so far.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub cards: u64,
    pub bytes: u64,
}

/// Why a write transaction stopped: an error, or a dry run that must not commit.
enum Abort {
    Err(AppError),
    Dry(Box<ImportSummary>),
}

impl From<StoreError> for Abort {
    fn from(e: StoreError) -> Self {
        Abort::Err(e.into())
    }
}
impl From<AppError> for Abort {
    fn from(e: AppError) -> Self {
        Abort::Err(e)
    }
}

/// Reads one line (with its `\n`) into `buf`, keeping at most `cap` bytes of it: the rest of an
/// over-long line is read and dropped. Returns false at end of input.
pub fn read_line_capped<R: BufRead>(
    r: &mut R,
    buf: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<bool> {
    buf.clear();
    let mut any = false;
    loop {
        let avail = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok(any);
        }
        any = true;
        let (take, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        let room = cap.saturating_sub(buf.len());
        buf.extend_from_slice(&avail[..take.min(room)]);
        r.consume(take);
        if done {
            return Ok(true);
        }
    }
}

struct Input {
    name: String,
    reader: Box<dyn Read>,
}

fn read_error(path: &Path, e: std::io::Error) -> AppError {
    let what = match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    };
    AppError::user(format!("cannot read {}: {what}", path.display()))
}

fn expand(sources: Vec<Source>) -> Result<Vec<Input>> {
    let mut out = Vec::new();
    for s in sources {
        match s {
            Source::Stdin(r) => out.push(Input {
                name: "<stdin>".into(),
                reader: r,
            }),
            Source::Path(p) => {
                let meta = std::fs::metadata(&p).map_err(|e| read_error(&p, e))?;
                let files: Vec<PathBuf> = if meta.is_dir() {
                    let mut files = Vec::new();
                    for entry in std::fs::read_dir(&p).map_err(|e| read_error(&p, e))? {
                        let path = entry.map_err(|e| read_error(&p, e))?.path();
                        let ext = path
                            .extension()
                            .and_then(|e| e.to_str())
                            .map(str::to_ascii_lowercase);
                        if path.is_file() && matches!(ext.as_deref(), Some("vcf" | "vcard" | "csv"))
                        {
                            files.push(path);
                        }
                    }
                    files.sort();
                    if files.is_empty() {
                        return Err(AppError::hint(
                            format!("{} holds no .vcf or .csv file", p.display()),
                            "give the files themselves, or a directory of vCard/CSV exports",
                        ));
                    }
                    files
                } else {
                    vec![p]
                };
                for f in files {
                    let file = std::fs::File::open(&f).map_err(|e| read_error(&f, e))?;
                    out.push(Input {
                        name: f.display().to_string(),
                        reader: Box::new(file),
                    });
                }
            }
        }
    }
    Ok(out)
}

/// One card read from an input, ready to apply.
struct Incoming {
    line: usize,
    card: CardData,
    connected_on: Option<PartialDate>,
}

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
            let mut s = ImportSummary {
                dry_run: opts.dry_run,
                files: inputs.len(),
                ..Default::default()
            };
            let mut p = Progress { cards: 0, bytes: 0 };
            for input in inputs {
                import_one(w, input, opts, &mut s, &mut p, progress)?;
            }
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
        let _ = self.vault.compact_if_sparse();
    }
}

/// An import or restore that wrote at least this many documents checks whether the vault file
/// needs compacting.
pub const COMPACT_AFTER: usize = 256;

fn import_one(
    w: &mut Writer,
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
            Ok(inc) => apply(w, inc, &name, &map_opts, s)?,
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

/// The largest kith JSON export import reads (it parses the whole file at once).
const MAX_JSON_IMPORT: u64 = 1 << 30;

#[derive(Deserialize)]
struct IdDoc<T> {
    id: DocId,
    #[serde(flatten)]
    doc: T,
}

/// The `kith export --format json` document, as import reads it.
#[derive(Deserialize)]
struct VaultImport {
    kith_export: u32,
    #[serde(default)]
    contacts: Vec<IdDoc<Contact>>,
    #[serde(default)]
    notes: Vec<IdDoc<Note>>,
    #[serde(default)]
    interactions: Vec<IdDoc<Interaction>>,
    #[serde(default)]
    reminders: Vec<IdDoc<model::Reminder>>,
    #[serde(default)]
    opportunities: Vec<IdDoc<model::Opportunity>>,
}

/// Imports kith's own JSON export: every document keeps its id, so links and the contacts of
/// notes, interactions and reminders stay as they were. A document the vault lacks is created
/// with the file's content and timestamps; a contact it has is merged as an import merges a
/// card (plus the file's links); a note, interaction or reminder it has takes the file's
/// values (its contacts are unioned). Returns the number of documents read.
fn import_json(
    w: &mut Writer,
    name: &str,
    data: &[u8],
    s: &mut ImportSummary,
) -> Result<usize, Abort> {
    let v: VaultImport = serde_json::from_slice(data).map_err(|e| {
        AppError::hint(
            format!(
                "{name}:{}: not a valid kith JSON export: {e}",
                e.line().max(1)
            ),
            "import the file kith export --format json wrote, unchanged",
        )
    })?;
    if v.kith_export != 1 {
        return Err(Abort::Err(AppError::hint(
            format!(
                "{name}: kith JSON export version {} is not supported (this kith reads 1)",
                v.kith_export
            ),
            "import it with the kith version that wrote it, or a newer one",
        )));
    }
    let now = w.now();
    let stamp = |updated: i64| if updated != 0 { updated } else { now };
    let total = v.contacts.len()
        + v.notes.len()
        + v.interactions.len()
        + v.reminders.len()
        + v.opportunities.len();
    let record = |s: &mut ImportSummary, id: DocId, action: Action, label: String| {
        match action {
            Action::Created => s.created += 1,
            Action::Updated => s.updated += 1,
            Action::Unchanged => s.unchanged += 1,
        }
        s.changes.push(Change {
            action,
            id,
            name: label,
            file: name.to_string(),
            line: 0,
        });
    };
    let wrong_kind = |id: DocId, want: Kind| {
        AppError::hint(
            format!(
                "{name}: document {id} is a {} in the file but not in this vault; nothing was imported",
                want.as_str()
            ),
            "import into another home (--home DIR)",
        )
    };
    // Loads the vault's document `id`, or None when it has none; another kind is an error.
    let existing =
        |w: &Writer, id: DocId, kind: Kind| -> Result<Option<crate::store::Loaded>, Abort> {
            match w.load(id)? {
                Some(l) if model::doc_kind(&l.doc) == Some(kind) => Ok(Some(l)),
                Some(_) => Err(Abort::Err(wrong_kind(id, kind))),
                None => Ok(None),
            }
        };
    for IdDoc { id, doc: c } in v.contacts {
        let label = c.name.clone();
        let action = match existing(w, id, Kind::Contact)? {
            Some(mut l) => {
                let mut mine = model::read_contact(&l.doc);
                map::merge_import(&mut mine, &c);
                for (k, link) in &c.links {
                    if !mine
                        .links
                        .values()
                        .any(|x| x.to == link.to && x.rel == link.rel)
                    {
                        let mut k = k.clone();
                        while mine.links.contains_key(&k) {
                            k.push('0');
                        }
                        mine.links.insert(k, link.clone());
                    }
                }
                if mine.merged_into.is_empty() && !c.merged_into.is_empty() {
                    mine.merged_into = c.merged_into.clone();
                }
                if model::write_contact(&mut l.doc, &mine, now).map_err(am_err)? {
                    w.save(l)?;
                    Action::Updated
                } else {
                    Action::Unchanged
                }
            }
            None => {
                let mut l = w.create_with_id(id);
                let stored =
                    model::new_contact(&mut l.doc, &c, stamp(c.updated)).map_err(am_err)?;
                w.save_indexed(l, Some(Kind::Contact), index::contact_index(&stored))?;
                Action::Created
            }
        };
        record(s, id, action, label);
    }
    for IdDoc { id, doc: n } in v.notes {
        let label = kith_core::index::snippet(&n.body);
        let action = match existing(w, id, Kind::Note)? {
            Some(mut l) => {
                let mut new = n.clone();
                let old = model::read_note(&l.doc);
                new.contacts.extend(old.contacts);
                new.tags.extend(old.tags);
                if model::write_note(&mut l.doc, &new, now).map_err(am_err)? {
                    w.save(l)?;
                    Action::Updated
                } else {
                    Action::Unchanged
                }
            }
            None => {
                let mut l = w.create_with_id(id);
                let stored = model::new_note(&mut l.doc, &n, stamp(n.updated)).map_err(am_err)?;
                w.save_indexed(l, Some(Kind::Note), index::note_index(&stored))?;
                Action::Created
            }
        };
        record(s, id, action, label);
    }
    for IdDoc { id, doc: i } in v.interactions {
        let label = kith_core::index::snippet(&i.summary);
        let action = match existing(w, id, Kind::Interaction)? {
            Some(mut l) => {
                let mut new = i.clone();
                new.contacts
                    .extend(model::read_interaction(&l.doc).contacts);
                if model::write_interaction(&mut l.doc, &new, now).map_err(am_err)? {
                    w.save(l)?;
                    Action::Updated
                } else {
                    Action::Unchanged
                }
            }
            None => {
                let mut l = w.create_with_id(id);
                let stored =
                    model::new_interaction(&mut l.doc, &i, stamp(i.updated)).map_err(am_err)?;
                w.save_indexed(
                    l,
                    Some(Kind::Interaction),
                    index::interaction_index(&stored),
                )?;
                Action::Created
            }
        };
        record(s, id, action, label);
    }
    for IdDoc { id, doc: r } in v.reminders {
        let label = kith_core::index::snippet(&r.text);
        let action = match existing(w, id, Kind::Reminder)? {
            Some(mut l) => {
                let mut new = r.clone();
                if new.contact.is_none() {
                    new.contact = model::read_reminder(&l.doc).contact;
                }
                if model::write_reminder(&mut l.doc, &new, now).map_err(am_err)? {
                    w.save(l)?;
                    Action::Updated
                } else {
                    Action::Unchanged
                }
            }
            None => {
                let mut l = w.create_with_id(id);
                let stored =
                    model::new_reminder(&mut l.doc, &r, stamp(r.updated)).map_err(am_err)?;
                w.save_indexed(l, Some(Kind::Reminder), index::reminder_index(&stored))?;
                Action::Created
            }
        };
        record(s, id, action, label);
    }
    for IdDoc { id, doc: o } in v.opportunities {
        let label = kith_core::index::snippet(&o.title);
        let action = match existing(w, id, Kind::Opportunity)? {
            Some(mut l) => {
                let mut new = o.clone();
                new.contacts
                    .extend(model::read_opportunity(&l.doc).contacts);
                if model::write_opportunity(&mut l.doc, &new, now).map_err(am_err)? {
                    w.save(l)?;
                    Action::Updated
                } else {
                    Action::Unchanged
                }
            }
            None => {
                let mut l = w.create_with_id(id);
                model::write_opportunity(&mut l.doc, &o, stamp(o.updated)).map_err(am_err)?;
                w.save(l)?;
                Action::Created
            }
        };
        record(s, id, action, label);
    }
    Ok(total)
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
    let (id, action) = match find_match(w, &incoming)? {
        Some((id, via)) => {
            let (mut l, mut c) = w
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
            // Unchanged (the usual re-import): nothing to write, nothing to save.
            let changed = !same_contact(&old, &c)
                && model::write_contact(&mut l.doc, &c, now).map_err(am_err)?;
            if changed {
                w.save(l)?;
            }
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
            let mut l = w.create();
            let stored = model::new_contact(&mut l.doc, &incoming, now).map_err(am_err)?;
            let id = l.id;
            w.save_indexed(l, Some(Kind::Contact), index::contact_index(&stored))?;
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
            let mut l = w.create();
            let note = Note {
                body,
                contacts: [id].into_iter().collect(),
                ..Default::default()
            };
            let stored = model::new_note(&mut l.doc, &note, now).map_err(am_err)?;
            w.save_indexed(l, Some(Kind::Note), index::note_index(&stored))?;
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
            let mut l = w.create();
            let i = Interaction {
                date,
                kind: "event".into(),
                contacts: [id].into_iter().collect(),
                summary: LINKEDIN_SUMMARY.into(),
                ..Default::default()
            };
            let stored = model::new_interaction(&mut l.doc, &i, now).map_err(am_err)?;
            w.save_indexed(
                l,
                Some(Kind::Interaction),
                index::interaction_index(&stored),
            )?;
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
        name: incoming.name,
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

// ---------------------------------------------------------------------------------------------
// Export.

/// Which contacts an export covers: like `kith list` (not archived, not merged), filtered.
#[derive(Debug, Default, Clone)]
pub struct ExportFilter {
    pub tags: Vec<String>,
    pub org: Option<String>,
}

#[derive(Serialize)]
struct WithId<T> {
    id: DocId,
    #[serde(flatten)]
    doc: T,
}

/// Runs `f` over `items` on two threads and hands the results to `sink` in input order, so the
/// output is the same as a sequential loop's. Memory is bounded: each worker runs at most
/// [`WINDOW`] items ahead of the sink. An error from `sink` stops the workers.
fn par_ordered<I: Sync, T: Send>(
    items: &[I],
    f: impl Fn(&I) -> T + Sync,
    mut sink: impl FnMut(T) -> Result<()>,
) -> Result<()> {
    const WORKERS: usize = 2;
    const WINDOW: usize = 64;
    if items.len() < 2 * WINDOW {
        for i in items {
            sink(f(i))?;
        }
        return Ok(());
    }
    std::thread::scope(|s| {
        let mut rxs = Vec::with_capacity(WORKERS);
        for w in 0..WORKERS {
            let (tx, rx) = std::sync::mpsc::sync_channel(WINDOW);
            rxs.push(rx);
            let f = &f;
            s.spawn(move || {
                for item in items.iter().skip(w).step_by(WORKERS) {
                    if tx.send(f(item)).is_err() {
                        break; // the sink stopped
                    }
                }
            });
        }
        for i in 0..items.len() {
            let Ok(t) = rxs[i % WORKERS].recv() else {
                return Err(AppError::Store(StoreError::Internal(
                    "an export worker stopped".into(),
                )));
            };
            sink(t)?; // on error, dropping the receivers stops the workers
        }
        Ok(())
    })
}

/// One kind's documents in the JSON export, loaded (on two threads) and written one at a
/// time as the serializer reaches them.
struct Section<'a, T> {
    r: &'a Reader,
    ids: Vec<DocId>,
    read: fn(&AutoCommit) -> T,
    /// The error that stopped the export (serde only carries a message).
    err: &'a std::cell::RefCell<Option<AppError>>,
}

impl<T> Section<'_, T> {
    fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

impl<T: Serialize + Send> Serialize for Section<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        let mut seq = s.serialize_seq(Some(self.ids.len()))?;
        let mut ser_err = None;
        let (r, read) = (self.r, self.read);
        let res = par_ordered(
            &self.ids,
            |id| -> Result<Option<WithId<T>>> {
                Ok(r.load(*id)?.map(|d| WithId {
                    id: *id,
                    doc: read(&d),
                }))
            },
            |item| {
                if let Some(w) = item? {
                    if let Err(e) = seq.serialize_element(&w) {
                        ser_err = Some(e);
                        return Err(AppError::user("export stopped"));
                    }
                }
                Ok(())
            },
        );
        if let Some(e) = ser_err {
            return Err(e);
        }
        if let Err(e) = res {
            *self.err.borrow_mut() = Some(e);
            return Err(S::Error::custom("export stopped"));
        }
        seq.end()
    }
}

/// The `kith export --format json` document (schema in docs/export-format.md), streamed.
#[derive(Serialize)]
struct VaultExport<'a> {
    kith_export: u32,
    contacts: Section<'a, Contact>,
    notes: Section<'a, Note>,
    interactions: Section<'a, Interaction>,
    reminders: Section<'a, model::Reminder>,
    /// Left out when there are none, so exports of vaults without opportunities keep the
    /// format they always had.
    #[serde(skip_serializing_if = "Section::is_empty")]
    opportunities: Section<'a, model::Opportunity>,
}

/// The vCard of one exported contact: its UID (kith's export UID when it has none), its
/// notes (oldest first) and its links naming their target's UID.
fn vcard_of(r: &Reader, id: DocId, version: WriteVersion) -> Result<Option<String>> {
    let Some(doc) = r.load(id)? else {
        return Ok(None);
    };
    let c = model::read_contact(&doc);
    let mut uids: HashMap<String, String> = HashMap::new();
    for l in c.links.values() {
        if uids.contains_key(&l.to) {
            continue;
        }
        let uid = match l.to.parse::<DocId>() {
            Ok(t) => match r.load(t)? {
                Some(td) => {
                    let tu = model::read_contact(&td).uid;
                    if tu.is_empty() {
                        map::kith_uid(&t)
                    } else {
                        tu
                    }
                }
                None => map::kith_uid(&t),
            },
            Err(_) => l.to.clone(),
        };
        uids.insert(l.to.clone(), uid);
    }
    let mut notes: Vec<(i64, DocId, String)> = Vec::new();
    for (nid, kind) in r.timeline(id)? {
        if kind == Kind::Note {
            if let Some(nd) = r.load(nid)? {
                let n = model::read_note(&nd);
                notes.push((n.created, nid, n.body));
            }
        }
    }
    notes.sort();
    let bodies: Vec<String> = notes.into_iter().map(|n| n.2).collect();
    let link_uid = |hex: &str| uids.get(hex).cloned().unwrap_or_else(|| hex.to_string());
    let mut card = map::contact_to_card_with(&c, &bodies, &link_uid);
    if card.uid.is_none() {
        card.uid = Some(map::kith_uid(&id));
    }
    Ok(Some(write_vcard(&card, version)))
}

impl App {
    fn export_ids(&self, f: &ExportFilter) -> Result<Vec<DocId>> {
        let mut buf = Default::default();
        let rows = self.list(
            &ListQuery {
                tags: f.tags.clone(),
                org: f.org.clone(),
                ..Default::default()
            },
            &mut buf,
        )?;
        Ok(rows.into_iter().map(|r| r.id).collect())
    }

    /// Every selected contact as vCard 4.0 (or 3.0), in `kith list` order (name, then id),
    /// written to `out` card by card (`dest` names it in errors). Each card carries the
    /// contact's UID (kith's export UID, [`map::kith_uid`], when it has none) and kith's own
    /// fields as `X-KITH-*` properties; links name their target's UID. Cards are built on two
    /// threads and written in order; memory holds a window of cards, never the export.
    /// Returns the number of contacts.
    pub fn export_vcard_to(
        &self,
        f: &ExportFilter,
        version: WriteVersion,
        out: &mut dyn Write,
        dest: &Path,
    ) -> Result<usize> {
        let ids = self.export_ids(f)?;
        let r = self.vault.read()?;
        par_ordered(
            &ids,
            |id| vcard_of(&r, *id, version),
            |card| {
                if let Some(card) = card? {
                    out.write_all(card.as_bytes())
                        .map_err(|e| AppError::from(map_io(dest, e)))?;
                }
                Ok(())
            },
        )?;
        Ok(ids.len())
    }

    /// [`App::export_vcard_to`] into a string.
    pub fn export_vcard(&self, f: &ExportFilter, version: WriteVersion) -> Result<(usize, String)> {
        let mut out = Vec::new();
        let n = self.export_vcard_to(f, version, &mut out, Path::new("memory"))?;
        Ok((n, String::from_utf8(out).expect("vCards are UTF-8")))
    }

    /// The whole vault as deterministic JSON (every document by kind, sorted by id), written to
    /// `out` document by document (`dest` names it in errors): memory holds a window of
    /// documents, never the export.
    pub fn export_json_to(&self, out: &mut dyn Write, dest: &Path) -> Result<()> {
        let r = self.vault.read()?;
        let err = std::cell::RefCell::new(None);
        let section = |kind: Kind| -> Result<Vec<DocId>> { Ok(r.ids_of_kind(kind)?) };
        let v = VaultExport {
            kith_export: 1,
            contacts: Section {
                r: &r,
                ids: section(Kind::Contact)?,
                read: model::read_contact,
                err: &err,
            },
            notes: Section {
                r: &r,
                ids: section(Kind::Note)?,
                read: model::read_note,
                err: &err,
            },
            interactions: Section {
                r: &r,
                ids: section(Kind::Interaction)?,
                read: model::read_interaction,
                err: &err,
            },
            // Device configuration (the membership document) is not part of the network: not
            // exported.
            reminders: Section {
                r: &r,
                ids: section(Kind::Reminder)?,
                read: model::read_reminder,
                err: &err,
            },
            opportunities: Section {
                r: &r,
                ids: section(Kind::Opportunity)?,
                read: model::read_opportunity,
                err: &err,
            },
        };
        let mut w = std::io::BufWriter::with_capacity(64 * 1024, out);
        let res = serde_json::to_writer_pretty(&mut w, &v);
        if let Some(e) = err.take() {
            return Err(e);
        }
        let io = |e: std::io::Error| AppError::from(map_io(dest, e));
        res.map_err(|e| match e.io_error_kind() {
            Some(kind) => io(std::io::Error::new(kind, e.to_string())),
            None => AppError::Store(StoreError::Internal(e.to_string())),
        })?;
        w.write_all(b"\n").map_err(io)?;
        w.flush().map_err(io)?;
        Ok(())
    }

    /// [`App::export_json_to`] into a string.
    pub fn export_json(&self) -> Result<String> {
        let mut out = Vec::new();
        self.export_json_to(&mut out, Path::new("memory"))?;
        Ok(String::from_utf8(out).expect("JSON is UTF-8"))
    }

    /// One Markdown file per selected contact in `dir`: YAML front matter, how we met, and the
    /// timeline newest first. Returns the number of files written.
    pub fn export_markdown(&self, f: &ExportFilter, dir: &Path) -> Result<usize> {
        let ids = self.export_ids(f)?;
        std::fs::create_dir_all(dir).map_err(|e| map_io(dir, e))?;
        let r = self.vault.read()?;
        for id in &ids {
            let Some(doc) = r.load(*id)? else { continue };
            let c = model::read_contact(&doc);
            let mut items = Vec::new();
            for (iid, kind) in r.timeline(*id)? {
                if let Some(d) = r.load(iid)? {
                    items.push((kind, d));
                }
            }
            let text = markdown(*id, &c, &items);
            let path = dir.join(format!("{}-{}.md", slug(&c.name), id.short()));
            crate::atomic::write(&path, text.as_bytes()).map_err(|e| map_io(&path, e))?;
        }
        Ok(ids.len())
    }
}

fn slug(name: &str) -> String {
    let folded = kith_core::text::fold(name);
    let words: Vec<String> = folded
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect();
    if words.is_empty() {
        "contact".into()
    } else {
        words.join("-")
    }
}

fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

fn yaml_list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<String> = items.map(yaml_str).collect();
    format!("[{}]", v.join(", "))
}

fn markdown(id: DocId, c: &Contact, items: &[(Kind, AutoCommit)]) -> String {
    let mut s = String::from("---\n");
    s.push_str(&format!("id: {}\n", yaml_str(&id.to_hex())));
    s.push_str(&format!("name: {}\n", yaml_str(&c.name)));
    let scalars = [
        ("nickname", &c.nickname),
        ("birthday", &c.birthday),
        ("every", &c.every),
        ("uid", &c.uid),
    ];
    for (k, v) in scalars {
        if !v.is_empty() {
            s.push_str(&format!("{k}: {}\n", yaml_str(v)));
        }
    }
    if let Some(r) = c.primary_role() {
        if !r.org.is_empty() {
            s.push_str(&format!("org: {}\n", yaml_str(&r.org)));
        }
        if !r.title.is_empty() {
            s.push_str(&format!("title: {}\n", yaml_str(&r.title)));
        }
    }
    for (k, list) in [
        ("emails", &c.emails),
        ("phones", &c.phones),
        ("urls", &c.urls),
    ] {
        if !list.is_empty() {
            s.push_str(&format!(
                "{k}: {}\n",
                yaml_list(list.values().map(|e| e.value.as_str()))
            ));
        }
    }
    for (k, set) in [("tags", &c.tags), ("kinds", &c.kinds)] {
        if !set.is_empty() {
            s.push_str(&format!(
                "{k}: {}\n",
                yaml_list(set.iter().map(String::as_str))
            ));
        }
    }
    s.push_str("---\n\n");
    s.push_str(&format!("# {}\n", c.name));
    if !c.met.trim().is_empty() {
        s.push_str(&format!("\nHow we met: {}\n", c.met.trim()));
    }
    if !items.is_empty() {
        s.push_str("\n## Timeline\n");
    }
    for (kind, d) in items {
        let (head, body) = match kind {
            Kind::Note => {
                let n = model::read_note(d);
                let day = kith_core::time::Date::from_unix_ms(n.created, 0);
                (format!("{day} · note"), n.body)
            }
            Kind::Interaction => {
                let i = model::read_interaction(d);
                (format!("{} · {}", i.date, i.kind), i.summary)
            }
            Kind::Reminder => {
                let r = model::read_reminder(d);
                let state = if r.done { "done" } else { "open" };
                (format!("{} · reminder ({state})", r.due), r.text)
            }
            Kind::Opportunity => {
                let o = model::read_opportunity(d);
                let day = kith_core::time::Date::from_unix_ms(o.created, 0);
                (
                    format!("{day} · opportunity ({}): {}", o.stage, o.title),
                    o.note,
                )
            }
            Kind::Devices => continue,
            Kind::Contact => continue,
        };
        s.push_str(&format!("\n### {head}\n"));
        if !body.trim().is_empty() {
            s.push_str(&format!("\n{}\n", body.trim_end()));
        }
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Merge.

/// The result of `kith merge` (also its `--json` schema).
#[derive(Debug, Serialize)]
pub struct Merged {
    pub survivor: DocId,
    pub merged: DocId,
    /// Notes, interactions and reminders moved to the survivor.
    pub items: usize,
    /// Other contacts whose links now point to the survivor.
    pub links: usize,
}

impl App {
    /// Merges `other` into `survivor` in one transaction (see `map::merge_contacts`); every
    /// item and link pointing to `other` is repointed; `other` keeps existing with
    /// `merged_into` so its id still resolves.
    pub fn merge(&self, survivor: DocId, other: DocId) -> Result<Merged> {
        if survivor == other {
            return Err(AppError::hint(
                "both references name the same contact",
                "give two different contacts (an already merged contact resolves to its survivor)",
            ));
        }
        let now = self.now();
        let (sh, oh) = (survivor.to_hex(), other.to_hex());
        self.vault.write(now, |w| {
            let mut ls = w
                .load(survivor)?
                .ok_or_else(|| AppError::user(format!("contact {survivor} no longer exists")))?;
            let mut lo = w
                .load(other)?
                .ok_or_else(|| AppError::user(format!("contact {other} no longer exists")))?;
            let mut cs = model::read_contact(&ls.doc);
            let mut co = model::read_contact(&lo.doc);
            map::merge_contacts(&mut cs, &co, &sh, &oh);
            cs.links.retain(|_, l| l.to != oh);
            model::write_contact(&mut ls.doc, &cs, now).map_err(am_err)?;
            co.merged_into = sh.clone();
            model::write_contact(&mut lo.doc, &co, now).map_err(am_err)?;
            w.save(ls)?;
            w.save(lo)?;
            let mut items = 0;
            for (iid, kind) in w.timeline(other)? {
                let Some(mut l) = w.load(iid)? else { continue };
                match kind {
                    Kind::Note => {
                        let mut n = model::read_note(&l.doc);
                        n.contacts.remove(&other);
                        n.contacts.insert(survivor);
                        model::write_note(&mut l.doc, &n, now).map_err(am_err)?;
                    }
                    Kind::Interaction => {
                        let mut i = model::read_interaction(&l.doc);
                        i.contacts.remove(&other);
                        i.contacts.insert(survivor);
                        model::write_interaction(&mut l.doc, &i, now).map_err(am_err)?;
                    }
                    Kind::Reminder => {
                        let mut r = model::read_reminder(&l.doc);
                        if r.contact == Some(other) {
                            r.contact = Some(survivor);
                        }
                        model::write_reminder(&mut l.doc, &r, now).map_err(am_err)?;
                    }
                    Kind::Opportunity => {
                        let mut o = model::read_opportunity(&l.doc);
                        o.contacts.remove(&other);
                        o.contacts.insert(survivor);
                        model::write_opportunity(&mut l.doc, &o, now).map_err(am_err)?;
                    }
                    Kind::Devices => continue,
                    Kind::Contact => continue,
                }
                w.save(l)?;
                items += 1;
            }
            let mut links = 0;
            for cid in w.contact_ids()? {
                if cid == survivor || cid == other {
                    continue;
                }
                let Some(mut l) = w.load(cid)? else { continue };
                let mut c = model::read_contact(&l.doc);
                if !c.links.values().any(|k| k.to == oh) {
                    continue;
                }
                let existing: BTreeSet<(String, String)> = c
                    .links
                    .values()
                    .map(|k| (k.to.clone(), k.rel.clone()))
                    .collect();
                c.links.retain(|_, k| {
                    !(k.to == oh && existing.contains(&(sh.clone(), k.rel.clone())))
                });
                for k in c.links.values_mut() {
                    if k.to == oh {
                        k.to = sh.clone();
                    }
                }
                model::write_contact(&mut l.doc, &c, now).map_err(am_err)?;
                w.save(l)?;
                links += 1;
            }
            Ok(Merged {
                survivor,
                merged: other,
                items,
                links,
            })
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Duplicates.

/// A shared name, email or phone held by more contacts than this is not used to propose pairs
/// (a switchboard number, a team address): it would propose every pair among them.
pub const MAX_SHARED: usize = 50;

/// A contact of a duplicate group, as `kith duplicates` shows it.
#[derive(Debug, Serialize)]
pub struct DupContact {
    pub id: DocId,
    pub name: String,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub org: String,
}

/// Two contacts of a group and why they may be one person.
#[derive(Debug, Serialize)]
pub struct DupPair {
    pub a: DocId,
    pub b: DocId,
    #[serde(flatten)]
    pub evidence: dedup::Evidence,
}

/// Contacts that are likely one person: the first is the suggested survivor (the one with the
/// most entries), `merge` the commands that fold the others into it.
#[derive(Debug, Serialize)]
pub struct DupGroup {
    pub score: u32,
    pub contacts: Vec<DupContact>,
    pub pairs: Vec<DupPair>,
    pub merge: Vec<String>,
}

/// The result of `kith duplicates` (also its `--json` schema).
#[derive(Debug, Serialize)]
pub struct Duplicates {
    pub groups: Vec<DupGroup>,
}

fn find_root(parent: &mut HashMap<DocId, DocId>, x: DocId) -> DocId {
    let mut r = x;
    while let Some(&p) = parent.get(&r) {
        if p == r {
            break;
        }
        r = p;
    }
    // Path compression.
    let mut c = x;
    while c != r {
        let next = parent[&c];
        parent.insert(c, r);
        c = next;
    }
    r
}

impl App {
    /// Likely duplicates, best first. Candidate pairs come only from contacts that share an
    /// index key (folded name, email, phone: one pass over each table) or the same name words
    /// (one pass over the contact summaries), never from all pairs; each candidate pair is
    /// judged by `dedup::evidence` and the proposed pairs are joined into groups.
    pub fn duplicates(&self) -> Result<Duplicates> {
        let r = self.vault.read()?;
        let live: HashMap<DocId, String> = r
            .contacts()?
            .into_iter()
            .filter(|(_, c)| c.merged_into.is_empty())
            .map(|(id, c)| (id, c.name))
            .collect();
        let mut sets: Vec<Vec<DocId>> = Vec::new();
        for ix in [SharedIndex::Names, SharedIndex::Emails, SharedIndex::Phones] {
            for (_, ids) in r.shared_keys(ix)? {
                sets.push(ids);
            }
        }
        let mut by_words: HashMap<String, Vec<DocId>> = HashMap::new();
        for (id, name) in &live {
            let k = dedup::match_key(name);
            if !k.is_empty() {
                by_words.entry(k).or_default().push(*id);
            }
        }
        sets.extend(by_words.into_values().filter(|v| v.len() > 1));
        let mut candidates: BTreeSet<(DocId, DocId)> = BTreeSet::new();
        for ids in sets {
            let mut ids: Vec<DocId> = ids.into_iter().filter(|i| live.contains_key(i)).collect();
            ids.sort();
            ids.dedup();
            if ids.len() > MAX_SHARED {
                continue;
            }
            for (i, a) in ids.iter().enumerate() {
                for b in &ids[i + 1..] {
                    candidates.insert((*a, *b));
                }
            }
        }
        let mut cache: HashMap<DocId, Contact> = HashMap::new();
        let mut pairs = Vec::new();
        for (a, b) in candidates {
            for id in [a, b] {
                if let std::collections::hash_map::Entry::Vacant(v) = cache.entry(id) {
                    v.insert(
                        r.load(id)?
                            .map(|d| model::read_contact(&d))
                            .unwrap_or_default(),
                    );
                }
            }
            if let Some(e) = dedup::evidence(&cache[&a], &cache[&b]) {
                pairs.push(DupPair { a, b, evidence: e });
            }
        }
        let mut parent: HashMap<DocId, DocId> = HashMap::new();
        for p in &pairs {
            parent.entry(p.a).or_insert(p.a);
            parent.entry(p.b).or_insert(p.b);
            let (ra, rb) = (find_root(&mut parent, p.a), find_root(&mut parent, p.b));
            if ra != rb {
                parent.insert(ra.max(rb), ra.min(rb));
            }
        }
        let mut groups: BTreeMap<DocId, (Vec<DocId>, Vec<DupPair>)> = BTreeMap::new();
        let members: Vec<DocId> = parent.keys().copied().collect();
        for id in members {
            let root = find_root(&mut parent, id);
            groups.entry(root).or_default().0.push(id);
        }
        for p in pairs {
            let root = find_root(&mut parent, p.a);
            groups.entry(root).or_default().1.push(p);
        }
        let size = |c: &Contact| c.emails.len() + c.phones.len() + c.urls.len() + c.orgs.len();
        let mut out: Vec<DupGroup> = groups
            .into_values()
            .map(|(mut ids, mut pairs)| {
                ids.sort_by(|x, y| {
                    let (cx, cy) = (&cache[x], &cache[y]);
                    size(cy)
                        .cmp(&size(cx))
                        .then(cx.created.cmp(&cy.created))
                        .then(x.cmp(y))
                });
                pairs.sort_by(|p, q| {
                    q.evidence
                        .score
                        .cmp(&p.evidence.score)
                        .then((p.a, p.b).cmp(&(q.a, q.b)))
                });
                let score = pairs.first().map(|p| p.evidence.score).unwrap_or(0);
                let survivor = ids[0].to_hex();
                let merge = ids[1..]
                    .iter()
                    .map(|o| format!("kith merge {survivor} {}", o.to_hex()))
                    .collect();
                let contacts = ids
                    .iter()
                    .map(|id| {
                        let c = &cache[id];
                        DupContact {
                            id: *id,
                            name: c.name.clone(),
                            emails: c.emails.values().map(|e| e.value.clone()).collect(),
                            phones: c.phones.values().map(|e| e.value.clone()).collect(),
                            org: c.primary_role().map(|r| r.org.clone()).unwrap_or_default(),
                        }
                    })
                    .collect();
                DupGroup {
                    score,
                    contacts,
                    pairs,
                    merge,
                }
            })
            .collect();
        out.sort_by(|a, b| {
            b.score
                .cmp(&a.score)
                .then_with(|| {
                    kith_core::text::fold(&a.contacts[0].name)
                        .cmp(&kith_core::text::fold(&b.contacts[0].name))
                })
                .then(a.contacts[0].id.cmp(&b.contacts[0].id))
        });
        Ok(Duplicates { groups: out })
    }
}

// ---------------------------------------------------------------------------------------------
// Backup and restore.

/// First bytes of a backup file; the format is described in docs/export-format.md.
pub const BACKUP_MAGIC: &[u8; 12] = b"kith-backup\n";
const BACKUP_VERSION: u32 = 1;
/// The largest document a backup may hold (a bound on what restore allocates).
const MAX_BACKUP_DOC: u32 = 256 << 20;

/// The result of `kith backup` / `kith restore` (also their `--json` schema).
#[derive(Debug, Serialize)]
pub struct BackupSummary {
    pub documents: u64,
    pub bytes: u64,
}

fn fnv(h: &mut u64, bytes: &[u8]) {
    for &b in bytes {
        *h = (*h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
}

impl App {
    /// Writes every document (as a compact Automerge save) from one read transaction into
    /// `file`, atomically (a temporary file renamed into place).
    pub fn backup(&self, file: &Path) -> Result<BackupSummary> {
        let r = self.vault.read()?;
        let dir = match file.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = crate::atomic::AtomicFile::create(file).map_err(|e| map_io(&dir, e))?;
        let mut out = std::io::BufWriter::new(tmp);
        let werr = |e: std::io::Error| AppError::from(map_io(file, e));
        out.write_all(BACKUP_MAGIC).map_err(werr)?;
        out.write_all(&BACKUP_VERSION.to_le_bytes()).map_err(werr)?;
        let mut all: Vec<(DocId, Kind)> = Vec::new();
        for kind in Kind::ALL {
            all.extend(r.ids_of_kind(kind)?.into_iter().map(|id| (id, kind)));
        }
        all.sort();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut bytes = 0u64;
        for (id, kind) in &all {
            let Some(mut doc) = r.load(*id)? else {
                continue;
            };
            let data = doc.save();
            let mut head = Vec::with_capacity(21);
            head.push(kind.code());
            head.extend_from_slice(&id.0);
            head.extend_from_slice(&(data.len() as u32).to_le_bytes());
            fnv(&mut h, &head);
            fnv(&mut h, &data);
            out.write_all(&head).map_err(werr)?;
            out.write_all(&data).map_err(werr)?;
            bytes += data.len() as u64;
        }
        out.write_all(&[0]).map_err(werr)?;
        out.write_all(&(all.len() as u64).to_le_bytes())
            .map_err(werr)?;
        out.write_all(&h.to_le_bytes()).map_err(werr)?;
        let tmp = out.into_inner().map_err(|e| werr(e.into_error()))?;
        tmp.commit().map_err(werr)?;
        Ok(BackupSummary {
            documents: all.len() as u64,
            bytes,
        })
    }

    /// Restores a backup into this (empty) vault in one write transaction.
    pub fn restore(&self, file: &Path) -> Result<BackupSummary> {
        let counts = self.vault.read()?.counts()?;
        let n: u64 = counts.values().sum();
        if n > 0 {
            return Err(AppError::hint(
                format!(
                    "{} already holds {n} documents; restore only fills an empty home",
                    self.home.display()
                ),
                "restore into a new home (--home DIR or KITH_HOME), or move the vault away first",
            ));
        }
        let f = std::fs::File::open(file).map_err(|e| read_error(file, e))?;
        let mut r = BufReader::new(f);
        let bad = |why: &str| {
            AppError::hint(
                format!("{} is not a usable kith backup: {why}", file.display()),
                "nothing was restored; check the file (kith backup FILE writes one)",
            )
        };
        let mut magic = [0u8; 12];
        r.read_exact(&mut magic)
            .map_err(|_| bad("no backup header"))?;
        if &magic != BACKUP_MAGIC {
            return Err(bad("no backup header"));
        }
        let mut v = [0u8; 4];
        r.read_exact(&mut v).map_err(|_| bad("truncated"))?;
        if u32::from_le_bytes(v) != BACKUP_VERSION {
            return Err(bad("written by a newer kith"));
        }
        self.vault.write(self.now(), |w| {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            let mut count = 0u64;
            let mut bytes = 0u64;
            loop {
                let mut k = [0u8; 1];
                r.read_exact(&mut k).map_err(|_| bad("truncated"))?;
                if k[0] == 0 {
                    let mut tail = [0u8; 16];
                    r.read_exact(&mut tail).map_err(|_| bad("truncated"))?;
                    let want_count = u64::from_le_bytes(tail[..8].try_into().expect("8"));
                    let want_hash = u64::from_le_bytes(tail[8..].try_into().expect("8"));
                    if want_count != count || want_hash != h {
                        return Err(bad("checksum mismatch"));
                    }
                    break;
                }
                let kind = Kind::from_code(k[0]).ok_or_else(|| bad("unknown record"))?;
                let mut head = [0u8; 20];
                r.read_exact(&mut head).map_err(|_| bad("truncated"))?;
                let id = DocId(head[..16].try_into().expect("16"));
                let len = u32::from_le_bytes(head[16..].try_into().expect("4"));
                if len > MAX_BACKUP_DOC {
                    return Err(bad("a document is implausibly large"));
                }
                let mut data = vec![0u8; len as usize];
                r.read_exact(&mut data).map_err(|_| bad("truncated"))?;
                fnv(&mut h, &k);
                fnv(&mut h, &head);
                fnv(&mut h, &data);
                let mut l = w.create_with_id(id);
                let actor = l.doc.get_actor().clone();
                let doc = AutoCommit::load(&data).map_err(|_| bad("a document is damaged"))?;
                l.doc = doc.with_actor(actor);
                if model::doc_kind(&l.doc) != Some(kind) {
                    return Err(bad("a document's kind does not match"));
                }
                w.save(l)?;
                count += 1;
                bytes += len as u64;
            }
            Ok(BackupSummary {
                documents: count,
                bytes,
            })
        })
    }
}
