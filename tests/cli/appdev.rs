//! Snapshot tests of human output (insta; the `.snap` files are in `snapshots/`), with the
//! clock pinned by `KITH_NOW`. Random ids are replaced by placeholders before comparing.

use crate::env::TestEnv;

/// Replaces each id (whole, and its 16- and 8-digit prefixes as shown in tables) by its label
/// padded with dots to the same width, so table columns stay aligned.
fn redact(text: &str, ids: &[(&str, &str)]) -> String {
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

/// Two contacts, one past its cadence, an interaction seven weeks ago and two reminders.
fn sample() -> (TestEnv, Vec<(String, &'static str)>) {
    let env = TestEnv::new();
    let ada = env.add(
        "Ada Lovelace",
        &[
            "-e",
            "ada@example.org",
            "-t",
            "math",
            "--org",
            "Analytical",
            "--every",
            "2w",
        ],
    );
    let charles = env.add("Charles Babbage", &["-t", "math", "--every", "1m"]);
    let o = env.run_with(
        &["log", "-k", "coffee", "Ada", "Tea at the engine"],
        &[("KITH_NOW", "2026-10-01T10:00:00Z")],
        None,
    );
    assert_eq!(o.code, 0, "{o:#?}");
    let log = o.stdout.trim().to_string();
    // An overdue reminder, set before its date (a date in the past is refused).
    let o = env.run_with(
        &["remind", "--on", "2026-11-20", "Ada", "Send the notes"],
        &[("KITH_NOW", "2026-11-01T10:00:00Z")],
        None,
    );
    assert_eq!(o.code, 0, "{o:#?}");
    let notes = o.stdout;
    let ask = env.ok(&["remind", "--in", "3d", "Charles", "Ask about the engine"]);
    let ids = vec![
        (ada, "ada"),
        (charles, "charles"),
        (log, "log"),
        (notes.trim().to_string(), "notes"),
        (ask.trim().to_string(), "ask"),
    ];
    (env, ids)
}

fn labels<'a>(ids: &'a [(String, &'static str)]) -> Vec<(&'a str, &'static str)> {
    ids.iter().map(|(i, l)| (i.as_str(), *l)).collect()
}

#[test]
fn show_snapshot() {
    let (env, ids) = sample();
    insta::assert_snapshot!(redact(&env.ok(&["show", "Ada"]), &labels(&ids)));
}

#[test]
fn list_snapshot() {
    let (env, ids) = sample();
    insta::assert_snapshot!(redact(&env.ok(&["list"]), &labels(&ids)));
}

#[test]
fn due_snapshot() {
    let (env, ids) = sample();
    insta::assert_snapshot!(redact(&env.ok(&["due"]), &labels(&ids)));
}

#[test]
fn status_snapshot() {
    let env = TestEnv::new();
    // Before this device has a key: no rows, a note on stderr.
    let first = env.ok_out(&["status"]);
    env.ok(&["device", "rename", "laptop"]);
    let me = env.ok(&["device", "id"]).trim().to_string();
    let then = env.ok_out(&["status"]);
    let text = format!(
        "--- no key yet: stdout\n{}--- stderr\n{}--- after `device rename laptop`: stdout\n{}--- stderr\n{}",
        first.stdout, first.stderr, then.stdout, then.stderr
    );
    insta::assert_snapshot!(redact(&text, &[(me.as_str(), "me")]));
}

#[test]
fn error_lines_snapshot() {
    let (env, ids) = sample();
    let mut text = String::new();
    for args in [
        &["show", "Nobody"][..],
        &["due", "--within", "xx"],
        &["remind", "--on", "2026-13-40", "Ada", "x"],
        &["add", ""],
        &["sync"],
        &["device", "join", "kith1notaticket"],
    ] {
        let o = env.run(args);
        text.push_str(&format!(
            "$ kith {}\nexit {}\n{}",
            args.join(" "),
            o.code,
            o.stderr
        ));
    }
    insta::assert_snapshot!(redact(&text, &labels(&ids)));
}
