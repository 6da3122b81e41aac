//! Note, interaction and reminder use cases: write one, finish a reminder, a contact's
//! timeline, an item's full text.
//!
//! Invariant: an item is written in one transaction together with the index entries of every
//! contact it names.

use super::*;

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

    pub fn log(&self, contacts: &[DocId], kind: &str, on: Date, summary: &str) -> Result<DocId> {
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
        self.vault.write(self.now(), |w| {
            let mut l = w.create();
            model::write_interaction(&mut l.doc, &i, w.now()).map_err(am_err)?;
            let id = l.id;
            w.save(l)?;
            Ok(id)
        })
    }

    pub fn remind(&self, contact: DocId, due: Date, text: &str) -> Result<DocId> {
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
        self.vault.write(self.now(), |w| {
            let mut l = w.create();
            model::write_reminder(&mut l.doc, &r, w.now()).map_err(am_err)?;
            let id = l.id;
            w.save(l)?;
            Ok(id)
        })
    }

    /// Marks a reminder done, or snoozes it until `snooze`. Returns its text.
    pub fn finish_reminder(&self, id: DocId, snooze: Option<Date>) -> Result<String> {
        self.vault.write(self.now(), |w| {
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

impl App {
    /// Whether the text of `kith note REF TEXT` is one word that names a contact (the user may
    /// have meant a note about both): the CLI warns, the note is written as asked.
    pub fn text_names_contact(&self, text: &str) -> Result<bool> {
        Ok(!text.contains(char::is_whitespace)
            && text != "-"
            && resolve_contact(&self.vault.read()?, text).is_ok())
    }
}
