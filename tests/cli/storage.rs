//! The vault file: private permissions, damaged and truncated vaults, `kith check`, read
//! commands that create nothing, read-only vaults, large texts and error messages.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use crate::env::{assert_one_error, finish, Output, TestEnv};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("stat").permissions().mode() & 0o777
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A small vault with contacts, notes, an interaction and a reminder.
fn populated() -> TestEnv {
    let t = TestEnv::new();
    t.add(
        "Ada Lovelace",
        &["--email", "ada@example.com", "--org", "Analytical"],
    );
    t.add("Charles Babbage", &["--tag", "engine"]);
    t.ok(&["note", "Ada", "Notes on the engine: Bernoulli numbers"]);
    t.ok(&[
        "log",
        "Ada",
        "Babbage",
        "--kind",
        "meeting",
        "tea and diagrams",
    ]);
    t.ok(&["remind", "Ada", "--in", "3d", "send the translation"]);
    t
}

/// Asserts what every run on a damaged vault must do: exit 0 or 1, no panic message, and on
/// failure exactly one `error:` line (and a hint).
#[track_caller]
fn assert_clean_outcome(o: &Output, what: &str) {
    assert!(
        o.code == 0 || o.code == 1,
        "{what}: exit {} (expected 0 or 1):\n{}",
        o.code,
        o.stderr
    );
    assert!(
        !o.stderr.contains("panicked") && !o.stderr.contains("RUST_BACKTRACE"),
        "{what}: panic message printed:\n{}",
        o.stderr
    );
    if o.code != 0 {
        let lines: Vec<&str> = o.stderr.lines().collect();
        assert!(
            !lines.is_empty()
                && lines[0].starts_with("error: ")
                && (lines.len() == 1 || (lines.len() == 2 && lines[1].starts_with("hint: "))),
            "{what}: expected one error line (and a hint), got:\n{}",
            o.stderr
        );
    }
}

