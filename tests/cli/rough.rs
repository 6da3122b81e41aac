//! First-hour rough edges and small list/search/log features: one date per reminder, note and
//! log arguments, `add` fields, `show` wording, search exit codes and phones, list headers and
//! sorting, planned interactions, the daemon's service help.

use serde_json::Value;

use crate::env::{assert_one_error, TestEnv, TODAY};

/// `kith --json search ARGS` that matches nothing: exit 1 (as grep), JSON with total 0.
#[track_caller]
pub fn search_finds_nothing(t: &TestEnv, args: &[&str]) {
    let mut a = vec!["--json", "search"];
    a.extend_from_slice(args);
    let o = t.run(&a);
    assert_eq!(o.code, 1, "kith {a:?}: {o:#?}");
    let v: serde_json::Value = serde_json::from_str(&o.stdout).expect("JSON on stdout");
    assert_eq!(v["total"], 0, "kith {a:?}: {v}");
}

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
    // By its text too.
    let err = t.fails(&["done", "send the paper"], 1);
    assert_one_error(
        &err,
        &format!("reminder {short} is already done: Send the paper"),
    );
    assert_one_error(
        &t.fails(&["done", "zebra"], 1),
        "no reminder matches 'zebra'",
    );
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

#[test]
fn search_exits_1_when_nothing_matches() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &[]);
    let o = t.run(&["search", "zebra"]);
    assert_eq!(o.code, 1, "{o:#?}");
    assert_eq!(o.stdout, "");
    assert_eq!(o.stderr, "no matches\n");
    let o = t.run(&["--json", "search", "zebra"]);
    assert_eq!(o.code, 1, "{o:#?}");
    let v: Value = serde_json::from_str(&o.stdout).expect("JSON on stdout");
    assert_eq!(v["total"], 0);
    assert!(t.ok(&["search", "ada"]).contains("Ada Lovelace"));
}

#[test]
fn search_matches_phone_numbers_in_any_formatting() {
    let t = TestEnv::new();
    let ada = t.add("Ada Lovelace", &["--phone", "+1 (555) 010-9999"]);
    t.add("Charles Babbage", &["--phone", "020 7946 0000"]);
    for q in [
        "5550109999",
        "+15550109999",
        "555-010-9999",
        "(555) 010",
        "0109999",
        "555.010.9999",
    ] {
        let v = t.json(&["search", q]);
        assert_eq!(v["total"], 1, "{q}: {v}");
        assert_eq!(v["hits"][0]["id"], ada.as_str(), "{q}");
    }
    // Digits that are in neither number: no match.
    assert_eq!(t.run(&["search", "555-1234"]).code, 1);
    assert_eq!(t.json(&["search", "7946"])["total"], 1);
}

#[test]
fn list_tag_matches_tags_only_and_kind_matches_kinds() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &["--tag", "mentor"]);
    t.add("Charles Babbage", &["--kind", "mentor"]);
    assert_eq!(t.names(&["--tag", "mentor"]), ["Ada Lovelace"]);
    assert_eq!(t.names(&["--kind", "mentor"]), ["Charles Babbage"]);
    assert_eq!(
        t.names(&["--kind", "Mentor", "--tag", "mentor"]),
        Vec::<String>::new()
    );
}

#[test]
fn names_sort_naturally() {
    let t = TestEnv::new();
    for n in ["Abara 1050", "Abara 116", "Abara 2", "abara 20"] {
        t.add(n, &[]);
    }
    assert_eq!(
        t.names(&[]),
        ["Abara 2", "abara 20", "Abara 116", "Abara 1050"]
    );
    assert_eq!(
        t.names(&["--reverse", "--limit", "2"]),
        ["Abara 1050", "Abara 116"]
    );
}

