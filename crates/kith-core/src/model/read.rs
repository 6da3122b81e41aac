//! Reading documents in one pass over each map (`map_range`) instead of one seek per field
//! (`get`): a contact has about 25 root keys and records of 2 to 8 fields, and each `get` is a
//! seek in Automerge's op columns, so the per-key reads were most of an export's CPU.
//!
//! Invariant: `read_X` returns exactly what reading each field with `get` returns (the winning
//! value of each key; every concurrent map object under a key, the winner first, whose entries
//! are merged as `maps_at` and `read_records_in` do); the tests compare both readers on
//! documents with conflicts, competing maps and wrong shapes.

use automerge::iter::MapRangeItem;
use automerge::{ScalarValueRef, ValueRef};

use super::*;

/// The string a winning value holds: a Str scalar, or the content of a Text object.
fn str_of<D: ReadDoc>(doc: &D, it: &MapRangeItem<'_>) -> Option<String> {
    match &it.value {
        ValueRef::Object(ObjType::Text) => doc.text(it.id()).ok(),
        ValueRef::Scalar(ScalarValueRef::Str(s)) => Some(s.to_string()),
        _ => None,
    }
}

fn i64_of(it: &MapRangeItem<'_>) -> i64 {
    match &it.value {
        ValueRef::Scalar(ScalarValueRef::Int(i) | ScalarValueRef::Timestamp(i)) => *i,
        ValueRef::Scalar(ScalarValueRef::Uint(u)) => i64::try_from(*u).unwrap_or(i64::MAX),
        _ => 0,
    }
}

fn bool_of(it: &MapRangeItem<'_>) -> bool {
    matches!(it.value, ValueRef::Scalar(ScalarValueRef::Boolean(true)))
}

fn is_map(it: &MapRangeItem<'_>) -> bool {
    matches!(it.value, ValueRef::Object(ObjType::Map))
}

/// `maps_at(doc, obj, key)` for the key `it` is: without a conflict the winner is the only
/// value, so no second lookup is needed.
fn maps_of<D: ReadDoc>(doc: &D, obj: &ObjId, it: &MapRangeItem<'_>) -> Vec<ObjId> {
    if it.conflict {
        maps_at(doc, obj, &it.key)
    } else if is_map(it) {
        vec![it.id()]
    } else {
        Vec::new()
    }
}

/// `read_record` in one pass over the record's map.
fn record_of<D: ReadDoc, R: Record>(doc: &D, obj: &ObjId) -> R {
    let mut r = R::default();
    for it in doc.map_range(obj, ..) {
        if R::FIELDS.contains(&it.key.as_ref()) {
            if let Some(v) = str_of(doc, &it) {
                r.set_field(&it.key, v);
            }
        }
    }
    r
}

/// `read_record_in`: one map is read in one pass; fields spread over several concurrent maps
/// take each field from the first map that has it.
fn record_in<D: ReadDoc, R: Record>(doc: &D, maps: &[ObjId]) -> R {
    match maps {
        [] => R::default(),
        [m] => record_of(doc, m),
        _ => read_record_in(doc, maps),
    }
}

/// `read_records_in` in one pass over each map.
fn records_in<D: ReadDoc, R: Record>(doc: &D, maps: &[ObjId]) -> BTreeMap<String, R> {
    let mut out = BTreeMap::new();
    for m in maps {
        for it in doc.map_range(m, ..) {
            if out.contains_key(it.key.as_ref()) || !is_map(&it) {
                continue;
            }
            let r = record_of(doc, &it.id());
            out.insert(it.key.into_owned(), r);
        }
    }
    out
}

/// `read_str_map_in` in one pass over each map.
fn str_map_in<D: ReadDoc>(doc: &D, maps: &[ObjId]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for m in maps {
        for it in doc.map_range(m, ..) {
            if out.contains_key(it.key.as_ref()) {
                continue;
            }
            if let Some(v) = str_of(doc, &it) {
                out.insert(it.key.into_owned(), v);
            }
        }
    }
    out
}

fn set_in<D: ReadDoc>(doc: &D, maps: &[ObjId]) -> BTreeSet<String> {
    maps.iter().flat_map(|m| doc.keys(m)).collect()
}

fn id_set_in<D: ReadDoc>(doc: &D, maps: &[ObjId]) -> BTreeSet<DocId> {
    maps.iter()
        .flat_map(|m| doc.keys(m))
        .filter_map(|s| s.parse().ok())
        .collect()
}