#[test]
fn home_and_vault_are_private_whatever_the_umask() {
    let t = TestEnv::new();
    let mut c = t.cmd(&["add", "Ada"]);
    // SAFETY: umask is async-signal-safe and touches no memory.
    unsafe {
        c.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    let o = finish(c.output().expect("run kith"));
    assert_eq!(o.code, 0, "{o:#?}");
    assert_eq!(mode(&t.home()), 0o700, "home");
    assert_eq!(mode(&t.vault()), 0o600, "vault");
    // Files kith writes elsewhere for the user are private too.
    let backup = t.root().join("b.kith");
    let mut c = t.cmd(&["backup", backup.to_str().unwrap()]);
    unsafe {
        c.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    assert_eq!(finish(c.output().expect("run kith")).code, 0);
    assert_eq!(mode(&backup), 0o600, "backup");
    // No temporary file is left in the home.
    let names: Vec<String> = std::fs::read_dir(t.home())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["vault.redb"]);
}

#[test]
fn damaged_vaults_give_one_line_errors_and_never_panic() {
    let src = populated();
    let good = std::fs::read(src.vault()).expect("read vault");
    let ada = src.ok(&["list"]);
    assert!(ada.contains("Ada"));
    // A fixed-seed xorshift generator: the same 120 variants every run.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut failed = 0;
    for variant in 0..120 {
        let mut bytes = good.clone();
        let flips = 1 + next() % 8;
        for _ in 0..flips {
            let at = (next() % bytes.len() as u64) as usize;
            bytes[at] ^= 1 << (next() % 8);
        }
        let t = TestEnv::new();
        std::fs::create_dir(t.home()).unwrap();
        std::fs::write(t.vault(), &bytes).unwrap();
        for args in [
            &["export", "--format", "json"][..],
            &["search", "engine"],
            &["list"],
            &["show", "Ada"],
            &["reindex"],
        ] {
            let o = t.run(args);
            assert_clean_outcome(&o, &format!("variant {variant}, kith {args:?}"));
            if o.code != 0 {
                failed += 1;
            }
        }
    }
    // The flips must actually hurt some of them, or this test proves nothing.
    assert!(
        failed > 0,
        "no variant failed: the damage did not reach the data"
    );
}

#[test]
fn a_truncated_vault_is_damaged_with_a_restore_hint() {
    let t = populated();
    let len = std::fs::metadata(t.vault()).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(t.vault())
        .unwrap();
    f.set_len(len / 3).unwrap();
    drop(f);
    for args in [
        &["list"][..],
        &["search", "ada"],
        &["export", "--format", "json"],
    ] {
        let err = t.fails(args, 1);
        assert_one_error(&err, "is damaged");
        assert!(err.contains("kith restore"), "{err}");
        assert!(err.contains("kith check"), "{err}");
    }
    let o = t.run(&["check"]);
    assert_eq!(o.code, 1, "{o:#?}");
    assert!(o.stdout.starts_with("problem: file: "), "{o:#?}");
}

#[test]
fn check_reports_counts_and_index_differences() {
    let t = populated();
    let out = t.ok(&["check"]);
    assert_eq!(
        out.trim(),
        "ok: 5 documents (2 contacts, 1 interaction, 1 note, 1 reminder)"
    );
    let j = t.json(&["check"]);
    assert_eq!(j["ok"], true);
    assert_eq!(j["documents"]["contact"], 2);
    assert_eq!(j["problems"].as_array().unwrap().len(), 0);

    // Remove one index entry behind kith's back: check names the table, reindex repairs it.
    {
        let mut b = redb::Builder::new();
        b.set_concurrency_mode(redb::ConcurrencyMode::MultiWriter);
        let db = b.open(t.vault()).expect("open vault with redb");
        let w = db.begin_write().unwrap();
        {
            let def: redb::TableDefinition<(&str, [u8; 16]), ()> =
                redb::TableDefinition::new("ix_names");
            let mut names = w.open_table(def).unwrap();
            let first = {
                use redb::ReadableTable;
                let (k, _) = names.first().unwrap().expect("a name entry");
                let (n, id) = k.value();
                (n.to_string(), id)
            };
            names.remove((first.0.as_str(), first.1)).unwrap();
        }
        w.commit().unwrap();
    }
    let o = t.run(&["check"]);
    assert_eq!(o.code, 1, "{o:#?}");
    assert!(
        o.stdout
            .contains("problem: index ix_names: 1 entries differ"),
        "{o:#?}"
    );
    assert_one_error(&o.stderr, "has 1 problem");
    let o = t.run(&["--json", "check"]);
    assert_eq!(o.code, 1);
    let j: serde_json::Value = serde_json::from_str(&o.stdout).expect("json");
    assert_eq!(j["ok"], false);
    assert_eq!(j["problems"].as_array().unwrap().len(), 1);
    // check changed nothing: the problem is still there until reindex.
    assert_eq!(t.run(&["check"]).code, 1);
    t.ok(&["reindex"]);
    assert!(t.ok(&["check"]).starts_with("ok: 5 documents"));
}

#[test]
fn read_commands_on_an_empty_home_create_nothing() {
    let t = TestEnv::new();
    let backup = t.root().join("b.kith");
    for args in [
        &["list"][..],
        &["search", "ada"],
        &["due"],
        &["check"],
        &["export", "--format", "json"],
        &["export", "--format", "vcard"],
        &["backup", backup.to_str().unwrap()],
    ] {
        let o = t.run(args);
        // `search` exits 1 when nothing matches, as grep does.
        let expected = if args[0] == "search" { 1 } else { 0 };
        assert_eq!(o.code, expected, "kith {args:?}: {o:#?}");
        assert!(!t.home().exists(), "kith {args:?} created the home");
    }
    assert_eq!(t.json(&["list"]), serde_json::json!([]));
    assert_one_error(&t.fails(&["show", "Ada"], 1), "Ada");
    assert!(!t.home().exists(), "show created the home");
}

/// Runs `kith ARGS` with the home bind-mounted read-only (as root, where chmod does not stop
/// writes), or with the home and vault chmod'ed read-only otherwise. None when neither works.
fn run_read_only(t: &TestEnv, args: &[&str]) -> Option<Output> {
    if !is_root() {
        let vault = t.vault().exists();
        if vault {
            std::fs::set_permissions(t.vault(), std::fs::Permissions::from_mode(0o400)).unwrap();
        }
        std::fs::set_permissions(t.home(), std::fs::Permissions::from_mode(0o500)).unwrap();
        let o = t.run(args);
        std::fs::set_permissions(t.home(), std::fs::Permissions::from_mode(0o700)).unwrap();
        if vault {
            std::fs::set_permissions(t.vault(), std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        return Some(o);
    }
    let home = t.home();
    let script = r#"mount --bind -o ro "$1" "$1" || exit 99; shift; exec "$@""#;
    let mut c = Command::new("unshare");
    let inner = t.cmd(args);
    c.args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(&home)
        .arg(inner.get_program())
        .args(inner.get_args())
        .env_clear()
        .envs(inner.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .stdin(std::process::Stdio::null());
    let o = finish(c.output().ok()?);
    if o.code == 99 || o.stderr.contains("unshare:") {
        return None;
    }
    Some(o)
}

#[test]
fn export_and_backup_work_on_a_vault_that_cannot_be_written() {
    let t = populated();
    let backup = t.root().join("ro.kith");
    let Some(o) = run_read_only(&t, &["export", "--format", "json"]) else {
        println!("skipped: cannot make the home read-only here (root without unshare/mount)");
        return;
    };
    assert_eq!(o.code, 0, "export: {o:#?}");
    assert!(o.stdout.contains("Ada Lovelace"));
    let o = run_read_only(&t, &["backup", backup.to_str().unwrap()]).unwrap();
    assert_eq!(o.code, 0, "backup: {o:#?}");
    assert!(backup.exists());
    let o = run_read_only(&t, &["search", "engine"]).unwrap();
    assert_eq!(o.code, 0, "search: {o:#?}");
    // A write says what is wrong, naming no temporary file.
    let o = run_read_only(&t, &["add", "Grace Hopper"]).unwrap();
    assert_eq!(o.code, 1, "{o:#?}");
    if is_root() {
        assert_one_error(&o.stderr, "read-only file system");
    } else {
        assert_one_error(&o.stderr, "permission denied");
    }
    // Creating a vault in a read-only home names the vault, not the temporary file.
    std::fs::remove_file(t.vault()).unwrap();
    let o = run_read_only(&t, &["add", "Grace Hopper"]).unwrap();
    assert_eq!(o.code, 1, "{o:#?}");
    assert!(o.stderr.contains("vault.redb"), "{}", o.stderr);
    assert!(!o.stderr.contains(".vault.redb."), "{}", o.stderr);
}

#[test]
fn a_home_that_is_a_file_is_not_a_directory() {
    let t = TestEnv::new();
    let file = t.root().join("afile");
    std::fs::write(&file, "x").unwrap();
    for args in [&["add", "Ada"][..], &["list"]] {
        let mut a = vec!["--home", file.to_str().unwrap()];
        a.extend_from_slice(args);
        let err = t.fails(&a, 1);
        assert_one_error(&err, "is not a directory");
        assert!(!err.contains("os error"), "{err}");
    }
}

#[test]
fn negative_durations_get_kiths_own_error() {
    let t = TestEnv::new();
    t.add("Ada", &[]);
    let err = t.fails(&["remind", "Ada", "--in", "-3d", "call"], 1);
    assert_one_error(&err, "'-3d' is not a valid interval");
    assert!(!err.contains("-- -3d"), "{err}");
    let err = t.fails(&["due", "--within", "-2w"], 1);
    assert_one_error(&err, "'-2w'");
}

#[test]
fn usage_lines_do_not_show_home_as_required() {
    let t = TestEnv::new();
    let o = t.run(&["list", "--bogus"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("Usage: kith list"), "{}", o.stderr);
    assert!(!o.stderr.contains("--home"), "{}", o.stderr);
    // KITH_HOME still chooses the home.
    t.add("Ada", &[]);
    assert!(t.vault().exists());
}

#[test]
fn a_text_above_the_cap_is_refused_and_nothing_is_written() {
    let t = TestEnv::new();
    t.add("Ada", &[]);
    let big = "word ".repeat((1 << 20) / 5 + 1);
    let o = t.run_with(&["note", "Ada", "-"], &[], Some(&big));
    assert_eq!(o.code, 1, "{o:#?}");
    assert_one_error(&o.stderr, "at most 1 MiB per text");
    assert!(
        t.ok(&["timeline", "Ada"]).trim().is_empty()
            || !t.ok(&["timeline", "Ada"]).contains("word")
    );
    // Just under the cap, with many distinct words, is stored and searchable.
    let mut text = String::new();
    let mut i = 0u32;
    while text.len() < 300_000 {
        text.push_str(&format!("w{i} "));
        i += 1;
    }
    text.push_str("zebracorn");
    t.run_with(&["note", "Ada", "-"], &[], Some(&text));
    let hits = t.ok(&["search", "zebracorn"]);
    assert!(hits.contains("zebracorn") || hits.contains("Ada"), "{hits}");
}
