//! Relationship keeping (issue 11): dates that matter in `due`.

use serde_json::Value;

use crate::env::{assert_one_error, TestEnv};

fn due(t: &TestEnv, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["due"];
    args.extend_from_slice(extra);
    t.json(&args).as_array().unwrap().clone()
}

fn dates(rows: &[Value]) -> Vec<(String, String, i64, String)> {
    rows.iter()
        .filter(|r| r["kind"] == "birthday" || r["kind"] == "date")
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["date"].as_str().unwrap().to_string(),
                r["days"].as_i64().unwrap(),
                r["text"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn due_at(t: &TestEnv, now: &str) -> Vec<Value> {
    let o = t.run_with(&["--json", "due"], &[("KITH_NOW", now)], None);
    assert_eq!(o.code, 0, "{o:#?}");
    serde_json::from_str::<Value>(&o.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn birthdays_and_dates_appear_in_due_within_each_lead_time() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &[]);
    t.add("Grace Hopper", &[]);
    t.add("Alan Turing", &[]);
    t.ok(&["set", "ada", "birthday", "1990-11-25"]); // in 3 days, turns 36
    t.ok(&["set", "grace", "birthday", "--11-29"]); // in 7 days, no year
    t.ok(&["set", "alan", "birthday", "--11-30"]); // in 8 days: past the default lead
    t.ok(&["set", "ada", "date.anniversary", "2020-12-01"]); // in 9 days

    let rows = due(&t, &[]);
    assert_eq!(
        dates(&rows),
        vec![
            (
                "Ada Lovelace".into(),
                "2026-11-25".into(),
                3,
                "birthday: turns 36".into()
            ),
            (
                "Grace Hopper".into(),
                "2026-11-29".into(),
                7,
                "birthday (year unknown)".into()
            ),
        ]
    );
    let ada = rows.iter().find(|r| r["name"] == "Ada Lovelace").unwrap();
    assert_eq!(ada["kind"], "birthday");
    assert_eq!(ada["label"], "birthday");
    assert_eq!(ada["years"], 36);
    assert_eq!(ada["contact"], ada["id"]);
    assert!(rows.iter().find(|r| r["name"] == "Grace Hopper").unwrap()["years"].is_null());

    // A longer lead time brings a contact's dates in earlier.
    t.ok(&["set", "ada", "lead", "2w"]);
    t.ok(&["set", "alan", "lead", "10d"]);
    let got = dates(&due(&t, &[]));
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(got.contains(&(
        "Ada Lovelace".into(),
        "2026-12-01".into(),
        9,
        "anniversary: 6 years".into()
    )));
    assert!(got.contains(&(
        "Alan Turing".into(),
        "2026-11-30".into(),
        8,
        "birthday (year unknown)".into()
    )));
    let shown = t.ok(&["show", "ada"]);
    assert!(shown.contains("lead:") && shown.contains("2w"), "{shown}");

    // --within widens the window for everyone; the table says what each date is.
    t.ok(&["set", "alan", "lead", ""]);
    let got = dates(&due(&t, &["--within", "30d"]));
    assert_eq!(got.len(), 4, "{got:?}");
    let table = t.ok(&["due"]);
    assert!(table.contains("birthday: turns 36"), "{table}");
    assert!(table.contains("anniversary: 6 years"), "{table}");
    assert!(!table.contains("Alan Turing"), "{table}");

    // Removing a date, archiving a contact: gone from due.
    t.ok(&["set", "ada", "date.anniversary", ""]);
    t.ok(&["set", "grace", "archived", "true"]);
    let got = dates(&due(&t, &[]));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].3, "birthday: turns 36");
}

#[test]
fn dates_wrap_around_the_new_year_and_february_29() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &[]);
    t.add("Leap Person", &[]);
    t.ok(&["set", "ada", "birthday", "--01-02"]);
    t.ok(&["set", "leap", "birthday", "2000-02-29"]);
    let rows = due_at(&t, "2026-12-28T10:00:00Z");
    assert_eq!(
        dates(&rows),
        vec![(
            "Ada Lovelace".into(),
            "2027-01-02".into(),
            5,
            "birthday (year unknown)".into()
        )]
    );
    // 2027 is not a leap year: a February 29 birthday falls on February 28.
    let rows = due_at(&t, "2027-02-25T10:00:00Z");
    assert_eq!(
        dates(&rows),
        vec![(
            "Leap Person".into(),
            "2027-02-28".into(),
            3,
            "birthday: turns 27".into()
        )]
    );
    let rows = due_at(&t, "2028-02-25T10:00:00Z");
    assert_eq!(dates(&rows)[0].1, "2028-02-29");
}

