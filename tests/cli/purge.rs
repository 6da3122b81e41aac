//! `kith rm --purge` deletes everywhere (docs/design/deletion.md): the deletion syncs, wins over
//! devices that still have the contact (one offline all along), is never undone by a sync or a
//! re-import of an old card, takes the contact's own items with it, and leaves no row behind.

use serde_json::Value;

use crate::env::TestEnv;
use crate::sync::{pair, Daemon, Dev};

const GRACE_UID: &str = "urn:uuid:6f1c2a4e-0b7d-4c1e-9a53-2f0e8d7b1c99";

fn card() -> String {
    format!(
        "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:{GRACE_UID}\r\nFN:Grace Hopper\r\n\
         EMAIL:grace@example.com\r\nORG:Navy\r\nEND:VCARD\r\n"
    )
}

fn id_of(dev: &Dev, name: &str) -> String {
    dev.json(&["show", name])["id"]
        .as_str()
        .expect("id")
        .to_string()
}

fn has(rows: &Value, id: &str) -> bool {
    rows.to_string().contains(id)
}

/// Every row `due`, `timeline` of `contact` and `search` show has a non-empty name/title.
fn no_empty_names(dev: &Dev, contact: &str, query: &str) {
    for row in dev.json(&["due", "--within", "1y"]).as_array().unwrap() {
        assert!(
            row["name"].as_str().is_some_and(|n| !n.is_empty()),
            "due row without a name: {row}"
        );
    }
    let tl = dev.json(&["timeline", contact]);
    for row in tl.as_array().unwrap() {
        assert!(!row["id"].as_str().unwrap_or("").is_empty(), "{row}");
    }
    for hit in dev.json(&["search", query])["hits"].as_array().unwrap() {
        assert!(
            hit["title"].as_str().is_some_and(|t| !t.is_empty()),
            "search hit without a title: {hit}"
        );
    }
}

