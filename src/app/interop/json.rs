//! kith's own JSON format: importing an export (every document keeps its id) and the
//! streamed `kith export --format json`.

use std::io::Write;
use std::path::Path;

use automerge::AutoCommit;
use kith_core::index;
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