pub fn read_contact<D: ReadDoc>(doc: &D) -> Contact {
    let r = &ROOT;
    let mut c = Contact::default();
    for it in doc.map_range(r, ..) {
        let s = || str_of(doc, &it).unwrap_or_default();
        match it.key.as_ref() {
            "name" => c.name = s(),
            "n" => c.n = record_in(doc, &maps_of(doc, r, &it)),
            "nickname" => c.nickname = s(),
            "emails" => c.emails = records_in(doc, &maps_of(doc, r, &it)),
            "phones" => c.phones = records_in(doc, &maps_of(doc, r, &it)),
            "urls" => c.urls = records_in(doc, &maps_of(doc, r, &it)),
            "addresses" => c.addresses = records_in(doc, &maps_of(doc, r, &it)),
            "orgs" => c.orgs = records_in(doc, &maps_of(doc, r, &it)),
            "birthday" => c.birthday = s(),
            "dates" => c.dates = records_in(doc, &maps_of(doc, r, &it)),
            "met" => c.met = s(),
            "help" => c.help = s(),
            "kinds" => c.kinds = set_in(doc, &maps_of(doc, r, &it)),
            "tags" => c.tags = set_in(doc, &maps_of(doc, r, &it)),
            "every" => c.every = s(),
            "lead" => c.lead = s(),
            "links" => c.links = records_in(doc, &maps_of(doc, r, &it)),
            "custom" => c.custom = str_map_in(doc, &maps_of(doc, r, &it)),
            "uid" => c.uid = s(),
            "extra" => c.extra = records_in(doc, &maps_of(doc, r, &it)),
            "merged_into" => c.merged_into = s(),
            "archived" => c.archived = bool_of(&it),
            "created" => c.created = i64_of(&it),
            "updated" => c.updated = i64_of(&it),
            _ => {}
        }
    }
    c
}

pub fn read_note<D: ReadDoc>(doc: &D) -> Note {
    let r = &ROOT;
    let mut n = Note::default();
    for it in doc.map_range(r, ..) {
        match it.key.as_ref() {
            "body" => n.body = str_of(doc, &it).unwrap_or_default(),
            "contacts" => n.contacts = id_set_in(doc, &maps_of(doc, r, &it)),
            "tags" => n.tags = set_in(doc, &maps_of(doc, r, &it)),
            "created" => n.created = i64_of(&it),
            "updated" => n.updated = i64_of(&it),
            _ => {}
        }
    }
    n
}

