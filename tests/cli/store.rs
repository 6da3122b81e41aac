//! Store-level tests on real redb files: random edit sequences give the same state after save,
//! compaction and reload, and `reindex` reproduces every derived table exactly.

use std::collections::BTreeMap;

use kith::app::{App, ListQuery, NewContact};
use kith::store::Vault;
use kith_core::model;
use kith_core::{DocId, Kind};
use proptest::prelude::*;

fn app_at(dir: &std::path::Path, now: i64) -> App {
    let vault = Vault::open(&dir.join("vault.redb")).unwrap();
    App::new(vault, dir.to_path_buf(), kith::app::Clock::pinned(now))
}

/// The whole visible state: every document rendered as JSON, plus every derived table.
fn snapshot(app: &App) -> (BTreeMap<String, String>, kith::store::TableDump) {
    let r = app.vault.read().unwrap();
    let mut docs = BTreeMap::new();
    for kind in Kind::ALL {
        for id in r.ids_of_kind(kind).unwrap() {
            let doc = r.load(id).unwrap().unwrap();
            let json = match kind {
                Kind::Contact => serde_json::to_string(&model::read_contact(&doc)),
                Kind::Note => serde_json::to_string(&model::read_note(&doc)),
                Kind::Interaction => serde_json::to_string(&model::read_interaction(&doc)),
                Kind::Reminder => serde_json::to_string(&model::read_reminder(&doc)),
                Kind::Devices => serde_json::to_string(&kith_core::devices::read_devices(&doc)),
                Kind::Opportunity => serde_json::to_string(&model::read_opportunity(&doc)),
            }
            .unwrap();
            docs.insert(id.to_hex(), json);
        }
    }
    (docs, app.vault.dump_derived().unwrap())
}

#[derive(Debug, Clone)]
enum Op {
    Add(usize, bool),
    Rename(usize, usize),
    Email(usize, usize),
    Tag(usize, usize, bool),
    Note(usize, usize),
    EditNote(usize, usize),
    Log(usize, usize, i32),
    Remind(usize, i32),
    Archive(usize),
    Purge(usize),
}

const WORDS: &[&str] = &[
    "alpha", "Béta", "gamma", "delta", "ÉPSILON", "zeta", "eta", "théta",
];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..8usize, any::<bool>()).prop_map(|(a, b)| Op::Add(a, b)),
        (0..20usize, 0..8usize).prop_map(|(a, b)| Op::Rename(a, b)),
        (0..20usize, 0..8usize).prop_map(|(a, b)| Op::Email(a, b)),
        (0..20usize, 0..8usize, any::<bool>()).prop_map(|(a, b, c)| Op::Tag(a, b, c)),
        (0..20usize, 0..8usize).prop_map(|(a, b)| Op::Note(a, b)),
        (0..40usize, 0..8usize).prop_map(|(a, b)| Op::EditNote(a, b)),
        (0..20usize, 0..20usize, -400..10i32).prop_map(|(a, b, c)| Op::Log(a, b, c)),
        (0..20usize, -30..30i32).prop_map(|(a, b)| Op::Remind(a, b)),
        (0..20usize).prop_map(Op::Archive),
        (0..20usize).prop_map(Op::Purge),
    ]
}