#[test]
fn bad_dates_and_lead_times_are_refused_and_change_nothing() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &[]);
    let err = t.fails(&["set", "ada", "lead", "400d"], 1);
    assert_one_error(&err, "too long");
    let err = t.fails(&["set", "ada", "lead", "soon"], 1);
    assert_one_error(&err, "soon");
    let err = t.fails(&["set", "ada", "date.anniversary", "2020-13-01"], 1);
    assert_one_error(&err, "2020-13-01");
    let err = t.fails(&["set", "ada", "date.", "2020-01-01"], 1);
    assert_one_error(&err, "label");
    let shown = t.json(&["show", "ada"]);
    let c = &shown;
    assert!(c["lead"].is_null(), "{shown}");
    assert_eq!(c["dates"], serde_json::json!({}), "{shown}");
}

#[test]
fn lead_time_and_dates_survive_a_vcard_round_trip() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &[]);
    t.ok(&["set", "ada", "lead", "3w"]);
    t.ok(&["set", "ada", "date.anniversary", "2020-12-01"]);
    let card = t.ok(&["export", "--format", "vcard"]);
    assert!(card.contains("X-KITH-LEAD:3w"), "{card}");
    let file = t.root().join("ada.vcf");
    std::fs::write(&file, &card).unwrap();
    let u = TestEnv::new();
    u.ok(&["import", file.to_str().unwrap()]);
    let rows = due(&u, &[]);
    assert_eq!(
        dates(&rows),
        vec![(
            "Ada Lovelace".into(),
            "2026-12-01".into(),
            9,
            "anniversary: 6 years".into()
        )]
    );
}

fn log_on(t: &TestEnv, who: &str, days: &[&str]) {
    for d in days {
        t.ok(&["log", who, "--kind", "call", "--on", d, "caught up"]);
    }
}

