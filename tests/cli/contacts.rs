//! add, show, list, set, tag, rm, link.

use crate::env::{assert_hex_id, assert_one_error, TestEnv};

#[test]
fn add_prints_a_hex_id_that_show_finds() {
    let t = TestEnv::new();
    let o = t.ok_out(&["add", "Ada Lovelace", "--email", "ada@example.com"]);
    let id = o.stdout.trim();
    assert_hex_id(id);
    assert_eq!(o.stdout, format!("{id}\n"), "add prints only the id");
    assert_eq!(o.stderr, "");
    let v = t.json(&["show", id]);
    assert_eq!(v["id"], id);
    assert_eq!(v["name"], "Ada Lovelace");
    let emails: Vec<&str> = v["emails"]
        .as_object()
        .unwrap()
        .values()
        .map(|e| e["value"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["ada@example.com"]);
    assert_eq!(v["timeline_items"], 0);
    // --json add prints {"id": ...}.
    let v = t.json(&["add", "Charles Babbage"]);
    assert_hex_id(v["id"].as_str().unwrap());
}

#[test]
fn add_with_a_known_email_warns_and_still_creates() {
    let t = TestEnv::new();
    let first = t.add("Ada Lovelace", &["--email", "ada@example.com"]);
    let o = t.ok_out(&["add", "Augusta King", "--email", "ADA@example.com"]);
    let second = o.stdout.trim();
    assert_hex_id(second);
    assert_ne!(second, first);
    assert!(o.stderr.starts_with("warning: "), "{}", o.stderr);
    assert!(o.stderr.contains("Ada Lovelace"), "{}", o.stderr);
    assert!(o.stderr.contains(&first[..8]), "{}", o.stderr);
    assert_eq!(t.names(&[]), ["Ada Lovelace", "Augusta King"]);
}

#[test]
fn show_text_lists_every_field_given_to_add() {
    let t = TestEnv::new();
    let id = t.add(
        "Ada Lovelace",
        &[
            "-e",
            "ada@example.com",
            "-p",
            "+44 20 7946 0000",
            "--org",
            "Analytical Engines",
            "--title",
            "Analyst",
            "-t",
            "math,history",
            "--kind",
            "friend",
            "--met",
            "At a salon\nin London",
            "--every",
            "30d",
        ],
    );
    let out = t.ok(&["show", "Ada Lovelace"]);
    for want in [
        "name:          Ada Lovelace",
        &format!("id:            {id}"),
        "email:         ada@example.com",
        "phone:         +44 20 7946 0000",
        "title:         Analyst at Analytical Engines",
        "kinds:         friend",
        "tags:          history, math",
        "every:         30d",
        "last contact:  never",
        "next due:      2026-12-22 (in 30 days)",
        &format!("timeline:      0 items (kith timeline {})", &id[..8]),
        "how we met:\n  At a salon\n  in London\n",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
}

#[test]
fn show_reports_last_contact_and_next_due_after_a_log() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &["--every", "2w"]);
    let v = t.json(&["show", "ada"]);
    assert!(v.get("last_contact").is_none(), "{v}");
    assert_eq!(v["next_due"], "2026-12-06");
    t.ok(&[
        "log",
        "ada",
        "--kind",
        "call",
        "--on",
        "yesterday",
        "phoned",
    ]);
    let v = t.json(&["show", "ada"]);
    assert_eq!(v["last_contact"], "2026-11-21");
    assert_eq!(v["next_due"], "2026-12-05");
    assert_eq!(v["timeline_items"], 1);
    let out = t.ok(&["show", "ada"]);
    assert!(
        out.contains("last contact:  2026-11-21 (yesterday)"),
        "{out}"
    );
    assert!(
        out.contains("next due:      2026-12-05 (in 13 days)"),
        "{out}"
    );
}

fn three_contacts(t: &TestEnv) {
    t.add(
        "Ada Lovelace",
        &[
            "-t",
            "math",
            "--org",
            "Analytical Engines",
            "-e",
            "ada@example.com",
        ],
    );
    t.add(
        "Charles Babbage",
        &[
            "-t",
            "math",
            "--kind",
            "mentor",
            "--org",
            "Analytical Society",
        ],
    );
    t.add("Grace Hopper", &["-t", "navy", "--org", "US Navy"]);
    t.add("Alan Turing", &[]);
}

