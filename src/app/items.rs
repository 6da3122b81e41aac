//! Note, interaction and reminder use cases: write one, finish a reminder, a contact's
//! timeline, an item's full text.
//!
//! Invariant: an item is written in one transaction together with the index entries of every
//! contact it names.

use super::*;
use crate::store::Writer;

// ---------------------------------------------------------------------------------------------
// Notes, interactions, reminders.

/// One entry of a timeline or search result (also its JSON schema).
#[derive(Debug, Serialize)]
pub struct ItemRow {
    pub id: DocId,
    pub kind: Kind,
    pub date: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub label: String,
    pub text: String,
    pub contacts: Vec<DocId>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub done: bool,
    /// An interaction dated after today (`kith log --planned`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub planned: bool,
}

impl ItemRow {
    pub fn new(id: DocId, s: ItemSummary) -> Self {
        ItemRow {
            id,
            kind: s.kind,
            date: Date::from_days(s.day).to_string(),
            label: s.label,
            text: s.snippet,
            contacts: s.contacts,
            done: s.done,
            planned: false,
        }
    }
}

impl App {
    pub fn add_note(&self, contacts: &[DocId], body: &str, tags: &[String]) -> Result<DocId> {
        check_text_size("the note", body)?;
        if body.trim().is_empty() {
            return Err(AppError::hint(
                "the note is empty; nothing was saved",
                "give the text as an argument, on standard input with -, or in $EDITOR",
            ));
        }
        let note = Note {
            body: body.to_string(),
            contacts: contacts.iter().copied().collect(),
            tags: clean_tags(tags)?,
            ..Default::default()
        };
        self.vault.write(self.now(), |w| {
            let mut l = w.create();
            model::write_note(&mut l.doc, &note, w.now()).map_err(am_err)?;
            let id = l.id;
            w.save(l)?;
            Ok(id)
        })
    }

    /// Contacts resolved from references as typed (duplicates dropped), in order.
    pub fn resolve_contacts(&self, refs: &[String]) -> Result<Vec<DocId>> {
        resolve_refs(&self.vault.read()?, refs)
    }

    /// `kith note` as one use case: the references resolved (duplicates dropped) and the note
    /// checked and written, in one write transaction. (The CLI resolves the references once
    /// before opening $EDITOR too, only to fail before the user types.)
    pub fn note_refs(&self, refs: &[String], body: &str, tags: &[String]) -> Result<DocId> {
        let ids = resolve_refs(&self.vault.read()?, refs)?;
        self.add_note(&ids, body, tags)
    }

    /// Writes an interaction with contacts already resolved, with no rule about its date (for
    /// tests and tools that write history); commands use [`App::log_refs`].
    pub fn log(&self, contacts: &[DocId], kind: &str, on: Date, summary: &str) -> Result<DocId> {
        self.vault.write(self.now(), |w| {
            write_interaction(w, contacts, kind, on, summary)
        })
    }

    /// `kith log` as one use case: the date rule (a future date only when `planned`), the
    /// contacts resolved from the references as typed (duplicates dropped), the kind and text
    /// checked and the interaction written, all in one write transaction (the references are
    /// resolved under its lock, so what they name cannot change before the write).
    pub fn log_refs(
        &self,
        refs: &[String],
        kind: &str,
        on: Date,
        planned: bool,
        summary: &str,
    ) -> Result<DocId> {
        check_interaction_date(on, self.today(), planned)?;
        self.vault.write(self.now(), |w| {
            let ids = resolve_refs(&self.vault.read()?, refs)?;
            write_interaction(w, &ids, kind, on, summary)
        })
    }

    /// Writes a reminder about a contact already resolved, with no rule about its date (for
    /// tests and `kith promise`, which checks it); commands use [`App::remind_ref`].
    pub fn remind(&self, contact: DocId, due: Date, text: &str) -> Result<DocId> {
        self.vault
            .write(self.now(), |w| write_reminder(w, contact, due, text))
    }

    /// `kith remind` as one use case: the date rule (today or later), the contact resolved,
    /// the text checked and the reminder written, in one write transaction.
    pub fn remind_ref(&self, contact: &str, due: Date, text: &str) -> Result<DocId> {
        check_reminder_date(due, self.today())?;
        self.vault.write(self.now(), |w| {
            let id = resolve_contact(&self.vault.read()?, contact)?;
            write_reminder(w, id, due, text)
        })
    }

    /// Marks a reminder done, or snoozes it until `snooze`. Returns its text.
    pub fn finish_reminder(&self, id: DocId, snooze: Option<Date>) -> Result<String> {
        self.vault
            .write(self.now(), |w| finish_reminder_in(w, id, snooze))
    }

