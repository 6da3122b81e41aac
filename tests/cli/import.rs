//! Import matching that never merges two people, `kith duplicates`, and export -> import round
//! trips (vCard 4.0, vCard 3.0, JSON) into an empty home.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::env::TestEnv;

fn fixture(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
        .display()
        .to_string()
}

fn write(env: &TestEnv, name: &str, text: &str) -> String {
    let p: PathBuf = env.root().join(name);
    std::fs::write(&p, text).expect("write file");
    p.display().to_string()
}

/// The summary line of an import ("C created, U updated, N unchanged, S skipped").
fn counts(env: &TestEnv, args: &[&str]) -> (u64, u64, u64) {
    let mut a = vec!["import"];
    a.extend_from_slice(args);
    let v = env.json(&a);
    let n = |k: &str| v[k].as_u64().expect("count");
    (n("created"), n("updated"), n("unchanged"))
}

fn card(name: &str, n: &str, tel: &str, email: &str) -> String {
    let mut s = format!("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{name}\r\nN:{n}\r\n");
    if !tel.is_empty() {
        s.push_str(&format!("TEL;TYPE=HOME:{tel}\r\n"));
    }
    if !email.is_empty() {
        s.push_str(&format!("EMAIL:{email}\r\n"));
    }
    s.push_str("END:VCARD\r\n");
    s
}

#[test]
fn a_shared_home_phone_never_merges_two_people() {
    let env = TestEnv::new();
    let file = write(
        &env,
        "berg.vcf",
        &(card("Anna Berg", "Berg;Anna;;;", "+46 8 555 0100", "")
            + &card("Nils Berg", "Berg;Nils;;;", "+46 8 555 0100", "")),
    );
    assert_eq!(counts(&env, &[&file]), (2, 0, 0));
    let mut names = env.names(&[]);
    names.sort();
    assert_eq!(names, ["Anna Berg", "Nils Berg"]);
    // Nor do they look like duplicates.
    assert_eq!(env.json(&["duplicates"])["groups"], json!([]));
    // A card of the same person with that phone still finds her.
    let again = write(
        &env,
        "anna.vcf",
        &card(
            "Berg, Anna",
            "Berg;Anna;;;",
            "+46855501 00",
            "anna@example.com",
        ),
    );
    assert_eq!(counts(&env, &[&again]), (0, 1, 0));
    assert_eq!(env.names(&[]).len(), 2);
}

#[test]
fn ten_cards_of_five_households_stay_ten_and_reimport_changes_nothing() {
    let env = TestEnv::new();
    let mut text = String::new();
    let people = [
        ("Anna", "Nils", "Berg"),
        ("Eva", "Olof", "Lind"),
        ("Maja", "Karl", "Ek"),
        ("Sara", "Per", "Holm"),
        ("Lina", "Jon", "Dahl"),
    ];
    for (i, (a, b, family)) in people.iter().enumerate() {
        let tel = format!("+46 8 555 01{i:02}");
        let mail = format!("home@{}.example", family.to_lowercase());
        text += &card(
            &format!("{a} {family}"),
            &format!("{family};{a};;;"),
            &tel,
            &mail,
        );
        text += &card(
            &format!("{b} {family}"),
            &format!("{family};{b};;;"),
            &tel,
            &mail,
        );
    }
    let dir = env.root().join("cards");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("households.vcf"), text).unwrap();
    let dir = dir.display().to_string();
    assert_eq!(counts(&env, &[&dir]), (10, 0, 0));
    assert_eq!(env.names(&[]).len(), 10);
    assert_eq!(counts(&env, &[&dir]), (0, 0, 10));
}

