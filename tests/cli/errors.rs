//! User errors (exit 1, one `error:` line), usage errors (exit 2) and hostile environments.

use std::process::Stdio;

use crate::env::{assert_one_error, finish, TestEnv};

#[test]
fn malformed_dates_and_intervals_name_the_value() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &[]);
    let cases: &[(&[&str], &str)] = &[
        (
            &["remind", "ada", "x", "--on", "2026-13-01"],
            "'2026-13-01'",
        ),
        (&["remind", "ada", "x", "--on", "tomorow"], "'tomorow'"),
        (
            &["remind", "ada", "x", "--on", "2026-02-29"],
            "'2026-02-29'",
        ),
        (&["remind", "ada", "x", "--in", "3q"], "'3q'"),
        (&["remind", "ada", "x", "--in", "0d"], "'0d'"),
        (
            &["log", "ada", "--kind", "call", "--on", "2026-13-01", "x"],
            "'2026-13-01'",
        ),
        (
            &["log", "ada", "--kind", "call", "--on", "tomorow", "x"],
            "'tomorow'",
        ),
        (&["add", "Grace", "--every", "3q"], "'3q'"),
        (&["add", "Grace", "--every", "0d"], "'0d'"),
        (&["due", "--within", "3q"], "'3q'"),
        (&["due", "--within", "0d"], "'0d'"),
        (&["done", "x", "--snooze", "0d"], "'0d'"),
        (&["set", "ada", "birthday", "2026-13-01"], "'2026-13-01'"),
        (&["add", "Grace", "--email", "grace"], "'grace'"),
        (&["add", "Grace", "--phone", "abc"], "'abc'"),
        (&["add", "Grace", "--tag", "two words"], "'two words'"),
    ];
    for (args, needle) in cases {
        let err = t.fails(args, 1);
        assert_one_error(&err, needle);
    }
    // Nothing was written by any of them.
    assert_eq!(t.names(&[]), ["Ada Lovelace"]);
    assert_eq!(t.json(&["timeline", "ada"]), serde_json::json!([]));
}

#[test]
fn a_contact_needs_a_name() {
    let t = TestEnv::new();
    for name in ["", "   "] {
        assert_one_error(&t.fails(&["add", name], 1), "needs a name");
    }
    assert_one_error(&t.fails(&["add", "a\u{7}b"], 1), "control characters");
    assert_eq!(t.json(&["list"]), serde_json::json!([]));
}

#[test]
fn usage_errors_exit_2() {
    let t = TestEnv::new();
    for args in [
        &[][..],
        &["bogus"],
        &["add"],
        &["list", "--sort", "nope"],
        &["list", "--no-such-flag"],
        &["show"],
        &["remind", "ada", "x"],
        &["remind", "ada", "x", "--on", "today", "--in", "1d"],
        &["search"],
        &["tag", "ada"],
    ] {
        let err = t.fails(args, 2);
        assert!(err.starts_with("error: "), "{args:?}: {err}");
    }
    let o = t.ok_out(&["--help"]);
    assert!(o.stdout.contains("Usage: kith"), "{}", o.stdout);
    assert!(t.ok(&["--version"]).starts_with("kith "));
}

#[test]
fn a_bad_pinned_clock_is_a_user_error() {
    let t = TestEnv::new();
    let o = t.run_with(&["list"], &[("KITH_NOW", "garbage")], None);
    assert_eq!(o.code, 1, "{o:#?}");
    assert_one_error(&o.stderr, "KITH_NOW");
}

#[test]
fn a_foreign_vault_file_is_refused_and_left_untouched() {
    let t = TestEnv::new();
    std::fs::create_dir_all(t.home()).unwrap();
    let junk: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(t.vault(), &junk).unwrap();
    for args in [
        &["list"][..],
        &["add", "Ada"],
        &["reindex"],
        &["search", "x"],
    ] {
        let err = t.fails(args, 1);
        assert_one_error(&err, "is not a kith vault");
        assert!(err.contains(t.vault().to_str().unwrap()), "{err}");
    }
    assert_eq!(std::fs::read(t.vault()).unwrap(), junk);
    // A short file too.
    std::fs::write(t.vault(), b"hello").unwrap();
    assert_one_error(&t.fails(&["add", "Ada"], 1), "is not a kith vault");
    assert_eq!(std::fs::read(t.vault()).unwrap(), b"hello");
}

#[cfg(unix)]
#[test]
fn an_unreadable_vault_is_a_permission_error() {
    use std::os::unix::fs::PermissionsExt;
    let t = TestEnv::new();
    t.add("Ada Lovelace", &[]);
    let before = std::fs::read(t.vault()).unwrap();
    std::fs::set_permissions(t.vault(), std::fs::Permissions::from_mode(0o000)).unwrap();
    // Root ignores permissions: only assert the error when the file really is unreadable.
    if std::fs::File::open(t.vault()).is_err() {
        let err = t.fails(&["list"], 1);
        assert_one_error(&err, "permission denied");
        assert!(err.contains(t.vault().to_str().unwrap()), "{err}");
        t.fails(&["add", "Grace"], 1);
    }
    std::fs::set_permissions(t.vault(), std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(std::fs::read(t.vault()).unwrap(), before);
    assert_eq!(t.names(&[]), ["Ada Lovelace"]);
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    let t = TestEnv::new();
    t.add("Person 00", &[]);
    let mut children = Vec::new();
    for i in 1..30 {
        children.push(t.cmd(&["add", &format!("Person {i:02}")]).spawn().unwrap());
    }
    for c in children {
        assert_eq!(finish(c.wait_with_output().unwrap()).code, 0);
    }
    t.ok(&["note", "person 01", "a note"]);
    // The reader is gone before kith writes anything: every write fails with EPIPE.
    for args in [
        &["list"][..],
        &["list", "--json"],
        &["search", "person"],
        &["timeline", "person 01"],
    ] {
        let mut c = t.cmd(args);
        c.stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        drop(child.stdout.take());
        let o = finish(child.wait_with_output().unwrap());
        assert_eq!(o.code, 0, "{args:?}: {o:#?}");
        assert!(!o.stderr.contains("error"), "{args:?}: {}", o.stderr);
    }
    // And as a shell pipeline.
    let script = format!(
        "\"{}\" list --no-header 2>\"$0.err\" | head -1",
        env!("CARGO_BIN_EXE_kith")
    );
    let errfile = t.root().join("pipe");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .arg(&errfile)
        .env("KITH_HOME", t.home())
        .env("KITH_NOW", crate::env::NOW)
        .output()
        .unwrap();
    assert!(out.status.success());
    let first = String::from_utf8(out.stdout).unwrap();
    assert_eq!(first.lines().count(), 1);
    assert!(first.contains("Person 00"), "{first}");
    assert_eq!(
        std::fs::read_to_string(t.root().join("pipe.err")).unwrap(),
        ""
    );
}
