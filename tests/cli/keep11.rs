//! Issue 11, second part: opportunities, `kith history` (device, time and origin of every
//! change, from Automerge's own history, including an edit synced in from another device),
//! links both ways, `kith graph`, `kith stats`, and the digest's promises.

use serde_json::Value;

use crate::env::{assert_one_error, TestEnv};
use crate::sync::{pair, Daemon, Dev};

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn opportunities_move_through_stages_and_show_on_each_contact() {
    let t = TestEnv::new();
    let ada = t.add("Ada Lovelace", &[]);
    let grace = t.add("Grace Hopper", &[]);
    let _alan = t.add("Alan Turing", &[]);
    let acme = t
        .ok(&[
            "opp",
            "add",
            "Staff role at Acme",
            "--with",
            "ada",
            "--with",
            "grace",
            "--note",
            "ping in January",
        ])
        .trim()
        .to_string();
    let talk = t
        .ok(&[
            "opp",
            "add",
            "Conference talk",
            "--with",
            "alan",
            "--stage",
            "active",
        ])
        .trim()
        .to_string();
    assert_ne!(acme, talk);

    let all = t.json(&["opp", "list"]);
    // By stage in the stage order: lead before active.
    assert_eq!(ids(&all), [acme.as_str(), talk.as_str()]);
    assert_eq!(all[0]["stage"], "lead");
    assert_eq!(all[0]["title"], "Staff role at Acme");
    let with: Vec<&str> = all[0]["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(with, ["Ada Lovelace", "Grace Hopper"]);

    // Move by a word of the title; the list by stage follows.
    let o = t.ok_out(&["opp", "move", "acme", "won"]);
    assert!(o.stderr.contains("lead -> won"), "{}", o.stderr);
    assert_eq!(
        ids(&t.json(&["opp", "list", "--stage", "won"])),
        [acme.as_str()]
    );
    assert_eq!(
        ids(&t.json(&["opp", "list", "--stage", "lead"])),
        Vec::<String>::new()
    );

    // On each linked contact's timeline and in `show`, not on others.
    let tl = t.ok(&["timeline", "grace"]);
    assert!(
        tl.contains("opportunity (won)") && tl.contains("Staff role at Acme"),
        "{tl}"
    );
    let show = t.json(&["show", &ada]);
    assert_eq!(ids(&show["opportunities"]), [acme.as_str()]);
    assert_eq!(show["opportunities"][0]["stage"], "won");
    assert!(t
        .ok(&["show", "grace"])
        .contains("Staff role at Acme [won]"));
    assert_eq!(
        ids(&t.json(&["show", "alan"])["opportunities"]),
        [talk.as_str()]
    );

    let one = t.json(&["opp", "show", &acme[..8]]);
    assert_eq!(one["note"], "ping in January");
    assert_eq!(one["stage"], "won");

    // Removed: gone from the list and the timeline; --undo brings it back.
    t.ok(&["opp", "rm", &acme[..8]]);
    assert_eq!(ids(&t.json(&["opp", "list"])), [talk.as_str()]);
    assert!(!t.ok(&["timeline", "grace"]).contains("Acme"));
    t.ok(&["opp", "rm", "--undo", &acme[..8]]);
    assert_eq!(t.json(&["opp", "list"]).as_array().unwrap().len(), 2);
    let _ = grace;
}

#[test]
fn an_unknown_stage_is_refused_and_nothing_is_written() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &[]);
    let err = t.fails(
        &["opp", "add", "Acme", "--with", "ada", "--stage", "pitched"],
        1,
    );
    assert_one_error(&err, "unknown stage 'pitched'");
    assert!(err.contains("hint:") && err.contains("opp_stages"), "{err}");
    assert_eq!(t.json(&["opp", "list"]).as_array().unwrap().len(), 0);
    let err = t.fails(&["opp", "add", "Acme", "--with", "nobody-here"], 1);
    assert!(err.starts_with("error:"), "{err}");
    assert_eq!(t.json(&["opp", "list"]).as_array().unwrap().len(), 0);
    let err = t.fails(&["opp", "move", "nothing", "won"], 1);
    assert_one_error(&err, "no opportunity matches 'nothing'");

    // A stage defined in config.toml is accepted and listed after the defaults.
    let cfg = t.root().join("config.toml");
    std::fs::write(&cfg, "opp_stages = [\"Pitched\", \"negotiating\"]\n").unwrap();
    let cfg = cfg.to_str().unwrap();
    let o = t.run_with(
        &["opp", "add", "Acme", "--with", "ada", "--stage", "pitched"],
        &[("KITH_CONFIG", cfg)],
        None,
    );
    assert_eq!(o.code, 0, "{o:#?}");
    let o = t.run_with(&["--json", "opp", "stages"], &[("KITH_CONFIG", cfg)], None);
    let stages: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(
        stages,
        serde_json::json!(["lead", "active", "won", "lost", "pitched", "negotiating"])
    );
    assert_eq!(t.json(&["opp", "list"])[0]["stage"], "pitched");
}

