//! Relationship keeping at speed (issue 11's targets): the derived tables `ix_dates` and
//! `ix_contact_days` that `kith due`, `kith digest` and `kith stats` read instead of documents
//! and item rows, their migration from format 7, the paged "today" page, and `log`, `remind`
//! and `done` as one use case each (issue 8).

use kith::app::{App, Clock};
use kith::store::Vault;
use redb::{ReadableDatabase, TableDefinition};

use crate::env::{TestEnv, NOW};
use crate::web::Server;

fn app(env: &TestEnv) -> App {
    let now = kith_core::time::parse_rfc3339_to_unix_ms(NOW).unwrap();
    let vault = Vault::open(&env.vault()).unwrap();
    App::new(vault, env.home(), Clock::pinned(now))
}

/// The derived tables as maintained equal what `reindex` rebuilds, and hold what they should;
/// each contact's last interaction day is the same in `ix_last_contact` and
/// `ix_contact_days` (the digest reads either).
fn assert_derived_consistent(env: &TestEnv) -> kith::store::TableDump {
    let vault = Vault::open(&env.vault()).unwrap();
    {
        let r = vault.read().unwrap();
        let days = r.contact_days().unwrap();
        let last = r.last_contacts().unwrap();
        assert_eq!(last.len(), days.len());
        for (id, day) in last {
            assert_eq!(
                days.get(id).and_then(|d| d.last().copied()),
                Some(day),
                "{id}"
            );
        }
    }
    let kept = vault.dump_derived().unwrap();
    let rebuilt = vault.dump_rebuilt().unwrap();
    for (name, rows) in &rebuilt {
        assert_eq!(
            kept.get(name),
            Some(rows),
            "table {name} differs from a reindex"
        );
    }
    assert_eq!(kept.len(), rebuilt.len());
    kept
}

/// A small network whose dates and interactions change in every way the tables track.
fn network(t: &TestEnv) -> (String, String, String) {
    // NOW is 2026-11-22.
    let ada = t.add("Ada Lovelace", &["--birthday", "1815-11-25"]);
    let bob = t.add("Bob Babbage", &[]);
    let cy = t.add("Cy Archived", &["--birthday=--11-24"]);
    let dee = t.add("Dee Planned", &[]);
    t.ok(&["set", &bob, "date.anniversary", "2020-11-26"]);
    t.ok(&["set", &bob, "date.graduation", "2020-12-03"]);
    t.ok(&["set", &bob, "lead", "14d"]);
    t.ok(&["set", &bob, "date.founding", "2019-12-02"]);
    t.ok(&["set", &bob, "date.founding", ""]);
    for (on, who) in [
        ("2026-01-10", vec![ada.as_str(), bob.as_str()]),
        ("2026-02-10", vec![ada.as_str()]),
        ("2026-02-10", vec![ada.as_str()]),
        ("2026-03-12", vec![ada.as_str()]),
        ("2026-04-11", vec![ada.as_str(), cy.as_str()]),
    ] {
        let mut args = vec!["log", "--kind", "call", "--on", on];
        for w in &who {
            args.push("--about");
            args.push(w);
        }
        args.push("a call");
        t.ok(&args);
    }
    t.ok(&[
        "log",
        &dee,
        "--kind",
        "meeting",
        "--on",
        "2026-12-01",
        "--planned",
        "lunch",
    ]);
    let gone = t.ok(&["log", &bob, "--kind", "call", "--on", "2026-05-01", "oops"]);
    t.ok(&["rm", gone.trim()]);
    t.ok(&["rm", &cy]);
    (ada, bob, dee)
}

