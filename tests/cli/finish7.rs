//! Finishing "nothing a user writes is ever lost": a pairing ticket is refused the second
//! time while the inviter still runs, and `kith status` counts an edit made during a sync as
//! unsent.

use crate::sync::{first_line, pair, wait_with_timeout, Daemon, Dev};

#[test]
fn a_ticket_used_once_is_refused_the_second_time_while_the_inviter_still_listens() {
    let a = Dev::new("laptop");
    let b = Dev::new("desktop");
    let c = Dev::new("intruder");
    a.add("Ada Lovelace", &[]);
    let mut invite = a.cmd(&["device", "invite", "--name", "laptop"]);
    invite
        .env("KITH_TEST_INVITE_STAY_FOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut invite = invite.spawn().expect("spawn invite");
    let ticket = first_line(&mut invite);
    let out = b.run(&["device", "join", &ticket, "--name", "desktop"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(b.count(), 1);
    // The inviter is still running (it waits for one more attempt): the second join reaches
    // it and is refused as a reuse, not as unreachable or expired.
    let again = c.run(&["device", "join", &ticket, "--name", "intruder"]);
    assert_ne!(again.code, 0, "{}", again.stderr);
    assert!(
        again
            .stderr
            .contains("error: the other device refused to pair: this ticket was already used"),
        "{}",
        again.stderr
    );
    assert!(again.stderr.contains("hint:"), "{}", again.stderr);
    assert_eq!(c.count(), 0, "the refused device received nothing");
    let inv = wait_with_timeout(invite, 30);
    assert_eq!(inv.code, 0, "{}", inv.stderr);
    assert!(
        inv.stderr
            .contains("refused a pairing attempt: this ticket was already used"),
        "{}",
        inv.stderr
    );
    // The inviter recorded only the first joiner.
    let devices = a.json(&["device", "list"]);
    let names: Vec<&str> = devices
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"desktop"), "{devices}");
    assert!(!names.contains(&"intruder"), "{devices}");
}

/// `unsent_changes` that `status --json` on `dev` shows for the device named `name`.
fn unsent(dev: &Dev, name: &str) -> u64 {
    let status = dev.json(&["status"]);
    let row = status
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {status}"))
        .clone();
    row["unsent_changes"]
        .as_u64()
        .unwrap_or_else(|| panic!("no unsent_changes in {row}"))
}

#[test]
fn an_edit_made_during_a_sync_counts_as_unsent() {
    let a = Dev::new("laptop");
    let b = Dev::new("desktop");
    pair(&a, &b);
    for n in 0..5 {
        a.add(
            &format!("Contact {n}"),
            &["--email", &format!("c{n}@example.com")],
        );
    }
    let daemon = Daemon::start(&a);
    let file = b.env.root().join("go");
    let marker = b.env.root().join("go.paused");
    let mut sync = b.cmd(&["sync", "--timeout", "20"]);
    sync.env("KITH_FAULT_PAUSE_AFTER_BATCHES", "1")
        .env("KITH_FAULT_PAUSE_FILE", &file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let sync = sync.spawn().expect("spawn sync");
    let start = std::time::Instant::now();
    while !marker.exists() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "the sync never paused"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The sync has stored its first batch and waits: an edit lands on this device meanwhile.
    b.add("Edited During Sync", &[]);
    std::fs::write(&file, b"").unwrap();
    let out = wait_with_timeout(sync, 30);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        unsent(&b, "laptop") >= 1,
        "the edit made during the sync counts as unsent"
    );
    // The next sync sends it: nothing is unsent any more.
    let out = b.run(&["sync", "--timeout", "10"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(unsent(&b, "laptop"), 0);
    drop(daemon);
    assert_eq!(
        a.count(),
        6,
        "the laptop has the edit after the second sync"
    );
}