#[test]
fn list_has_headers_unless_no_header_and_never_in_json() {
    let t = TestEnv::new();
    let id = t.add("Ada Lovelace", &["--email", "ada@example.com"]);
    let out = t.ok(&["list"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("ID"), "{out}");
    for h in ["NAME", "ROLE", "EMAIL", "LAST CONTACT"] {
        assert!(lines[0].contains(h), "{out}");
    }
    // Columns line up under the header.
    assert_eq!(lines[0].find("NAME"), lines[1].find("Ada"), "{out}");
    let bare = t.ok(&["list", "--no-header"]);
    assert_eq!(bare.lines().count(), 1, "{bare}");
    assert!(bare.starts_with(&id[..8]), "{bare}");
    let v = t.json(&["list"]);
    assert_eq!(v.as_array().unwrap().len(), 1);
}

#[test]
fn list_sorts_by_next_birthday_and_last_contact() {
    let t = TestEnv::new();
    // Today is 2026-11-22.
    let a = t.add("Ann", &[]);
    t.ok(&["set", &a, "birthday", "--01-05"]);
    let b = t.add("Bea", &[]);
    t.ok(&["set", &b, "birthday", "1990-11-25"]);
    let c = t.add("Cid", &[]);
    t.ok(&["set", &c, "birthday", "--11-22"]);
    let d = t.add("Dee", &[]);
    t.ok(&["set", &d, "birthday", "--11-01"]);
    t.add("Eve", &[]);
    assert_eq!(
        t.names(&["--sort", "birthday"]),
        ["Cid", "Bea", "Ann", "Dee", "Eve"]
    );
    assert_eq!(t.names(&["--sort", "birthday", "--limit", "1"]), ["Cid"]);
    assert_eq!(
        t.names(&["--sort", "birthday", "--reverse"]),
        ["Eve", "Dee", "Ann", "Bea", "Cid"]
    );
    t.ok(&["log", "ann", "-k", "call", "--on", "2026-11-01", "hi"]);
    t.ok(&["log", "bea", "-k", "call", "--on", "2026-10-01", "hi"]);
    assert_eq!(
        t.names(&["--sort", "last-contact", "--limit", "4"]),
        ["Cid", "Dee", "Eve", "Bea"]
    );
}

#[test]
fn add_takes_birthday_url_phone_nickname_and_a_note() {
    let t = TestEnv::new();
    let id = t.add(
        "Ada Lovelace",
        &[
            "--birthday",
            "--12-10",
            "--url",
            "https://example.com/ada",
            "--phone",
            "+44 20 7946 0000",
            "--nickname",
            "Enchantress",
            "--note",
            "Met at the salon",
        ],
    );
    let v = t.json(&["show", &id]);
    assert_eq!(v["birthday"], "--12-10");
    assert_eq!(v["nickname"], "Enchantress");
    let urls: Vec<&Value> = v["urls"].as_object().unwrap().values().collect();
    assert_eq!(urls[0]["value"], "https://example.com/ada");
    let phones: Vec<&Value> = v["phones"].as_object().unwrap().values().collect();
    assert_eq!(phones[0]["value"], "+44 20 7946 0000");
    let tl = rows(t.json(&["timeline", &id]));
    assert_eq!(tl.len(), 1);
    assert_eq!(
        (tl[0]["kind"].as_str(), tl[0]["text"].as_str()),
        (Some("note"), Some("Met at the salon"))
    );
    let full = t.add("Grace Hopper", &["--birthday", "1906-12-09"]);
    assert_eq!(t.json(&["show", &full])["birthday"], "1906-12-09");
    let v = t.json(&["add", "Kay", "--note", "hello"]);
    assert!(v["note"].is_string(), "{v}");
}

#[test]
fn add_refuses_bad_fields_and_writes_nothing() {
    let t = TestEnv::new();
    let err = t.fails(
        &["add", "Ada", "--birthday", "1815-13-10", "--note", "x"],
        1,
    );
    assert_one_error(&err, "--birthday");
    let err = t.fails(&["add", "Ada", "--url", "not a url"], 1);
    assert_one_error(&err, "is not a URL");
    let err = t.fails(&["add", "Ada", "--note", "  "], 1);
    assert_one_error(&err, "--note is empty");
    assert!(t.names(&[]).is_empty());
    assert_eq!(t.run(&["search", "x"]).code, 1);
}

#[test]
fn add_warns_about_a_contact_with_the_same_name_and_still_adds() {
    let t = TestEnv::new();
    let first = t.add("Ada Lovelace", &[]);
    let o = t.ok_out(&["add", "ada  LOVELACE"]);
    let lines: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", o.stderr);
    assert!(
        lines[0].starts_with("warning: a contact named Ada Lovelace already exists")
            && lines[0].contains(&first[..8]),
        "{}",
        o.stderr
    );
    assert_eq!(t.names(&[]).len(), 2);
    // A different name: no warning.
    assert_eq!(t.ok_out(&["add", "Ada Byron"]).stderr, "");
}

#[test]
fn show_labels_a_title_and_writes_birthdays_for_people() {
    let t = TestEnv::new();
    // Today is 2026-11-22.
    let ada = t.add(
        "Ada Lovelace",
        &[
            "--org",
            "Analytical Engines",
            "--title",
            "Analyst",
            "--birthday",
            "--03-14",
        ],
    );
    let out = t.ok(&["show", &ada]);
    assert!(
        out.contains("title:         Analyst at Analytical Engines"),
        "{out}"
    );
    assert!(!out.contains("org:"), "{out}");
    assert!(out.contains("birthday:      14 March\n"), "{out}");
    assert!(!out.contains("--03-14"), "{out}");
    let g = t.add(
        "Grace Hopper",
        &["--org", "US Navy", "--birthday", "1990-11-23"],
    );
    let out = t.ok(&["show", &g]);
    assert!(out.contains("org:           US Navy"), "{out}");
    // One day before her 36th birthday: still 35.
    assert!(
        out.contains("birthday:      23 November 1990 (age 35)"),
        "{out}"
    );
    let k = t.add("Kay", &["--birthday", "1990-11-22"]);
    // Her birthday is today: 36.
    assert!(t.ok(&["show", &k]).contains("22 November 1990 (age 36)"));
    // JSON keeps the stored form.
    assert_eq!(t.json(&["show", &ada])["birthday"], "--03-14");
}

#[test]
fn daemon_help_shows_how_to_run_it_as_a_user_service() {
    let t = TestEnv::new();
    let help = t.ok(&["daemon", "--help"]);
    for want in [
        "docs/service/kith.service",
        "systemctl --user enable --now kith.service",
        "docs/service/com.kith.daemon.plist",
        "launchctl bootstrap",
    ] {
        assert!(help.contains(want), "missing {want:?} in:\n{help}");
    }
    // The files the help names exist and run `kith daemon`.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let unit = std::fs::read_to_string(root.join("docs/service/kith.service")).unwrap();
    let exec = unit
        .lines()
        .find(|l| l.starts_with("ExecStart="))
        .expect("an ExecStart line");
    assert!(exec.ends_with("/kith daemon"), "{exec}");
    assert!(
        unit.contains("[Install]\nWantedBy=default.target"),
        "{unit}"
    );
    let plist = std::fs::read_to_string(root.join("docs/service/com.kith.daemon.plist")).unwrap();
    assert!(
        plist.contains("<string>com.kith.daemon</string>")
            && plist.contains("<string>daemon</string>"),
        "{plist}"
    );
    assert!(plist.trim_end().ends_with("</plist>"));
}

#[test]
fn a_future_interaction_needs_planned() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &[]);
    let err = t.fails(
        &["log", "ada", "-k", "meeting", "--on", "2026-12-01", "Lunch"],
        1,
    );
    assert_one_error(&err, "in the future");
    assert!(err.contains("--planned"), "{err}");
    assert!(rows(t.json(&["timeline", "ada"])).is_empty());
    let err = t.fails(&["log", "ada", "-k", "call", "--planned", "Call"], 1);
    assert_one_error(&err, "--planned needs a date after today");
    t.ok(&[
        "log",
        "ada",
        "-k",
        "meeting",
        "--on",
        "tomorrow",
        "--planned",
        "Lunch",
    ]);
    let tl = rows(t.json(&["timeline", "ada"]));
    assert_eq!(tl[0]["planned"], true, "{tl:?}");
    assert_eq!(tl[0]["date"], "2026-11-23");
    let human = t.ok(&["timeline", "ada"]);
    assert!(human.contains("meeting (planned)"), "{human}");
    // A past interaction is not marked.
    t.ok(&["log", "ada", "-k", "call", "--on", "yesterday", "Call"]);
    let tl = rows(t.json(&["timeline", "ada"]));
    assert!(tl[1].get("planned").is_none(), "{tl:?}");
}

