//! Finishing "nothing a user writes is ever lost": a pairing ticket is refused the second
//! time while the inviter still runs, and `kith status` counts an edit made during a sync as
//! unsent.

use crate::sync::{first_line, wait_with_timeout, Dev};

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