fn apply(app: &App, ops: &[Op]) {
    let mut contacts: Vec<DocId> = Vec::new();
    let mut notes: Vec<DocId> = Vec::new();
    let pick = |v: &Vec<DocId>, i: usize| {
        if v.is_empty() {
            None
        } else {
            Some(v[i % v.len()])
        }
    };
    for op in ops {
        match op.clone() {
            Op::Add(w, cadence) => {
                let added = app
                    .add_contact(NewContact {
                        name: format!("{} Person", WORDS[w]),
                        emails: vec![format!("{}@example.com", WORDS[w].to_lowercase())],
                        every: cadence.then(|| "2w".to_string()),
                        ..Default::default()
                    })
                    .unwrap();
                contacts.push(added.id);
            }
            Op::Rename(c, w) => {
                if let Some(id) = pick(&contacts, c) {
                    app.update_contact(id, |c, _| {
                        c.name = format!("{} {}", WORDS[w], c.name);
                        Ok(())
                    })
                    .unwrap();
                }
            }
            Op::Email(c, w) => {
                if let Some(id) = pick(&contacts, c) {
                    app.update_contact(id, |c, _| {
                        c.emails.insert(
                            format!("k{w}"),
                            model::Labeled {
                                value: format!("{w}@x.org"),
                                label: "work".into(),
                            },
                        );
                        if w % 3 == 0 {
                            c.emails.clear();
                        }
                        Ok(())
                    })
                    .unwrap();
                }
            }
            Op::Tag(c, w, add) => {
                if let Some(id) = pick(&contacts, c) {
                    app.update_contact(id, |c, _| {
                        let t = WORDS[w].to_lowercase();
                        if add {
                            c.tags.insert(t);
                        } else {
                            c.tags.remove(&t);
                        }
                        Ok(())
                    })
                    .unwrap();
                }
            }
            Op::Note(c, w) => {
                if let Some(id) = pick(&contacts, c) {
                    notes.push(
                        app.add_note(&[id], &format!("note about {}", WORDS[w]), &[])
                            .unwrap(),
                    );
                }
            }
            Op::EditNote(n, w) => {
                if let Some(id) = pick(&notes, n) {
                    app.vault
                        .write(app.now(), |wr| {
                            if let Some(mut l) = wr.load(id)? {
                                let mut note = model::read_note(&l.doc);
                                note.body.push_str(&format!(" and {}", WORDS[w]));
                                model::write_note(&mut l.doc, &note, app.now()).unwrap();
                                wr.save(l)?;
                            }
                            Ok::<_, kith::store::StoreError>(())
                        })
                        .unwrap();
                }
            }
            Op::Log(a, b, days) => {
                if let (Some(x), Some(y)) = (pick(&contacts, a), pick(&contacts, b)) {
                    let on = app.today().add_days(days);
                    app.log(&[x, y], "call", on, "a call").unwrap();
                }
            }
            Op::Remind(c, days) => {
                if let Some(id) = pick(&contacts, c) {
                    app.remind(id, app.today().add_days(days), "follow up")
                        .unwrap();
                }
            }
            Op::Archive(c) => {
                if let Some(id) = pick(&contacts, c) {
                    app.remove(id, false).unwrap();
                }
            }
            Op::Purge(c) => {
                if let Some(id) = pick(&contacts, c) {
                    app.remove(id, true).unwrap();
                    contacts.retain(|x| *x != id);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn state_survives_save_compaction_reload_and_reindex(ops in proptest::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let now = 1_795_341_600_000;
        let before = {
            let app = app_at(dir.path(), now);
            apply(&app, &ops);
            snapshot(&app)
        };
        // Reload from disk.
        let app = app_at(dir.path(), now);
        prop_assert_eq!(&snapshot(&app), &before);
        // Compact every document into one snapshot: same documents, same indexes.
        app.vault.compact().unwrap();
        prop_assert_eq!(&snapshot(&app), &before);
        // Rebuild every index from the documents alone: byte-identical tables.
        app.vault.reindex(&mut |_, _| {}).unwrap();
        prop_assert_eq!(&snapshot(&app), &before);
    }
}

#[test]
fn reindex_reproduces_identical_tables() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_at(dir.path(), 1_795_341_600_000);
    let ops: Vec<Op> = (0..8)
        .flat_map(|i| {
            vec![
                Op::Add(i, i % 2 == 0),
                Op::Note(i, i),
                Op::Log(i, i + 1, -(i as i32) * 20),
                Op::Remind(i, i as i32 - 4),
                Op::Tag(i, (i + 2) % WORDS.len(), true),
            ]
        })
        .chain([
            Op::Archive(1),
            Op::Purge(2),
            Op::EditNote(0, 3),
            Op::Rename(3, 4),
        ])
        .collect();
    apply(&app, &ops);
    let before = app.vault.dump_derived().unwrap();
    assert!(before["ix_postings"].len() > 10, "the index is populated");
    assert!(!before["ix_cadence"].is_empty());
    assert!(!before["ix_due"].is_empty());
    assert!(!before["ix_last_contact"].is_empty());
    let n = app.vault.reindex(&mut |_, _| {}).unwrap();
    assert!(n >= 30);
    assert_eq!(app.vault.dump_derived().unwrap(), before);
    // And the listing is the same.
    assert_eq!(
        app.list(&ListQuery::default(), &mut Default::default())
            .unwrap()
            .len(),
        6,
        "8 added, 1 archived, 1 purged"
    );
}

#[test]
fn many_edits_trigger_compaction_and_reload_intact() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_at(dir.path(), 1_795_341_600_000);
    let id = app
        .add_contact(NewContact {
            name: "Grace Hopper".into(),
            ..Default::default()
        })
        .unwrap()
        .id;
    for i in 0..100 {
        app.update_contact(id, |c, _| {
            c.custom.insert("count".into(), i.to_string());
            Ok(())
        })
        .unwrap();
    }
    drop(app);
    let app = app_at(dir.path(), 1_795_341_600_000);
    let doc = app.vault.read().unwrap().load(id).unwrap().unwrap();
    assert_eq!(model::read_contact(&doc).custom["count"], "99");
}