#[test]
fn list_filters_by_tag_kind_and_org() {
    let t = TestEnv::new();
    three_contacts(&t);
    assert_eq!(
        t.names(&[]),
        [
            "Ada Lovelace",
            "Alan Turing",
            "Charles Babbage",
            "Grace Hopper"
        ]
    );
    assert_eq!(
        t.names(&["--tag", "math"]),
        ["Ada Lovelace", "Charles Babbage"]
    );
    assert_eq!(
        t.names(&["--tag", "+MATH"]),
        ["Ada Lovelace", "Charles Babbage"]
    );
    // Relationship kinds have their own filter; --tag matches tags only.
    assert_eq!(t.names(&["--kind", "mentor"]), ["Charles Babbage"]);
    assert_eq!(t.names(&["--tag", "mentor"]), Vec::<String>::new());
    assert_eq!(
        t.names(&["-t", "math", "--kind", "mentor"]),
        ["Charles Babbage"]
    );
    assert_eq!(t.names(&["--tag", "nothing"]), Vec::<String>::new());
    assert_eq!(
        t.names(&["--org", "analytical"]),
        ["Ada Lovelace", "Charles Babbage"]
    );
    assert_eq!(t.names(&["--org", "Navy"]), ["Grace Hopper"]);
    // Text output: one aligned row per contact, with the short id.
    let out = t.ok(&["list", "--tag", "navy", "--no-header"]);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("Grace Hopper  US Navy"), "{out}");
    // The `ls` alias.
    assert_eq!(t.ok(&["ls", "--tag", "navy", "--no-header"]), out);
}

#[test]
fn list_json_rows_follow_the_schema() {
    let t = TestEnv::new();
    three_contacts(&t);
    let rows = t.json(&["list"]);
    let ada = &rows[0];
    assert_hex_id(ada["id"].as_str().unwrap());
    assert_eq!(ada["name"], "Ada Lovelace");
    assert_eq!(ada["org"], "Analytical Engines");
    assert_eq!(ada["email"], "ada@example.com");
    assert_eq!(ada["tags"], serde_json::json!(["math"]));
    assert_eq!(ada["kinds"], serde_json::json!([]));
    assert_eq!(ada["archived"], false);
    let turing = &rows[1];
    assert!(
        turing.get("org").is_none() && turing.get("email").is_none(),
        "{turing}"
    );
}

#[test]
fn list_sorts_by_last_contact_never_contacted_first() {
    let t = TestEnv::new();
    three_contacts(&t);
    t.ok(&["log", "ada", "--kind", "call", "--on", "2026-11-01", "x"]);
    t.ok(&["log", "grace", "--kind", "call", "--on", "2026-10-01", "x"]);
    t.ok(&[
        "log",
        "babbage",
        "--kind",
        "call",
        "--on",
        "2026-11-20",
        "x",
    ]);
    assert_eq!(
        t.names(&["--sort", "last-contact"]),
        [
            "Alan Turing",
            "Grace Hopper",
            "Ada Lovelace",
            "Charles Babbage"
        ]
    );
    let rows = t.json(&["list", "--sort", "last-contact"]);
    assert_eq!(rows[1]["last_contact"], "2026-10-01");
    let out = t.ok(&["list", "--sort", "last-contact", "--no-header"]);
    let first: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(first[1..], ["Alan", "Turing", "-"]);
}

#[test]
fn rm_archives_and_purge_deletes() {
    let t = TestEnv::new();
    three_contacts(&t);
    let o = t.ok_out(&["rm", "turing"]);
    assert!(o.stderr.contains("archived Alan Turing"), "{}", o.stderr);
    assert!(!t.names(&[]).contains(&"Alan Turing".to_string()));
    let all = t.json(&["list", "--archived"]);
    let turing = all
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "Alan Turing");
    assert_eq!(turing.expect("archived contact listed")["archived"], true);
    assert!(t
        .ok(&["list", "--archived"])
        .contains("Alan Turing [archived]"));
    // Still reachable by reference, and restorable.
    assert!(t.ok(&["show", "turing"]).contains("[archived]"));
    t.ok(&["set", "turing", "archived", "false"]);
    assert!(t.names(&[]).contains(&"Alan Turing".to_string()));

    let note = t.ok(&["note", "grace", "about the compiler"]);
    let o = t.ok_out(&["rm", "grace", "--purge"]);
    assert!(o.stderr.contains("deleted Grace Hopper"), "{}", o.stderr);
    assert!(!t
        .names(&["--archived"])
        .contains(&"Grace Hopper".to_string()));
    assert_one_error(
        &t.fails(&["show", "grace"], 1),
        "no contact matches 'grace'",
    );
    // A note linked only to it goes with it (docs/design/deletion.md).
    assert!(
        o.stderr.contains("1 item(s) linked only to them"),
        "{}",
        o.stderr
    );
    let hits = t.run(&["--json", "search", "compiler"]);
    assert_eq!(hits.code, 1, "nothing matches any more: {hits:?}");
    assert!(!hits.stdout.contains(note.trim()), "{hits:?}");
}

