//! Introductions on the user's other devices (docs/design/sharing.md, "Introductions on your
//! other devices"), with real processes on loopback: Ann (two devices) shares a slice with Ben
//! (two devices). Ben's second device learns the person Ann from his first, lists the requests
//! asked on either device and every answer after its own sync with his first device, and can
//! ask too; Ann's second device lists the requests asked of her (in `intro list` and `due`)
//! but answers none: the device Ben was paired on does.

use serde_json::Value;

use crate::share::{pair_persons, share_slice_with_ben, share_sync};
use crate::share5::eventually;
use crate::sync::{Daemon, Dev};

/// `kith sync --json` on `dev` (one own device): its `slices` part.
fn sync_own(dev: &Dev) -> Value {
    let out = dev.run(&["--json", "sync"]);
    assert_eq!(out.code, 0, "{} sync: {}", dev.name, out.stderr);
    let reps: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(reps[0]["ok"], true, "{reps}");
    let slices = reps[0]["slices"].clone();
    assert!(slices["error"].is_null(), "{slices}");
    slices
}

#[track_caller]
fn share_synced(b: &Dev) {
    let wire = b.env.root().join("wire.bin");
    let out = share_sync(b, &wire, &[]);
    assert_eq!(out.code, 0, "share sync: {}", out.stderr);
    let rep: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(rep[0]["error"].is_null(), "{rep}");
}

