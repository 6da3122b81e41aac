//! Edits merged against the version the user saw (`kith edit`, web forms), and item removal.
//!
//! Invariant: an edit is written on a fork at the heads it was rendered from and merged into
//! the current document in one write transaction, so nothing changed meanwhile is reverted.

use super::*;

// ---------------------------------------------------------------------------------------------
// Edits merged against the version the user saw, and item removal.
//
// An editor (the `kith edit` buffer, a future web form) renders a document at some heads, the
// user changes it, and the change is written onto a fork of the document at those heads and
// merged back into the current document, in one write transaction. Whatever changed meanwhile
// (another command, a synced change) survives; the same field changed on both sides becomes a
// visible conflict.

/// A note, interaction or reminder, as an editor shows it.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Note(Note),
    Interaction(Interaction),
    Reminder(Reminder),
}

impl Item {
    pub fn kind(&self) -> Kind {
        match self {
            Item::Note(_) => Kind::Note,
            Item::Interaction(_) => Kind::Interaction,
            Item::Reminder(_) => Kind::Reminder,
        }
    }

    fn read(doc: &automerge::AutoCommit) -> Option<Item> {
        match model::doc_kind(doc)? {
            Kind::Note => Some(Item::Note(model::read_note(doc))),
            Kind::Interaction => Some(Item::Interaction(model::read_interaction(doc))),
            Kind::Reminder => Some(Item::Reminder(model::read_reminder(doc))),
            _ => None,
        }
    }

    /// Ids of the contacts the item is about.
    pub fn contacts(&self) -> Vec<DocId> {
        match self {
            Item::Note(n) => n.contacts.iter().copied().collect(),
            Item::Interaction(i) => i.contacts.iter().copied().collect(),
            Item::Reminder(r) => r.contact.into_iter().collect(),
        }
    }
}

