//! Network robustness end to end, real `kith` processes over loopback: a document a peer
//! cannot apply is quarantined while the rest syncs, slow and silent peers time out, and
//! the device key and its commands fail clearly instead of breaking for good.

use serde_json::Value;
use std::process::Stdio;

use crate::sync::{first_line, pair, Daemon, Dev};

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
        assert!(
            q[0]["reason"].as_str().unwrap().contains("undecodable"),
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