/// (id, direction, state) of each introduction `dev` lists, sorted by id.
fn intros(dev: &Dev) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = dev
        .json(&["intro", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["direction"].as_str().unwrap().to_string(),
                r["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// The introduction `id` as `dev` lists it.
fn listed(dev: &Dev, id: &str) -> Value {
    let all = dev.json(&["intro", "list"]);
    all.as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{} does not list {id}: {all}", dev.name))
}

fn row(id: &str, direction: &str, state: &str) -> (String, String, String) {
    (id.to_string(), direction.to_string(), state.to_string())
}

#[test]
fn introductions_reach_both_sides_other_devices() {
    let a1 = Dev::new("ann-laptop");
    let a2 = Dev::new("ann-phone");
    let b1 = Dev::new("ben-laptop");
    let b2 = Dev::new("ben-phone");
    crate::sync::pair(&a1, &a2);
    crate::sync::pair(&b1, &b2);
    a1.add("Ada Shared", &["--org", "Acme", "--tag", "slice"]);
    a1.add("Eve Shared", &["--org", "Globex", "--tag", "slice"]);
    pair_persons(&a1, "Ben", &b1, "Ann");
    share_slice_with_ben(&a1);
    let _a1 = Daemon::start(&a1);
    share_synced(&b1);
    let _b1 = Daemon::start(&b1);

    // B2 learns the slice and the person Ann from B1, and says where Ann was paired.
    let slices = sync_own(&b2);
    assert_eq!(slices["persons"], 1, "{slices}");
    let persons = b2.json(&["person", "list"]);
    assert_eq!(persons.as_array().unwrap().len(), 1, "{persons}");
    assert_eq!(
        (
            persons[0]["name"].as_str(),
            persons[0]["paired_on"].as_str()
        ),
        (Some("Ann"), Some("ben-laptop")),
        "{persons}"
    );
    assert_eq!(b1.json(&["person", "list"])[0]["paired_on"], Value::Null);
    let human = b2.ok(&["person", "list"]);
    assert!(human.contains("paired on ben-laptop"), "{human}");
    assert!(!b1.ok(&["person", "list"]).contains("paired on"));
    // What only the device Ann was paired on may do is refused on B2, with where to do it.
    let err = b2.env.fails(&["person", "remove", "Ann"], 1);
    assert!(err.contains("paired on your device ben-laptop"), "{err}");
    let err = b2
        .env
        .fails(&["share", "create", "--with", "Ann", "--tag", "x"], 1);
    assert!(err.contains("paired on your device ben-laptop"), "{err}");

    // B1 asks; B2 lists the request after its sync with B1.
    let r1 = b1.json(&["intro", "ask", "Ada", "--why", "hiring a CTO"]);
    let r1 = r1["id"].as_str().unwrap().to_string();
    assert!(intros(&b2).is_empty());
    let slices = sync_own(&b2);
    assert_eq!(slices["intro_docs_received"], 1, "{slices}");
    assert_eq!(intros(&b2), [row(&r1, "asked-by-me", "asked")]);
    let on_b2 = b2.json(&["intro", "list"]);
    assert_eq!(
        (on_b2[0]["about"].as_str(), on_b2[0]["person"].as_str()),
        (Some("Ada Shared"), Some("Ann")),
        "{on_b2}"
    );
    // B2 asks too (under the intro actor Ann pinned for Ben); its request reaches Ann
    // through B1.
    let r2 = b2.json(&["intro", "ask", "Eve", "--why", "a sales lead"]);
    let r2 = r2["id"].as_str().unwrap().to_string();
    sync_own(&b2);
    let mut both = vec![
        row(&r1, "asked-by-me", "asked"),
        row(&r2, "asked-by-me", "asked"),
    ];
    both.sort();
    assert_eq!(intros(&b1), both, "B2's request reached B1");
    share_synced(&b1);
    let mut asked_of_ann = vec![
        row(&r1, "asked-of-me", "asked"),
        row(&r2, "asked-of-me", "asked"),
    ];
    asked_of_ann.sort();
    assert_eq!(intros(&a1), asked_of_ann);

    // A nothing-changed sync between B's devices: one round trip for the intro documents.
    let slices = sync_own(&b2);
    assert_eq!(
        (
            slices["intro_docs_received"].as_u64(),
            slices["intro_round_trips"].as_u64()
        ),
        (Some(0), Some(1)),
        "{slices}"
    );

    // A's second device lists the requests asked of Ann, about her own contacts, and has
    // them in `due`; it does not answer them.
    sync_own(&a2);
    assert_eq!(intros(&a2), asked_of_ann);
    let l = a2.json(&["intro", "list"]);
    let abouts: Vec<&str> = l
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["about"].as_str().unwrap())
        .collect();
    assert!(
        abouts.contains(&"Ada Shared") && abouts.contains(&"Eve Shared"),
        "{l}"
    );
    let due = a2.ok(&["due"]);
    assert!(
        due.contains("Ben asks for an introduction to Ada Shared"),
        "{due}"
    );
    let err = a2.env.fails(&["intro", "accept", &r1[..8]], 1);
    assert!(err.contains("paired on your device ann-laptop"), "{err}");

    // A answers on A1; B2 sees each answer after B1's share sync and its own sync with B1.
    a1.ok(&["intro", "accept", &r1[..8], "--note", "gladly"]);
    a1.ok(&["intro", "decline", &r2[..8]]);
    share_synced(&b1);
    let out = b2.run(&["sync"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("ben-laptop: shared slices: 0 document(s) received, 0 slice(s) dropped; 1 introduction document(s) received"),
        "the answers document, said in the human report: {}",
        out.stderr
    );
    let mut answered = vec![
        row(&r1, "asked-by-me", "accepted"),
        row(&r2, "asked-by-me", "declined"),
    ];
    answered.sort();
    assert_eq!(intros(&b2), answered);
    let first = listed(&b2, &r1);
    assert_eq!(first["note"], "gladly", "{first}");
    a1.ok(&["intro", "made", &r1[..8]]);
    a1.ok(&["intro", "outcome", &r1[..8], "they met"]);
    share_synced(&b1);
    sync_own(&b2);
    let first = listed(&b2, &r1);
    assert_eq!(
        (first["state"].as_str(), first["outcome"].as_str()),
        (Some("outcome"), Some("they met")),
        "{first}"
    );
    // And A2 sees Ann's answers, no longer due.
    sync_own(&a2);
    let mut on_a2 = vec![
        row(&r1, "asked-of-me", "outcome"),
        row(&r2, "asked-of-me", "declined"),
    ];
    on_a2.sort();
    assert_eq!(intros(&a2), on_a2);
    assert!(!a2.ok(&["due"]).contains("introduction"));
}

/// `kith share edit` reads the share's definition, then derives and stores it; a command that
/// changes the definition in between (here a revocation; a daemon's derivation that starts a
/// new epoch, or a refused write it counts, are the same) must not be overwritten by the
/// stale copy. The test hook holds the edit between its read and its write transaction.
#[test]
fn a_share_edit_never_stores_a_definition_read_before_a_concurrent_change() {
    let a = Dev::new("ann");
    let b = Dev::new("ben");
    a.add("Ada Shared", &["--org", "Acme", "--tag", "slice"]);
    pair_persons(&a, "Ben", &b, "Ann");
    let id = share_slice_with_ben(&a);
    let gate = a.env.root().join("derive.pause");
    let mut edit = a.cmd(&["share", "edit", &id[..8], "--fields", "name,org"]);
    edit.env("KITH_TEST_DERIVE_PAUSE", &gate);
    edit.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = edit.spawn().unwrap();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !gate.exists() {
        assert!(std::time::Instant::now() < until, "the edit never paused");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    a.ok(&["share", "revoke", &id[..8]]);
    std::fs::remove_file(&gate).unwrap();
    let out = crate::sync::wait_with_timeout(child, 30);
    assert_eq!(
        out.code, 1,
        "the edit of a revoked share fails: {}",
        out.stderr
    );
    assert!(out.stderr.contains("revoked"), "{}", out.stderr);
    assert_eq!(
        a.json(&["share", "list"]),
        serde_json::json!([]),
        "the revoked share came back"
    );
}

/// With `kith daemon` on both of Ben's devices, a person and the requests asked on either
/// device reach the other with no command run there (the slices mark covers them).
#[test]
fn daemons_push_persons_and_requests_between_own_devices() {
    let a = Dev::new("ann");
    let b1 = Dev::new("ben-laptop");
    let b2 = Dev::new("ben-phone");
    crate::sync::pair(&b1, &b2);
    a.add("Ada Shared", &["--org", "Acme", "--tag", "slice"]);
    a.add("Eve Shared", &["--org", "Globex", "--tag", "slice"]);
    pair_persons(&a, "Ben", &b1, "Ann");
    share_slice_with_ben(&a);
    let _a = Daemon::start(&a);
    let _b1 = Daemon::start(&b1);
    let _b2 = Daemon::start(&b2);
    share_synced(&b1);
    eventually(30, "Ann and her slice on B2", || {
        b2.json(&["person", "list"]).as_array().unwrap().len() == 1
            && b2.json(&["shared"]).as_array().unwrap().len() == 2
    });
    let r1 = b1.json(&["intro", "ask", "Ada", "--why", "hiring"]);
    let r1 = r1["id"].as_str().unwrap().to_string();
    eventually(30, "B1's request on B2", || {
        intros(&b2) == [row(&r1, "asked-by-me", "asked")]
    });
    let r2 = b2.json(&["intro", "ask", "Eve", "--why", "a lead"]);
    let r2 = r2["id"].as_str().unwrap().to_string();
    eventually(30, "B2's request on B1", || intros(&b1).len() == 2);
    share_synced(&b1);
    let on_a: Vec<String> = intros(&a).into_iter().map(|(id, _, _)| id).collect();
    let mut want = vec![r1, r2];
    want.sort();
    assert_eq!(on_a, want);
}