    /// `kith done` as one use case: the reminder resolved from its reference (id prefix or
    /// words of an open reminder), then marked done, or snoozed until `until`, in one write
    /// transaction. Returns the reminder and its text.
    pub fn done_ref(&self, reference: &str, until: Option<Date>) -> Result<Finished> {
        let today = self.today();
        self.vault.write(self.now(), |w| {
            let id = resolve_reminder(&self.vault.read()?, reference, today)?;
            let text = finish_reminder_in(w, id, until)?;
            Ok(Finished {
                id,
                text,
                snoozed_until: until,
            })
        })
    }

    pub fn timeline(&self, contact: DocId) -> Result<Vec<ItemRow>> {
        let r = self.vault.read()?;
        let look = r.lookup()?;
        let mut out = Vec::new();
        let today = self.today().to_days();
        for (id, _) in r.timeline(contact)? {
            if let Some(s) = look.item(id)? {
                let planned = s.kind == Kind::Interaction && s.day > today;
                out.push(ItemRow {
                    planned,
                    ..ItemRow::new(id, s)
                });
            }
        }
        Ok(out)
    }

    /// Full text of an item (for `timeline --full`).
    pub fn item_text(&self, id: DocId) -> Result<String> {
        let r = self.vault.read()?;
        let doc = r
            .load(id)?
            .ok_or_else(|| AppError::user(format!("{id} no longer exists")))?;
        Ok(match model::doc_kind(&doc) {
            Some(Kind::Note) => model::read_note(&doc).body,
            Some(Kind::Interaction) => model::read_interaction(&doc).summary,
            Some(Kind::Reminder) => model::read_reminder(&doc).text,
            _ => String::new(),
        })
    }
}

/// What [`App::done_ref`] did.
#[derive(Debug, Clone)]
pub struct Finished {
    pub id: DocId,
    pub text: String,
    /// Snoozed until this day; None when marked done.
    pub snoozed_until: Option<Date>,
}

/// Resolves contact references in order, dropping repeats.
fn resolve_refs(r: &Reader, refs: &[String]) -> Result<Vec<DocId>> {
    let mut ids = Vec::new();
    for x in refs {
        let id = resolve_contact(r, x)?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

fn write_interaction(
    w: &mut Writer,
    contacts: &[DocId],
    kind: &str,
    on: Date,
    summary: &str,
) -> Result<DocId> {
    check_text_size("the summary", summary)?;
    let kind = check_interaction_kind(kind)?;
    if contacts.is_empty() {
        return Err(AppError::user("an interaction needs at least one contact"));
    }
    let i = Interaction {
        date: on.to_string(),
        kind,
        contacts: contacts.iter().copied().collect(),
        summary: summary.to_string(),
        ..Default::default()
    };
    let mut l = w.create();
    model::write_interaction(&mut l.doc, &i, w.now()).map_err(am_err)?;
    let id = l.id;
    w.save(l)?;
    Ok(id)
}

fn write_reminder(w: &mut Writer, contact: DocId, due: Date, text: &str) -> Result<DocId> {
    check_text_size("the reminder text", text)?;
    if text.trim().is_empty() {
        return Err(AppError::user("a reminder needs a text"));
    }
    let r = Reminder {
        due: due.to_string(),
        contact: Some(contact),
        text: text.trim().to_string(),
        ..Default::default()
    };
    let mut l = w.create();
    model::write_reminder(&mut l.doc, &r, w.now()).map_err(am_err)?;
    let id = l.id;
    w.save(l)?;
    Ok(id)
}

fn finish_reminder_in(w: &mut Writer, id: DocId, snooze: Option<Date>) -> Result<String> {
    let mut l = w
        .load(id)?
        .ok_or_else(|| AppError::user(format!("reminder {id} no longer exists")))?;
    let mut r = model::read_reminder(&l.doc);
    if r.done {
        return Err(AppError::hint(
            format!(
                "reminder {} is already done: {}; nothing changed",
                id.short(),
                r.text
            ),
            format!(
                "to reopen it, `kith edit {}` and set 'done: no'",
                id.short()
            ),
        ));
    }
    match snooze {
        Some(d) => r.snoozed_until = d.to_string(),
        None => r.done = true,
    }
    model::write_reminder(&mut l.doc, &r, w.now()).map_err(am_err)?;
    w.save(l)?;
    Ok(r.text)
}

impl App {
    /// Whether the text of `kith note REF TEXT` is one word that names a contact (the user may
    /// have meant a note about both): the CLI warns, the note is written as asked.
    pub fn text_names_contact(&self, text: &str) -> Result<bool> {
        Ok(!text.contains(char::is_whitespace)
            && text != "-"
            && resolve_contact(&self.vault.read()?, text).is_ok())
    }
}
