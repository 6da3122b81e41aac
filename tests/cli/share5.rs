//! Share sessions that find nothing changed derive nothing (docs/design/sharing.md,
//! "Projection documents"), and every kind of change made after such a session still reaches
//! the person: an edit in the slice, a tag removal and a purge (new epochs, the old documents
//! dropped, canaries checked in the three layers), a contact entering the slice.

use std::process::Stdio;

use serde_json::Value;

use crate::share::{
    assert_clean, pair_persons, received_histories, share_slice_with_ben, share_sync,
};
use crate::sync::{first_line, Daemon, Dev};

/// A daemon logging at info level (its derivation lines), stderr kept for `stop_log`.
pub(crate) fn logging_daemon(dev: &Dev) -> Daemon {
    let mut c = dev.cmd(&["daemon"]);
    c.env("KITH_LOG", "kith=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn kith daemon");
    let line = first_line(&mut child);
    assert!(line.contains("ready"), "daemon said: {line}");
    Daemon(Some(child))
}

/// One pull by `b`: (documents received, round trips), checked to succeed.
fn pull(b: &Dev, wire: &std::path::Path) -> (u64, u64) {
    let _ = std::fs::remove_file(wire);
    let out = share_sync(b, wire, &[]);
    assert_eq!(out.code, 0, "share sync: {}", out.stderr);
    let rep: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(rep[0]["error"].is_null(), "{rep}");
    (
        rep[0]["docs_received"].as_u64().unwrap(),
        rep[0]["round_trips"].as_u64().unwrap(),
    )
}