#[test]
fn seven_exports_of_one_person_are_one_duplicate_group() {
    let env = TestEnv::new();
    let dir = fixture("one-person");
    let (created, updated, unchanged) = counts(&env, &[&dir]);
    assert_eq!(created + updated + unchanged, 7);
    let ids: Vec<String> = env
        .json(&["list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        ids.len() > 1,
        "import merged only same-named cards: {ids:?}"
    );
    // The second import of the same folder changes nothing.
    assert_eq!(counts(&env, &[&dir]), (0, 0, 7));
    let d = env.json(&["duplicates"]);
    let groups = d["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{d:#}");
    let mut members: Vec<String> = groups[0]["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    members.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(members, want);
    assert!(!groups[0]["pairs"].as_array().unwrap().is_empty());
    let text = env.ok(&["duplicates"]);
    assert!(text.contains("merge: kith merge "), "{text}");
    // Acting on the proposal leaves one contact and no duplicates.
    for m in groups[0]["merge"].as_array().unwrap() {
        let m = m.as_str().unwrap();
        let args: Vec<&str> = m.split(' ').skip(1).collect();
        env.ok(&args);
    }
    assert_eq!(env.names(&[]).len(), 1);
    assert_eq!(env.json(&["duplicates"])["groups"], json!([]));
}

/// The UID an export gives a contact: its own, else `urn:uuid:` + its id.
fn export_uid(c: &Value) -> String {
    match c["uid"].as_str() {
        Some(u) if !u.is_empty() => u.to_string(),
        _ => {
            let h = c["id"].as_str().unwrap();
            format!(
                "urn:uuid:{}-{}-{}-{}-{}",
                &h[..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..]
            )
        }
    }
}

/// The contacts of a JSON export, comparable across homes: ids, timestamps and entry keys
/// dropped (entries sorted by value), links naming their target's export UID.
fn comparable(export: &Value) -> Vec<Value> {
    let contacts = export["contacts"].as_array().unwrap();
    let uid_of: BTreeMap<String, String> = contacts
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_string(), export_uid(c)))
        .collect();
    let mut out: Vec<Value> = contacts
        .iter()
        .filter(|c| c.get("merged_into").is_none() && c["archived"] != json!(true))
        .map(|c| {
            let mut c = c.clone();
            let uid = export_uid(&c);
            let o = c.as_object_mut().unwrap();
            o.insert("uid".into(), json!(uid));
            for k in ["id", "created", "updated"] {
                o.remove(k);
            }
            for k in [
                "emails",
                "phones",
                "urls",
                "addresses",
                "orgs",
                "dates",
                "links",
                "extra",
            ] {
                let mut vals: Vec<Value> = o[k].as_object().unwrap().values().cloned().collect();
                if k == "links" {
                    for l in &mut vals {
                        let to = l["to"].as_str().unwrap().to_string();
                        l["to"] = json!(uid_of.get(&to).cloned().unwrap_or(to));
                    }
                }
                vals.sort_by_key(|v| v.to_string());
                o.insert(k.into(), Value::Array(vals));
            }
            c
        })
        .collect();
    out.sort_by_key(|c| (c["name"].to_string(), c["uid"].to_string()));
    out
}

/// A deterministic network of `n` contacts as a kith JSON export: links, custom fields,
/// cadences, kinds, dates, roles with dates, labels, structured names on some.
fn network(n: usize) -> Value {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move |m: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % m
    };
    let ids: Vec<String> = (0..n)
        .map(|i| format!("{:032x}", 0x1000 + i * 7919))
        .collect();
    let given = [
        "Anna", "Nils", "Zoë", "Björn", "Ada", "Grace", "Linus", "Märta", "Olu", "Chen",
    ];
    let family = [
        "Berg", "Lind", "Ek", "O'Neil", "Lovelace", "Hopper", "Åström", "Diallo",
    ];
    let kinds = ["mentor", "client", "friend", "colleague", "investor"];
    let everies = ["30d", "2w", "6m", "1y"];
    let mut contacts = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let g = given[rnd(given.len() as u64) as usize];
        let f = family[rnd(family.len() as u64) as usize];
        let mut c = json!({
            "id": id,
            "name": format!("{g} {f} {i}"),
            "n": {},
            "emails": {"e1": {"value": format!("{}.{i}@example.com", g.to_lowercase()), "label": "work, pref"}},
            "phones": {"p1": {"value": format!("+46 70 {:03} {:02} {:02}", i, rnd(100), rnd(100)), "label": "cell"}},
            "urls": {},
            "addresses": {},
            "orgs": {},
            "dates": {},
            "kinds": [kinds[rnd(5) as usize]],
            "tags": [format!("t{}", rnd(7))],
            "links": {},
            "custom": {},
            "extra": {},
            "archived": false,
            "created": 1_700_000_000_000i64 + i as i64,
            "updated": 1_700_000_000_000i64 + i as i64,
        });
        if i % 2 == 0 {
            c["n"] = json!({"family": format!("{f} {i}"), "given": g});
            c["every"] = json!(everies[rnd(4) as usize]);
        }
        if i % 3 == 0 {
            c["met"] = json!(format!(
                "At a meetup; we talked about CRDTs,\nthen coffee #{i}"
            ));
            c["custom"] = json!({"github": format!("user{i}"), "shoe size; EU": "42"});
            c["dates"] = json!({
                "d1": {"value": "2011-06-04", "label": "anniversary"},
                "d2": {"value": "--03-15", "label": "name day"}
            });
            c["birthday"] = json!("--04-12");
        }
        if i % 4 == 0 {
            c["orgs"] = json!({
                "o1": {"org": "Nordlys AB", "title": "CTO", "since": "2020-01"},
                "o2": {"org": "Old Co", "unit": "R&D", "title": "Engineer", "since": "2015", "until": "2019-12"}
            });
            c["urls"] = json!({"u1": {"value": "https://example.com/p?a=1;b=2", "label": "home"}});
            c["addresses"] = json!({"a1": {"label": "home", "street": "Storgatan 1", "locality": "Umeå", "postcode": "903 25", "country": "Sweden"}});
            c["nickname"] = json!("Bee");
        }
        if i > 0 {
            let to = &ids[rnd(i as u64) as usize];
            c["links"] = json!({"l1": {"to": to, "rel": "introduced-by"}});
            if i % 5 == 0 {
                c["links"]["l2"] = json!({"to": ids[rnd(i as u64) as usize], "rel": "works-with"});
            }
        }
        contacts.push(c);
    }
    json!({"kith_export": 1, "contacts": contacts, "notes": [], "interactions": [], "reminders": []})
}