#[test]
fn a_planned_meeting_resets_the_keep_in_touch_clock_on_its_date() {
    let t = TestEnv::new();
    // Added on 2026-11-01, every 2 weeks, last call 2026-11-01: due 2026-11-15 (overdue).
    let then = [("KITH_NOW", "2026-11-01T10:00:00Z")];
    let o = t.run_with(&["add", "Ada Lovelace", "--every", "2w"], &then, None);
    assert_eq!(o.code, 0, "{o:#?}");
    let o = t.run_with(&["log", "ada", "-k", "call", "Call"], &then, None);
    assert_eq!(o.code, 0, "{o:#?}");
    t.ok(&[
        "log",
        "ada",
        "-k",
        "meeting",
        "--on",
        "2026-11-25",
        "--planned",
        "Lunch",
    ]);
    // Today (2026-11-22) the meeting has not happened: still overdue, last contact the call.
    let due = rows(t.json(&["due"]));
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!(
        (due[0]["kind"].as_str(), due[0]["date"].as_str()),
        (Some("keep-in-touch"), Some("2026-11-15"))
    );
    let show = t.json(&["show", "ada"]);
    assert_eq!(show["last_contact"], "2026-11-01");
    assert_eq!(show["next_due"], "2026-11-15");
    assert_eq!(t.json(&["list"])[0]["last_contact"], "2026-11-01");
    assert_eq!(t.names(&["--sort", "last-contact"]), ["Ada Lovelace"]);
    // On its date it counts, with no write in between.
    let later = [("KITH_NOW", "2026-11-26T10:00:00Z")];
    let o = t.run_with(&["--json", "show", "ada"], &later, None);
    let show: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(show["last_contact"], "2026-11-25");
    assert_eq!(show["next_due"], "2026-12-09");
    let o = t.run_with(&["--json", "due"], &later, None);
    assert_eq!(o.stdout.trim(), "[]", "{o:#?}");
    let o = t.run_with(&["--json", "timeline", "ada"], &later, None);
    let tl: Value = serde_json::from_str(&o.stdout).unwrap();
    assert!(tl[0].get("planned").is_none(), "{tl}");
}

