//! note, log, timeline, remind, due, done, search, reindex.

use serde_json::Value;

use crate::env::{assert_hex_id, assert_one_error, TestEnv, TODAY};

fn timeline(t: &TestEnv, who: &str) -> Vec<Value> {
    t.json(&["timeline", who]).as_array().unwrap().clone()
}

/// Sets a reminder as of 2026-11-01 (a date now past can only be given while it is ahead).
#[track_caller]
fn remind_back_then(t: &TestEnv, args: &[&str]) -> String {
    let mut a = vec!["remind"];
    a.extend_from_slice(args);
    let o = t.run_with(&a, &[("KITH_NOW", "2026-11-01T10:00:00Z")], None);
    assert_eq!(o.code, 0, "kith {a:?} failed: {o:#?}");
    o.stdout
}

fn texts(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| r["text"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn note_takes_text_from_an_argument_stdin_or_the_editor() {
    let t = TestEnv::new();
    let ada = t.add("Ada Lovelace", &[]);
    let babbage = t.add("Charles Babbage", &[]);
    let id = t.ok(&["note", "ada", "Met at the salon"]);
    assert_hex_id(id.trim());

    let o = t.run_with(
        &["note", "ada", "babbage", "-"],
        &[],
        Some("from stdin\nsecond line\n"),
    );
    assert_eq!(o.code, 0, "{o:#?}");
    let editor = t.script(
        "note.sh",
        "printf 'from the editor\\n# a comment\\n' > \"$1\"",
    );
    let o = t.run_with(
        &["note", "--about", "ada", "--about", "babbage"],
        &[("EDITOR", &editor)],
        None,
    );
    assert_eq!(o.code, 0, "{o:#?}");

    let rows = timeline(&t, "ada");
    let mut got = texts(&rows);
    got.sort();
    assert_eq!(got, ["Met at the salon", "from stdin", "from the editor"]);
    assert!(rows
        .iter()
        .all(|r| r["kind"] == "note" && r["date"] == TODAY));
    let shared: Vec<&Value> = rows
        .iter()
        .filter(|r| r["text"] != "Met at the salon")
        .collect();
    for r in shared {
        let mut cs: Vec<&str> = r["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        cs.sort();
        let mut want = [ada.as_str(), babbage.as_str()];
        want.sort();
        assert_eq!(cs, want);
    }
    assert_eq!(texts(&timeline(&t, "babbage")).len(), 2);
    let full = t.json(&["timeline", "babbage", "--full"]);
    assert!(
        full.as_array()
            .unwrap()
            .iter()
            .any(|r| r["text"] == "from stdin\nsecond line\n"),
        "{full}"
    );
    // The comment line from the editor template is dropped.
    crate::rough::search_finds_nothing(&t, &["comment"]);
}

#[test]
fn an_empty_note_is_discarded() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &[]);
    let o = t.run_with(&["note", "ada"], &[("EDITOR", "true")], None);
    assert_eq!(o.code, 1, "{o:#?}");
    assert_one_error(&o.stderr, "the note is empty");
    let o = t.run_with(&["note", "ada", "-"], &[], Some("  \n"));
    assert_eq!(o.code, 1, "{o:#?}");
    let o = t.run_with(&["note", "ada"], &[("EDITOR", "false")], None);
    assert_eq!(o.code, 1, "{o:#?}");
    assert_eq!(timeline(&t, "ada"), Vec::<Value>::new());
}

#[test]
fn log_records_kind_date_and_contacts() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &[]);
    t.add("Charles Babbage", &[]);
    t.ok(&[
        "log",
        "ada",
        "--kind",
        "coffee",
        "--on",
        "2026-11-01",
        "coffee in town",
    ]);
    t.ok(&["log", "ada", "babbage", "-k", "Meeting", "board meeting"]);
    t.ok(&[
        "log",
        "ada",
        "--kind",
        "call",
        "--on",
        "yesterday",
        "a call",
    ]);
    t.ok(&["log", "ada", "--kind", "email", "--on", "today", "an email"]);
    let rows = timeline(&t, "ada");
    let got: Vec<(String, String)> = rows
        .iter()
        .filter(|r| r["kind"] == "interaction")
        .map(|r| {
            (
                r["date"].as_str().unwrap().into(),
                r["label"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        got.contains(&("2026-11-01".into(), "coffee".into())),
        "{got:?}"
    );
    assert!(
        got.contains(&("2026-11-21".into(), "call".into())),
        "{got:?}"
    );
    assert!(got.contains(&(TODAY.into(), "meeting".into())), "{got:?}");
    assert!(got.contains(&(TODAY.into(), "email".into())), "{got:?}");
    assert_eq!(t.json(&["show", "babbage"])["last_contact"], TODAY);
    assert_one_error(
        &t.fails(&["log", "ada", "--kind", "two words", "x"], 1),
        "'two words'",
    );
    assert_one_error(&t.fails(&["log", "ada", "--kind", "call"], 1), "summary");
    t.fails(&["log", "ada", "text"], 2);
}

#[test]
fn timeline_is_newest_first() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &[]);
    t.ok(&[
        "log",
        "ada",
        "--kind",
        "call",
        "--on",
        "2026-10-01",
        "oldest",
    ]);
    t.ok(&["remind", "ada", "future", "--on", "2026-12-24"]);
    t.ok(&[
        "log",
        "ada",
        "--kind",
        "call",
        "--on",
        "2026-11-15",
        "middle",
    ]);
    t.ok(&["note", "ada", "a note today"]);
    let rows = timeline(&t, "ada");
    assert_eq!(texts(&rows), ["future", "a note today", "middle", "oldest"]);
    let dates: Vec<&str> = rows.iter().map(|r| r["date"].as_str().unwrap()).collect();
    assert_eq!(dates, ["2026-12-24", TODAY, "2026-11-15", "2026-10-01"]);
    assert_eq!(rows[0]["kind"], "reminder");
    let out = t.ok(&["timeline", "ada"]);
    let firsts: Vec<&str> = out
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(firsts, dates);
    let o = t.ok_out(&["timeline", "ada", "--json"]);
    assert!(o.stderr.is_empty());
    t.add("Grace Hopper", &[]);
    assert!(t
        .ok_out(&["timeline", "grace"])
        .stderr
        .contains("nothing yet"));
}