fn names(b: &Dev) -> Vec<String> {
    b.json(&["shared"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["values"]["name"].as_str().unwrap().to_string())
        .collect()
}

fn epoch(b: &Dev) -> u64 {
    let v = kith::store::Vault::open_read_only(&b.env.vault()).unwrap();
    let r = v.read().unwrap();
    let rows = r
        .share_scan(kith::store::ShareTable::ReceivedShares, &[])
        .unwrap();
    assert_eq!(rows.len(), 1);
    let rec: Value = serde_json::from_slice(&rows[0].1).unwrap();
    rec["epoch"].as_u64().unwrap()
}

#[test]
fn a_no_change_session_derives_nothing_and_changes_after_it_still_arrive() {
    let a = Dev::new("ann");
    let b = Dev::new("ben");
    let wire = b.env.root().join("wire.bin");
    let ada = a.add(
        "Ada Purged",
        &["--org", "AdaPurgedMarker", "--tag", "slice"],
    );
    let carol = a.add("Carol Kept", &["--org", "Initech", "--tag", "slice"]);
    let dan = a.add(
        "Dan Untagged",
        &["--org", "DanRemovedMarker", "--tag", "slice"],
    );
    let eve = a.add("Eve Later", &["--org", "Globex"]);
    pair_persons(&a, "Ben", &b, "Ann");
    share_slice_with_ben(&a);
    let daemon = logging_daemon(&a);

    assert_eq!(pull(&b, &wire).0, 3, "first sync");
    assert_eq!(pull(&b, &wire), (0, 1), "no change: one round trip");
    assert_eq!(pull(&b, &wire), (0, 1));

    // An edit in the slice after no-change sessions: same epoch, one document.
    a.ok(&["set", &carol, "help", "intros to Initech"]);
    assert_eq!(pull(&b, &wire).0, 1);
    let shared = b.json(&["shared"]).to_string();
    assert!(shared.contains("intros to Initech"), "{shared}");
    assert_eq!(epoch(&b), 1);

    // A tag removal: Dan leaves the slice, a new epoch; nothing of Dan stays at B.
    a.ok(&["tag", &dan, "-slice"]);
    assert_eq!(pull(&b, &wire).0, 2, "the new epoch's documents");
    assert_eq!(epoch(&b), 2);
    assert_eq!(names(&b), ["Ada Purged", "Carol Kept"]);
    assert_clean(
        &b,
        &wire,
        &["DanRemovedMarker", "Dan Untagged"],
        "after untagging",
    );
    assert_eq!(pull(&b, &wire), (0, 1));

    // A purge: Ada is deleted for good, a new epoch again.
    a.ok(&["rm", &ada, "--purge"]);
    assert_eq!(pull(&b, &wire).0, 1);
    assert_eq!(epoch(&b), 3);
    assert_eq!(names(&b), ["Carol Kept"]);
    assert_clean(
        &b,
        &wire,
        &["AdaPurgedMarker", "Ada Purged"],
        "after the purge",
    );

    // A contact entering the slice (widening): same epoch.
    a.ok(&["tag", &eve, "+slice"]);
    assert_eq!(pull(&b, &wire).0, 1);
    assert_eq!(epoch(&b), 3);
    assert_eq!(names(&b), ["Carol Kept", "Eve Later"]);
    // Positive control: the layers see what is in the slice.
    let all = received_histories(&b.env.vault()).join("\n");
    assert!(
        all.contains("Globex") && all.contains("intros to Initech"),
        "{all}"
    );

    let log = daemon.stop().stderr;
    let current = log.matches("projections current: nothing derived").count();
    assert_eq!(
        current, 3,
        "the three no-change sessions derived nothing:\n{log}"
    );
    let derived: Vec<&str> = log.lines().filter(|l| l.contains("derived:")).collect();
    assert_eq!(derived.len(), 5, "{log}");
    // The first session: a document outside the slice changed since `share create` (the
    // daemon's own), so it is read and nothing is written.
    assert!(
        derived[0].contains("(changed since the last derivation), 0 projection(s) written"),
        "{}",
        derived[0]
    );
    let derived = &derived[1..];
    assert!(
        derived[0].contains("1 document(s) read (changed since the last derivation), 1 projection(s) written, epoch 1"),
        "an edit reads only the document that changed: {}",
        derived[0]
    );
    assert!(
        derived[1].contains("2 projection(s) written, epoch 2"),
        "{}",
        derived[1]
    );
    assert!(
        derived[2].contains("in full") && derived[2].contains("epoch 3"),
        "a purge derives in full: {}",
        derived[2]
    );
    assert!(
        derived[3]
            .contains("(changed since the last derivation), 1 projection(s) written, epoch 3"),
        "{}",
        derived[3]
    );
}

/// Polls `f` every 200 ms until it holds, at most `secs` seconds.
pub(crate) fn eventually(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(
            start.elapsed().as_secs() < secs,
            "not within {secs} s: {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn daemons_push_received_slices_to_the_recipients_other_device() {
    let a = Dev::new("ann");
    let b1 = Dev::new("laptop");
    let b2 = Dev::new("phone");
    let ada = a.add("Ada Pushed", &["--org", "Acme", "--tag", "slice"]);
    a.add("Carol Pushed", &["--org", "Initech", "--tag", "slice"]);
    crate::sync::pair(&b1, &b2);
    pair_persons(&a, "Ben", &b1, "Ann");
    let id = share_slice_with_ben(&a);
    let _owner = Daemon::start(&a);
    let d1 = logging_daemon(&b1);
    let d2 = logging_daemon(&b2);

    // B1 receives the slice; B2 gets it from B1's daemon, without running `kith sync`.
    let wire = b1.env.root().join("wire.bin");
    assert_eq!(pull(&b1, &wire).0, 2);
    eventually(30, "the slice on B2", || names(&b2).len() == 2);
    assert_eq!(names(&b2), ["Ada Pushed", "Carol Pushed"]);
    let shared = b2.json(&["shared"]);
    assert_eq!(shared[0]["from"], "Ann", "{shared}");

    // An edit in the slice: B1 pulls it, B2 gets it pushed.
    a.ok(&["set", &ada, "help", "knows every analyst"]);
    assert_eq!(pull(&b1, &wire).0, 1);
    eventually(30, "the edit on B2", || {
        b2.json(&["shared"])
            .to_string()
            .contains("knows every analyst")
    });

    // A revocation: B1 drops the slice, and so does B2.
    a.ok(&["share", "revoke", &id[..8]]);
    pull(&b1, &wire);
    assert!(names(&b1).is_empty());
    eventually(30, "the revocation on B2", || names(&b2).is_empty());
    assert!(received_histories(&b2.env.vault()).is_empty());

    let log1 = d1.stop().stderr;
    assert!(log1.contains("slices pushed to phone"), "{log1}");
    let log2 = d2.stop().stderr;
    assert!(
        log2.contains("pulled slices pushed by an own device"),
        "{log2}"
    );
}
