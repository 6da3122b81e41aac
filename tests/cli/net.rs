//! Network robustness end to end, real `kith` processes over loopback: a document a peer
//! cannot apply is quarantined while the rest syncs, slow and silent peers time out, and
//! the device key and its commands fail clearly instead of breaking for good.

use serde_json::Value;
use std::process::Stdio;

use crate::sync::{first_line, pair, wait_with_timeout, Daemon, Dev};

/// A daemon started with extra environment (fault hooks).
fn daemon_with(dev: &Dev, envs: &[(&str, &str)]) -> Daemon {
    let mut c = dev.cmd(&["daemon"]);
    c.envs(envs.iter().copied());
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn daemon");
    let line = first_line(&mut child);
    assert!(line.contains("ready"), "daemon said: {line}");
    Daemon(Some(child))
}

/// The quarantine entries `status --json` shows for the device named `name`.
fn quarantined(dev: &Dev, name: &str) -> Vec<Value> {
    let status = dev.json(&["status"]);
    let row = status
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {status}"))
        .clone();
    row["quarantined"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_document_the_peer_cannot_apply_is_quarantined_and_the_rest_syncs() {
    let a = Dev::new("laptop");
    let b = Dev::new("desktop");
    pair(&a, &b);
    let ada = a.add("Ada Lovelace", &[]);
    a.add("Grace Hopper", &[]);
    a.add("Mary Somerville", &[]);
    // A sends garbage for Ada's document.
    let daemon = daemon_with(&a, &[("KITH_FAULT_CORRUPT_DOC", &ada)]);
    for round in 0..2 {
        let out = b.run(&["sync", "--timeout", "5"]);
        assert_eq!(out.code, 0, "round {round}: {}", out.stderr);
        let names: Vec<String> = b
            .json(&["list"])
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names.len(), 2, "round {round}: {names:?}");
        assert!(!names.contains(&"Ada Lovelace".to_string()), "{names:?}");
        let q = quarantined(&b, "laptop");
        assert_eq!(q.len(), 1, "{q:?}");
        assert_eq!(q[0]["doc"], ada.as_str());
        assert_eq!(q[0]["count"], round + 1);
        // B lacks the document, so it travels whole (protocol v2) and does not load.
        assert!(
            q[0]["reason"].as_str().unwrap().contains("does not load"),
            "{q:?}"
        );
    }
    let text = b.run(&["status"]);
    assert!(
        text.stderr
            .contains(&format!("document {ada} is quarantined")),
        "{}",
        text.stderr
    );
    // The sender recorded it too: the peer could not take it.
    drop(daemon);
    let q = quarantined(&a, "desktop");
    assert_eq!(q.len(), 1, "{q:?}");
    assert!(q[0]["reason"].as_str().unwrap().contains("peer"), "{q:?}");
    // Once the document travels intact, it arrives and the quarantine clears on both sides.
    let daemon = daemon_with(&a, &[]);
    let out = b.run(&["sync", "--timeout", "5"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(b.count(), 3);
    assert!(quarantined(&b, "laptop").is_empty());
    drop(daemon);
    assert!(quarantined(&a, "desktop").is_empty());
    assert_eq!(a.state(), b.state());
}

#[test]
fn a_host_that_connects_and_says_nothing_does_not_block_pairing() {
    let a = Dev::new("laptop");
    let b = Dev::new("desktop");
    let squatter = Dev::new("squatter");
    a.add("Ada Lovelace", &[]);
    let mut invite = a.spawn(&["device", "invite", "--name", "laptop"]);
    let ticket = first_line(&mut invite);
    // Connects with the right ticket and then sends nothing.
    let mut silent = squatter.cmd(&["device", "join", &ticket]);
    silent
        .env("KITH_FAULT_PAIR_SILENT", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut silent = silent.spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // The real device pairs meanwhile, and gets the data.
    let out = b.run(&["device", "join", &ticket, "--name", "desktop"]);
    let _ = silent.kill();
    let _ = silent.wait();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("paired with laptop"), "{}", out.stderr);
    assert_eq!(b.count(), 1);
    let inv = wait_with_timeout(invite, 30);
    assert_eq!(inv.code, 0, "{}", inv.stderr);
}

#[test]
fn an_empty_device_key_is_a_clear_error_and_read_commands_create_none() {
    let a = Dev::new("laptop");
    a.add("Ada Lovelace", &[]);
    let key = a.env.home().join("device.key");
    // Read commands never create the key.
    a.ok(&["device", "list"]);
    a.ok(&["status"]);
    assert!(!key.exists(), "device list / status created a key");
    // What a full disk left behind before keys were written atomically.
    std::fs::write(&key, b"").unwrap();
    for args in [
        &["device", "id"][..],
        &["sync"][..],
        &["device", "list"][..],
    ] {
        let out = a.run(args);
        assert_eq!(out.code, 1, "{args:?}: {out:?}");
        crate::env::assert_one_error(&out.stderr, "device key");
        assert!(out.stderr.contains("is empty"), "{}", out.stderr);
        assert!(out.stderr.contains("hint: restore"), "{}", out.stderr);
    }
    // Deleting it (as the hint says) makes a new device; the write leaves no temp file behind.
    std::fs::remove_file(&key).unwrap();
    let id = a.ok(&["device", "id"]);
    assert_eq!(id.trim().len(), 64);
    assert_eq!(std::fs::read_to_string(&key).unwrap().trim().len(), 64);
    let names: Vec<String> = std::fs::read_dir(a.env.home())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
}

#[test]
fn a_peer_that_trickles_bytes_times_out_on_the_last_complete_frame() {
    let a = Dev::new("laptop");
    let b = Dev::new("desktop");
    pair(&a, &b);
    a.add("Ada Lovelace", &[]);
    // A answers one byte every 300 ms: a 46-byte Hello takes ~14 s, so no frame completes
    // within B's 2 s idle timeout, although bytes keep coming.
    let daemon = daemon_with(&a, &[("KITH_FAULT_TRICKLE_MS", "300")]);
    let mut sync = b.cmd(&["sync", "--timeout", "5"]);
    sync.env("KITH_SYNC_IDLE_TIMEOUT_MS", "2000")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = std::time::Instant::now();
    let out = wait_with_timeout(sync.spawn().unwrap(), 12);
    drop(daemon);
    assert_ne!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("no complete frame from the peer"),
        "{}",
        out.stderr
    );
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
    assert_eq!(b.count(), 0);
}
