//! The receiver of a first sync stores the whole documents of consecutive `Docs` frames
//! together (sync7: `Writer::store_whole_batch`, each table opened once per batch): every kind
//! of document and index row ends as a rebuild from the documents alone gives it, and an item
//! that arrives whole after its contact was purged here loses that link as before.

use serde_json::Value;

use crate::sync::{pair, sync_from_daemon, Dev};

/// B syncs from A's daemon, which packs documents into frames of about 1.5 KB; B commits at
/// most `batch` whole documents per transaction. Returns B's report line for A.
fn sync_batched(a: &Dev, b: &Dev, batch: &str) -> Value {
    sync_from_daemon(a, b, "1500", &[("KITH_SYNC_BATCH_DOCS", batch)])
}

/// Contacts with notes, calls, reminders and a birthday, some items linking two contacts.
fn fill(a: &Dev, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let id = a.add(
            &format!("Person{i} Sample"),
            &["--email", &format!("p{i}@example.org"), "--org", "Acme"],
        );
        ids.push(id);
    }
    for (i, id) in ids.iter().enumerate() {
        a.ok(&["note", id, &format!("talked about project zebra{i}")]);
        if i % 2 == 0 {
            a.ok(&[
                "log",
                id,
                "--kind",
                "call",
                "--on",
                &format!("2026-10-{:02}", 1 + i % 28),
                &format!("call number {i}"),
            ]);
        }
        if i % 3 == 0 {
            a.ok(&["remind", id, &format!("follow up {i}"), "--in", "5d"]);
        }
        if i > 0 && i % 4 == 0 {
            let prev = &ids[i - 1];
            a.ok(&["note", id, prev, "--", &format!("met together {i}")]);
        }
    }
    ids
}

#[test]
fn whole_documents_stored_in_batches_give_the_tables_a_rebuild_gives() {
    let a = Dev::new("laptop");
    let receivers = [Dev::new("desktop"), Dev::new("phone")];
    for b in &receivers {
        pair(&a, b);
    }
    fill(&a, 24);
    let mut states = Vec::new();
    // Batches of 5 documents (many frames each) and one batch for everything.
    for (b, batch) in receivers.iter().zip(["5", "100000"]) {
        let r = sync_batched(&a, b, batch);
        assert_eq!(r["ok"], true, "{r}");
        let got = r["docs_received"].as_u64().unwrap();
        // 24 contacts, 24 notes, 12 calls, 8 reminders, 5 shared notes (+ the membership
        // document for the device paired first).
        assert!((73..=74).contains(&got), "batch={batch}: {r}");
        let check = b.run(&["check"]);
        assert_eq!(check.code, 0, "batch={batch}: {}", check.stdout);
        assert_eq!(a.state(), b.state(), "batch={batch}");
        let found = b.json(&["search", "zebra17"]);
        assert_eq!(found["total"], 1, "batch={batch}: {found}");
        let timeline = b.ok(&["timeline", "Person8 Sample"]);
        assert!(
            timeline.contains("call number 8") && timeline.contains("met together 8"),
            "batch={batch}: {timeline}"
        );
        states.push(b.state());
    }
    assert_eq!(states[0], states[1]);
}

#[test]
fn an_item_received_whole_after_its_contact_was_purged_here_loses_the_link() {
    let a = Dev::new("laptop");
    let b = Dev::new("desktop");
    let grace = a.add("Grace Hopper", &["--email", "grace@example.org"]);
    let ada = a.add("Ada Lovelace", &["--email", "ada@example.org"]);
    pair(&a, &b);
    assert_eq!(b.json(&["show", &grace])["name"], "Grace Hopper");
    // B purges Grace while A, offline, writes about her.
    let o = b.run(&["rm", &grace, "--purge"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let only = a
        .ok(&["note", &grace, "--", "only about grace"])
        .trim()
        .to_string();
    let both = a
        .ok(&["note", &grace, &ada, "--", "grace and ada together"])
        .trim()
        .to_string();
    let r = sync_batched(&a, &b, "100000");
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(b.run(&["show", &grace]).code, 1, "Grace stays purged on B");
    let export = b.export();
    assert!(
        !export.contains(&only),
        "the note only about Grace is gone: {export}"
    );
    assert!(export.contains(&both), "the shared note stays: {export}");
    let timeline = b.ok(&["timeline", &ada]);
    assert!(timeline.contains("grace and ada together"), "{timeline}");
    let check = b.run(&["check"]);
    assert_eq!(check.code, 0, "{}", check.stdout);
}
