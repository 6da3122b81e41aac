//! `kith edit` and `kith rm` with scripted editors, including editors that stay open while
//! another process changes the same document.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use crate::env::{assert_one_error, finish, Output, TestEnv};

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
    assert_eq!(
        o.stderr,
        "updated Augusta Ada King\n  name: 'Ada Lovelace' -> 'Augusta Ada King'\n  email: +countess@example.org\n"
    );
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
        lines[0].starts_with("error: edit buffer line 8:"),
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

// ---------------------------------------------------------------------------------------------
// Edits merged against the version shown.

/// An editor that signals it has opened the buffer (`started-TAG`), waits until the test
/// creates `go-TAG`, then applies a sed script.
fn waiting_editor(t: &TestEnv, tag: &str, sed_script: &str) -> String {
    let dir = t.root().display().to_string();
    t.script(
        &format!("wait-{tag}.sh"),
        &format!(
            "touch '{dir}/started-{tag}'\n\
             while [ ! -f '{dir}/go-{tag}' ]; do sleep 0.02; done\n\
             sed '{sed_script}' \"$1\" > \"$1.new\" && mv \"$1.new\" \"$1\""
        ),
    )
}

#[track_caller]
fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(Instant::now() < deadline, "timed out waiting for {path:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Starts `kith ARGS` with `editor` and waits until the editor has the buffer open.
fn open_editor(t: &TestEnv, args: &[&str], editor: &str, tag: &str) -> Child {
    let child = t
        .cmd(args)
        .env("EDITOR", editor)
        .spawn()
        .expect("spawn kith edit");
    wait_for(&t.root().join(format!("started-{tag}")));
    child
}

/// Lets the waiting editor `tag` save and quit; returns what kith printed.
fn release(t: &TestEnv, tag: &str, child: Child) -> Output {
    std::fs::write(t.root().join(format!("go-{tag}")), "").expect("signal file");
    finish(child.wait_with_output().expect("wait for kith edit"))
}

#[test]
fn changes_made_while_the_editor_is_open_survive() {
    let t = TestEnv::new();
    let id = ada(&t);
    let editor = waiting_editor(&t, "a", "s/^nickname:.*/nickname: Countess/");
    let child = open_editor(&t, &["edit", "ada"], &editor, "a");
    // Another process changes other fields while the buffer is open.
    t.ok(&["set", "ada", "url", "https://ada.example.org"]);
    t.ok(&["tag", "ada", "+poetry"]);
    t.ok(&["set", "ada", "met", "At a salon in London"]);
    t.ok(&["set", "ada", "every", "2w"]);
    let o = release(&t, "a", child);
    assert_eq!(o.code, 0, "{o:#?}");
    assert_eq!(
        o.stderr,
        "updated Ada Lovelace\n  nickname: (empty) -> 'Countess'\n"
    );
    let c = t.json(&["show", &id]);
    assert_eq!(c["nickname"], "Countess");
    let urls: Vec<&str> = c["urls"]
        .as_object()
        .unwrap()
        .values()
        .map(|u| u["value"].as_str().unwrap())
        .collect();
    assert_eq!(urls, ["https://ada.example.org"], "{c}");
    assert_eq!(c["tags"], serde_json::json!(["math", "poetry"]));
    assert_eq!(c["met"], "At a salon in London");
    assert_eq!(c["every"], "2w");
    assert_eq!(c["conflicts"], serde_json::json!([]));
}

#[test]
fn the_same_field_changed_on_both_sides_is_a_visible_conflict() {
    let t = TestEnv::new();
    let id = ada(&t);
    let editor = waiting_editor(
        &t,
        "a",
        "s/^org: Analytical Engines; Analyst$/org: Analytical Engines; Founder/\ns/^name: .*/name: Ada King/",
    );
    let child = open_editor(&t, &["edit", "ada"], &editor, "a");
    t.ok(&["set", "ada", "title", "CEO"]);
    t.ok(&["set", "ada", "name", "Ada Byron"]);
    let o = release(&t, "a", child);
    assert_eq!(o.code, 0, "{o:#?}");
    assert!(
        o.stderr
            .contains("warning: conflict with a concurrent change: title at Analytical Engines:"),
        "{}",
        o.stderr
    );
    let c = t.json(&["show", &id]);
    let fields: Vec<&str> = c["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|cf| cf["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields.len(), 2, "{c}");
    assert!(fields.contains(&"name"), "{c}");
    let explained = c["conflicts_explained"].as_array().unwrap();
    let title = explained
        .iter()
        .find(|x| x["what"] == "title at Analytical Engines")
        .unwrap_or_else(|| panic!("no title conflict in {c}"));
    let mut values: Vec<&str> = title["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    values.sort();
    assert_eq!(values, ["CEO", "Founder"]);
    assert_eq!(title["set_field"], "org.Analytical Engines.title");
    // Human output names the field in words and the command that settles it, never the
    // internal path.
    let text = t.ok(&["show", "ada"]);
    let short = &id[..8];
    assert!(
        text.contains(&format!(
            "conflict: title at Analytical Engines: '{}' vs '{}' — settle with `kith set {short} 'org.Analytical Engines.title' VALUE`",
            title["values"][0].as_str().unwrap(),
            title["values"][1].as_str().unwrap()
        )),
        "{text}"
    );
    assert!(text.contains("conflict: name: "), "{text}");
    assert!(!text.contains("orgs."), "{text}");
    // The suggested command settles it.
    t.ok(&["set", short, "org.Analytical Engines.title", "Founder"]);
    t.ok(&["set", short, "name", "Ada King"]);
    let c = t.json(&["show", &id]);
    assert_eq!(c["conflicts"], serde_json::json!([]), "{c}");
    let org = c["orgs"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    assert_eq!(org["title"], "Founder");
    assert_eq!(c["name"], "Ada King");
}

#[test]
fn every_parse_error_is_reported_at_once() {
    let t = TestEnv::new();
    let id = ada(&t);
    let before = t.json(&["show", &id]);
    let editor = sed_editor(
        &t,
        "two.sh",
        "s/^nickname:.*/garbage line/\ns/^every: .*/every: 3q/\ns/^tags:/colour:/",
    );
    let o = t.run_with(&["edit", "ada"], &[("EDITOR", &editor)], None);
    assert_eq!(o.code, 1, "{o:#?}");
    let first = o.stderr.lines().next().unwrap();
    assert!(first.starts_with("error: edit buffer line 8: "), "{first}");
    assert!(first.contains("garbage line"), "{first}");
    assert!(first.contains("unknown field 'colour'"), "{first}");
    assert!(first.contains("3q"), "{first}");
    assert_eq!(first.matches("; line ").count(), 2, "{first}");
    assert_eq!(t.json(&["show", &id]), before);
}

fn recovery_path(stderr: &str) -> PathBuf {
    let hint = stderr
        .lines()
        .find_map(|l| l.strip_prefix("hint: your text is saved in "))
        .unwrap_or_else(|| panic!("no recovery hint in {stderr}"));
    PathBuf::from(hint.split(';').next().unwrap())
}

#[test]
fn a_failed_edit_can_be_resumed_from_its_recovery_file() {
    let t = TestEnv::new();
    let id = ada(&t);
    let editor = sed_editor(
        &t,
        "bad.sh",
        "s/^nickname:.*/nickname: Countess/\ns/^every: .*/every: 3q/",
    );
    let o = t.run_with(&["edit", "ada"], &[("EDITOR", &editor)], None);
    assert_eq!(o.code, 1, "{o:#?}");
    let rec = recovery_path(&o.stderr);
    assert!(
        o.stderr.contains(&format!("--from {}`", rec.display())),
        "{}",
        o.stderr
    );
    // Meanwhile another change lands.
    t.ok(&["tag", "ada", "+poetry"]);
    // Resume: the editor fixes the mistake in the saved text.
    let fix = sed_editor(&t, "fix.sh", "s/^every: .*/every: 3w/");
    let o = t.run_with(
        &["edit", "ada", "--from", rec.to_str().unwrap()],
        &[("EDITOR", &fix)],
        None,
    );
    assert_eq!(o.code, 0, "{o:#?}");
    assert!(
        o.stderr.contains("nickname: (empty) -> 'Countess'"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("every: '30d' -> '3w'"), "{}", o.stderr);
    let c = t.json(&["show", &id]);
    assert_eq!(c["nickname"], "Countess");
    assert_eq!(c["every"], "3w");
    // The tag added after the buffer was rendered is kept: the resumed edit merges against the
    // version in the file's base line.
    assert_eq!(c["tags"], serde_json::json!(["math", "poetry"]));
}

#[test]
fn a_missing_editor_says_it_could_not_be_started() {
    let t = TestEnv::new();
    ada(&t);
    let o = t.run_with(
        &["edit", "ada"],
        &[("EDITOR", "/nonexistent/kith-test-editor")],
        None,
    );
    assert_eq!(o.code, 1, "{o:#?}");
    assert_one_error(&o.stderr, "could not be started");
    assert!(o.stderr.contains("hint: set EDITOR"), "{}", o.stderr);
    assert!(!o.stderr.contains("save and quit"), "{}", o.stderr);
}

// ---------------------------------------------------------------------------------------------
// Notes, interactions and reminders.

fn note(t: &TestEnv, text: &str) -> String {
    t.ok(&["note", "ada", text]).trim().to_string()
}

#[test]
fn a_note_is_edited_by_its_id_prefix() {
    let t = TestEnv::new();
    ada(&t);
    let id = note(&t, "Talked about the engine");
    let editor = sed_editor(
        &t,
        "n.sh",
        "s/the engine/the analytical engine/\ns/^tags:.*/tags: work/",
    );
    let o = t.run_with(&["edit", &id[..6]], &[("EDITOR", &editor)], None);
    assert_eq!(o.code, 0, "{o:#?}");
    assert_eq!(
        o.stderr,
        format!(
            "updated note {}\n  tags: +work\n  text: edited (23 -> 34 characters)\n",
            &id[..8]
        )
    );
    let tl = t.json(&["timeline", "ada"]);
    assert_eq!(tl[0]["text"], "Talked about the analytical engine");
    let hits = t.json(&["search", "analytical", "engine"]);
    assert!(
        hits["hits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["id"] == id),
        "{hits}"
    );
}

#[test]
fn interactions_and_reminders_are_editable() {
    let t = TestEnv::new();
    ada(&t);
    let log = t
        .ok(&[
            "log",
            "ada",
            "--kind",
            "call",
            "--on",
            "2026-11-20",
            "Quick call",
        ])
        .trim()
        .to_string();
    let editor = sed_editor(
        &t,
        "i.sh",
        "s/^date: .*/date: 2026-11-21/\ns/^kind: .*/kind: coffee/",
    );
    let o = t.run_with(&["edit", &log[..8]], &[("EDITOR", &editor)], None);
    assert_eq!(o.code, 0, "{o:#?}");
    let tl = t.json(&["timeline", "ada"]);
    assert_eq!(tl[0]["date"], "2026-11-21");
    assert_eq!(tl[0]["label"], "coffee");
    assert_eq!(t.json(&["show", "ada"])["last_contact"], "2026-11-21");

    let rem = t
        .ok(&["remind", "ada", "Send the paper", "--on", "2026-12-20"])
        .trim()
        .to_string();
    assert!(t
        .json(&["due"])
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["id"] != rem));
    let editor = sed_editor(
        &t,
        "r.sh",
        "s/^due: .*/due: 2026-11-23/\ns/Send the paper/Send the draft/",
    );
    let o = t.run_with(&["edit", &rem[..8]], &[("EDITOR", &editor)], None);
    assert_eq!(o.code, 0, "{o:#?}");
    let due = t.json(&["due"]);
    let row = due
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == rem)
        .unwrap_or_else(|| panic!("edited reminder not due: {due}"));
    assert_eq!(row["text"], "Send the draft");
    assert_eq!(row["date"], "2026-11-23");

    // A bad date is reported with its line, and nothing changes.
    let editor = sed_editor(&t, "bad.sh", "s/^due: .*/due: someday/");
    let o = t.run_with(&["edit", &rem[..8]], &[("EDITOR", &editor)], None);
    assert_eq!(o.code, 1, "{o:#?}");
    assert!(
        o.stderr.starts_with("error: edit buffer line "),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("someday"), "{}", o.stderr);
    assert!(due_has(&t, &rem));
}

fn due_has(t: &TestEnv, id: &str) -> bool {
    t.json(&["due", "--within", "1y"])
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["id"] == id)
}

#[test]
fn a_note_edited_twice_at_once_merges_by_character() {
    let t = TestEnv::new();
    ada(&t);
    let id = note(&t, "The quick brown fox jumps");
    let ea = waiting_editor(&t, "a", "s/quick/slow/");
    let eb = waiting_editor(&t, "b", "s/fox/dog/");
    let a = open_editor(&t, &["edit", &id[..8]], &ea, "a");
    let b = open_editor(&t, &["edit", &id[..8]], &eb, "b");
    let oa = release(&t, "a", a);
    assert_eq!(oa.code, 0, "{oa:#?}");
    let ob = release(&t, "b", b);
    assert_eq!(ob.code, 0, "{ob:#?}");
    let tl = t.json(&["timeline", "ada", "--full"]);
    assert_eq!(tl[0]["text"], "The slow brown dog jumps");
}

#[test]
fn removed_items_leave_timeline_search_and_due_and_can_come_back() {
    let t = TestEnv::new();
    ada(&t);
    let n = note(&t, "Zebra crossing idea");
    let rem = t
        .ok(&["remind", "ada", "Call about zebras", "--in", "2d"])
        .trim()
        .to_string();
    let log = t
        .ok(&[
            "log",
            "ada",
            "--kind",
            "call",
            "--on",
            "2026-11-20",
            "Zebra call",
        ])
        .trim()
        .to_string();
    assert!(due_has(&t, &rem));
    for id in [&n, &rem, &log] {
        let err = t.run(&["rm", &id[..8]]);
        assert_eq!(err.code, 0, "{err:#?}");
        assert!(
            err.stderr
                .contains(&format!("undo with `kith rm --undo {}`", &id[..8])),
            "{}",
            err.stderr
        );
    }
    assert_eq!(t.json(&["timeline", "ada"]), serde_json::json!([]));
    crate::rough::search_finds_nothing(&t, &["zebra"]);
    assert!(!due_has(&t, &rem));
    assert!(t.json(&["show", "ada"]).get("last_contact").is_none());
    // A removed item cannot be edited until it is restored.
    let o = t.run_with(&["edit", &n[..8]], &[("EDITOR", "true")], None);
    assert_eq!(o.code, 1, "{o:#?}");
    assert_one_error(&o.stderr, "was removed");
    // Undo brings each back with its content.
    for id in [&n, &rem, &log] {
        t.ok(&["rm", "--undo", &id[..8]]);
    }
    assert_eq!(t.json(&["timeline", "ada"]).as_array().unwrap().len(), 3);
    assert_eq!(t.json(&["search", "zebra"])["total"], 3);
    assert!(due_has(&t, &rem));
    assert_eq!(t.json(&["show", "ada"])["last_contact"], "2026-11-20");
}

#[test]
fn rm_of_a_contact_still_archives_and_undo_restores() {
    let t = TestEnv::new();
    ada(&t);
    let o = t.ok_out(&["rm", "ada"]);
    assert!(
        o.stderr.contains("undo with `kith rm --undo "),
        "{}",
        o.stderr
    );
    assert!(t.names(&[]).is_empty());
    let short = o
        .stderr
        .split("--undo ")
        .nth(1)
        .unwrap()
        .trim_end_matches("`\n");
    t.ok(&["rm", "--undo", short]);
    assert_eq!(t.names(&[]), ["Ada Lovelace"]);
}

#[test]
fn a_reminder_text_changed_twice_at_once_is_a_visible_conflict() {
    let t = TestEnv::new();
    ada(&t);
    let rem = t
        .ok(&["remind", "ada", "Send the paper", "--in", "2d"])
        .trim()
        .to_string();
    let ea = waiting_editor(&t, "a", "s/Send the paper/Send the draft/");
    let eb = waiting_editor(&t, "b", "s/Send the paper/Post the paper/");
    let a = open_editor(&t, &["edit", &rem[..8]], &ea, "a");
    let b = open_editor(&t, &["edit", &rem[..8]], &eb, "b");
    let oa = release(&t, "a", a);
    assert_eq!(oa.code, 0, "{oa:#?}");
    let ob = release(&t, "b", b);
    assert_eq!(ob.code, 0, "{ob:#?}");
    assert!(
        ob.stderr
            .contains("warning: conflict with a concurrent change: text: '"),
        "{}",
        ob.stderr
    );
    assert!(
        ob.stderr.contains("'Send the draft'") && ob.stderr.contains("'Post the paper'"),
        "{}",
        ob.stderr
    );
    // The next edit buffer names the conflict too.
    let dump = t.script(
        "dump.sh",
        &format!("cp \"$1\" '{}/dump.txt'", t.root().display()),
    );
    let o = t.run_with(&["edit", &rem[..8]], &[("EDITOR", &dump)], None);
    assert_eq!(o.code, 0, "{o:#?}");
    let buf = std::fs::read_to_string(t.root().join("dump.txt")).unwrap();
    assert!(buf.contains("# CONFLICT: text: '"), "{buf}");
}
