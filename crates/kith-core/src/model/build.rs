//! Building a new document in one pass: the whole value (every nested map and Text the schema
//! creates with the document, and every field) is written as one batch into an empty document,
//! instead of field by field with a read before each write (`write_*`). Import and restore of
//! kith's JSON use it for every document they create.
//!
//! Invariant: on an empty document, `new_X(doc, x, now)` leaves the same content that
//! `write_X(doc, x, now)` leaves (the same keys, objects and values, nested maps and Texts
//! included), and returns exactly what `read_X` reads back from it, so the caller can derive
//! the document's index entries from the returned value without reading the document.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use automerge::hydrate::{Map as HMap, Value as HValue};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ReadDoc, TextEncoding};

use super::*;

/// A map value under construction.
#[derive(Default)]
struct M(HashMap<String, HValue>);

impl M {
    /// A string field: absent when empty, as `write_str` leaves it.
    fn s(&mut self, k: &str, v: &str) {
        if !v.is_empty() {
            self.0.insert(k.to_string(), HValue::from(v));
        }
    }
    fn put(&mut self, k: &str, v: HValue) {
        self.0.insert(k.to_string(), v);
    }
    fn value(self) -> HValue {
        HValue::Map(HMap::from(self.0))
    }
}

fn record<R: Record>(r: &R) -> M {
    let mut m = M::default();
    for f in R::FIELDS {
        m.s(f, r.field(f));
    }
    m
}

fn records<R: Record>(entries: &BTreeMap<String, R>) -> HValue {
    let mut m = M::default();
    for (k, r) in entries {
        m.put(k, record(r).value());
    }
    m.value()
}

fn set<'a>(keys: impl Iterator<Item = &'a str>) -> HValue {
    let mut m = M::default();
    for k in keys {
        m.put(k, HValue::scalar(true));
    }
    m.value()
}

fn id_set(ids: &BTreeSet<DocId>) -> HValue {
    let hex: Vec<String> = ids.iter().map(|i| i.to_hex()).collect();
    set(hex.iter().map(String::as_str))
}

fn text(enc: TextEncoding, s: &str) -> HValue {
    HValue::text(enc, s)
}

/// The root fields every document kind has.
fn header(kind: Kind) -> M {
    let mut m = M::default();
    m.s("kind", kind.as_str());
    m.put("schema", HValue::from(SCHEMA_VERSION));
    m
}

/// `created` as `write_stamps` sets it on a new document, and `updated`.
fn stamps(m: &mut M, created: i64, now: i64) -> (i64, i64) {
    let created = if created != 0 { created } else { now };
    m.put("created", HValue::from(created));
    m.put("updated", HValue::from(now));
    (created, now)
}

fn commit(doc: &mut AutoCommit, m: M) -> AmResult<()> {
    debug_assert!(
        doc.get(&ROOT, "kind")?.is_none(),
        "only empty documents are built"
    );
    let HValue::Map(root) = m.value() else {
        unreachable!("M::value is a map")
    };
    doc.init_root_from_hydrate(&root)
}

/// Writes a new contact into the empty `doc` in one batch. Returns the contact as stored (what
/// [`read_contact`] reads from the document): `created` and `updated` set, custom fields with
/// an empty value dropped.
pub fn new_contact(doc: &mut AutoCommit, c: &Contact, now: i64) -> AmResult<Contact> {
    let enc = doc.text_encoding();
    let mut stored = c.clone();
    stored.custom.retain(|_, v| !v.is_empty());
    let mut m = header(Kind::Contact);
    m.s("name", &c.name);
    m.put("n", record(&c.n).value());
    m.s("nickname", &c.nickname);
    m.s("help", &c.help);
    m.put("emails", records(&c.emails));
    m.put("phones", records(&c.phones));
    m.put("urls", records(&c.urls));
    m.put("addresses", records(&c.addresses));
    m.put("orgs", records(&c.orgs));
    m.s("birthday", &c.birthday);
    m.put("dates", records(&c.dates));
    m.put("met", text(enc, &c.met));
    m.put("kinds", set(c.kinds.iter().map(String::as_str)));
    m.put("tags", set(c.tags.iter().map(String::as_str)));
    m.s("every", &c.every);
    m.s("lead", &c.lead);
    m.put("links", records(&c.links));
    let mut custom = M::default();
    for (k, v) in &stored.custom {
        custom.s(k, v);
    }
    m.put("custom", custom.value());
    m.s("uid", &c.uid);
    m.put("extra", records(&c.extra));
    m.s("merged_into", &c.merged_into);
    if c.archived {
        m.put("archived", HValue::scalar(true));
    }
    (stored.created, stored.updated) = stamps(&mut m, c.created, now);
    commit(doc, m)?;
    Ok(stored)
}