/// The purged ids appear in no table of the vault, except as tombstones (`ix_tombstones`,
/// `ix_purged_uids`) and inside the tombstone document's own rows.
fn no_row_mentions(dev: &Dev, ids: &[&str]) {
    let vault = kith::store::Vault::open_read_only(&dev.env.vault()).expect("open vault");
    let dump = vault.dump_raw().expect("dump");
    let tomb = kith_core::tombstones::TOMBSTONES_DOC.0;
    let mut checked = 0;
    for id in ids {
        let raw: kith_core::DocId = id.parse().expect("hex id");
        let needle = raw.0;
        let contains = |b: &[u8]| b.windows(16).any(|w| w == needle);
        for (table, rows) in &dump {
            if table == "ix_tombstones" {
                assert!(
                    rows.iter().any(|(k, _)| contains(k)),
                    "{table} records {id}"
                );
                continue;
            }
            if table == "ix_purged_uids" {
                // Only contacts with a vCard UID are here (checked by the import below).
                continue;
            }
            for (k, v) in rows {
                // The tombstone document's rows (its chunks, metadata, ordinal, change
                // record, sync states) hold the list of deleted ids by design.
                if k.windows(16).any(|w| w == tomb) || v.as_slice() == tomb {
                    continue;
                }
                assert!(
                    !contains(k) && !contains(v),
                    "table {table} still holds purged {id}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 0, "the dump had rows to check");
}

#[test]
fn purge_syncs_to_every_device_and_nothing_brings_it_back() {
    let a = Dev::new("laptop");
    let b = Dev::new("desktop");
    let c = Dev::new("server");
    let vcf = a.env.root().join("old.vcf");
    std::fs::write(&vcf, card()).unwrap();
    a.ok(&["import", vcf.to_str().unwrap()]);
    let grace = id_of(&a, "grace");
    let ada = a.add("Ada Lovelace", &["--email", "ada@example.com"]);
    let own_note = a
        .ok(&["note", &grace, "about the compiler, only Grace"])
        .trim()
        .to_string();
    let shared = a
        .ok(&["note", &grace, &ada, "--", "compiler meeting with both"])
        .trim()
        .to_string();
    let call = a
        .ok(&[
            "log",
            &grace,
            "--kind",
            "call",
            "--on",
            "2026-11-20",
            "compiler call",
        ])
        .trim()
        .to_string();
    let reminder = a
        .ok(&["remind", &grace, "send the compiler paper", "--in", "3d"])
        .trim()
        .to_string();
    a.ok(&["remind", &ada, "ask about the engine", "--in", "3d"]);

    // B and C get everything; C then stays offline until the very end.
    pair(&a, &b);
    pair(&a, &c);
    assert_eq!(c.json(&["show", &grace])["name"], "Grace Hopper");
    assert!(has(&c.json(&["due", "--within", "1y"]), &reminder));
    let daemon = Daemon::start(&a);
    b.ok(&["sync", "--timeout", "5"]); // B learns about C
    daemon.stop();
    assert_eq!(b.json(&["show", &grace])["name"], "Grace Hopper");

    // Purge on A.
    let o = a.run(&["rm", &grace, "--purge"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stderr.contains("deleted Grace Hopper (")
            && o.stderr
                .contains("on every device, with 3 item(s) linked only to them; 1 shared item(s)"),
        "{}",
        o.stderr
    );
    let gone = [grace.as_str(), &own_note, &call, &reminder];
    let check_gone = |dev: &Dev, who: &str| {
        let fail = dev.run(&["show", &grace]);
        assert_eq!(fail.code, 1, "{who}: grace is gone: {}", fail.stdout);
        let export = dev.ok(&["export", "--format", "json"]);
        for id in gone {
            assert!(!export.contains(id), "{who}: {id} still exported");
        }
        // The shared note stays, linked to Ada only.
        let tl = dev.json(&["timeline", &ada]);
        assert!(has(&tl, &shared), "{who}: shared note kept: {tl}");
        assert!(!has(&tl, &grace), "{who}: link to grace removed: {tl}");
        let due = dev.json(&["due", "--within", "1y"]);
        assert!(!has(&due, &reminder), "{who}: reminder gone: {due}");
        assert_eq!(due.as_array().unwrap().len(), 1, "{who}: {due}");
        let hits = dev.json(&["search", "compiler"]);
        assert!(
            !has(&hits, &own_note) && has(&hits, &shared),
            "{who}: {hits}"
        );
        no_empty_names(dev, &ada, "compiler");
    };
    check_gone(&a, "A");

    // A listens; B syncs and loses Grace with her items.
    let daemon = Daemon::start(&a);
    b.ok(&["sync", "--timeout", "5"]);
    check_gone(&b, "B");
    b.ok(&["sync", "--timeout", "5"]);
    check_gone(&b, "B after another sync");
    daemon.stop();

    // B listens; C, offline all along and still holding Grace, syncs with B: its copy is not
    // taken, and C loses it. Then A syncs with B and gets nothing back either.
    assert_eq!(c.json(&["show", &grace])["name"], "Grace Hopper");
    let daemon = Daemon::start(&b);
    c.ok(&["sync", "--timeout", "5"]);
    check_gone(&c, "C");
    check_gone(&b, "B after C synced");
    a.ok(&["sync", "--timeout", "5"]);
    check_gone(&a, "A after syncing with B");
    daemon.stop();
    assert_eq!(a.state(), b.state(), "A and B converge");
    assert_eq!(a.state(), c.state(), "A and C converge");

    // Re-importing the old card does not bring her back.
    let o = b.run(&["import", vcf.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stderr.contains("Grace Hopper was deleted for good")
            && o.stderr
                .contains("0 created, 0 updated, 0 unchanged, 1 skipped"),
        "{}",
        o.stderr
    );
    assert_eq!(b.run(&["show", "grace"]).code, 1);
    let j = b.json(&["import", vcf.to_str().unwrap()]);
    assert_eq!(j["created"], 0);
    assert_eq!(j["deleted"].as_array().unwrap().len(), 1, "{j}");

    for dev in [&a, &b, &c] {
        no_row_mentions(dev, &gone);
    }
}

#[test]
fn a_purge_leaves_no_row_and_survives_reindex() {
    let t = TestEnv::new();
    let grace = t.add("Grace Hopper", &["--email", "grace@example.com"]);
    let note = t.ok(&["note", &grace, "compiler notes"]).trim().to_string();
    t.ok(&["rm", &grace, "--purge"]);
    t.ok(&["reindex"]);
    assert_eq!(t.run(&["show", &grace]).code, 1);
    assert!(!t.ok(&["export", "--format", "json"]).contains(&note));
    let vault = kith::store::Vault::open_read_only(&t.vault()).expect("open vault");
    let r = vault.read().unwrap();
    let g: kith_core::DocId = grace.parse().unwrap();
    let n: kith_core::DocId = note.parse().unwrap();
    assert!(r.is_deleted(g).unwrap() && r.is_deleted(n).unwrap());
    assert_eq!(r.tombstones().unwrap().len(), 2);
    drop(r);
    drop(vault);
    // `kith check` knows the tombstone document (it has no kind of its own) and finds the
    // indexes equal to a fresh reindex after the purge.
    let j = t.json(&["check"]);
    assert_eq!(j["ok"], true, "{j}");
    assert_eq!(j["documents"]["tombstones"], 1, "{j}");
    assert_eq!(j["problems"].as_array().unwrap().len(), 0, "{j}");
}

/// A contact made with `kith add` has no UID of its own; its vCard export carries one derived
/// from its id, and re-importing that export after a purge must not bring it back.
#[test]
fn reimporting_a_kith_export_of_a_purged_contact_creates_nothing() {
    let t = TestEnv::new();
    let grace = t.add("Grace Hopper", &["--email", "grace@example.com"]);
    t.add("Ada Lovelace", &[]);
    let vcf = t.root().join("old.vcf");
    t.ok(&["export", "--format", "vcard", "-o", vcf.to_str().unwrap()]);
    t.ok(&["rm", &grace, "--purge"]);
    let o = t.ok_out(&["import", vcf.to_str().unwrap()]);
    assert!(
        o.stderr.contains("deleted for good"),
        "import says it skipped the purged contact: {}",
        o.stderr
    );
    assert_eq!(t.run(&["show", &grace]).code, 1);
    assert_eq!(t.names(&[]), vec!["Ada Lovelace".to_string()]);
}