#[test]
fn history_shows_each_change_with_time_device_and_origin() {
    let t = TestEnv::new();
    let id = t.add("Ada Lovelace", &["--email", "ada@example.org"]);
    let o = t.run_with(
        &["set", "ada", "email", "countess@example.org"],
        &[("KITH_NOW", "2026-11-23T08:30:00Z")],
        None,
    );
    assert_eq!(o.code, 0, "{o:#?}");
    let editor = t.script(
        "rename.sh",
        "sed 's/^name: .*/name: Augusta Ada King/' \"$1\" > \"$1.new\" && mv \"$1.new\" \"$1\"",
    );
    let o = t.run_with(
        &["edit", "ada"],
        &[
            ("EDITOR", editor.as_str()),
            ("KITH_NOW", "2026-11-24T09:00:00Z"),
        ],
        None,
    );
    assert_eq!(o.code, 0, "{o:#?}");

    let h = t.json(&["history", &id]);
    let rows = h.as_array().unwrap();
    let find = |field: &str, new: &str| -> &Value {
        rows.iter()
            .find(|r| r["field"] == field && r["new"] == new)
            .unwrap_or_else(|| panic!("no {field} -> {new} in {h:#}"))
    };
    let added = find("email", "ada@example.org");
    assert_eq!(added["at"], "2026-11-22T10:00:00Z");
    assert_eq!(added["command"], "add");
    assert!(added.get("old").is_none());
    let set = find("email", "countess@example.org");
    assert_eq!(set["old"], "ada@example.org");
    assert_eq!(set["at"], "2026-11-23T08:30:00Z");
    assert_eq!(set["origin"], "command");
    assert_eq!(set["command"], "set");
    assert_eq!(set["this_device"], true);
    let renamed = find("name", "Augusta Ada King");
    assert_eq!(renamed["old"], "Ada Lovelace");
    assert_eq!(renamed["origin"], "edit");
    assert_eq!(renamed["at"], "2026-11-24T09:00:00Z");
    assert_eq!(
        renamed["this_device"], true,
        "an edit's fork actor is still this device"
    );

    // FIELD narrows it; the human table has the same facts.
    let emails = t.json(&["history", "ada", "email"]);
    assert_eq!(emails.as_array().unwrap().len(), 2, "{emails:#}");
    let text = t.ok(&["history", "ada", "name"]);
    assert!(
        text.contains("Ada Lovelace") && text.contains("Augusta Ada King") && text.contains("edit"),
        "{text}"
    );
    assert!(!text.contains("countess"), "{text}");
}

#[test]
fn history_imports_are_tagged_as_imports() {
    let t = TestEnv::new();
    let vcf = t.root().join("a.vcf");
    std::fs::write(
        &vcf,
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Grace Hopper\r\nEMAIL:grace@example.org\r\nEND:VCARD\r\n",
    )
    .unwrap();
    t.ok(&["import", vcf.to_str().unwrap()]);
    let h = t.json(&["history", "grace"]);
    let name = h
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["field"] == "name")
        .expect("name row");
    assert_eq!(name["origin"], "import", "{h:#}");
    assert_eq!(name["new"], "Grace Hopper");
}