#[test]
fn keep_tables_are_maintained_as_reindex_builds_them() {
    let t = TestEnv::new();
    let (ada, bob, _) = network(&t);
    let kept = assert_derived_consistent(&t);
    // Ada and Bob have dates; Cy is archived, so has none.
    assert_eq!(kept["ix_dates"].len(), 2, "{:?}", kept["ix_dates"]);
    // One row per contact with interactions, archived Cy and Dee's planned lunch included
    // (as in ix_last_contact).
    assert_eq!(kept["ix_contact_days"].len(), 4);
    assert_eq!(kept["ix_last_contact"].len(), 4);

    // What due and digest show comes from those tables: Ada's birthday (turns 211), Bob's
    // anniversary and his graduation (in 11 days: within his 14-day lead); not archived Cy's,
    // nor the date removed.
    let due = t.json(&["due"]);
    let rows: Vec<(String, String, i64)> = due
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap().to_string(),
                r["text"].as_str().unwrap().to_string(),
                r["days"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("birthday".to_string(), "birthday: turns 211".to_string(), 3),
            ("date".to_string(), "anniversary: 6 years".to_string(), 4),
            ("date".to_string(), "graduation: 6 years".to_string(), 11),
        ]
    );
    // Ada: calls monthly (5 interactions on 4 days), silent since 2026-04-11: fading.
    let d = t.json(&["digest"]);
    let fading = d["fading"].as_array().unwrap();
    assert_eq!(fading.len(), 1, "{d}");
    assert_eq!(fading[0]["id"].as_str().unwrap(), ada);
    assert!(fading[0]["why"]
        .as_str()
        .unwrap()
        .contains("(4 interactions, median gap 30 days)"));
    // Bob (one call, 316 days ago) is someone to reconnect with; Dee, whose only interaction
    // is planned, is not.
    let re = d["reconnect"].as_array().unwrap();
    assert_eq!(re.len(), 1, "{d}");
    assert_eq!(re[0]["id"].as_str().unwrap(), bob);
    assert!(re[0]["why"]
        .as_str()
        .unwrap()
        .contains("(1 interaction logged)"));
    // stats counts interactions per contact from the same table.
    let s = t.json(&["stats"]);
    let strongest = s["strongest"].as_array().unwrap();
    assert_eq!(strongest[0]["id"].as_str().unwrap(), ada);
    assert_eq!(strongest[0]["interactions"], 5);
    assert_eq!(strongest[0]["last"], "2026-04-11");
    assert_eq!(s["interactions"], 6);
}

#[test]
fn a_format_7_vault_gets_the_keep_tables_when_opened() {
    let t = TestEnv::new();
    let (ada, _, _) = network(&t);
    let before = t.ok(&["digest"]);
    // Make it a format 7 vault: without the two tables, format 7 recorded.
    {
        let mut b = redb::Builder::new();
        b.set_concurrency_mode(redb::ConcurrencyMode::MultiWriter);
        let db = b.open(t.vault()).unwrap();
        let w = db.begin_write().unwrap();
        for name in ["ix_dates", "ix_contact_days"] {
            let def: TableDefinition<&[u8], &[u8]> = TableDefinition::new(name);
            assert!(w.delete_table(def).unwrap(), "{name} existed");
        }
        {
            let meta: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
            let mut m = w.open_table(meta).unwrap();
            m.insert("format", 7u32.to_le_bytes().as_slice()).unwrap();
        }
        w.commit().unwrap();
        let r = db.begin_read().unwrap();
        let meta: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
        let m = r.open_table(meta).unwrap();
        assert_eq!(
            m.get("format").unwrap().unwrap().value(),
            7u32.to_le_bytes()
        );
    }
    // A read command migrates it (reindex at open) and shows the same digest.
    assert_eq!(t.ok(&["digest"]), before);
    assert!(before.contains("Ada Lovelace: birthday: turns 211 in 3 days"));
    let kept = assert_derived_consistent(&t);
    assert_eq!(kept["ix_dates"].len(), 2);
    assert_eq!(kept["ix_contact_days"].len(), 4);
    assert!(t.ok(&["due"]).contains("turns 211"), "{ada}");
}

#[test]
fn the_today_page_is_paged_with_a_count() {
    let t = TestEnv::new();
    let ada = t.add("Ada Lovelace", &[]);
    {
        let app = app(&t);
        let id = kith::app::resolve_contact(&app.vault.read().unwrap(), &ada).unwrap();
        let today = app.today();
        for i in 0..105 {
            app.remind(id, today.add_days(i % 7), &format!("task number {i:03}"))
                .unwrap();
        }
    }
    let s = Server::start(&t);
    let first = s.get("/today");
    assert_eq!(first.status, 200);
    assert!(
        first.body.contains("105 items due, 1–100 shown"),
        "{}",
        first.body
    );
    assert_eq!(first.body.matches("Done: task number").count(), 100);
    assert!(first.body.contains("/today?within=7d&amp;page=1"));
    let second = s.get("/today?within=7d&page=1");
    assert!(second.body.contains("105 items due, 101–105 shown"));
    assert_eq!(second.body.matches("Done: task number").count(), 5);
    // A page past the end shows the last one.
    let past = s.get("/today?page=9");
    assert_eq!(past.body.matches("Done: task number").count(), 5);
    // The due rows are the same as `kith due`'s.
    assert_eq!(t.json(&["due"]).as_array().unwrap().len(), 105);
    s.stop();
}

