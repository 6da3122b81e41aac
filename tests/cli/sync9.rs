//! Sync protocol v2 (issue 9): documents the other device lacks travel whole, are verified and
//! indexed on arrival, and a device with everything answers a reconnect in one round trip.

use crate::sync::{pair, Daemon, Dev};

/// A vCard file of `n` people with an email and a note each.
fn cards(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!(
            "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Person{i} Example\r\nN:Example;Person{i};;;\r\n\
             EMAIL:person{i}@example.org\r\nNOTE:met at conference {i}\r\nEND:VCARD\r\n"
        ));
    }
    s
}

#[test]
fn a_first_sync_sends_documents_whole_and_the_receiver_indexes_them() {
    let a = Dev::new("laptop");
    let b = Dev::new("desktop");
    pair(&a, &b);
    let file = a.env.root().join("people.vcf");
    std::fs::write(&file, cards(300)).unwrap();
    a.ok(&["import", file.to_str().unwrap()]);
    let daemon = Daemon::start(&a);
    let first = b.json(&["sync"]);
    let r = &first.as_array().unwrap()[0];
    assert_eq!(r["ok"], true, "{r}");
    // 300 contacts and their 300 notes (each card has a NOTE).
    assert_eq!(r["docs_received"], 600, "{r}");
    // Whole documents need no per-document Automerge exchange: a handful of round trips.
    assert!(r["round_trips"].as_u64().unwrap() <= 6, "{r}");
    // Everything arrived, with its indexes: list, search and the checker agree.
    assert_eq!(b.count(), 300);
    let found = b.json(&["search", "Person217"]);
    let hit = found["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["kind"] == "contact")
        .cloned()
        .unwrap_or_else(|| panic!("the synced contact is found: {found}"));
    assert_eq!(hit["title"], "Person217 Example", "{found}");
    assert!(
        b.run(&["check"]).code == 0,
        "the receiver's vault checks clean"
    );
    assert_eq!(a.state(), b.state());
    // Nothing changed: one round trip of two Hello frames, under 100 bytes.
    let again = b.json(&["sync"]);
    let r = &again.as_array().unwrap()[0];
    assert_eq!(r["docs_differing"], 0, "{r}");
    assert_eq!(r["round_trips"], 1, "{r}");
    assert!(
        r["bytes_sent"].as_u64().unwrap() + r["bytes_received"].as_u64().unwrap() < 100,
        "{r}"
    );
    // An edit on the receiver afterwards goes back by Automerge sync (both have the document).
    let id = hit["id"].as_str().unwrap().to_string();
    b.ok(&["set", &id, "nickname", "P217"]);
    let back = b.json(&["sync"]);
    let r = &back.as_array().unwrap()[0];
    assert_eq!(
        (r["docs_differing"].as_u64(), r["docs_sent"].as_u64()),
        (Some(1), Some(1)),
        "{r}"
    );
    drop(daemon);
    assert_eq!(a.state(), b.state());
}

#[test]
fn documents_created_on_both_sides_travel_whole_in_both_directions() {
    let a = Dev::new("laptop");
    let b = Dev::new("desktop");
    pair(&a, &b);
    let fa = a.env.root().join("a.vcf");
    std::fs::write(&fa, cards(120)).unwrap();
    a.ok(&["import", fa.to_str().unwrap()]);
    for i in 0..5 {
        b.add(&format!("Only On B {i}"), &[]);
    }
    let daemon = Daemon::start(&a);
    let r = b.json(&["sync"]);
    let r = &r.as_array().unwrap()[0];
    assert_eq!(
        (r["docs_sent"].as_u64(), r["docs_received"].as_u64()),
        (Some(5), Some(240)),
        "{r}"
    );
    drop(daemon);
    assert_eq!(a.count(), 125);
    assert_eq!(a.state(), b.state());
}
