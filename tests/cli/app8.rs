//! Issue 8's leftovers: errors classified in one place (`cli::command_error`) keep their
//! messages, hints and exit codes, including the errors `net` now reports as its own type.

use crate::env::{assert_one_error, TestEnv};

#[test]
fn usage_errors_exit_2_with_clap_message_and_help_exits_0() {
    let t = TestEnv::new();
    let err = t.fails(&["list", "--no-such-flag"], 2);
    assert!(
        err.starts_with("error: unexpected argument '--no-such-flag'"),
        "{err}"
    );
    assert!(err.contains("Usage: kith list"), "{err}");
    let o = t.run(&["--help"]);
    assert_eq!(o.code, 0, "{o:#?}");
    assert!(o.stdout.contains("Usage: kith"), "{}", o.stdout);
    assert!(o.stderr.is_empty(), "{}", o.stderr);
}

#[test]
fn network_setting_errors_keep_message_hint_and_exit_1() {
    let t = TestEnv::new();
    // A bad flag value: the message and the hint of the setting.
    let o = t.run_with(&["sync", "--bind", "nowhere"], &[], None);
    assert_eq!(o.code, 1, "{o:#?}");
    assert_one_error(&o.stderr, "'nowhere' is not an address to listen on");
    assert!(
        o.stderr.contains("hint: use IP:PORT, e.g. 127.0.0.1:7400"),
        "{}",
        o.stderr
    );
    // From the environment: the variable is named.
    let o = t.run_with(&["sync"], &[("KITH_RELAY", "sometimes")], None);
    assert_eq!(o.code, 1, "{o:#?}");
    assert_one_error(&o.stderr, "KITH_RELAY: 'sometimes' is not a relay setting");
    // From the per-home kith.conf: file and line, with the list of settings.
    std::fs::create_dir_all(t.home()).unwrap();
    std::fs::write(t.home().join("kith.conf"), "# settings\ncolour = blue\n").unwrap();
    let o = t.run(&["sync"]);
    assert_eq!(o.code, 1, "{o:#?}");
    assert_one_error(&o.stderr, "kith.conf:2: unknown setting 'colour'");
    assert!(
        o.stderr.contains("hint: settings: relay, mdns, bind"),
        "{}",
        o.stderr
    );
}

#[test]
fn a_damaged_device_key_is_a_user_error_with_its_hint() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &[]);
    std::fs::write(t.home().join("device.key"), "not hex at all\n").unwrap();
    let o = t.run(&["device", "id"]);
    assert_eq!(o.code, 1, "{o:#?}");
    assert_one_error(&o.stderr, "is damaged: it is not a kith device key");
    assert!(o.stderr.contains("hint: restore "), "{}", o.stderr);
}

#[test]
fn a_cut_ticket_is_a_user_error_with_its_hint() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &[]);
    let err = t.fails(&["device", "join", "kith1"], 1);
    assert_one_error(&err, "damaged or incomplete ticket");
    assert!(err.contains("hint: copy the whole line"), "{err}");
}

/// Replaces each id (whole, and its 16- and 8-digit prefixes) by its label padded with dots to
/// the same width, so table columns stay aligned.
fn redact(text: &str, ids: &[(String, &str)]) -> String {
    let mut s = text.to_string();
    for (id, label) in ids {
        for n in [id.len(), 16, 8] {
            if n <= id.len() {
                s = s.replace(&id[..n], &format!("{label:.<n$}"));
            }
        }
    }
    s
}

/// The human output of `timeline`, `search` and the messages of `done`, `tag`, `set` and
/// `rm`, under the pinned clock (2026-11-22).
#[test]
fn timeline_search_and_messages_snapshot() {
    let t = TestEnv::new();
    let ada = t.add("Ada Lovelace", &["--org", "Analytical Engines"]);
    let o = t.run_with(
        &["log", "-k", "coffee", "Ada", "Tea at the engine"],
        &[("KITH_NOW", "2026-10-01T10:00:00Z")],
        None,
    );
    assert_eq!(o.code, 0, "{o:#?}");
    let log = o.stdout.trim().to_string();
    let note = t.ok(&["note", "Ada", "Wants the engine notes in French"]);
    let rem = t.ok(&["remind", "--in", "3d", "Ada", "Send the engine notes"]);
    let ids = vec![
        (ada, "ada"),
        (log, "log"),
        (note.trim().to_string(), "note"),
        (rem.trim().to_string(), "rem"),
    ];
    let mut text = String::new();
    for args in [
        &["timeline", "Ada"][..],
        &["search", "engine"],
        &["tag", "Ada", "+math", "+history"],
        &["set", "Ada", "title", "Analyst"],
        &["set", "Ada", "title", "Analyst"],
        &["done", "engine notes"],
        &["rm", "Ada"],
        &["rm", "--undo", "Ada"],
    ] {
        let o = t.run(args);
        text.push_str(&format!(
            "$ kith {}\nexit {}\n{}--- stderr\n{}",
            args.join(" "),
            o.code,
            o.stdout,
            o.stderr
        ));
    }
    insta::assert_snapshot!(redact(&text, &ids));
}

/// The thin-CLI rule, checked: no file under src/cli/ (subdirectories included) is longer than 400 lines, and none writes
/// a document itself (updates go through an `App` use case).
#[test]
fn cli_files_are_short_and_write_nothing_themselves() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cli");
    let mut seen = 0;
    let mut paths = Vec::new();
    let mut dirs = vec![dir.clone()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                paths.push(path);
            }
        }
    }
    for path in paths {
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        seen += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        let lines = text.lines().count();
        assert!(
            lines <= 400,
            "{} has {lines} lines (at most 400)",
            path.display()
        );
        for needle in ["update_contact(", "vault.write(", "model::write_"] {
            assert!(
                !text.contains(needle),
                "{} calls {needle}: write through an App use case",
                path.display()
            );
        }
    }
    assert!(seen >= 10, "only {seen} files found in {}", dir.display());
}