#[test]
fn history_names_the_other_device_and_time_of_a_synced_edit() {
    let laptop = Dev::new("laptop");
    let phone = Dev::new("phone");
    let id = laptop.add("Ada Lovelace", &["--org", "Analytical Engines"]);
    // Pairing hands the joiner everything.
    pair(&laptop, &phone);
    let o = phone
        .cmd(&["set", &id[..8], "org", "Babbage & Co"])
        .env("KITH_NOW", "2026-11-25T14:15:00Z")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let daemon = Daemon::start(&laptop);
    phone.ok(&["sync", "--timeout", "5"]);
    let stopped = daemon.stop();
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);

    let h = laptop.json(&["history", &id, "org"]);
    let rows = h.as_array().unwrap();
    let synced = rows
        .iter()
        .find(|r| r["new"].as_str().is_some_and(|v| v.contains("Babbage")))
        .unwrap_or_else(|| panic!("the phone's edit is missing: {h:#}"));
    assert_eq!(synced["device"], "phone", "{h:#}");
    assert_eq!(synced["this_device"], false);
    assert_eq!(synced["origin"], "sync");
    assert_eq!(synced["command"], "set");
    assert_eq!(synced["at"], "2026-11-25T14:15:00Z");
    assert!(synced["old"]
        .as_str()
        .unwrap()
        .contains("Analytical Engines"));
    let own = rows
        .iter()
        .find(|r| r["new"].as_str().is_some_and(|v| v.contains("Analytical")))
        .unwrap();
    assert_eq!(own["this_device"], true);
    assert!(own["device"].as_str().unwrap().contains("laptop"), "{h:#}");
    let text = laptop.ok(&["history", &id, "org"]);
    assert!(
        text.contains("phone") && text.contains("sync (set)"),
        "{text}"
    );
}

