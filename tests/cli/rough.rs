//! First-hour rough edges and small list/search/log features: one date per reminder, note and
//! log arguments, `add` fields, `show` wording, search exit codes and phones, list headers and
//! sorting, planned interactions, the daemon's service help.

use serde_json::Value;

use crate::env::{assert_one_error, TestEnv, TODAY};

fn rows(v: Value) -> Vec<Value> {
    v.as_array().expect("a JSON array").clone()
}

#[test]
fn a_snoozed_reminder_has_one_date_in_due_and_timeline() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &[]);
    let rid = t.ok(&["remind", "ada", "Send the paper", "--on", "today"]);
    let rid = rid.trim();
    t.ok_out(&["done", &rid[..8], "--snooze", "2w"]);
    let due = rows(t.json(&["due", "--within", "30d"]));
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!(due[0]["date"], "2026-12-06");
    let tl = rows(t.json(&["timeline", "ada"]));
    assert_eq!(tl[0]["date"], "2026-12-06", "{tl:?}");
    let human = t.ok(&["timeline", "ada"]);
    assert!(
        human.contains("2026-12-06") && !human.contains(TODAY),
        "{human}"
    );
}

#[test]
fn done_twice_says_it_was_already_done() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &[]);
    let rid = t.ok(&["remind", "ada", "Send the paper", "--in", "3d"]);
    let short = &rid.trim()[..8];
    let o = t.ok_out(&["done", short]);
    assert!(o.stderr.contains("done: Send the paper"), "{o:?}");
    let err = t.fails(&["done", short], 1);
    assert_one_error(&err, "already done");
    assert!(err.contains("done: no"), "{err}");
    let err = t.fails(&["done", short, "--snooze", "1w"], 1);
    assert_one_error(&err, "already done");
    // Still done, date unchanged.
    let tl = rows(t.json(&["timeline", "ada"]));
    assert_eq!(tl[0]["done"], true);
    assert_eq!(tl[0]["date"], "2026-11-25");
}

#[test]
fn a_reminder_in_the_past_is_refused() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &[]);
    let err = t.fails(&["remind", "ada", "Call", "--on", "yesterday"], 1);
    assert_one_error(&err, "in the past");
    assert!(err.contains("2026-11-21"), "{err}");
    let err = t.fails(&["remind", "ada", "Call", "--on", "2020-01-01"], 1);
    assert_one_error(&err, "in the past");
    assert!(rows(t.json(&["timeline", "ada"])).is_empty());
    // Today is fine.
    t.ok(&["remind", "ada", "Call", "--on", "today"]);
}

#[test]
fn a_note_text_is_never_taken_for_a_contact() {
    let t = TestEnv::new();
    let ada = t.add("Ada Lovelace", &[]);
    let kay = t.add("Kay", &[]);
    // Old form, one contact then the text: the text wins even when it names a contact, and
    // no editor opens (EDITOR would fail the command).
    let o = t.run_with(
        &["note", "ada lovelace", "kay"],
        &[("EDITOR", "false")],
        None,
    );
    assert_eq!(o.code, 0, "{o:#?}");
    assert!(
        o.stderr.contains("warning: 'kay' is taken as the text"),
        "{o:#?}"
    );
    let tl = rows(t.json(&["timeline", "ada"]));
    assert_eq!(tl.len(), 1);
    assert_eq!(tl[0]["text"], "kay");
    assert_eq!(tl[0]["contacts"], serde_json::json!([ada]));
    assert!(rows(t.json(&["timeline", "kay"])).is_empty());

    // Several contacts: --about for each, every argument is text.
    t.ok(&["note", "--about", "ada", "--about", "kay", "Met", "both"]);
    // Or `--` before the text.
    t.ok(&["note", "ada", "kay", "--", "Second", "meeting"]);
    let texts: Vec<String> = rows(t.json(&["timeline", "kay"]))
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_string())
        .collect();
    assert!(texts.contains(&"Met both".to_string()), "{texts:?}");
    assert!(texts.contains(&"Second meeting".to_string()), "{texts:?}");
    let _ = kay;

    // Three bare arguments are ambiguous: refused, nothing written.
    let err = t.fails(&["note", "ada", "kay", "hello"], 1);
    assert_one_error(&err, "cannot tell which are contacts");
    assert!(err.contains("--about"), "{err}");
    assert_eq!(rows(t.json(&["timeline", "ada"])).len(), 3);
}

#[test]
fn log_takes_contacts_by_about_or_before_dashes() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &[]);
    t.add("Kay", &[]);
    t.ok(&["log", "--kind", "call", "--about", "ada", "kay"]);
    let tl = rows(t.json(&["timeline", "ada"]));
    assert_eq!(tl[0]["text"], "kay");
    assert!(rows(t.json(&["timeline", "kay"])).is_empty());
    t.ok(&["log", "-k", "coffee", "ada", "kay", "--", "Long", "chat"]);
    assert_eq!(rows(t.json(&["timeline", "kay"]))[0]["text"], "Long chat");
    // The old form still works: contacts, then the text last.
    t.ok(&["log", "-k", "call", "ada", "kay", "Quick call"]);
    assert_eq!(rows(t.json(&["timeline", "kay"])).len(), 2);
    let err = t.fails(&["log", "-k", "call", "ada"], 1);
    assert_one_error(&err, "needs at least one contact and a summary");
}