/// `help` ("how they could help") is indexed (storage format 9): `search` finds a contact by
/// it, and `who-knows` ranks by it while loading only the contacts the index names.
#[test]
fn search_and_who_knows_find_a_contact_by_how_they_could_help() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &["--org", "Analytical"]);
    t.add("Grace Hopper", &["--org", "Navy"]);
    t.add("Mary Somerville", &[]);
    t.ok(&["set", "Grace", "help", "introductions to compiler people"]);
    t.ok(&["set", "Mary", "help", "compilers? no: astronomy"]);
    let v = t.json(&["search", "introductions"]);
    assert_eq!(v["total"], 1, "{v}");
    assert_eq!(v["hits"][0]["title"], "Grace Hopper", "{v}");
    // Two words, both must match: org or title or help.
    let who = t.json(&["who-knows", "compil"]);
    let names: Vec<&str> = who
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{who}");
    assert!(names.contains(&"Grace Hopper") && names.contains(&"Mary Somerville"));
    let who = t.json(&["who-knows", "compiler", "introductions"]);
    assert_eq!(who.as_array().unwrap().len(), 1, "{who}");
    assert_eq!(who[0]["name"], "Grace Hopper", "{who}");
    // A word only in a name is not a reason someone knows: Ada is not returned for "ada".
    let o = t.run(&["--json", "who-knows", "ada"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert_eq!(o.stdout.trim(), "[]", "{o:?}");
    assert!(o.stderr.contains("nobody known matches 'ada'"), "{o:?}");
    // A word in an org ranks the contact too.
    let who = t.json(&["who-knows", "navy"]);
    assert_eq!(who[0]["name"], "Grace Hopper", "{who}");
}