#[test]
fn show_lists_links_in_both_directions() {
    let t = TestEnv::new();
    let ada = t.add("Ada Lovelace", &[]);
    let grace = t.add("Grace Hopper", &[]);
    t.add("Alan Turing", &[]);
    t.ok(&["link", "grace", "ada", "--as", "introduced-by"]);
    t.ok(&["link", "alan", "ada", "--as", "works-with"]);
    let v = t.json(&["show", &ada]);
    let incoming: Vec<(String, String)> = v["links_in"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["name"].as_str().unwrap().into(),
                l["rel"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        incoming,
        [
            ("Alan Turing".to_string(), "works-with".to_string()),
            ("Grace Hopper".to_string(), "introduced-by".to_string())
        ]
    );
    let text = t.ok(&["show", "ada"]);
    assert!(
        text.contains("linked from:") && text.contains("Grace Hopper (introduced-by)"),
        "{text}"
    );
    // The link's own side still shows it as outgoing, and not as incoming.
    let g = t.json(&["show", &grace]);
    assert_eq!(g["links_resolved"][0]["name"], "Ada Lovelace");
    assert_eq!(g["links_in"].as_array().unwrap().len(), 0);
    // An archived contact's links are not listed.
    t.ok(&["rm", "alan"]);
    assert_eq!(
        t.json(&["show", &ada])["links_in"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// Three contacts: a link, a shared organisation (written differently), two meetings together.
fn small_network(t: &TestEnv) -> (String, String, String) {
    let ada = t.add(
        "Ada Lovelace",
        &["--org", "Analytical Engines", "--tag", "math"],
    );
    let charles = t.add(
        "Charles Babbage",
        &["--org", "analytical engines", "--tag", "math"],
    );
    let grace = t.add("Grace Hopper", &["--tag", "navy", "--kind", "mentor"]);
    t.ok(&["link", "grace", "ada", "--as", "introduced-by"]);
    t.ok(&[
        "log",
        "ada",
        "charles",
        "--kind",
        "meeting",
        "--on",
        "2026-11-20",
        "--",
        "Engine review",
    ]);
    t.ok(&[
        "log",
        "ada",
        "charles",
        "--kind",
        "call",
        "--on",
        "2026-10-02",
        "--",
        "A call",
    ]);
    t.ok(&[
        "log",
        "grace",
        "--kind",
        "call",
        "--on",
        "2026-11-01",
        "Navy call",
    ]);
    (ada, charles, grace)
}

#[test]
fn graph_exports_links_shared_orgs_and_people_met_together() {
    let t = TestEnv::new();
    let (ada, charles, grace) = small_network(&t);
    let g = t.json(&["graph"]);
    let nodes = g["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 4, "{g:#}");
    let org = nodes
        .iter()
        .find(|n| n["kind"] == "org")
        .expect("a shared org node");
    assert_eq!(org["id"], "org:analytical engines");
    let edges: Vec<(String, String, String, u64)> = g["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["from"].as_str().unwrap().to_string(),
                e["to"].as_str().unwrap().to_string(),
                e["weight"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        edges.contains(&("link".into(), grace.clone(), ada.clone(), 1)),
        "{edges:?}"
    );
    assert!(edges.contains(&(
        "org".into(),
        ada.clone(),
        "org:analytical engines".into(),
        1
    )));
    assert!(edges.contains(&(
        "org".into(),
        charles.clone(),
        "org:analytical engines".into(),
        1
    )));
    let (a, c) = if ada < charles {
        (&ada, &charles)
    } else {
        (&charles, &ada)
    };
    assert!(
        edges.contains(&("met".into(), a.clone(), c.clone(), 2)),
        "{edges:?}"
    );
    assert_eq!(edges.len(), 4, "{edges:?}");

    // --tag keeps only those contacts and the edges among them.
    let g = t.json(&["graph", "--tag", "navy"]);
    assert_eq!(g["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(g["edges"].as_array().unwrap().len(), 0);

    let dot = t.ok(&["graph"]);
    assert!(dot.starts_with("digraph kith {"), "{dot}");
    assert!(
        dot.contains(&format!(
            "\"{grace}\" -> \"{ada}\" [label=\"introduced-by\"]"
        )),
        "{dot}"
    );
    assert!(dot.contains("met 2x"), "{dot}");

    let svg = t.ok(&["graph", "--format", "svg"]);
    assert!(
        svg.contains("<svg") && svg.trim_end().ends_with("</svg>"),
        "{svg}"
    );
    for name in [
        "Ada Lovelace",
        "Charles Babbage",
        "Grace Hopper",
        "introduced-by",
    ] {
        assert!(svg.contains(name), "{name} missing from the SVG");
    }
    let err = t.fails(&["graph", "--format", "png"], 2);
    assert!(err.contains("png"), "{err}");
}

#[test]
fn stats_summarise_tags_kinds_months_and_ties() {
    let t = TestEnv::new();
    let (ada, _, _) = small_network(&t);
    let s = t.json(&["stats"]);
    assert_eq!(s["contacts"], 3);
    assert_eq!(s["interactions"], 3);
    assert_eq!(
        s["tags"][0],
        serde_json::json!({"name": "math", "count": 2})
    );
    assert_eq!(
        s["kinds"][0],
        serde_json::json!({"name": "mentor", "count": 1})
    );
    let months = s["per_month"].as_array().unwrap();
    assert_eq!(months.len(), 12);
    assert_eq!(
        months[11],
        serde_json::json!({"name": "2026-11", "count": 2})
    );
    assert_eq!(
        months[10],
        serde_json::json!({"name": "2026-10", "count": 1})
    );
    assert_eq!(months[0]["name"], "2025-12");
    assert_eq!(s["strongest"][0]["interactions"], 2);
    assert_eq!(s["strongest"][2]["name"], "Grace Hopper");
    assert_eq!(s["fading"].as_array().unwrap().len(), 0);

    // A constructed history: monthly for a year, then eight months of silence, fades.
    let t = TestEnv::new();
    t.add("Grace Hopper", &[]);
    for m in 1..=12 {
        let on = format!("2025-{m:02}-05");
        t.ok(&[
            "log",
            "grace",
            "--kind",
            "call",
            "--on",
            &on,
            "Monthly call",
        ]);
    }
    let s = t.json(&["stats"]);
    assert_eq!(s["fading"][0]["name"], "Grace Hopper", "{s:#}");
    assert!(s["fading"][0]["why"]
        .as_str()
        .unwrap()
        .contains("median gap"));
    let text = t.ok(&["stats"]);
    assert!(
        text.contains("fading ties:") && text.contains("Grace Hopper"),
        "{text}"
    );
    let _ = ada;
}

#[test]
fn promises_stay_in_the_digest_until_kept() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &[]);
    t.add("Grace Hopper", &[]);
    // Due in three weeks: outside the default 7-day window, listed anyway.
    let p = t.ok(&["promise", "ada", "send the Bernoulli notes", "--in", "3w"]);
    let pid = p.trim().to_string();
    t.ok(&["remind", "grace", "--in", "3w", "ask about COBOL"]);
    t.ok(&["remind", "grace", "--in", "2d", "book the call"]);
    let d = t.json(&["digest"]);
    let promises = d["promises"].as_array().unwrap();
    assert_eq!(promises.len(), 1, "{d:#}");
    assert_eq!(promises[0]["id"], pid.as_str());
    assert_eq!(promises[0]["name"], "Ada Lovelace");
    let why = promises[0]["why"].as_str().unwrap();
    assert!(
        why.starts_with("Promised: send the Bernoulli notes: due in 3 weeks"),
        "{why}"
    );
    // The plain reminder three weeks out is not in the window; the near one is, once.
    let reminders = d["reminders"].as_array().unwrap();
    assert_eq!(reminders.len(), 1, "{d:#}");
    assert!(reminders[0]["why"]
        .as_str()
        .unwrap()
        .contains("book the call"));
    assert!(
        d.get("introductions").is_none(),
        "no introductions are produced yet"
    );
    let text = t.ok(&["digest"]);
    assert!(
        text.contains("Promises you made:\n  Ada Lovelace: Promised: send the Bernoulli notes"),
        "{text}"
    );

    // Kept: gone from the digest.
    t.ok(&["done", &pid[..8]]);
    assert_eq!(t.json(&["digest"])["promises"].as_array().unwrap().len(), 0);
    // A promise in the past is refused like any reminder; an empty one too.
    let err = t.fails(&["promise", "ada", "x", "--by", "2026-01-01"], 1);
    assert!(err.starts_with("error:"), "{err}");
    let err = t.fails(&["promise", "ada", " ", "--in", "1w"], 1);
    assert_one_error(&err, "needs a text");
}

#[test]
fn purging_a_contact_keeps_the_opportunity_without_the_link() {
    let t = TestEnv::new();
    let ada = t.add("Ada Lovelace", &[]);
    let grace = t.add("Grace Hopper", &[]);
    let opp = t.ok(&["opp", "add", "Acme", "--with", "ada", "--with", "grace"]);
    let opp = opp.trim();
    t.ok(&["rm", &grace, "--purge"]);
    let v = t.json(&["opp", "show", opp]);
    assert_eq!(v["title"], "Acme");
    let ids: Vec<&str> = v["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [ada.as_str()], "{v:#}");
    assert_eq!(t.json(&["show", &ada])["opportunities"][0]["title"], "Acme");
}

/// Opportunities are part of kith's JSON export, and importing that export into an empty home
/// brings them back with their stage, note and contacts; a second import changes nothing.
#[test]
fn opportunities_round_trip_through_the_json_export() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &[]);
    let opp = t
        .ok(&[
            "opp",
            "add",
            "Staff role at Acme",
            "--with",
            "ada",
            "--stage",
            "active",
            "--note",
            "ping in January",
        ])
        .trim()
        .to_string();
    let file = t.root().join("vault.json");
    t.ok(&["export", "--format", "json", "-o", file.to_str().unwrap()]);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("\"opportunities\""), "{text}");

    let u = TestEnv::new();
    u.ok(&["import", file.to_str().unwrap()]);
    let before = t.json(&["opp", "list"]);
    let after = u.json(&["opp", "list"]);
    assert_eq!(before, after);
    let shown = u.ok(&["opp", "show", &opp]);
    assert!(
        shown.contains("ping in January") && shown.contains("Ada Lovelace"),
        "{shown}"
    );
    let again = u.json(&["import", file.to_str().unwrap()]);
    assert_eq!(again["updated"], 0, "{again}");
    assert_eq!(again["created"], 0, "{again}");
}