fn names_of(section: &Value) -> Vec<String> {
    section
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn digest_explains_fading_ties_dates_reminders_and_reconnections() {
    let t = TestEnv::new();
    let empty = t.ok_out(&["digest"]);
    assert!(
        empty.stderr.contains("nothing needs you today"),
        "{empty:?}"
    );

    t.add("Grace Hopper", &[]);
    t.add("Ada Lovelace", &[]);
    t.add("Bob Builder", &[]);
    t.add("Carol Danvers", &[]);
    t.add("Dan Brown", &[]);
    t.add("Eve Online", &[]);
    // Grace: about monthly for half a year, then nothing since March: fading.
    log_on(&t, "grace", &crate::keep5::MONTHLY_TO_MARCH);
    // Ada: weekly, last a week ago: fine.
    log_on(
        &t,
        "ada",
        &["2026-10-25", "2026-11-01", "2026-11-08", "2026-11-15"],
    );
    // Eve: every two months, last 100 days ago: under twice her rhythm, not fading.
    log_on(
        &t,
        "eve",
        &["2026-02-14", "2026-04-15", "2026-06-14", "2026-08-14"],
    );
    // Bob: twice, long ago: too little history for a rhythm, a reconnection suggestion.
    log_on(&t, "bob", &["2025-01-10", "2025-02-10"]);
    // Carol: keep in touch monthly, last contact in September: overdue.
    t.ok(&["set", "carol", "every", "30d"]);
    log_on(&t, "carol", &["2026-09-01"]);
    t.ok(&["set", "dan brown", "birthday", "1980-11-24"]);
    // Overdue by now: set before its date (a reminder in the past is refused).
    let o = t.run_with(
        &["remind", "ada", "Send the notes", "--on", "2026-11-20"],
        &[("KITH_NOW", "2026-11-01T10:00:00Z")],
        None,
    );
    assert_eq!(o.code, 0, "{o:?}");
    t.ok(&["remind", "ada", "Book the venue", "--on", "2026-12-10"]);

    let d = t.json(&["digest"]);
    assert_eq!(d["today"], "2026-11-22");
    assert_eq!(names_of(&d["overdue"]), vec!["Carol Danvers"]);
    assert_eq!(names_of(&d["fading"]), vec!["Grace Hopper"]);
    let grace = &d["fading"][0];
    assert_eq!(grace["date"], "2026-03-29");
    assert_eq!(grace["days"], -238);
    assert_eq!(
        grace["why"],
        "last spoke 8 months ago; you used to talk every 4 weeks (7 interactions, median gap 30 days)"
    );
    assert_eq!(names_of(&d["dates"]), vec!["Dan Brown"]);
    assert_eq!(d["dates"][0]["why"], "birthday: turns 46 in 2 days");
    assert_eq!(names_of(&d["reminders"]), vec!["Ada Lovelace"]);
    assert_eq!(
        d["reminders"][0]["why"],
        "Send the notes: overdue by 2 days"
    );
    assert_eq!(names_of(&d["reconnect"]), vec!["Bob Builder"]);
    assert_eq!(
        d["reconnect"][0]["why"],
        "last contact 21 months ago (2 interactions logged)"
    );

    // --within reaches the later reminder; the text form has one section per kind.
    let d = t.json(&["digest", "--within", "30d"]);
    assert_eq!(d["reminders"].as_array().unwrap().len(), 2);
    let text = t.ok(&["digest"]);
    for needle in [
        "Overdue keep-in-touch:",
        "Fading ties:",
        "  Grace Hopper: last spoke 8 months ago; you used to talk every 4 weeks",
        "Dates coming up:",
        "Reminders:",
        "Reconnect with:",
    ] {
        assert!(text.contains(needle), "{needle}\n{text}");
    }
    assert!(!text.contains("Eve Online"), "{text}");

    // One more call with Grace and she is no longer fading.
    log_on(&t, "grace", &["2026-11-21"]);
    assert_eq!(
        names_of(&t.json(&["digest"])["fading"]),
        Vec::<String>::new()
    );

    let err = t.fails(&["digest", "--within", "soon"], 1);
    assert_one_error(&err, "soon");
}

#[test]
fn gave_and_got_make_a_ledger_with_a_balance_per_person() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &[]);
    t.add("Grace Hopper", &[]);
    t.add("Alan Turing", &[]);
    let empty = t.ok_out(&["ledger"]);
    assert!(empty.stderr.contains("nothing given"), "{empty:?}");
    t.ok(&[
        "gave",
        "ada",
        "Introduced her to Grace",
        "--on",
        "2026-11-01",
    ]);
    t.ok(&["gave", "ada", "Reviewed her paper"]);
    t.ok(&["got", "ada", "Referral to the Analytical Society"]);
    t.ok(&["got", "grace", "Advice on compilers"]);
    // An ordinary interaction whose summary says "gave" is not a ledger entry.
    t.ok(&["log", "alan", "--kind", "call", "gave him a call"]);

    let rows = t.json(&["ledger"]);
    let got: Vec<(String, i64, i64, i64)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["gave"].as_i64().unwrap(),
                r["got"].as_i64().unwrap(),
                r["balance"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("Ada Lovelace".into(), 2, 1, 1),
            ("Grace Hopper".into(), 0, 1, -1)
        ]
    );
    let ada = t.json(&["ledger", "ada"]);
    assert_eq!(ada["balance"], 1);
    let entries = ada["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[2]["date"], "2026-11-01");
    assert_eq!(entries[2]["direction"], "gave");
    assert_eq!(entries[2]["text"], "Introduced her to Grace");
    let text = t.ok(&["ledger", "ada"]);
    assert!(
        text.starts_with("Ada Lovelace: gave 2, got 1, balance +1"),
        "{text}"
    );
    let shown = t.ok(&["show", "ada"]);
    assert!(shown.contains("gave 2, got 1 (balance +1)"), "{shown}");
    assert!(!t.ok(&["show", "alan"]).contains("give and take"));
    // The entries are on the timeline too.
    let tl = t.ok(&["timeline", "grace"]);
    assert!(tl.contains("Advice on compilers"), "{tl}");

    assert_one_error(&t.fails(&["gave", "ada", "  "], 1), "needs a text");
    assert_one_error(&t.fails(&["got", "nobody", "x"], 1), "nobody");
    assert_one_error(
        &t.fails(&["gave", "ada", "x", "--on", "2026-02-30"], 1),
        "2026-02-30",
    );
}
