//! The web's contact list sorts only the page it shows (fast7): its pages, end to end, must be
//! the rows `kith list` prints in the same order. And the names `kith due` and `kith digest`
//! put on each row, with one contact due among many and with several: the rows a faster
//! name lookup must keep (such a change was tried and measured, see docs/benchmarks.md).

use std::collections::HashMap;

use serde_json::Value;

use crate::env::TestEnv;
use crate::web::Server;

/// id -> name of every contact (`kith list --json`).
fn names_by_id(env: &TestEnv) -> HashMap<String, String> {
    env.json(&["list"])
        .as_array()
        .expect("list --json is an array")
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["name"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn import(env: &TestEnv, names: &[String]) {
    let mut vcf = String::new();
    for n in names {
        vcf.push_str(&format!(
            "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:{n}\r\nEND:VCARD\r\n"
        ));
    }
    let path = env.root().join("people.vcf");
    std::fs::write(&path, vcf).unwrap();
    env.ok(&["import", path.to_str().unwrap()]);
}

/// Every row of `due --json` and of the digest's sections names its own contact.
fn assert_rows_named(env: &TestEnv, want_due: usize) -> Value {
    let names = names_by_id(env);
    let due = env.json(&["due"]);
    let rows = due.as_array().unwrap();
    assert_eq!(rows.len(), want_due, "{due:#}");
    for r in rows {
        let c = r["contact"].as_str().expect("every row here has a contact");
        assert_eq!(r["name"].as_str().unwrap(), names[c], "{r:#}");
    }
    let d = env.json(&["digest"]);
    for section in ["overdue", "reminders", "promises"] {
        for l in d[section].as_array().unwrap() {
            let c = l["contact"].as_str().unwrap();
            assert_eq!(l["name"].as_str().unwrap(), names[c], "{section}: {l:#}");
        }
    }
    d
}

#[test]
fn due_and_digest_name_every_row_whether_few_or_many_contacts_are_due() {
    let env = TestEnv::new();
    let people: Vec<String> = (1..=24).map(|i| format!("Friend {i}")).collect();
    import(&env, &people);
    // One contact due among 24.
    env.ok(&["set", "Friend 7", "every", "1w"]);
    assert_rows_named(&env, 1);
    let text = env.ok(&["due"]);
    assert!(
        text.contains("Friend 7") && text.contains("keep in touch every 1w; no contact logged yet"),
        "{text}"
    );
    // Three due (two reminders, a cadence; the 2w cadences and the promise are further out).
    for i in (2..=24).step_by(2) {
        env.ok(&["set", &format!("Friend {i}"), "every", "2w"]);
    }
    env.ok(&["remind", "Friend 3", "--in", "2d", "send the slides"]);
    env.ok(&["remind", "Friend 9", "--in", "1d", "call back"]);
    env.ok(&["promise", "Friend 11", "--in", "3w", "lend the book"]);
    env.ok(&["log", "Friend 4", "--kind", "call", "caught up"]);
    let d = assert_rows_named(&env, 3);
    assert_eq!(d["reminders"].as_array().unwrap().len(), 2, "{d:#}");
    assert_eq!(d["promises"][0]["name"], "Friend 11", "{d:#}");
    let text = env.ok(&["due"]);
    assert!(
        text.contains("Friend 9") && text.contains("call back"),
        "{text}"
    );
    assert!(!text.contains("Friend 4 "), "logged today, not due: {text}");
}

/// The names of the contact rows of one page of the web list, in order.
fn page_names(s: &Server, path: &str) -> Vec<String> {
    let r = s.get(path);
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
        .split("<td><a href=\"/c/")
        .skip(1)
        .map(|cell| {
            let start = cell.find('>').unwrap() + 1;
            let end = cell.find("</a>").unwrap();
            cell[start..end].to_string()
        })
        .collect()
}

#[test]
fn web_list_pages_put_every_contact_where_the_full_sort_does() {
    let env = TestEnv::new();
    // Numbers without padding (natural order), accents and case, and names that differ
    // only after a digit run: the pages must cut the same order `kith list` prints.
    let mut people = Vec::new();
    for i in 0..180 {
        people.push(format!("Person {}", (i * 37) % 211));
        people.push(format!(
            "{} Smith {i}",
            ["Émile", "emile", "Emma", "zoë", "Zoe", "ada"][i % 6]
        ));
        people.push(format!("Unit {}b{}", i % 13, i));
    }
    import(&env, &people);
    let cli = env.names(&[]);
    assert_eq!(cli.len(), 540);
    let s = Server::start(&env);
    let mut web = Vec::new();
    for page in 0..3 {
        let names = page_names(&s, &format!("/?sort=name&page={page}"));
        assert_eq!(names.len(), if page < 2 { 250 } else { 40 }, "page {page}");
        web.extend(names);
    }
    let cli: Vec<String> = cli
        .iter()
        .map(|n| n.replace('&', "&amp;").replace('<', "&lt;"))
        .collect();
    assert_eq!(web, cli, "the pages, end to end, are `kith list`");
    // By last contact: the same rows as the full list, too.
    env.ok(&["log", "Person 0", "--kind", "call", "hello"]);
    let by_last: Vec<String> = (0..3)
        .flat_map(|p| page_names(&s, &format!("/?sort=last&page={p}")))
        .collect();
    assert_eq!(by_last, env.names(&["--sort", "last-contact"]));
}