/// Document heads as text (comma-separated hex), as recorded in an edit buffer.
pub fn heads_text(heads: &[automerge::ChangeHash]) -> String {
    heads
        .iter()
        .map(|h| h.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses heads written by [`heads_text`].
pub fn parse_heads(s: &str) -> Result<Vec<automerge::ChangeHash>> {
    s.split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| {
            h.parse().map_err(|_| {
                AppError::hint(
                    format!("'{h}' is not a document version"),
                    "keep the '# base:' line kith wrote at the top of the edit buffer",
                )
            })
        })
        .collect()
}

/// A document as it is now, for an editor to render: the value and the heads it was read at.
pub struct Editable<T> {
    pub id: DocId,
    pub value: T,
    pub heads: Vec<automerge::ChangeHash>,
    pub conflicts: Vec<Conflict>,
    /// Items only: removed with `kith rm`.
    pub deleted: bool,
}

/// What an edit did.
#[derive(Debug)]
pub struct EditOutcome {
    /// Whether the user's change wrote anything.
    pub changed: bool,
    /// The document's conflicts after the merge (the user's change plus whatever happened
    /// meanwhile).
    pub merged_conflicts: Vec<Conflict>,
}

impl App {
    /// Reads a contact for editing.
    pub fn contact_for_edit(&self, id: DocId) -> Result<Editable<Contact>> {
        let r = self.vault.read()?;
        let mut doc = r
            .load(id)?
            .ok_or_else(|| AppError::user(format!("contact {id} no longer exists")))?;
        Ok(Editable {
            id,
            value: model::read_contact(&doc),
            conflicts: model::contact_conflicts(&doc),
            heads: doc.get_heads(),
            deleted: false,
        })
    }

    /// A note, interaction or reminder as it was at `heads` (what an edit buffer was rendered
    /// from).
    pub fn item_at(&self, id: DocId, heads: &[automerge::ChangeHash]) -> Result<Item> {
        Item::read(&self.doc_at(id, heads)?).ok_or_else(|| {
            AppError::user(format!(
                "{} is not a note, interaction or reminder",
                id.short()
            ))
        })
    }

    /// A contact as it was at `heads`.
    pub fn contact_at(&self, id: DocId, heads: &[automerge::ChangeHash]) -> Result<Contact> {
        Ok(model::read_contact(&self.doc_at(id, heads)?))
    }

    fn doc_at(&self, id: DocId, heads: &[automerge::ChangeHash]) -> Result<automerge::AutoCommit> {
        let r = self.vault.read()?;
        let mut doc = r
            .load(id)?
            .ok_or_else(|| AppError::user(format!("{id} no longer exists")))?;
        doc.fork_at(heads).map_err(|_| {
            AppError::hint(
                format!(
                    "the edit was made against a version of {} this vault does not have",
                    id.short()
                ),
                "remove the '# base:' line to apply the text against the current version",
            )
        })
    }

    /// Reads a note, interaction or reminder for editing.
    pub fn item_for_edit(&self, id: DocId) -> Result<Editable<Item>> {
        let r = self.vault.read()?;
        let mut doc = r
            .load(id)?
            .ok_or_else(|| AppError::user(format!("{id} no longer exists")))?;
        let value = Item::read(&doc).ok_or_else(|| {
            AppError::user(format!(
                "{} is not a note, interaction or reminder",
                id.short()
            ))
        })?;
        Ok(Editable {
            id,
            value,
            conflicts: model::item_conflicts(&doc),
            heads: doc.get_heads(),
            deleted: model::item_deleted(&doc),
        })
    }

    /// Applies a change made against the version at `base` to a document: `write` runs on a
    /// fork of the document at `base`, and the fork is merged into the current document, in
    /// one write transaction. Returns whether `write` changed anything and the document after.
    fn edit_doc(
        &self,
        id: DocId,
        base: &[automerge::ChangeHash],
        write: impl FnOnce(&mut automerge::AutoCommit, i64) -> Result<()>,
    ) -> Result<(bool, automerge::AutoCommit)> {
        let now = self.now();
        self.vault.write(now, |w| {
            let mut l = w
                .load(id)?
                .ok_or_else(|| AppError::user(format!("{id} no longer exists")))?;
            let mut fork = if base.is_empty() {
                l.doc.fork()
            } else {
                l.doc.fork_at(base).map_err(|_| {
                    AppError::hint(
                        format!(
                            "the edit was made against a version of {} this vault does not have",
                            id.short()
                        ),
                        "remove the '# base:' line to apply the text against the current version",
                    )
                })?
            };
            fork.set_actor(crate::store::fork_actor(l.doc.get_actor()));
            let before = fork.get_heads();
            write(&mut fork, now)?;
            crate::store::commit_pending(&mut fork, now);
            if fork.get_heads() == before {
                return Ok((false, l.doc.fork()));
            }
            l.doc.merge(&mut fork).map_err(am_err)?;
            let after = l.doc.fork();
            w.save(l)?;
            Ok((true, after))
        })
    }

    /// Applies an edited contact made against the version at `base` (the heads it was rendered
    /// from; empty means "now"). Only what differs between that version and `edited` is
    /// written, so changes made meanwhile survive, and a field changed on both sides becomes a
    /// conflict that `show` reports.
    pub fn edit_contact(
        &self,
        id: DocId,
        base: &[automerge::ChangeHash],
        edited: &Contact,
    ) -> Result<EditOutcome> {
        if edited.name.trim().is_empty() {
            return Err(AppError::user("a contact needs a name"));
        }
        let (changed, doc) = self.edit_doc(id, base, |fork, now| {
            if model::doc_kind(fork) != Some(Kind::Contact) {
                return Err(AppError::user(format!("{} is not a contact", id.short())));
            }
            model::write_contact(fork, edited, now).map_err(am_err)?;
            Ok(())
        })?;
        Ok(EditOutcome {
            changed,
            merged_conflicts: model::contact_conflicts(&doc),
        })
    }

    /// Applies an edited note, interaction or reminder made against the version at `base`
    /// (see [`App::edit_contact`]). A note's text is Automerge Text: two edits of different
    /// parts of it both survive.
    pub fn edit_item(
        &self,
        id: DocId,
        base: &[automerge::ChangeHash],
        edited: &Item,
    ) -> Result<EditOutcome> {
        let (changed, doc) = self.edit_doc(id, base, |fork, now| {
            if model::doc_kind(fork) != Some(edited.kind()) {
                return Err(AppError::user(format!(
                    "{} is not a {}",
                    id.short(),
                    edited.kind().as_str()
                )));
            }
            match edited {
                Item::Note(n) => model::write_note(fork, n, now),
                Item::Interaction(i) => model::write_interaction(fork, i, now),
                Item::Reminder(r) => model::write_reminder(fork, r, now),
            }
            .map_err(am_err)?;
            Ok(())
        })?;
        Ok(EditOutcome {
            changed,
            merged_conflicts: model::item_conflicts(&doc),
        })
    }

    /// Reads an opportunity for editing (the web UI's form; `kith opp` edits by flags).
    pub fn opp_for_edit(&self, id: DocId) -> Result<Editable<model::Opportunity>> {
        let r = self.vault.read()?;
        let mut doc = r
            .load(id)?
            .filter(|d| model::doc_kind(d) == Some(Kind::Opportunity))
            .ok_or_else(|| AppError::user(format!("{} is not an opportunity", id.short())))?;
        Ok(Editable {
            id,
            value: model::read_opportunity(&doc),
            conflicts: model::item_conflicts(&doc),
            heads: doc.get_heads(),
            deleted: model::item_deleted(&doc),
        })
    }

    /// An opportunity as it was at `heads` (what an edit form was rendered from).
    pub fn opp_at(&self, id: DocId, heads: &[automerge::ChangeHash]) -> Result<model::Opportunity> {
        let doc = self.doc_at(id, heads)?;
        if model::doc_kind(&doc) != Some(Kind::Opportunity) {
            return Err(AppError::user(format!(
                "{} is not an opportunity",
                id.short()
            )));
        }
        Ok(model::read_opportunity(&doc))
    }

    /// Applies an edited opportunity made against the version at `base` (see
    /// [`App::edit_contact`]): a stage moved elsewhere while the form was open is kept unless
    /// the form moved it too (then both show as a conflict). The title must not be empty; the
    /// caller checks the stage against the known ones (`keep::opp::check_stage`).
    pub fn edit_opp(
        &self,
        id: DocId,
        base: &[automerge::ChangeHash],
        edited: &model::Opportunity,
    ) -> Result<EditOutcome> {
        if edited.title.trim().is_empty() {
            return Err(AppError::user("the opportunity's title is empty"));
        }
        check_text_size("the title", &edited.title)?;
        check_text_size("the note", &edited.note)?;
        let (changed, doc) = self.edit_doc(id, base, |fork, now| {
            if model::doc_kind(fork) != Some(Kind::Opportunity) {
                return Err(AppError::user(format!(
                    "{} is not an opportunity",
                    id.short()
                )));
            }
            model::write_opportunity(fork, edited, now).map_err(am_err)?;
            Ok(())
        })?;
        Ok(EditOutcome {
            changed,
            merged_conflicts: model::item_conflicts(&doc),
        })
    }

    /// Removes a note, interaction or reminder (`deleted = true`), or restores it (`undo`).
    /// The document and its history stay, so the removal can be undone; a removed item no
    /// longer appears in timelines, search or `due`. Returns the kind and whether anything
    /// changed.
    pub fn remove_item(&self, id: DocId, undo: bool) -> Result<(Kind, bool)> {
        self.vault.write(self.now(), |w| {
            let mut l = w
                .load(id)?
                .ok_or_else(|| AppError::user(format!("{id} no longer exists")))?;
            let kind = match model::doc_kind(&l.doc) {
                Some(k @ (Kind::Note | Kind::Interaction | Kind::Reminder)) => k,
                _ => {
                    return Err(AppError::user(format!(
                        "{} is not a note, interaction or reminder",
                        id.short()
                    )))
                }
            };
            let changed = model::set_item_deleted(&mut l.doc, !undo, w.now()).map_err(am_err)?;
            w.save(l)?;
            Ok((kind, changed))
        })
    }
}
