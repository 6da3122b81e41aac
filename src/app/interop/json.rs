//! kith's own JSON format: importing an export (every document keeps its id) and the
//! streamed `kith export --format json`.

use std::io::Write;
use std::path::Path;

use automerge::AutoCommit;
use kith_core::index::{self, DocIndex};
use kith_core::interop::map::{self};
use kith_core::model::{self, Contact, Interaction, Note};
use kith_core::{DocId, Kind};
use serde::{Deserialize, Serialize};

use super::export::{par_ordered, WithId};
use super::{Abort, Action, Change, ImportSummary};
use crate::app::{am_err, App, AppError, Result};
use crate::store::{map_io, Reader, StoreError, Writer};

/// The largest kith JSON export import reads (it parses the whole file at once).
pub(super) const MAX_JSON_IMPORT: u64 = 1 << 30;

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

type AmResult<T> = std::result::Result<T, automerge::AutomergeError>;

/// One kind of document in kith's JSON export, as its import treats it.
trait JsonDoc: Sized {
    const KIND: Kind;
    /// How the import summary names it.
    fn label(&self) -> String;
    /// When it was last changed in the file (0: unknown).
    fn updated(&self) -> i64;
    fn read(doc: &AutoCommit) -> Self;
    /// Writes `self` over the vault's version; true when something changed.
    fn write(doc: &mut AutoCommit, new: &Self, now: i64) -> AmResult<bool>;
    /// Builds a new document holding `self` in one pass, returning its index entries (None:
    /// the store derives them).
    fn build(doc: &mut AutoCommit, new: &Self, now: i64) -> AmResult<Option<DocIndex>>;
    /// The file's value combined with the vault's `mine`: what the import writes.
    fn merged(&self, mine: Self) -> Self;
}