/// Writes a new note into the empty `doc` in one batch; returns it as stored.
pub fn new_note(doc: &mut AutoCommit, n: &Note, now: i64) -> AmResult<Note> {
    let enc = doc.text_encoding();
    let mut stored = n.clone();
    let mut m = header(Kind::Note);
    m.put("body", text(enc, &n.body));
    m.put("contacts", id_set(&n.contacts));
    m.put("tags", set(n.tags.iter().map(String::as_str)));
    (stored.created, stored.updated) = stamps(&mut m, n.created, now);
    commit(doc, m)?;
    Ok(stored)
}

/// Writes a new interaction into the empty `doc` in one batch; returns it as stored.
pub fn new_interaction(doc: &mut AutoCommit, i: &Interaction, now: i64) -> AmResult<Interaction> {
    let enc = doc.text_encoding();
    let mut stored = i.clone();
    let mut m = header(Kind::Interaction);
    m.s("date", &i.date);
    m.s("type", &i.kind);
    m.put("contacts", id_set(&i.contacts));
    m.put("summary", text(enc, &i.summary));
    (stored.created, stored.updated) = stamps(&mut m, i.created, now);
    commit(doc, m)?;
    Ok(stored)
}

/// Writes a new reminder into the empty `doc` in one batch; returns it as stored.
pub fn new_reminder(doc: &mut AutoCommit, r: &Reminder, now: i64) -> AmResult<Reminder> {
    let mut stored = r.clone();
    let mut m = header(Kind::Reminder);
    m.s("due", &r.due);
    if let Some(c) = r.contact {
        m.s("contact", &c.to_hex());
    }
    m.s("text", &r.text);
    if r.done {
        m.put("done", HValue::scalar(true));
    }
    m.s("snoozed_until", &r.snoozed_until);
    (stored.created, stored.updated) = stamps(&mut m, r.created, now);
    commit(doc, m)?;
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index;

    fn hy(d: &mut AutoCommit) -> HValue {
        d.document().hydrate(None)
    }

    fn full_contact() -> Contact {
        let mut c = Contact {
            name: "Zoë Ångström".into(),
            nickname: "Zo".into(),
            birthday: "--03-14".into(),
            met: "At the Café,\nsecond line".into(),
            help: "intros to analysts".into(),
            every: "30d".into(),
            lead: "14d".into(),
            uid: "urn:uuid:1".into(),
            archived: true,
            created: 5,
            updated: 6,
            ..Default::default()
        };
        c.n.family = "Ångström".into();
        c.n.given = "Zoë".into();
        let l = |v: &str, label: &str| Labeled {
            value: v.into(),
            label: label.into(),
        };
        c.emails.insert("e1".into(), l("zoe@example.com", "work"));
        c.emails.insert("e2".into(), l("", ""));
        c.phones.insert("p1".into(), l("+1 555 0100", ""));
        c.urls.insert("u1".into(), l("https://example.com", "web"));
        c.dates.insert("d1".into(), l("2001-02-03", "anniversary"));
        c.addresses.insert(
            "a1".into(),
            Address {
                street: "1 Rue".into(),
                locality: "Paris".into(),
                country: "France".into(),
                ..Default::default()
            },
        );
        c.orgs.insert(
            "o1".into(),
            Role {
                org: "Acme".into(),
                title: "CTO".into(),
                ..Default::default()
            },
        );
        c.kinds.insert("mentor".into());
        c.tags.extend(["a".to_string(), "b c".to_string()]);
        c.links.insert(
            "k1".into(),
            Link {
                to: "ab".repeat(16),
                rel: "works-with".into(),
            },
        );
        c.custom.insert("shoe".into(), "42".into());
        c.custom.insert("empty".into(), String::new());
        c.extra.insert(
            "x1".into(),
            ExtraProp {
                name: "X-FOO".into(),
                value: "bar".into(),
                ..Default::default()
            },
        );
        c
    }

    /// Both ways of writing a new document give the same content, and the returned value is
    /// what readers read and what the index derives from.
    #[test]
    fn built_documents_read_like_written_ones() {
        for c in [Contact::default(), full_contact()] {
            let mut a = AutoCommit::new();
            write_contact(&mut a, &c, 99).unwrap();
            let mut b = AutoCommit::new();
            let stored = new_contact(&mut b, &c, 99).unwrap();
            assert_eq!(read_contact(&a), read_contact(&b));
            assert_eq!(read_contact(&b), stored);
            assert_eq!(index::derive(&a), index::derive(&b));
            assert_eq!(index::derive(&b).1, index::contact_index(&stored));
            assert_eq!(hy(&mut a), hy(&mut b), "same objects and values");
            assert!(!has_competing_maps(&b));
        }
        let ids: BTreeSet<DocId> = [DocId([1; 16]), DocId([2; 16])].into_iter().collect();
        for n in [
            Note::default(),
            Note {
                body: "hello\nworld".into(),
                contacts: ids.clone(),
                tags: ["t".to_string()].into_iter().collect(),
                created: 3,
                updated: 4,
            },
        ] {
            let (mut a, mut b) = (AutoCommit::new(), AutoCommit::new());
            write_note(&mut a, &n, 99).unwrap();
            let stored = new_note(&mut b, &n, 99).unwrap();
            assert_eq!(read_note(&b), stored);
            assert_eq!(read_note(&a), stored);
            assert_eq!(hy(&mut a), hy(&mut b));
            assert_eq!(index::derive(&b).1, index::note_index(&stored));
        }
        for i in [
            Interaction::default(),
            Interaction {
                date: "2024-01-02".into(),
                kind: "call".into(),
                contacts: ids.clone(),
                summary: "Talked".into(),
                created: 0,
                updated: 0,
            },
        ] {
            let (mut a, mut b) = (AutoCommit::new(), AutoCommit::new());
            write_interaction(&mut a, &i, 99).unwrap();
            let stored = new_interaction(&mut b, &i, 99).unwrap();
            assert_eq!(read_interaction(&b), stored);
            assert_eq!(read_interaction(&a), stored);
            assert_eq!(hy(&mut a), hy(&mut b));
            assert_eq!(index::derive(&b).1, index::interaction_index(&stored));
        }
        for r in [
            Reminder::default(),
            Reminder {
                due: "2024-01-02".into(),
                contact: Some(DocId([3; 16])),
                text: "Call".into(),
                done: true,
                snoozed_until: "2024-02-01".into(),
                created: 1,
                updated: 2,
            },
        ] {
            let (mut a, mut b) = (AutoCommit::new(), AutoCommit::new());
            write_reminder(&mut a, &r, 99).unwrap();
            let stored = new_reminder(&mut b, &r, 99).unwrap();
            assert_eq!(read_reminder(&b), stored);
            assert_eq!(read_reminder(&a), stored);
            assert_eq!(hy(&mut a), hy(&mut b));
            assert_eq!(index::derive(&b).1, index::reminder_index(&stored));
        }
    }

    /// A built document merges like a written one: a concurrent first entry added on another
    /// device lands in the same nested map, so both entries are read.
    #[test]
    fn built_documents_merge_concurrent_first_entries() {
        let mut a = AutoCommit::new();
        new_contact(&mut a, &Contact::default(), 1).unwrap();
        let mut b = a.fork();
        let mut ca = read_contact(&a);
        ca.emails.insert(
            "x".into(),
            Labeled {
                value: "a@example.com".into(),
                label: String::new(),
            },
        );
        write_contact(&mut a, &ca, 2).unwrap();
        let mut cb = read_contact(&b);
        cb.emails.insert(
            "y".into(),
            Labeled {
                value: "b@example.com".into(),
                label: String::new(),
            },
        );
        write_contact(&mut b, &cb, 2).unwrap();
        a.merge(&mut b).unwrap();
        assert_eq!(read_contact(&a).emails.len(), 2);
        assert!(!has_competing_maps(&a));
    }
}
