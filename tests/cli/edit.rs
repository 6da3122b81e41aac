//! `kith edit` with scripted editors.

use crate::env::{assert_one_error, TestEnv};

fn ada(t: &TestEnv) -> String {
    t.add(
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
            "math",
            "--kind",
            "friend",
            "--met",
            "At a salon",
            "--every",
            "30d",
        ],
    )
}

/// A buffer rewrite with sed that keeps the file in place (portable: no `sed -i`).
fn sed_editor(t: &TestEnv, name: &str, sed_script: &str) -> String {
    t.script(
        name,
        &format!("sed '{sed_script}' \"$1\" > \"$1.new\" && mv \"$1.new\" \"$1\""),
    )
}

#[test]
fn edit_changes_only_what_the_editor_changed() {
    let t = TestEnv::new();
    let id = ada(&t);
    let before = t.json(&["show", &id]);
    let editor = sed_editor(
        &t,
        "rename.sh",
        "s/^name: .*/name: Augusta Ada King/\ns/^archived: no$/email: countess@example.org\\\narchived: no/",
    );
    let o = t.run_with(&["edit", "ada"], &[("EDITOR", &editor)], None);
    assert_eq!(o.code, 0, "{o:#?}");
    assert_eq!(o.stderr, "updated Ada Lovelace\n");
    let after = t.json(&["show", &id]);
    assert_eq!(after["name"], "Augusta Ada King");
    let emails = after["emails"].as_object().unwrap();
    assert_eq!(emails.len(), 2, "{after}");
    // The existing email keeps its entry key; the new one gets a fresh key.
    for (k, e) in before["emails"].as_object().unwrap() {
        assert_eq!(&emails[k], e);
    }
    assert!(emails
        .values()
        .any(|e| e["value"] == "countess@example.org"));
    for field in [
        "phones", "orgs", "tags", "kinds", "met", "every", "links", "custom", "n",
    ] {
        assert_eq!(after[field], before[field], "{field} changed");
    }
    assert_eq!(t.names(&[]), ["Augusta Ada King"]);
}

#[test]
fn edit_with_a_broken_buffer_saves_the_text_and_changes_nothing() {
    let t = TestEnv::new();
    let id = ada(&t);
    let before = t.json(&["show", &id]);
    let editor = sed_editor(
        &t,
        "corrupt.sh",
        "s/^name: .*/name: Changed/\ns/^nickname:.*/garbage line/",
    );
    let o = t.run_with(&["edit", "ada"], &[("EDITOR", &editor)], None);
    assert_eq!(o.code, 1, "{o:#?}");
    let lines: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", o.stderr);
    assert!(
        lines[0].starts_with("error: edit buffer line 7:"),
        "{}",
        o.stderr
    );
    assert!(lines[0].contains("garbage line"), "{}", o.stderr);
    let path = lines[1]
        .strip_prefix("hint: your text is saved in ")
        .and_then(|s| s.split(';').next())
        .unwrap_or_else(|| panic!("no recovery path in {}", o.stderr));
    assert!(path.starts_with(t.home().to_str().unwrap()), "{path}");
    let saved = std::fs::read_to_string(path).expect("recovery file exists");
    assert!(
        saved.contains("name: Changed\n") && saved.contains("garbage line\n"),
        "{saved}"
    );
    assert_eq!(t.json(&["show", &id]), before);
}

#[test]
fn edit_with_an_emptied_buffer_is_cancelled() {
    let t = TestEnv::new();
    let id = ada(&t);
    let before = t.json(&["show", &id]);
    let editor = t.script("empty.sh", ": > \"$1\"");
    let o = t.run_with(&["edit", "ada"], &[("EDITOR", &editor)], None);
    assert_eq!(o.code, 0, "{o:#?}");
    assert!(o.stderr.contains("cancelled"), "{}", o.stderr);
    assert_eq!(t.json(&["show", &id]), before);
}

#[test]
fn edit_with_a_failing_editor_changes_nothing() {
    let t = TestEnv::new();
    let id = ada(&t);
    let before = t.json(&["show", &id]);
    // The editor writes a change and then fails: the change must not be applied.
    let editor = sed_editor(&t, "fail.sh", "s/^name: .*/name: Changed/");
    let failing = t.script("fail2.sh", &format!("{editor} \"$1\"; exit 3"));
    let o = t.run_with(&["edit", "ada"], &[("EDITOR", &failing)], None);
    assert_eq!(o.code, 1, "{o:#?}");
    assert_one_error(&o.stderr, "nothing was changed");
    assert_eq!(t.json(&["show", &id]), before);
}

#[test]
fn edit_without_changes_writes_nothing() {
    let t = TestEnv::new();
    let id = ada(&t);
    t.add("Charles Babbage", &[]);
    t.ok(&["link", "ada", "babbage", "--as", "works-with"]);
    let before = t.json(&["show", &id]);
    let same = sed_editor(&t, "same.sh", "s/^nothing-matches$//");
    for editor in ["true", same.as_str()] {
        let o = t.run_with(&["edit", "ada"], &[("EDITOR", editor)], None);
        assert_eq!(o.code, 0, "{o:#?}");
        assert_eq!(o.stderr, "no changes\n", "{editor}");
    }
    assert_eq!(t.json(&["show", &id]), before);
}

#[test]
fn edit_validates_field_values() {
    let t = TestEnv::new();
    let id = ada(&t);
    let before = t.json(&["show", &id]);
    for (n, script) in [
        ("bad-every.sh", "s/^every: .*/every: 3q/"),
        ("bad-email.sh", "s/^email: .*/email: nope/"),
        ("bad-birthday.sh", "s/^birthday:.*/birthday: 2026-13-01/"),
        ("no-name.sh", "s/^name: .*/name:/"),
    ] {
        let editor = sed_editor(&t, n, script);
        let o = t.run_with(&["edit", "ada"], &[("EDITOR", &editor)], None);
        assert_eq!(o.code, 1, "{n}: {o:#?}");
        assert!(
            o.stderr.starts_with("error: edit buffer line "),
            "{n}: {}",
            o.stderr
        );
    }
    assert_eq!(t.json(&["show", &id]), before);
}