impl JsonDoc for Contact {
    const KIND: Kind = Kind::Contact;
    fn label(&self) -> String {
        self.name.clone()
    }
    fn updated(&self) -> i64 {
        self.updated
    }
    fn read(doc: &AutoCommit) -> Self {
        model::read_contact(doc)
    }
    fn write(doc: &mut AutoCommit, new: &Self, now: i64) -> AmResult<bool> {
        model::write_contact(doc, new, now)
    }
    fn build(doc: &mut AutoCommit, new: &Self, now: i64) -> AmResult<Option<DocIndex>> {
        Ok(Some(index::contact_index(&model::new_contact(
            doc, new, now,
        )?)))
    }
    /// Merged as an import merges a card, plus the file's links and merge pointer.
    fn merged(&self, mut mine: Self) -> Self {
        map::merge_import(&mut mine, self);
        for (k, link) in &self.links {
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
        if mine.merged_into.is_empty() && !self.merged_into.is_empty() {
            mine.merged_into = self.merged_into.clone();
        }
        mine
    }
}

impl JsonDoc for Note {
    const KIND: Kind = Kind::Note;
    fn label(&self) -> String {
        index::snippet(&self.body)
    }
    fn updated(&self) -> i64 {
        self.updated
    }
    fn read(doc: &AutoCommit) -> Self {
        model::read_note(doc)
    }
    fn write(doc: &mut AutoCommit, new: &Self, now: i64) -> AmResult<bool> {
        model::write_note(doc, new, now)
    }
    fn build(doc: &mut AutoCommit, new: &Self, now: i64) -> AmResult<Option<DocIndex>> {
        Ok(Some(index::note_index(&model::new_note(doc, new, now)?)))
    }
    /// The file's values; contacts and tags unioned.
    fn merged(&self, mine: Self) -> Self {
        let mut new = self.clone();
        new.contacts.extend(mine.contacts);
        new.tags.extend(mine.tags);
        new
    }
}

impl JsonDoc for Interaction {
    const KIND: Kind = Kind::Interaction;
    fn label(&self) -> String {
        index::snippet(&self.summary)
    }
    fn updated(&self) -> i64 {
        self.updated
    }
    fn read(doc: &AutoCommit) -> Self {
        model::read_interaction(doc)
    }
    fn write(doc: &mut AutoCommit, new: &Self, now: i64) -> AmResult<bool> {
        model::write_interaction(doc, new, now)
    }
    fn build(doc: &mut AutoCommit, new: &Self, now: i64) -> AmResult<Option<DocIndex>> {
        Ok(Some(index::interaction_index(&model::new_interaction(
            doc, new, now,
        )?)))
    }
    /// The file's values; contacts unioned.
    fn merged(&self, mine: Self) -> Self {
        let mut new = self.clone();
        new.contacts.extend(mine.contacts);
        new
    }
}

impl JsonDoc for model::Reminder {
    const KIND: Kind = Kind::Reminder;
    fn label(&self) -> String {
        index::snippet(&self.text)
    }
    fn updated(&self) -> i64 {
        self.updated
    }
    fn read(doc: &AutoCommit) -> Self {
        model::read_reminder(doc)
    }
    fn write(doc: &mut AutoCommit, new: &Self, now: i64) -> AmResult<bool> {
        model::write_reminder(doc, new, now)
    }
    fn build(doc: &mut AutoCommit, new: &Self, now: i64) -> AmResult<Option<DocIndex>> {
        Ok(Some(index::reminder_index(&model::new_reminder(
            doc, new, now,
        )?)))
    }
    /// The file's values; the vault's contact kept when the file has none.
    fn merged(&self, mine: Self) -> Self {
        let mut new = self.clone();
        if new.contact.is_none() {
            new.contact = mine.contact;
        }
        new
    }
}

impl JsonDoc for model::Opportunity {
    const KIND: Kind = Kind::Opportunity;
    fn label(&self) -> String {
        index::snippet(&self.title)
    }
    fn updated(&self) -> i64 {
        self.updated
    }
    fn read(doc: &AutoCommit) -> Self {
        model::read_opportunity(doc)
    }
    fn write(doc: &mut AutoCommit, new: &Self, now: i64) -> AmResult<bool> {
        model::write_opportunity(doc, new, now)
    }
    /// No one-pass builder for opportunities: written field by field, indexed by the store.
    fn build(doc: &mut AutoCommit, new: &Self, now: i64) -> AmResult<Option<DocIndex>> {
        model::write_opportunity(doc, new, now)?;
        Ok(None)
    }
    /// The file's values; contacts unioned.
    fn merged(&self, mine: Self) -> Self {
        let mut new = self.clone();
        new.contacts.extend(mine.contacts);
        new
    }
}

/// Imports kith's own JSON export: every document keeps its id, so links and the contacts of
/// notes, interactions and reminders stay as they were. A document the vault lacks is created
/// with the file's content and timestamps; a contact it has is merged as an import merges a
/// card (plus the file's links); a note, interaction or reminder it has takes the file's
/// values (its contacts are unioned). Returns the number of documents read.
pub(super) fn import_json(
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
    let total = v.contacts.len()
        + v.notes.len()
        + v.interactions.len()
        + v.reminders.len()
        + v.opportunities.len();
    import_kind(w, name, v.contacts, s)?;
    import_kind(w, name, v.notes, s)?;
    import_kind(w, name, v.interactions, s)?;
    import_kind(w, name, v.reminders, s)?;
    import_kind(w, name, v.opportunities, s)?;
    Ok(total)
}

/// Imports one kind's documents of a JSON export (see [`import_json`]).
fn import_kind<T: JsonDoc>(
    w: &mut Writer,
    name: &str,
    docs: Vec<IdDoc<T>>,
    s: &mut ImportSummary,
) -> Result<(), Abort> {
    let now = w.now();
    for IdDoc { id, doc } in docs {
        let label = doc.label();
        let action = match w.load(id)? {
            Some(l) if model::doc_kind(&l.doc) != Some(T::KIND) => {
                return Err(Abort::Err(AppError::hint(
                    format!(
                        "{name}: document {id} is a {} in the file but not in this vault; nothing was imported",
                        T::KIND.as_str()
                    ),
                    "import into another home (--home DIR)",
                )));
            }
            Some(mut l) => {
                let new = doc.merged(T::read(&l.doc));
                if T::write(&mut l.doc, &new, now).map_err(am_err)? {
                    w.save(l)?;
                    Action::Updated
                } else {
                    Action::Unchanged
                }
            }
            None => {
                let mut l = w.create_with_id(id);
                let stamp = match doc.updated() {
                    0 => now,
                    u => u,
                };
                match T::build(&mut l.doc, &doc, stamp).map_err(am_err)? {
                    Some(ix) => w.save_indexed(l, Some(T::KIND), ix)?,
                    None => w.save(l)?,
                }
                Action::Created
            }
        };
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
    }
    Ok(())
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

impl App {
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
}