#[test]
fn remind_takes_a_date_or_an_interval() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &[]);
    let o = t.ok_out(&["remind", "ada", "send the paper", "--on", "2026-12-01"]);
    assert_hex_id(o.stdout.trim());
    assert_eq!(o.stderr, "due 2026-12-01\n");
    assert_eq!(
        t.ok_out(&["remind", "ada", "x", "--on", "tomorrow"]).stderr,
        "due 2026-11-23\n"
    );
    assert_eq!(
        t.ok_out(&["remind", "ada", "x", "--in", "3d"]).stderr,
        "due 2026-11-25\n"
    );
    assert_eq!(
        t.ok_out(&["remind", "ada", "x", "--in", "2w"]).stderr,
        "due 2026-12-06\n"
    );
    let v = t.json(&["remind", "ada", "x", "--in", "1m"]);
    assert_eq!(v["due"], "2026-12-22");
    assert_hex_id(v["id"].as_str().unwrap());
    t.fails(&["remind", "ada", "x"], 2);
    assert_one_error(&t.fails(&["remind", "ada", "  ", "--in", "1d"], 1), "text");
}

#[test]
fn due_lists_the_most_overdue_first_within_the_window() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &[]);
    t.add("Charles Babbage", &[]);
    t.add("Mary Somerville", &["--every", "2w"]);
    t.ok(&[
        "log",
        "mary",
        "--kind",
        "call",
        "--on",
        "2026-10-01",
        "old call",
    ]);
    remind_back_then(&t, &["ada", "send the paper", "--on", "2026-11-20"]);
    remind_back_then(
        &t,
        &["babbage", "call about the engine", "--on", "2026-11-15"],
    );
    t.ok(&["remind", "ada", "birthday gift", "--in", "3d"]);
    t.ok(&["remind", "babbage", "far away", "--in", "2m"]);
    let rows = t.json(&["due"]);
    let got: Vec<(String, i64, String)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap().into(),
                r["days"].as_i64().unwrap(),
                r["name"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("keep-in-touch".into(), -38, "Mary Somerville".into()),
            ("reminder".into(), -7, "Charles Babbage".into()),
            ("reminder".into(), -2, "Ada Lovelace".into()),
            ("reminder".into(), 3, "Ada Lovelace".into()),
        ]
    );
    assert_eq!(rows[0]["date"], "2026-10-15");
    assert_eq!(
        rows[0]["text"],
        "keep in touch every 2w; last contact 2026-10-01"
    );
    let out = t.ok(&["due"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("38 d overdue") && lines[0].contains("Mary Somerville"),
        "{out}"
    );
    assert!(
        lines[3].starts_with("in 3 d") && lines[3].contains("birthday gift"),
        "{out}"
    );
    let wide = t.json(&["due", "--within", "3m"]);
    assert_eq!(wide.as_array().unwrap().len(), 5);
    assert_eq!(wide[4]["text"], "far away");
}