#[test]
fn web_forms_follow_the_cli_date_rules() {
    let t = TestEnv::new();
    let ada = t.add("Ada Lovelace", &[]);
    let s = Server::start(&t);
    // A reminder in the past is refused, next to its date, and nothing is written.
    let r = s.post(
        &format!("/c/{ada}/remind"),
        &[("due", "2026-11-01"), ("text", "too late")],
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("is in the past"), "{}", r.body);
    // A future interaction is refused (the form has no "planned"), nothing written.
    let r = s.post(
        &format!("/c/{ada}/log"),
        &[
            ("kind", "call"),
            ("on", "2026-12-24"),
            ("with", ""),
            ("summary", "not yet"),
        ],
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("is in the future"), "{}", r.body);
    s.stop();
    assert_eq!(t.json(&["timeline", &ada]), serde_json::json!([]));
    // The CLI refuses the same, with the same words.
    let e = t.fails(&["remind", &ada, "too late", "--on", "2026-11-01"], 1);
    assert!(e.contains("is in the past"));
}

#[test]
fn done_and_log_resolve_and_write_in_one_command() {
    let t = TestEnv::new();
    let ada = t.add("Ada Lovelace", &[]);
    // One unknown reference among several: nothing is written.
    let e = t.fails(&["log", &ada, "nobody-here", "--kind", "call", "a call"], 1);
    assert!(e.contains("nobody-here"), "{e}");
    assert_eq!(t.json(&["timeline", &ada]), serde_json::json!([]));
    let rid = t.ok(&["remind", "ada", "send the paper", "--in", "3d"]);
    t.ok(&["done", "send the paper", "--snooze", "1w"]);
    let tl = t.json(&["timeline", &ada]);
    assert_eq!(tl[0]["id"].as_str().unwrap(), rid.trim());
    assert_eq!(tl[0]["date"], "2026-11-29");
    let out = t.ok_out(&["done", &rid.trim()[..8]]);
    assert!(
        out.stderr.contains("done: send the paper"),
        "{}",
        out.stderr
    );
    let e = t.fails(&["done", &rid.trim()[..8]], 1);
    assert!(e.contains("already done"), "{e}");
}

/// The heap of a read command on transparent huge pages (`cli/heap.rs`): where the kernel
/// offers them (`madvise` or `always` mode), `kith list` over a few hundred contacts (enough
/// that it allocates beyond what the argument parser freed) has anonymous memory on huge pages,
/// and with `KITH_NO_HUGE_HEAP=1` it has none unless the kernel gives them to everything
/// (`always`). Either way the output is the same.
#[test]
fn read_commands_put_their_heap_on_huge_pages_and_can_be_told_not_to() {
    let t = TestEnv::new();
    let cards: String = (0..400)
        .map(|i| {
            format!(
                "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Person {i}\r\nEMAIL:p{i}@example.com\r\nNOTE:{}\r\nEND:VCARD\r\n",
                "met at a conference ".repeat(10)
            )
        })
        .collect();
    let file = t.root().join("people.vcf");
    std::fs::write(&file, cards).unwrap();
    t.ok(&["import", file.to_str().unwrap()]);
    let mode =
        std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_default();
    let run = |off: bool| {
        let mut envs = vec![("KITH_TEST_HEAP_REPORT", "1")];
        if off {
            envs.push(("KITH_NO_HUGE_HEAP", "1"));
        }
        let o = t.run_with(&["list", "--json"], &envs, None);
        assert_eq!(o.code, 0, "{o:#?}");
        let kib = o
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix("heap on huge pages: "))
            .unwrap_or_else(|| panic!("no heap report: {}", o.stderr))
            .trim_end_matches("KiB")
            .trim()
            .to_string();
        (o.stdout, kib)
    };
    let (on, on_kib) = run(false);
    let (off, off_kib) = run(true);
    assert_eq!(on, off, "same listing with and without huge pages");
    assert_eq!(on.matches("\"name\"").count(), 400, "{on}");
    if !cfg!(all(target_os = "linux", target_env = "gnu")) || on_kib == "unknown" {
        return;
    }
    let (on_kib, off_kib): (u64, u64) = (on_kib.parse().unwrap(), off_kib.parse().unwrap());
    if mode.contains("[madvise]") {
        assert!(on_kib >= 2048, "no heap on huge pages: {on_kib} KiB");
        assert_eq!(off_kib, 0, "KITH_NO_HUGE_HEAP=1 still advised the heap");
    } else if mode.contains("[always]") {
        assert!(on_kib >= 2048, "no heap on huge pages: {on_kib} KiB");
    } else {
        eprintln!(
            "transparent huge pages are off here ({}): nothing to check",
            mode.trim()
        );
    }
}