#[test]
fn set_writes_each_kind_of_field() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &["-e", "ada@example.com", "-t", "math"]);
    for (field, value) in [
        ("name", "Ada King"),
        ("nickname", "Countess"),
        ("given", "Ada"),
        ("family", "King"),
        ("email", "countess@example.org"),
        ("phone", "+44 20 1234"),
        ("url", "https://ada.example"),
        ("org", "Analytical Engines"),
        ("title", "Analyst"),
        ("birthday", "1815-12-10"),
        ("met", "At a salon"),
        ("every", "2 weeks"),
        ("kinds", "friend,mentor"),
        ("custom.github", "ada"),
    ] {
        let o = t.ok_out(&["set", "ada", field, value]);
        assert_eq!(o.stderr, "updated\n", "set {field}");
    }
    let v = t.json(&["show", "ada king"]);
    let first = |k: &str| -> String {
        let m = v[k].as_object().unwrap();
        assert_eq!(m.len(), 1, "{k}: {v}");
        m.values().next().unwrap()["value"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(v["name"], "Ada King");
    assert_eq!(v["nickname"], "Countess");
    assert_eq!(v["n"]["given"], "Ada");
    assert_eq!(v["n"]["family"], "King");
    assert_eq!(first("emails"), "countess@example.org");
    assert_eq!(first("phones"), "+44 20 1234");
    assert_eq!(first("urls"), "https://ada.example");
    let org = v["orgs"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    assert_eq!(org["org"], "Analytical Engines");
    assert_eq!(org["title"], "Analyst");
    assert_eq!(v["birthday"], "1815-12-10");
    assert_eq!(v["met"], "At a salon");
    assert_eq!(v["every"], "2w");
    assert_eq!(v["kinds"], serde_json::json!(["friend", "mentor"]));
    assert_eq!(v["custom"]["github"], "ada");
    assert_eq!(
        v["tags"],
        serde_json::json!(["math"]),
        "untouched field kept"
    );
    // Same value again: unchanged; empty value clears.
    assert_eq!(
        t.ok_out(&["set", "ada king", "nickname", "Countess"])
            .stderr,
        "unchanged\n"
    );
    t.ok(&["set", "ada king", "nickname", ""]);
    t.ok(&["set", "ada king", "custom.github", ""]);
    t.ok(&["set", "ada king", "archived", "yes"]);
    let v = t.json(&["show", "ada king"]);
    assert!(v.get("nickname").is_none_or(|n| n == ""), "{v}");
    assert_eq!(v["custom"], serde_json::json!({}));
    assert_eq!(v["archived"], true);
}

#[test]
fn set_rejects_bad_values_and_changes_nothing() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &["-e", "ada@example.com", "--every", "30d"]);
    let before = t.json(&["show", "ada"]);
    for (field, value, needle) in [
        ("birthday", "2026-13-01", "'2026-13-01'"),
        ("every", "3q", "'3q'"),
        ("every", "0d", "'0d'"),
        ("email", "not-an-email", "'not-an-email'"),
        ("archived", "maybe", "'maybe'"),
        ("colour", "red", "'colour'"),
        ("name", "   ", "name"),
    ] {
        let err = t.fails(&["set", "ada", field, value], 1);
        assert_one_error(&err, needle);
    }
    assert_eq!(t.json(&["show", "ada"]), before);
}

#[test]
fn tag_adds_removes_and_accepts_bare_tags() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &["-t", "math,old"]);
    let o = t.ok_out(&["tag", "ada", "+poet", "-old", "bare", "+CAPS"]);
    assert_eq!(o.stderr, "tags: bare, caps, math, poet\n");
    let v = t.json(&["tag", "ada", "-poet", "-caps"]);
    assert_eq!(v["tags"], serde_json::json!(["bare", "math"]));
    let o = t.ok_out(&["tag", "ada", "-nonexistent"]);
    assert_eq!(o.stderr, "unchanged; tags: bare, math\n");
    assert_one_error(&t.fails(&["tag", "ada", "+two words"], 1), "'two words'");
    assert_eq!(t.names(&["--tag", "bare"]), ["Ada Lovelace"]);
}

#[test]
fn link_records_a_relation_once() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &[]);
    let babbage = t.add("Charles Babbage", &[]);
    assert_eq!(
        t.ok_out(&["link", "ada", "babbage", "--as", "works-with"])
            .stderr,
        "linked\n"
    );
    assert_eq!(
        t.ok_out(&["link", "ada", "babbage", "--as", "works-with"])
            .stderr,
        "already linked\n"
    );
    let v = t.json(&["show", "ada"]);
    let links = v["links_resolved"].as_array().unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0]["to"], babbage.as_str());
    assert_eq!(links[0]["rel"], "works-with");
    assert_eq!(links[0]["name"], "Charles Babbage");
    assert!(t
        .ok(&["show", "ada"])
        .contains("link:          works-with Charles Babbage"));
    // The target is not changed.
    assert_eq!(
        t.json(&["show", "babbage"])["links_resolved"],
        serde_json::json!([])
    );
    t.fails(&["link", "ada", "babbage"], 2);
}