#[test]
fn keep_in_touch_is_reset_by_logging_an_interaction() {
    let t = TestEnv::new();
    t.add("Mary Somerville", &["--every", "2w"]);
    t.add("Ada Lovelace", &["--every", "30d"]);
    t.ok(&[
        "log",
        "mary",
        "--kind",
        "call",
        "--on",
        "2026-10-01",
        "old call",
    ]);
    let rows = t.json(&["due"]);
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["contact"], rows[0]["id"]);
    // Never contacted: due one cadence after today (the contact's creation).
    let wide = t.json(&["due", "--within", "30d"]);
    assert_eq!(wide[1]["name"], "Ada Lovelace");
    assert_eq!(wide[1]["date"], "2026-12-22");
    assert_eq!(
        wide[1]["text"],
        "keep in touch every 30d; no contact logged yet"
    );
    t.ok(&["log", "mary", "--kind", "coffee", "caught up"]);
    assert_eq!(t.json(&["due"]), serde_json::json!([]));
    let o = t.ok_out(&["due"]);
    assert_eq!(o.stdout, "");
    assert!(o.stderr.contains("nothing due within 7d"), "{}", o.stderr);
    assert_eq!(t.json(&["show", "mary"])["next_due"], "2026-12-06");
}

#[test]
fn done_by_id_prefix_or_text_and_snooze() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &[]);
    let r1 = remind_back_then(&t, &["ada", "send the paper", "--on", "2026-11-20"])
        .trim()
        .to_string();
    remind_back_then(&t, &["ada", "call about the engine", "--on", "2026-11-15"]);
    remind_back_then(&t, &["ada", "call back", "--on", "2026-11-16"]);
    let o = t.ok_out(&["done", &r1[..8]]);
    assert_eq!(o.stderr, "done: send the paper\n");
    let o = t.ok_out(&["done", "about the engine", "--snooze", "2w"]);
    assert_eq!(
        o.stderr,
        "snoozed until 2026-12-06: call about the engine\n"
    );
    let rows = t.json(&["due"]);
    let got: Vec<(&str, &str)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["text"].as_str().unwrap(), r["date"].as_str().unwrap()))
        .collect();
    assert_eq!(got, [("call back", "2026-11-16")]);
    let wide = t.json(&["due", "--within", "2w"]);
    assert_eq!(wide[1]["text"], "call about the engine");
    assert_eq!(wide[1]["date"], "2026-12-06");
    // A done reminder shows as done in the timeline.
    let tl = timeline(&t, "ada");
    let done = tl.iter().find(|r| r["text"] == "send the paper").unwrap();
    assert_eq!(done["done"], true);
    assert_one_error(&t.fails(&["done", "call"], 1), "'call' matches 2 reminders");
    assert_one_error(&t.fails(&["done", "zzzz"], 1), "no reminder matches 'zzzz'");
    assert_one_error(
        &t.fails(&["done", "call back", "--snooze", "3q"], 1),
        "'3q'",
    );
}

#[test]
fn search_ignores_case_and_accents_and_matches_prefixes() {
    let t = TestEnv::new();
    let zoe = t.add("Zoë Ångström", &["--org", "Physics Lab"]);
    t.add("Ada Lovelace", &[]);
    for q in ["zoe", "ZOË", "ANGSTR", "angström", "zo ang", "phys"] {
        let v = t.json(&["search", q]);
        assert_eq!(v["total"], 1, "{q}: {v}");
        assert_eq!(v["hits"][0]["id"], zoe.as_str(), "{q}");
        assert_eq!(v["hits"][0]["kind"], "contact");
        assert_eq!(v["hits"][0]["title"], "Zoë Ångström");
    }
    let out = t.ok(&["search", "zoe"]);
    assert!(
        out.starts_with(&zoe[..8]) && out.contains("Zoë Ångström"),
        "{out}"
    );
    // Only word prefixes match.
    crate::rough::search_finds_nothing(&t, &["oe"]);
    let o = t.run(&["search", "nothinghere"]);
    assert_eq!(o.code, 1, "nothing matched: exit 1, as grep");
    assert_eq!(o.stdout, "");
    assert_eq!(o.stderr, "no matches\n");
    assert_one_error(&t.fails(&["search", "  "], 1), "no words");
}