pub fn read_interaction<D: ReadDoc>(doc: &D) -> Interaction {
    let r = &ROOT;
    let mut i = Interaction::default();
    for it in doc.map_range(r, ..) {
        match it.key.as_ref() {
            "date" => i.date = str_of(doc, &it).unwrap_or_default(),
            "type" => i.kind = str_of(doc, &it).unwrap_or_default(),
            "contacts" => i.contacts = id_set_in(doc, &maps_of(doc, r, &it)),
            "summary" => i.summary = str_of(doc, &it).unwrap_or_default(),
            "created" => i.created = i64_of(&it),
            "updated" => i.updated = i64_of(&it),
            _ => {}
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The readers as they were, one `get` per field: the reference.
    fn contact_by_key<D: ReadDoc>(doc: &D) -> Contact {
        let r = &ROOT;
        Contact {
            name: read_str(doc, r, "name").unwrap_or_default(),
            n: read_record_in(doc, &maps_at(doc, r, "n")),
            nickname: read_str(doc, r, "nickname").unwrap_or_default(),
            emails: read_records(doc, r, "emails"),
            phones: read_records(doc, r, "phones"),
            urls: read_records(doc, r, "urls"),
            addresses: read_records(doc, r, "addresses"),
            orgs: read_records(doc, r, "orgs"),
            birthday: read_str(doc, r, "birthday").unwrap_or_default(),
            dates: read_records(doc, r, "dates"),
            met: read_str(doc, r, "met").unwrap_or_default(),
            help: read_str(doc, r, "help").unwrap_or_default(),
            kinds: read_set(doc, r, "kinds"),
            tags: read_set(doc, r, "tags"),
            every: read_str(doc, r, "every").unwrap_or_default(),
            lead: read_str(doc, r, "lead").unwrap_or_default(),
            links: read_records(doc, r, "links"),
            custom: read_str_map(doc, r, "custom"),
            uid: read_str(doc, r, "uid").unwrap_or_default(),
            extra: read_records(doc, r, "extra"),
            merged_into: read_str(doc, r, "merged_into").unwrap_or_default(),
            archived: read_bool(doc, r, "archived"),
            created: read_i64(doc, r, "created"),
            updated: read_i64(doc, r, "updated"),
        }
    }

    fn note_by_key<D: ReadDoc>(doc: &D) -> Note {
        let r = &ROOT;
        Note {
            body: read_str(doc, r, "body").unwrap_or_default(),
            contacts: read_id_set(doc, r, "contacts"),
            tags: read_set(doc, r, "tags"),
            created: read_i64(doc, r, "created"),
            updated: read_i64(doc, r, "updated"),
        }
    }

    fn interaction_by_key<D: ReadDoc>(doc: &D) -> Interaction {
        let r = &ROOT;
        Interaction {
            date: read_str(doc, r, "date").unwrap_or_default(),
            kind: read_str(doc, r, "type").unwrap_or_default(),
            contacts: read_id_set(doc, r, "contacts"),
            summary: read_str(doc, r, "summary").unwrap_or_default(),
            created: read_i64(doc, r, "created"),
            updated: read_i64(doc, r, "updated"),
        }
    }

    fn labeled(v: &str, l: &str) -> Labeled {
        Labeled {
            value: v.into(),
            label: l.into(),
        }
    }

    fn full(tag: &str) -> Contact {
        let mut c = Contact {
            name: format!("Ada {tag}"),
            nickname: "Countess".into(),
            birthday: "1815-12-10".into(),
            met: format!("At the society {tag}"),
            help: "maths".into(),
            every: "30d".into(),
            lead: "14d".into(),
            uid: format!("uid-{tag}"),
            created: 5,
            updated: 6,
            ..Default::default()
        };
        c.n.given = "Ada".into();
        c.n.family = format!("Lovelace {tag}");
        c.emails
            .insert(format!("e{tag}"), labeled("ada@x.org", "work"));
        c.phones
            .insert(format!("p{tag}"), labeled("+1 555", "cell"));
        c.urls
            .insert("u".into(), labeled(&format!("https://{tag}"), ""));
        c.dates
            .insert("d".into(), labeled("--03-14", "anniversary"));
        c.addresses.insert(
            "a".into(),
            Address {
                street: format!("{tag} Street"),
                locality: "London".into(),
                ..Default::default()
            },
        );
        c.orgs.insert(
            format!("o{tag}"),
            Role {
                org: "Analytical".into(),
                title: "Countess".into(),
                since: "1835".into(),
                ..Default::default()
            },
        );
        c.kinds.insert(format!("k{tag}"));
        c.tags.insert(format!("t{tag}"));
        c.links.insert(
            "l".into(),
            Link {
                to: "00".repeat(16),
                rel: format!("rel {tag}"),
            },
        );
        c.custom.insert(format!("c{tag}"), format!("v{tag}"));
        c.custom.insert("shared".into(), tag.into());
        c.extra.insert(
            "x".into(),
            ExtraProp {
                name: "X-FOO".into(),
                value: tag.into(),
                ..Default::default()
            },
        );
        c
    }

    /// Documents with every field, concurrent edits of the same and other fields, competing
    /// nested maps (created lazily on both sides), deleted keys and wrong shapes.
    fn samples() -> Vec<AutoCommit> {
        let mut out = Vec::new();
        let mut a = AutoCommit::new();
        write_contact(&mut a, &full("a"), 1).unwrap();
        out.push(a.clone());
        let mut b = a.fork();
        write_contact(&mut a, &full("b"), 2).unwrap();
        let mut cb = full("c");
        cb.archived = true;
        cb.merged_into = "ff".repeat(16);
        write_contact(&mut b, &cb, 3).unwrap();
        a.merge(&mut b).unwrap();
        out.push(a.clone());
        // Maps created on both sides (as older versions did): competing objects.
        let mut old = AutoCommit::new();
        write_contact(
            &mut old,
            &Contact {
                name: "Old".into(),
                ..Default::default()
            },
            1,
        )
        .unwrap();
        for key in nested_maps(Kind::Contact).iter().chain(["met"].iter()) {
            old.delete(&ROOT, *key).unwrap();
        }
        let mut x = old.clone();
        let mut y = x.fork();
        write_contact(&mut x, &full("x"), 2).unwrap();
        write_contact(&mut y, &full("y"), 3).unwrap();
        x.merge(&mut y).unwrap();
        out.push(x.clone());
        // Wrong shapes, and a Text where a string is expected.
        let mut w = AutoCommit::new();
        w.put(&ROOT, "kind", "contact").unwrap();
        w.put(&ROOT, "name", 42i64).unwrap();
        w.put(&ROOT, "emails", "not a map").unwrap();
        w.put_object(&ROOT, "tags", ObjType::List).unwrap();
        let t = w.put_object(&ROOT, "nickname", ObjType::Text).unwrap();
        w.splice_text(&t, 0, 0, "Zoë").unwrap();
        w.put(&ROOT, "created", ScalarValue::Timestamp(77)).unwrap();
        w.put(&ROOT, "updated", ScalarValue::Uint(u64::MAX))
            .unwrap();
        w.put(&ROOT, "archived", "yes").unwrap();
        let phones = w.put_object(&ROOT, "phones", ObjType::Map).unwrap();
        w.put(&phones, "p1", "a scalar entry").unwrap();
        let e = w.put_object(&phones, "p2", ObjType::Map).unwrap();
        w.put(&e, "value", 5i64).unwrap();
        w.put(&e, "label", "home").unwrap();
        w.put(&e, "unknown", "ignored").unwrap();
        out.push(w.clone());
        // A scalar and a map under the same key, concurrently.
        let mut p = w.fork();
        let mut q = w.fork();
        p.put(&ROOT, "orgs", "scalar").unwrap();
        let o = q.put_object(&ROOT, "orgs", ObjType::Map).unwrap();
        let r = q.put_object(&o, "r", ObjType::Map).unwrap();
        q.put(&r, "org", "Q").unwrap();
        p.merge(&mut q).unwrap();
        out.push(p);
        out
    }

    #[test]
    fn one_pass_contact_reads_equal_per_key_reads() {
        for (i, doc) in samples().iter().enumerate() {
            let c = read_contact(doc);
            assert_eq!(c, contact_by_key(doc), "sample {i}");
        }
        // The samples are not trivial: conflicts and competing maps are read in full.
        let docs = samples();
        let merged = read_contact(&docs[1]);
        assert!(merged.archived && merged.emails.len() == 2, "{merged:?}");
        let competing = read_contact(&docs[2]);
        assert_eq!(competing.phones.len(), 2, "{competing:?}");
        assert_eq!(competing.custom.len(), 3, "{competing:?}");
        let odd = read_contact(&docs[3]);
        assert_eq!((odd.nickname.as_str(), odd.created), ("Zoë", 77));
        assert_eq!(odd.phones.len(), 1);
    }

    #[test]
    fn one_pass_note_and_interaction_reads_equal_per_key_reads() {
        let ids: BTreeSet<DocId> = [DocId([1; 16]), DocId([2; 16])].into_iter().collect();
        let mut a = AutoCommit::new();
        let n = Note {
            body: "hello".into(),
            contacts: ids.clone(),
            tags: ["x".to_string()].into_iter().collect(),
            ..Default::default()
        };
        write_note(&mut a, &n, 1).unwrap();
        let mut b = a.fork();
        let mut na = read_note(&a);
        na.body = "hello world".into();
        na.contacts.insert(DocId([3; 16]));
        write_note(&mut a, &na, 2).unwrap();
        let mut nb = read_note(&b);
        nb.tags.insert("y".into());
        write_note(&mut b, &nb, 3).unwrap();
        a.merge(&mut b).unwrap();
        let merged = read_note(&a);
        assert_eq!(merged, note_by_key(&a));
        assert_eq!((merged.contacts.len(), merged.tags.len()), (3, 2));

        let mut d = AutoCommit::new();
        let i = Interaction {
            date: "2026-01-02".into(),
            kind: "call".into(),
            contacts: ids,
            summary: "talked".into(),
            ..Default::default()
        };
        write_interaction(&mut d, &i, 1).unwrap();
        let mut e = d.fork();
        let mut ie = read_interaction(&e);
        ie.kind = "meeting".into();
        write_interaction(&mut e, &ie, 2).unwrap();
        d.merge(&mut e).unwrap();
        assert_eq!(read_interaction(&d), interaction_by_key(&d));
        assert_eq!(read_interaction(&d).kind, "meeting");
    }
}
