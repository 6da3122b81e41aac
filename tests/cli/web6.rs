//! `kith who-knows` (and the web UI's who-knows page, which calls the same app function) reads
//! an own contact's org, title and `help` from its summary row in `ix_contacts` (format 11),
//! never from the document: the row follows every edit, local or synced, a format 10 vault gets
//! it when opened, and `kith check` notices a stale one.

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use crate::env::TestEnv;
use crate::sync::{pair, Daemon, Dev};
use crate::web::Server;

const IX_CONTACTS: TableDefinition<[u8; 16], &[u8]> = TableDefinition::new("ix_contacts");
const CHUNKS: TableDefinition<([u8; 16], u32), &[u8]> = TableDefinition::new("chunks");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

fn db(t: &TestEnv) -> redb::Database {
    let mut b = redb::Builder::new();
    b.set_concurrency_mode(redb::ConcurrencyMode::MultiWriter);
    b.open(t.vault()).unwrap()
}

fn id_bytes(hex: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

/// The names who-knows lists for `query` (none when it exits 1 with "nobody known").
fn who(dev: &Dev, query: &str) -> Vec<String> {
    let out = dev.run(&["--json", "who-knows", query]);
    if out.code == 1 && out.stderr.contains("nobody known matches") {
        return Vec::new();
    }
    assert_eq!(out.code, 0, "who-knows {query}: {}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}|{}",
                r["name"].as_str().unwrap(),
                r["help"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn who_knows_follows_an_edit_of_help_here_and_from_another_device() {
    let a = Dev::new("laptop");
    let b = Dev::new("desktop");
    let ada = a.add("Ada Lovelace", &["--org", "Analytical"]);
    a.ok(&["set", &ada, "help", "intros to quantum labs"]);
    assert_eq!(who(&a, "quantum"), ["Ada Lovelace|intros to quantum labs"]);

    // A local edit: the new word is found, the old one no longer.
    a.ok(&["set", &ada, "help", "advice on gardening"]);
    assert_eq!(who(&a, "gardening"), ["Ada Lovelace|advice on gardening"]);
    assert_eq!(who(&a, "quantum"), Vec::<String>::new());
    // Org still matches, with the current help shown.
    assert_eq!(who(&a, "analytical"), ["Ada Lovelace|advice on gardening"]);

    // An edit made on another device arrives by sync.
    pair(&a, &b);
    assert_eq!(who(&b, "gardening"), ["Ada Lovelace|advice on gardening"]);
    b.ok(&["set", &ada, "help", "sailing lessons"]);
    {
        let _daemon = Daemon::start(&a);
        b.ok(&["sync", "--timeout", "5"]);
    }
    assert_eq!(who(&a, "sailing"), ["Ada Lovelace|sailing lessons"]);
    assert_eq!(who(&a, "gardening"), Vec::<String>::new());
    // Cleared help: only the org finds her, with no help.
    a.ok(&["set", &ada, "help", ""]);
    assert_eq!(who(&a, "sailing"), Vec::<String>::new());
    assert_eq!(who(&a, "analytical"), ["Ada Lovelace|"]);
    a.ok(&["check"]);
    b.ok(&["check"]);
}

#[test]
fn who_knows_loads_no_document() {
    let t = TestEnv::new();
    let ada = t.add("Ada Lovelace", &["--org", "Acme", "--title", "Analyst"]);
    t.ok(&["set", &ada, "help", "intros to quantum labs"]);
    let before = t.ok(&["who-knows", "quantum"]);
    assert!(before.contains("Ada Lovelace"), "{before}");
    // Take the document's chunks away, leaving its rows: a who-knows that loaded the document
    // would skip her (or fail); one that reads the summary row still finds her.
    {
        let db = db(&t);
        let w = db.begin_write().unwrap();
        {
            let mut c = w.open_table(CHUNKS).unwrap();
            let id = id_bytes(&ada);
            let keys: Vec<_> = c
                .range((id, 0)..=(id, u32::MAX))
                .unwrap()
                .map(|e| e.unwrap().0.value())
                .collect();
            assert!(!keys.is_empty());
            for k in keys {
                c.remove(k).unwrap();
            }
        }
        w.commit().unwrap();
    }
    assert_eq!(t.ok(&["who-knows", "quantum"]), before);
    assert_eq!(t.ok(&["who-knows", "analyst"]), before);
    // Positive control: a command that does load it notices the document is gone.
    let check = t.run(&["check"]);
    assert_ne!(check.code, 0, "check: {}", check.stdout);
}

/// The `help` field is the last of a summary row: varint byte length, then the UTF-8 bytes.
fn strip_help(row: &[u8], help: &str) -> Vec<u8> {
    let mut tail = vec![help.len() as u8];
    tail.extend_from_slice(help.as_bytes());
    assert!(row.ends_with(&tail), "row {row:?} ends with help {help:?}");
    row[..row.len() - tail.len()].to_vec()
}

#[test]
fn a_format_10_vault_gets_help_in_its_summaries_when_opened() {
    let t = TestEnv::new();
    let ada = t.add("Ada Lovelace", &["--org", "Acme"]);
    let bob = t.add("Bob Babbage", &[]);
    t.ok(&["set", &ada, "help", "intros to quantum labs"]);
    let before = t.ok(&["who-knows", "quantum"]);
    // Rewrite the rows as format 10 wrote them (no `help`) and record format 10.
    {
        let db = db(&t);
        let w = db.begin_write().unwrap();
        {
            let mut rows = w.open_table(IX_CONTACTS).unwrap();
            for (id, help) in [(&ada, "intros to quantum labs"), (&bob, "")] {
                let k = id_bytes(id);
                let row = rows.get(k).unwrap().unwrap().value().to_vec();
                let old = strip_help(&row, help);
                rows.insert(k, old.as_slice()).unwrap();
            }
            w.open_table(META)
                .unwrap()
                .insert("format", 10u32.to_le_bytes().as_slice())
                .unwrap();
        }
        w.commit().unwrap();
    }
    // A read command migrates it (reindex at open) and finds her by help again.
    assert_eq!(t.ok(&["who-knows", "quantum"]), before);
    assert!(before.contains("Ada Lovelace"), "{before}");
    t.ok(&["check"]);
    let d = db(&t);
    let r = d.begin_read().unwrap();
    assert_eq!(
        r.open_table(META)
            .unwrap()
            .get("format")
            .unwrap()
            .unwrap()
            .value(),
        kith::store::FORMAT_VERSION.to_le_bytes()
    );
}

#[test]
fn check_reports_a_summary_row_whose_help_is_stale() {
    let t = TestEnv::new();
    let ada = t.add("Ada Lovelace", &[]);
    t.ok(&["set", &ada, "help", "quantum"]);
    t.ok(&["check"]);
    {
        let db = db(&t);
        let w = db.begin_write().unwrap();
        {
            let mut rows = w.open_table(IX_CONTACTS).unwrap();
            let k = id_bytes(&ada);
            let row = rows.get(k).unwrap().unwrap().value().to_vec();
            let mut stale = strip_help(&row, "quantum");
            stale.push(7);
            stale.extend_from_slice(b"sailing");
            rows.insert(k, stale.as_slice()).unwrap();
        }
        w.commit().unwrap();
    }
    // who-knows reads the row, so it misses her now: `check` must say so.
    assert_eq!(who_env(&t, "quantum"), 0);
    let out = t.run(&["check"]);
    assert_ne!(out.code, 0, "check passed a stale help: {}", out.stdout);
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("ix_contacts"),
        "{} {}",
        out.stdout,
        out.stderr
    );
    t.ok(&["reindex"]);
    assert_eq!(who_env(&t, "sailing"), 0);
    assert_eq!(who_env(&t, "quantum"), 1);
    t.ok(&["check"]);
}

/// How many rows who-knows lists for `query` in a single-device home.
fn who_env(t: &TestEnv, query: &str) -> usize {
    let out = t.run(&["--json", "who-knows", query]);
    if out.code == 1 {
        return 0;
    }
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    v.as_array().unwrap().len()
}

// ---------------------------------------------------------------------------------------------
// The contact page's opportunities and give-and-take, the opportunity edit form, and picking
// one value of a conflicting item field (issue 12's page list, audited in web6).

fn opps(t: &TestEnv) -> serde_json::Value {
    t.json(&["opp", "list"])
}

#[test]
fn a_contact_page_shows_give_and_take_and_opportunities_and_logs_both() {
    let t = TestEnv::new();
    let ada = t.add("Ada Lovelace", &[]);
    t.ok(&["gave", &ada, "an intro to Grace"]);
    t.ok(&["opp", "add", "Staff role at Acme", "--with", &ada]);
    let opp = opps(&t)[0]["id"].as_str().unwrap().to_string();
    let s = Server::start(&t);
    let page = s.get(&format!("/c/{ada}")).body;
    assert!(
        page.contains("gave 1, got 0 (balance +1)"),
        "give and take on the page: {page}"
    );
    assert!(
        page.contains(&format!("href=\"/o/{opp}/edit\"")),
        "the opportunity links to its edit form: {page}"
    );
    assert!(
        page.contains("<span class=\"kind\">opportunity · lead</span>"),
        "the timeline names the kind: {page}"
    );
    // Give-and-take is logged from the page like any interaction.
    let r = s.post(
        &format!("/c/{ada}/log"),
        &[
            ("kind", "got"),
            ("on", ""),
            ("with", ""),
            ("summary", "advice on the pitch"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let page = s.get(&format!("/c/{ada}")).body;
    assert!(page.contains("gave 1, got 1 (balance +0)"), "{page}");
    assert_eq!(t.json(&["ledger", &ada])["got"], 1);

    // Adding an opportunity: bad input is refused next to its field, nothing written.
    let r = s.post(
        &format!("/c/{ada}/opp"),
        &[("title", " "), ("stage", "lead")],
    );
    assert_eq!(r.status, 422);
    assert!(
        r.body.contains("id=\"err-title\"") && r.body.contains("title is empty"),
        "{}",
        r.body
    );
    let r = s.post(
        &format!("/c/{ada}/opp"),
        &[("title", "Board seat"), ("stage", "someday")],
    );
    assert_eq!(r.status, 422);
    assert!(
        r.body.contains("id=\"err-stage\"") && r.body.contains("unknown stage 'someday'"),
        "{}",
        r.body
    );
    assert_eq!(opps(&t).as_array().unwrap().len(), 1);
    let r = s.post(
        &format!("/c/{ada}/opp"),
        &[("title", "Board seat"), ("stage", "active")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let all = opps(&t);
    let board = all
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["title"] == "Board seat")
        .expect("added");
    assert_eq!(board["stage"], "active");
    assert_eq!(board["contacts"][0]["name"], "Ada Lovelace");
}

#[test]
fn the_opportunity_form_merges_with_a_change_made_meanwhile() {
    let t = TestEnv::new();
    let ada = t.add("Ada Lovelace", &[]);
    t.ok(&[
        "opp",
        "add",
        "Staff role",
        "--with",
        &ada,
        "--note",
        "first call",
    ]);
    let opp = opps(&t)[0]["id"].as_str().unwrap().to_string();
    let s = Server::start(&t);
    let path = format!("/o/{opp}/edit");
    let form_page = s.get(&path).body;
    assert_eq!(crate::web::labelled_controls(&path, &form_page, false), 3);
    let base = crate::web::base_of(&form_page);
    // While the form is open, the CLI moves the stage.
    t.ok(&["opp", "move", &opp, "active"]);
    // The form changes the title and the note, and sends the stage it was shown.
    let r = s.post(
        &path,
        &[
            ("base", &base),
            ("title", "Staff role at Acme"),
            ("stage", "lead"),
            ("note", "first call; second call Friday"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location").as_deref(), Some(&*format!("/c/{ada}")));
    let shown = t.json(&["opp", "show", &opp]);
    assert_eq!(shown["title"], "Staff role at Acme");
    assert_eq!(shown["note"], "first call; second call Friday");
    assert_eq!(
        shown["stage"], "active",
        "the stage moved meanwhile is kept"
    );

    // Bad input: nothing written, the message next to the field.
    for (fields, at, msg) in [
        (("", "won"), "title", "title is empty"),
        (("X", "nowhere"), "stage", "unknown stage 'nowhere'"),
    ] {
        let r = s.post_edit(
            &path,
            &[("title", fields.0), ("stage", fields.1), ("note", "")],
        );
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(
            r.body.contains(&format!("id=\"err-{at}\"")) && r.body.contains(msg),
            "{}",
            r.body
        );
    }
    let r = s.post(&path, &[("base", "zz"), ("title", "Y"), ("stage", "won")]);
    assert_eq!(r.status, 422);
    assert!(r.body.contains("id=\"err-base\""), "{}", r.body);
    assert_eq!(t.json(&["opp", "show", &opp]), shown, "nothing written");
    // Not an opportunity: one error page.
    let r = s.get(&format!("/o/{ada}/edit"));
    assert_eq!(r.status, 422);
    assert!(r.body.contains("is not an opportunity"), "{}", r.body);
}

#[test]
fn a_conflicting_item_field_shows_both_values_and_keeps_the_one_picked() {
    let t = TestEnv::new();
    let ada = t.add("Ada Lovelace", &[]);
    t.ok(&["remind", "--on", "2026-12-01", &ada, "send the draft"]);
    t.ok(&["opp", "add", "Staff role", "--with", &ada]);
    let opp = opps(&t)[0]["id"].as_str().unwrap().to_string();
    let rem = t.json(&["due", "--within", "1y"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let s = Server::start(&t);
    // Two forms opened on the same version, saved one after the other: both edits are kept,
    // as a conflict.
    let ipath = format!("/i/{rem}/edit");
    let base = crate::web::base_of(&s.get(&ipath).body);
    for text in ["send the first draft", "send the final draft"] {
        let r = s.post(
            &ipath,
            &[("base", &base), ("due", "2026-12-01"), ("text", text)],
        );
        assert_eq!(r.status, 303, "{}", r.body);
    }
    let opath = format!("/o/{opp}/edit");
    let obase = crate::web::base_of(&s.get(&opath).body);
    for stage in ["won", "lost"] {
        let r = s.post(
            &opath,
            &[
                ("base", &obase),
                ("title", "Staff role"),
                ("stage", stage),
                ("note", ""),
            ],
        );
        assert_eq!(r.status, 303, "{}", r.body);
    }
    let page = s.get(&ipath).body;
    assert!(
        page.contains("Keep “send the first draft”")
            && page.contains("Keep “send the final draft”"),
        "both values shown: {page}"
    );
    let page = s.get(&opath).body;
    assert!(
        page.contains("Keep “won”") && page.contains("Keep “lost”"),
        "{page}"
    );
    // A value that is not one of the conflict's is refused.
    let r = s.post(
        &format!("/i/{rem}/pick"),
        &[("field", "text"), ("value", "something else")],
    );
    assert_eq!(r.status, 422);
    assert!(
        r.body.contains("not one of the conflicting values"),
        "{}",
        r.body
    );
    // Keep one: the conflict is gone and the kept value is what the CLI shows.
    let r = s.post(
        &format!("/i/{rem}/pick"),
        &[("field", "text"), ("value", "send the first draft")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location").as_deref(), Some(&*ipath));
    let page = s.get(&ipath).body;
    assert!(!page.contains("Keep “"), "{page}");
    assert_eq!(
        t.json(&["due", "--within", "1y"])[0]["text"],
        "send the first draft"
    );
    let r = s.post(
        &format!("/i/{opp}/pick"),
        &[("field", "stage"), ("value", "lost")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location").as_deref(), Some(&*opath));
    let shown = t.json(&["opp", "show", &opp]);
    assert_eq!(shown["stage"], "lost");
    assert_eq!(shown["conflicts"].as_array().unwrap().len(), 0, "{shown}");
    t.ok(&["check"]);
}

#[test]
fn a_search_hit_on_an_opportunity_opens_its_form_and_a_reminder_form_snoozes() {
    let t = TestEnv::new();
    let ada = t.add("Ada Lovelace", &[]);
    t.ok(&["opp", "add", "Zeppelin charter", "--with", &ada]);
    let opp = opps(&t)[0]["id"].as_str().unwrap().to_string();
    t.ok(&["remind", "--on", "2026-12-01", &ada, "send the draft"]);
    let rem = t.json(&["due", "--within", "1y"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let s = Server::start(&t);
    let hits = s.get("/?q=zeppelin&partial=1").body;
    assert!(
        hits.contains(&format!("href=\"/o/{opp}/edit\"")),
        "the hit opens the opportunity's form: {hits}"
    );
    assert_eq!(s.get(&format!("/o/{opp}/edit")).status, 200);

    let path = format!("/i/{rem}/edit");
    let page = s.get(&path).body;
    assert!(page.contains("<label for=\"i-snoozed\""), "{page}");
    let r = s.post_edit(
        &path,
        &[
            ("due", "2026-12-01"),
            ("text", "send the draft"),
            ("snoozed", "someday"),
        ],
    );
    assert_eq!(r.status, 422);
    assert!(r.body.contains("id=\"err-snoozed\""), "{}", r.body);
    assert_eq!(t.json(&["due", "--within", "1y"])[0]["date"], "2026-12-01");
    let r = s.post_edit(
        &path,
        &[
            ("due", "2026-12-01"),
            ("text", "send the draft"),
            ("snoozed", "2026-12-09"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(t.json(&["due", "--within", "1y"])[0]["date"], "2026-12-09");
    // The form shows the snooze, and clearing it brings the due date back.
    assert!(s.get(&path).body.contains("value=\"2026-12-09\""));
    let r = s.post_edit(
        &path,
        &[
            ("due", "2026-12-01"),
            ("text", "send the draft"),
            ("snoozed", ""),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(t.json(&["due", "--within", "1y"])[0]["date"], "2026-12-01");
}

#[test]
fn the_interaction_form_changes_who_was_there() {
    let t = TestEnv::new();
    let ada = t.add("Ada Lovelace", &[]);
    let charles = t.add("Charles Babbage", &[]);
    let mary = t.add("Mary Somerville", &[]);
    t.ok(&[
        "log",
        "--kind",
        "coffee",
        "--on",
        "2026-11-20",
        &ada,
        &charles,
        "Engines",
    ]);
    // Another contact with Ada's name: the form's unchanged name still means the first one.
    let other_ada = t.add("Ada Lovelace", &["--email", "other@example.org"]);
    let item = t.json(&["timeline", &ada])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let s = Server::start(&t);
    let path = format!("/i/{item}/edit");
    let page = s.get(&path).body;
    assert!(
        page.contains("value=\"Ada Lovelace, Charles Babbage\""),
        "{page}"
    );
    assert_eq!(crate::web::labelled_controls(&path, &page, false), 4);
    for (with, msg) in [
        ("Nobody Known", "Nobody Known"),
        ("", "at least one contact"),
    ] {
        let r = s.post_edit(
            &path,
            &[
                ("date", "2026-11-20"),
                ("kind", "coffee"),
                ("summary", "Engines"),
                ("with", with),
            ],
        );
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(
            r.body.contains("id=\"err-with\"") && r.body.contains(msg),
            "{}",
            r.body
        );
    }
    let timeline = |c: &str| t.json(&["timeline", c]).as_array().unwrap().len();
    assert_eq!(timeline(&charles), 1, "nothing written");
    let r = s.post_edit(
        &path,
        &[
            ("date", "2026-11-20"),
            ("kind", "coffee"),
            ("summary", "Engines"),
            ("with", "Ada Lovelace, Mary Somerville"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(timeline(&ada), 1);
    assert_eq!(timeline(&mary), 1);
    assert_eq!(timeline(&charles), 0);
    assert_eq!(timeline(&other_ada), 0);
    t.ok(&["check"]);
}