#[test]
fn search_finds_notes_and_interactions_and_ranks_names_first() {
    let t = TestEnv::new();
    t.add("Grace Hopper", &[]);
    let turing = t.add("Alan Turing", &[]);
    let note = t.ok(&["note", "grace", "Discussed turing machines and compilers"]);
    let log = t.ok(&[
        "log",
        "grace",
        "--kind",
        "call",
        "--on",
        "2026-11-02",
        "about quantum widgets",
    ]);
    let v = t.json(&["search", "turing"]);
    assert_eq!(v["total"], 2);
    assert_eq!(v["hits"][0]["id"], turing.as_str());
    assert_eq!(v["hits"][1]["id"], note.trim());
    assert_eq!(v["hits"][1]["kind"], "note");
    assert_eq!(v["hits"][1]["title"], "Grace Hopper");
    assert_eq!(v["hits"][1]["date"], TODAY);
    assert!(
        v["hits"][0]["score"].as_u64() > v["hits"][1]["score"].as_u64(),
        "{v}"
    );
    let v = t.json(&["search", "WIDG"]);
    assert_eq!(v["hits"][0]["id"], log.trim());
    assert_eq!(v["hits"][0]["kind"], "interaction");
    assert_eq!(v["hits"][0]["date"], "2026-11-02");
    // Every word must match.
    crate::rough::search_finds_nothing(&t, &["turing", "widgets"]);
    assert_eq!(t.json(&["search", "turing", "compil"])["total"], 1);
    // --limit cuts the hits, not the total.
    let v = t.json(&["search", "turing", "-n", "1"]);
    assert_eq!(
        (v["total"].as_u64(), v["hits"].as_array().unwrap().len()),
        (Some(2), 1)
    );
    let o = t.ok_out(&["search", "turing", "-n", "1"]);
    assert!(o.stderr.contains("1 of 2 matches shown"), "{}", o.stderr);
}

#[test]
fn reindex_gives_identical_results() {
    let t = TestEnv::new();
    t.add(
        "Ada Lovelace",
        &["-e", "ada@example.com", "-t", "math", "--every", "2w"],
    );
    t.add("Zoë Ångström", &["--org", "Physics Lab"]);
    t.ok(&["note", "ada", "engines and poetry"]);
    t.ok(&[
        "log",
        "ada",
        "zoe",
        "--kind",
        "meeting",
        "--on",
        "2026-11-01",
        "physics of engines",
    ]);
    t.ok(&["remind", "zoe", "send the engine paper", "--in", "3d"]);
    let queries: Vec<Vec<&str>> = vec![
        vec!["list"],
        vec!["list", "--sort", "last-contact"],
        vec!["list", "--tag", "math"],
        vec!["show", "ada"],
        vec!["timeline", "ada"],
        vec!["due", "--within", "1m"],
        vec!["search", "engine"],
        vec!["search", "zoe"],
        vec!["search", "ada@example"],
    ];
    let before: Vec<String> = queries
        .iter()
        .map(|q| t.ok(&[q.as_slice(), &["--json"]].concat()))
        .collect();
    let o = t.ok_out(&["reindex"]);
    assert_eq!(o.stderr, "reindexed 5 documents\n");
    assert_eq!(t.json(&["reindex"])["documents"], 5);
    for (q, b) in queries.iter().zip(&before) {
        assert_eq!(
            &t.ok(&[q.as_slice(), &["--json"]].concat()),
            b,
            "{q:?} differs after reindex"
        );
    }
}

#[test]
fn every_read_command_prints_valid_json() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &[]);
    t.ok(&["note", "ada", "hello"]);
    for args in [
        vec!["show", "ada"],
        vec!["list"],
        vec!["list", "--archived"],
        vec!["timeline", "ada"],
        vec!["due"],
        vec!["search", "hello"],
        vec!["search", "nothing"],
    ] {
        let o = t.run(&[args.as_slice(), &["--json"]].concat());
        // A search that matches nothing exits 1 (as grep does), still with its JSON.
        let want = if args == ["search", "nothing"] { 1 } else { 0 };
        assert_eq!(o.code, want, "{args:?}: {o:#?}");
        serde_json::from_str::<Value>(&o.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: invalid JSON ({e}): {}", o.stdout));
        // --json before the subcommand works too.
        let o2 = t.run(&[&["--json"], args.as_slice()].concat());
        assert_eq!(o2.stdout, o.stdout, "{args:?}");
    }
    // An empty vault prints an empty array, not a message.
    let e = TestEnv::new();
    assert_eq!(e.json(&["list"]), serde_json::json!([]));
}