fn export_json(env: &TestEnv) -> Value {
    serde_json::from_str(&env.ok(&["export", "--format", "json"])).unwrap()
}

/// Exports `from` in every format and imports each into an empty home: the contacts come back
/// field for field; the JSON export of a JSON import is byte-identical.
fn assert_round_trips(from: &TestEnv) {
    let original = export_json(from);
    let want = comparable(&original);
    assert!(!want.is_empty());
    for (fmt, extra) in [("vcard", None), ("vcard", Some("--vcard3")), ("json", None)] {
        let file = from.root().join(format!("out-{fmt}-{}", extra.is_some()));
        let file = file.display().to_string();
        let mut args = vec!["export", "--format", fmt, "-o", &file];
        args.extend(extra);
        from.ok(&args);
        let to = TestEnv::new();
        let (created, updated, _) = counts(&to, &[&file]);
        assert_eq!(updated, 0, "{fmt} {extra:?}");
        assert!(created > 0);
        let got = export_json(&to);
        assert_eq!(comparable(&got), want, "{fmt} {extra:?}");
        if fmt == "json" {
            assert_eq!(
                to.ok(&["export", "--format", "json"]),
                from.ok(&["export", "--format", "json"]),
                "a JSON import reproduces the vault"
            );
        }
        // Re-importing the same export into the home it came from changes nothing.
        assert_eq!(counts(from, &[&file]).1, 0, "{fmt} {extra:?} re-import");
        assert_eq!(comparable(&export_json(from)), want);
    }
}

#[test]
fn a_home_built_with_commands_round_trips_in_every_format() {
    let env = TestEnv::new();
    let ada = env.add(
        "Ada Lovelace",
        &[
            "-e",
            "ada@example.com",
            "-p",
            "+44 20 7946 0000",
            "--org",
            "Analytical Engines",
            "--title",
            "Programmer",
            "-t",
            "math",
            "--kind",
            "mentor",
            "--met",
            "Babbage's salon; she asked about the engine",
            "--every",
            "30d",
        ],
    );
    let grace = env.add(
        "Grace Hopper",
        &["-e", "grace@example.com", "--kind", "friend"],
    );
    env.add("Nameless Org Person", &[]);
    env.ok(&["set", &grace, "custom.navy", "Rear Admiral"]);
    env.ok(&["set", &grace, "birthday", "1906-12-09"]);
    env.ok(&["set", &ada, "given", "Ada"]);
    env.ok(&["link", &grace, &ada, "--as", "introduced-by"]);
    env.ok(&["note", &ada, "First note about Ada"]);
    env.ok(&[
        "log",
        "--kind",
        "call",
        &ada,
        "Talked about Bernoulli numbers",
    ]);
    env.ok(&[
        "remind",
        "--on",
        "2026-12-01",
        &grace,
        "Send the compiler paper",
    ]);
    assert_round_trips(&env);
}

#[test]
fn a_generated_network_round_trips_in_every_format() {
    let env = TestEnv::new();
    let file = write(&env, "network.json", &network(300).to_string());
    assert_eq!(counts(&env, &[&file]), (300, 0, 0));
    // The JSON import kept every document as it was.
    let exported = export_json(&env);
    assert_eq!(comparable(&exported), comparable(&network(300)));
    assert_round_trips(&env);
}

#[test]
fn kiths_own_vcard_export_carries_the_uid_and_reimports_unchanged() {
    let env = TestEnv::new();
    let id = env.add("Ada Lovelace", &["-e", "ada@example.com"]);
    let vcf = env.ok(&["export", "--format", "vcard"]);
    assert!(
        vcf.contains(&format!("UID:urn:uuid:{}-", &id[..8])),
        "{vcf}"
    );
    let file = write(&env, "ada.vcf", &vcf);
    assert_eq!(counts(&env, &[&file]), (0, 0, 1));
    let v3 = env.ok(&["export", "--format", "vcard", "--vcard3"]);
    assert!(v3.contains("N;X-KITH-DERIVED=1:Lovelace;Ada;;;"), "{v3}");
}

#[test]
fn a_bad_kith_json_export_fails_with_one_line_and_writes_nothing() {
    let env = TestEnv::new();
    let file = write(
        &env,
        "bad.json",
        "{\"kith_export\": 1, \"contacts\": [ {\"id\": 5} ]}",
    );
    let err = env.fails(&["import", &file], 1);
    crate::env::assert_one_error(&err, "not a valid kith JSON export");
    let newer = write(&env, "newer.json", "{\"kith_export\": 9, \"contacts\": []}");
    let err = env.fails(&["import", &newer], 1);
    crate::env::assert_one_error(&err, "version 9");
    assert_eq!(env.names(&[]).len(), 0);
}
