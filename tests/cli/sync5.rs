//! Sync protocol v2 at speed (issue 9, sync5): a batch of whole documents recomputes each
//! contact's derived state (last contact day, cadence) once before its commit; the receiver
//! still ends with exactly the state the sender has and a fresh reindex would build.

use crate::sync::{pair, Daemon, Dev};

#[test]
fn whole_documents_leave_each_contacts_last_contact_and_cadence_as_on_the_sender() {
    let a = Dev::new("laptop");
    let b = Dev::new("desktop");
    pair(&a, &b);
    for name in ["Ada Lovelace", "Grace Hopper", "Alan Turing"] {
        a.add(name, &[]);
    }
    a.ok(&["set", "Ada", "every", "30d"]);
    a.ok(&["set", "Grace", "every", "2w"]);
    for (who, what) in [
        ("Ada", "Tea at the engine"),
        ("Ada", "Call about the notes"),
        ("Grace", "Coffee and compilers"),
    ] {
        a.ok(&["log", "-k", "coffee", who, what]);
    }
    let daemon = Daemon::start(&a);
    let first = b.json(&["sync"]);
    let r = &first.as_array().unwrap()[0];
    assert_eq!(r["ok"], true, "{r}");
    // Three contacts and three interactions, all new to B: they travel whole.
    assert!(r["docs_received"].as_u64().unwrap() >= 6, "{r}");
    drop(daemon);
    // Every derived table (last contact, contact days, cadence included) equals a fresh
    // reindex: the contacts' state was recomputed after their interactions arrived.
    let check = b.run(&["check"]);
    assert_eq!(
        check.code, 0,
        "the receiver's vault checks clean: {}",
        check.stderr
    );
    for who in ["Ada", "Grace", "Alan"] {
        assert_eq!(
            a.json(&["show", who]),
            b.json(&["show", who]),
            "{who} reads the same on both devices"
        );
    }
    assert_eq!(
        a.json(&["due", "--within", "60d"]),
        b.json(&["due", "--within", "60d"])
    );
}
