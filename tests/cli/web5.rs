//! The sharing reads that the web UI's pages and the CLI share (issue 12's speed work): `kith
//! share show` computes the next derivation without writing the vault, and received contacts
//! are read from their rows in `ix_received`, which follow the documents through a sync, a
//! narrowing, a revocation and `reindex`, and which `kith check` compares with a rebuild.

use serde_json::Value;

use crate::sync::{Daemon, Dev};
use crate::web::Server;
use crate::webui::{owner, pair_persons, share_slice_with_ben};

/// The names in a JSON array of rows (`name`, or `values.name` for `kith shared`).
pub(crate) fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r.pointer("/name").or(r.pointer("/values/name")).unwrap())
        .map(|n| n.as_str().unwrap().to_string())
        .collect()
}

fn share_sync(b: &Dev, a: &Dev) {
    let _daemon = Daemon::start(a);
    let out = b.run(&["share", "sync"]);
    assert_eq!(out.code, 0, "share sync: {}", out.stderr);
}

#[test]
fn share_show_is_current_without_writing_and_received_rows_follow_the_slice() {
    let a = owner();
    let b = Dev::new("ben");
    pair_persons(&a, "Ben", &b, "Ann");
    let id = share_slice_with_ben(&a);

    // A change after the share was derived shows at once, and showing writes nothing.
    a.ok(&["set", "Ada Shared", "title", "Chief Scientist"]);
    let before = std::fs::read(a.env.vault()).unwrap();
    let shown = a.json(&["share", "show", &id]);
    assert!(
        std::fs::read(a.env.vault()).unwrap() == before,
        "share show wrote"
    );
    assert_eq!(names(&shown["contacts"]), ["Ada Shared", "Carol Slice"]);
    assert_eq!(shown["contacts"][0]["title"], "Chief Scientist", "{shown}");
    assert_eq!(shown["epoch"], 1);

    // A narrowing shows the epoch the next derivation starts; the share itself is unchanged
    // until it is served.
    a.ok(&["tag", "Carol Slice", "-slice"]);
    let shown = a.json(&["share", "show", &id]);
    assert_eq!(names(&shown["contacts"]), ["Ada Shared"]);
    assert_eq!(shown["epoch"], 2, "{shown}");
    assert_eq!(a.json(&["share", "list"])[0]["epoch"], 1);
    // Widening back: nothing was retracted from what was derived, epoch 1 again.
    a.ok(&["tag", "Carol Slice", "+slice"]);
    assert_eq!(a.json(&["share", "show", &id])["epoch"], 1);

    // Ben receives the slice: his rows say what the documents hold.
    share_sync(&b, &a);
    let shared = b.json(&["shared"]);
    assert_eq!(names(&shared), ["Ada Shared", "Carol Slice"]);
    assert_eq!(shared[0]["values"]["title"], "Chief Scientist");
    let found = b.ok(&["search", "chief"]);
    assert!(
        found.contains("Ada Shared") && found.contains("from Ann's slice"),
        "{found}"
    );
    b.ok(&["check"]);

    // A received contact's page by its share and pseudonym (hex in any case); a bad one is
    // an error page, not a panic.
    let share = shared[0]["share"].as_str().unwrap().to_string();
    let pid = shared[0]["id"].as_str().unwrap().to_string();
    let s = Server::start(&b.env);
    let page = s.get(&format!("/shared/{share}/{}", pid.to_uppercase()));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Chief Scientist"), "{}", page.body);
    for bad in [
        format!("/shared/{share}/zz"),
        format!("/shared/{pid}/{share}"),
    ] {
        let r = s.get(&bad);
        assert!(r.status >= 400 && r.status < 500, "{bad}: {}", r.status);
        assert!(r.body.contains("no such contact"), "{bad}: {}", r.body);
    }
    drop(s);

    // A narrowing served: Carol's row goes with her document.
    a.ok(&["tag", "Carol Slice", "-slice"]);
    share_sync(&b, &a);
    assert_eq!(names(&b.json(&["shared"])), ["Ada Shared"]);
    assert_eq!(a.json(&["share", "list"])[0]["epoch"], 2);
    let who = b.run(&["who-knows", "initech"]);
    assert_eq!(who.code, 1, "Carol left the slice: {}", who.stdout);
    b.ok(&["check"]);
    b.ok(&["reindex"]);
    assert_eq!(names(&b.json(&["shared"])), ["Ada Shared"]);

    // Revoked: no row is left.
    a.ok(&["share", "revoke", &id]);
    share_sync(&b, &a);
    assert_eq!(b.json(&["shared"]), serde_json::json!([]));
    let found = b.run(&["search", "chief"]);
    assert_eq!(found.code, 1, "nothing matches any more: {}", found.stdout);
    assert!(!found.stdout.contains("Ada Shared"));
    b.ok(&["check"]);
}

#[test]
fn share_show_drops_a_purged_contact_and_a_derived_share_view_survives_reindex() {
    let a = owner();
    let b = Dev::new("ben");
    pair_persons(&a, "Ben", &b, "Ann");
    let id = a
        .ok(&["share", "create", "--with", "Ben", "--tag", "slice"])
        .trim()
        .to_string();
    a.ok(&["rm", "Carol Slice", "--purge"]);
    let shown = a.json(&["share", "show", &id]);
    assert_eq!(names(&shown["contacts"]), ["Ada Shared"]);
    assert_eq!(shown["epoch"], 2, "a purge narrows: {shown}");
    // What is served is what was shown.
    share_sync(&b, &a);
    assert_eq!(names(&b.json(&["shared"])), ["Ada Shared"]);
    assert_eq!(a.json(&["share", "show", &id])["epoch"], 2);
    a.ok(&["reindex"]);
    assert_eq!(
        names(&a.json(&["share", "show", &id])["contacts"]),
        ["Ada Shared"]
    );
}

#[test]
fn a_format_9_vault_gets_its_received_rows_when_opened() {
    let t = crate::env::TestEnv::new();
    t.add("Olive Own", &["--org", "Acme"]);
    // A slice received by an older kith: its record and one document, no row.
    crate::recv7::make_older(&t, 9);
    // A read command migrates it (reindex at open) and reads the row.
    let shared = t.json(&["shared"]);
    assert_eq!(names(&shared), ["Zed Received"]);
    assert_eq!(shared[0]["from"], "Ann");
    assert_eq!(shared[0]["values"]["org"], "Globex");
    let who = t.ok(&["who-knows", "globex"]);
    assert!(
        who.contains("Zed Received") && who.contains("Ann's slice"),
        "{who}"
    );
    t.ok(&["check"]);
}
