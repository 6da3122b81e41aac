//! The format 2 -> 3 migration: documents whose nested maps were created concurrently by an
//! older kith (two competing map objects under one key) are repaired at open, with their index
//! rows, once.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ReadDoc, ROOT};
use kith::store::Vault;
use kith_core::index::derive;
use kith_core::model::{self, Contact, Labeled};
use redb::ReadableDatabase;

const META: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");

fn phone(v: &str) -> Labeled {
    Labeled {
        value: v.into(),
        label: String::new(),
    }
}

/// A contact as two devices running an older kith leave it: each added the first phone and
/// tag, creating the maps lazily, and the merge holds two competing `phones` and `tags` maps.
fn competing_doc() -> AutoCommit {
    let mut a = AutoCommit::new();
    let c = Contact {
        name: "Ada Lovelace".into(),
        ..Default::default()
    };
    model::write_contact(&mut a, &c, 1).unwrap();
    for key in model::nested_maps(model::Kind::Contact) {
        a.delete(&ROOT, *key).unwrap();
    }
    let mut b = a.fork();
    let mut ca = model::read_contact(&a);
    ca.phones.insert("pa".into(), phone("+1 555 0100"));
    ca.tags.insert("math".into());
    model::write_contact(&mut a, &ca, 2).unwrap();
    let mut cb = model::read_contact(&b);
    cb.phones.insert("pb".into(), phone("+44 20 7946 0000"));
    cb.tags.insert("poetry".into());
    model::write_contact(&mut b, &cb, 3).unwrap();
    a.merge(&mut b).unwrap();
    assert!(model::has_competing_maps(&a));
    assert_eq!(a.get_all(&ROOT, "phones").unwrap().len(), 2);
    a
}

fn set_format(path: &std::path::Path, v: u32) {
    let db = redb::Database::open(path).unwrap();
    let w = db.begin_write().unwrap();
    {
        let mut t = w.open_table(META).unwrap();
        t.insert("format", v.to_le_bytes().as_slice()).unwrap();
    }
    w.commit().unwrap();
}

fn format(path: &std::path::Path) -> u32 {
    let db = redb::Database::open(path).unwrap();
    let r = db.begin_read().unwrap();
    let t = r.open_table(META).unwrap();
    let v = t.get("format").unwrap().unwrap();
    u32::from_le_bytes(v.value().try_into().unwrap())
}

#[test]
fn opening_a_format_2_vault_merges_competing_maps_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.redb");
    let id = {
        let vault = Vault::open(&path).unwrap();
        vault
            .write(0, |w| {
                let mut l = w.create();
                l.doc = competing_doc();
                let id = l.id;
                w.save(l)?;
                Ok::<_, kith::store::StoreError>(id)
            })
            .unwrap()
    };
    set_format(&path, 2);

    let vault = Vault::open(&path).unwrap();
    let mut doc = vault.read().unwrap().load(id).unwrap().unwrap();
    assert!(!model::has_competing_maps(&doc), "repaired");
    // The winning maps alone (what an older kith reads) hold every entry now.
    let (_, phones) = doc.get(&ROOT, "phones").unwrap().unwrap();
    assert_eq!(doc.keys(&phones).collect::<Vec<_>>(), ["pa", "pb"]);
    let (_, tags) = doc.get(&ROOT, "tags").unwrap().unwrap();
    assert_eq!(doc.keys(&tags).collect::<Vec<_>>(), ["math", "poetry"]);
    let c = model::read_contact(&doc);
    assert_eq!(c.phones.len(), 2);
    // Index rows: both phones and both tags are found, and the tables match a rebuild.
    let r = vault.read().unwrap();
    assert_eq!(r.by_phone("+15550100").unwrap(), [id]);
    assert_eq!(r.by_phone("+442079460000").unwrap(), [id]);
    assert_eq!(r.contact(id).unwrap().unwrap().tags, ["math", "poetry"]);
    assert_eq!(derive(&doc).1.phones.len(), 2);
    let derived = vault.dump_derived().unwrap();
    vault.reindex(&mut |_, _| {}).unwrap();
    assert_eq!(vault.dump_derived().unwrap(), derived);
    let heads = doc.get_heads();
    drop(r);
    drop(vault);
    assert_eq!(
        format(&path),
        kith::store::FORMAT_VERSION,
        "the migration records the new format"
    );

    // Opening again runs nothing: the document is unchanged.
    let vault = Vault::open(&path).unwrap();
    let mut again = vault.read().unwrap().load(id).unwrap().unwrap();
    assert_eq!(again.get_heads(), heads);
}
