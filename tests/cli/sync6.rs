//! The receiver of a first sync prepares whole documents on worker threads while it stores
//! earlier batches (sync6): many small frames and batches, with the workers on and off, end
//! with every document stored and indexed, the same on both paths.

use crate::env::finish;
use crate::sync::{pair, sync_from_daemon, Dev};

/// A vCard file of `n` people with an email and a note each.
fn cards(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!(
            "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Person{i} Sample\r\nN:Sample;Person{i};;;\r\n\
             EMAIL:person{i}@example.org\r\nNOTE:talked about project {i}\r\nEND:VCARD\r\n"
        ));
    }
    s
}

#[test]
fn a_first_sync_in_many_small_batches_stores_and_indexes_everything_with_or_without_workers() {
    let a = Dev::new("laptop");
    // Paired while A is empty (joining syncs), then A gets its data.
    let receivers = [Dev::new("desktop"), Dev::new("phone")];
    for b in &receivers {
        pair(&a, b);
    }
    let file = a.env.root().join("people.vcf");
    std::fs::write(&file, cards(120)).unwrap();
    a.ok(&["import", file.to_str().unwrap()]);
    let mut states = Vec::new();
    for (b, workers) in receivers.iter().zip(["2", "1"]) {
        let r = sync_from_daemon(
            &a,
            b,
            "2000",
            &[("KITH_SYNC_BATCH_DOCS", "7"), ("KITH_WORKERS", workers)],
        );
        assert_eq!(r["ok"], true, "{r}");
        // 120 contacts and their 120 notes, in batches of at most 7 documents (plus the
        // membership document for the device paired first: the second pairing changed it).
        let got = r["docs_received"].as_u64().unwrap();
        assert!((240..=241).contains(&got), "workers={workers}: {r}");
        assert_eq!(b.count(), 120, "workers={workers}");
        let found = b.json(&["search", "Person97"]);
        assert!(
            found["hits"]
                .as_array()
                .unwrap()
                .iter()
                .any(|h| h["title"] == "Person97 Sample"),
            "workers={workers}: the synced contact is found: {found}"
        );
        // The derived tables equal a rebuild from the documents alone.
        let check = b.run(&["check"]);
        assert_eq!(check.code, 0, "workers={workers}: {}", check.stdout);
        assert_eq!(a.state(), b.state(), "workers={workers}");
        states.push(b.state());
    }
    assert_eq!(states[0], states[1]);
}

#[test]
fn a_reindex_on_every_core_builds_the_same_tables_as_on_one() {
    let a = Dev::new("laptop");
    let file = a.env.root().join("people.vcf");
    std::fs::write(&file, cards(150)).unwrap();
    a.ok(&["import", file.to_str().unwrap()]);
    let mut dumps = Vec::new();
    for workers in ["1", "2"] {
        let mut c = a.cmd(&["reindex"]);
        c.env("KITH_WORKERS", workers);
        let out = finish(c.output().unwrap());
        assert_eq!(
            out.code, 0,
            "reindex with {workers} workers: {}",
            out.stderr
        );
        assert_eq!(a.run(&["check"]).code, 0);
        let found = a.json(&["search", "Person142"]);
        assert!(
            found["hits"]
                .as_array()
                .unwrap()
                .iter()
                .any(|h| h["title"] == "Person142 Sample"),
            "workers={workers}: {found}"
        );
        dumps.push((found, a.state()));
    }
    assert_eq!(dumps[0], dumps[1]);
}
