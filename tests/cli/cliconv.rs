//! CLI conventions: shell completions, the man page, `-v` logging, the pager, the config file,
//! help examples, and the documented `--json` keys of `sync` and `import`.

use std::process::Stdio;

use crate::env::{assert_one_error, finish, TestEnv};
use crate::sync::{pair, Daemon, Dev};

/// Subcommands every completion script and the man page must name.
const SUBCOMMANDS: &[&str] = &[
    "add",
    "show",
    "list",
    "edit",
    "set",
    "tag",
    "rm",
    "link",
    "note",
    "log",
    "timeline",
    "remind",
    "due",
    "done",
    "search",
    "reindex",
    "check",
    "device",
    "sync",
    "daemon",
    "status",
    "import",
    "export",
    "merge",
    "duplicates",
    "backup",
    "restore",
    "completions",
    "man",
];

#[test]
fn completions_for_every_shell_name_the_subcommands() {
    let env = TestEnv::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = env.ok(&["completions", shell]);
        assert!(
            out.len() > 1000,
            "{shell}: completion script too short:\n{out}"
        );
        for sub in SUBCOMMANDS {
            assert!(out.contains(sub), "{shell} completions do not name `{sub}`");
        }
    }
    // Generating completions needs no home and creates none.
    assert!(!env.home().exists());
    let err = env.fails(&["completions", "tcsh"], 2);
    assert!(err.contains("tcsh"), "{err}");
}

#[test]
fn bash_completion_script_is_valid_bash() {
    let env = TestEnv::new();
    let script = env.root().join("kith.bash");
    std::fs::write(&script, env.ok(&["completions", "bash"])).unwrap();
    let o = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("bash");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn man_page_is_roff_naming_every_subcommand() {
    let env = TestEnv::new();
    let page = env.ok(&["man"]);
    assert!(page.contains(".TH KITH 1"), "no .TH KITH header:\n{page}");
    assert!(page.contains(".SH NAME") && page.contains(".SH SYNOPSIS"));
    for sub in SUBCOMMANDS {
        assert!(
            page.contains(&format!("kith\\-{}", sub.replace('-', "\\-")))
                || page.contains(&format!("kith-{sub}")),
            "man page does not name `{sub}`"
        );
    }
    // groff renders it without warnings (-ww: all warnings, -z: no output).
    if std::process::Command::new("groff")
        .arg("--version")
        .output()
        .is_ok()
    {
        let path = env.root().join("kith.1");
        std::fs::write(&path, &page).unwrap();
        let o = std::process::Command::new("groff")
            .args(["-man", "-ww", "-z"])
            .arg(&path)
            .output()
            .expect("groff");
        assert!(
            o.status.success() && o.stderr.is_empty(),
            "groff: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn help_shows_examples_for_the_main_commands() {
    let env = TestEnv::new();
    for cmd in [
        &["add"][..],
        &["show"],
        &["list"],
        &["edit"],
        &["set"],
        &["note"],
        &["log"],
        &["remind"],
        &["due"],
        &["done"],
        &["search"],
        &["import"],
        &["export"],
        &["sync"],
        &["device", "invite"],
        &["device", "join"],
    ] {
        let mut a = cmd.to_vec();
        a.push("--help");
        let out = env.ok(&a);
        let words = cmd.join(" ");
        assert!(
            out.contains("Examples:") && out.contains(&format!("$ kith {words} ")),
            "kith {words} --help has no examples:\n{out}"
        );
    }
}

#[test]
fn the_help_examples_run_as_written() {
    let env = TestEnv::new();
    env.ok(&[
        "add",
        "Ada Lovelace",
        "--email",
        "ada@example.com",
        "--org",
        "Analytical Engines",
        "-t",
        "friend",
    ]);
    env.ok(&[
        "add",
        "Grace Hopper",
        "--phone",
        "+1 555 0100",
        "--every",
        "3m",
        "--met",
        "at PyCon 2024",
    ]);
    env.ok(&["show", "ada"]);
    env.json(&["show", "ada@example.com"]);
    env.ok(&["list", "-t", "friend", "--sort", "last-contact"]);
    env.ok(&["set", "ada", "title", "Chief Engineer"]);
    env.ok(&["set", "ada", "birthday", "1815-12-10"]);
    env.ok(&["set", "ada", "every", "2w"]);
    env.ok(&["note", "ada", "Loves mathematics and poetry"]);
    env.ok(&[
        "note",
        "--about",
        "ada",
        "--about",
        "grace",
        "Met both at the conference dinner",
        "-t",
        "conference",
    ]);
    env.ok(&["log", "ada", "Coffee at the corner place", "-k", "coffee"]);
    env.ok(&[
        "log",
        "ada",
        "grace",
        "Project kickoff",
        "-k",
        "meeting",
        "--on",
        "2026-01-15",
    ]);
    env.ok(&["remind", "ada", "Send the paper", "--in", "3d"]);
    let r = env.json(&["remind", "grace", "Birthday card", "--on", "2026-12-09"]);
    env.ok(&["due"]);
    env.json(&["due", "--within", "30d"]);
    let id = r["id"].as_str().unwrap();
    env.ok(&["done", &id[..8], "--snooze", "1w"]);
    let hits = env.json(&["search", "analytical", "engine", "-n", "5"]);
    assert!(hits["total"].as_u64().unwrap() >= 1, "{hits}");
    let vcf = env.root().join("contacts.vcf");
    env.ok(&["export", "--format", "vcard", "-o", vcf.to_str().unwrap()]);
    env.ok(&["import", vcf.to_str().unwrap(), "--dry-run"]);
}

#[test]
fn silent_by_default_and_verbose_levels_log_to_stderr() {
    let env = TestEnv::new();
    env.add("Ada Lovelace", &[]);
    let quiet = env.run(&["list"]);
    assert_eq!(quiet.code, 0);
    assert_eq!(quiet.stderr, "", "kith is not silent by default");
    // -v is info: opening the vault is a debug event, so not shown.
    let v = env.run(&["-v", "list"]);
    assert_eq!(v.code, 0);
    assert!(!v.stderr.contains("vault opened"), "{}", v.stderr);
    let vv = env.run(&["list", "-vv"]);
    assert!(
        vv.stderr.contains("DEBUG") && vv.stderr.contains("vault opened"),
        "{}",
        vv.stderr
    );
    assert_eq!(vv.stdout, quiet.stdout, "logging must not touch stdout");
    let env_log = env.run_with(&["list"], &[("KITH_LOG", "debug")], None);
    assert!(
        env_log.stderr.contains("vault opened"),
        "{}",
        env_log.stderr
    );
    let bad = env.run_with(&["list"], &[("KITH_LOG", "kith=loud")], None);
    assert_eq!(bad.code, 1, "{bad:?}");
    assert_one_error(&bad.stderr, "KITH_LOG");
}

#[test]
fn verbose_sync_logs_the_session_and_sync_json_has_the_documented_keys() {
    let a = Dev::new("a");
    let b = Dev::new("b");
    pair(&a, &b);
    a.add("Ada Lovelace", &[]);
    let daemon = Daemon::start(&a);
    let o = b.cmd(&["--json", "sync", "-v"]).output().expect("sync");
    let o = finish(o);
    drop(daemon);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stderr.contains("sync session finished"), "{}", o.stderr);
    assert!(o.stderr.contains("frames_received="), "{}", o.stderr);
    let reports: serde_json::Value = serde_json::from_str(&o.stdout).expect("sync --json");
    let r = &reports.as_array().expect("array")[0];
    for key in [
        "device",
        "name",
        "ok",
        "docs_differing",
        "docs_sent",
        "docs_received",
        "bytes_sent",
        "bytes_received",
        "round_trips",
        "millis",
    ] {
        assert!(r.get(key).is_some(), "sync --json lacks `{key}`: {r}");
    }
    assert_eq!(r["ok"], true);
    assert!(r.get("error").is_none(), "error is left out when ok: {r}");
    assert!(r["docs_received"].as_u64().unwrap() >= 1, "{r}");
}

#[test]
fn import_json_has_the_documented_keys() {
    let env = TestEnv::new();
    let vcf = env.root().join("in.vcf");
    std::fs::write(
        &vcf,
        "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Ada Lovelace\r\nEMAIL:ada@example.com\r\nEND:VCARD\r\n",
    )
    .unwrap();
    let s = env.json(&["import", vcf.to_str().unwrap()]);
    for key in [
        "dry_run",
        "files",
        "created",
        "updated",
        "unchanged",
        "skipped",
        "invalid",
        "photos_skipped",
        "deleted",
        "changes",
    ] {
        assert!(s.get(key).is_some(), "import --json lacks `{key}`: {s}");
    }
    assert_eq!(s["created"], 1);
    let c = &s["changes"][0];
    for key in ["action", "id", "name", "file", "line"] {
        assert!(c.get(key).is_some(), "import change lacks `{key}`: {c}");
    }
    assert_eq!(c["action"], "created");
}

#[test]
fn status_and_device_list_json_have_the_documented_keys() {
    let a = Dev::new("a");
    let b = Dev::new("b");
    pair(&a, &b);
    for args in [&["status"][..], &["device", "list"]] {
        let rows = a.json(args);
        let rows = rows.as_array().expect("array");
        assert_eq!(rows.len(), 2, "{rows:?}");
        for r in rows {
            for key in ["id", "name", "this_device", "removed", "addrs"] {
                assert!(r.get(key).is_some(), "{args:?} --json lacks `{key}`: {r}");
            }
        }
    }
}

/// Runs `kith ARGS` on a pseudo-terminal (util-linux `script`), so stdout is a terminal.
fn on_tty(env: &TestEnv, args: &str, envs: &[(&str, &str)]) -> String {
    let kith = env!("CARGO_BIN_EXE_kith");
    // The harness's environment (cleared, pinned clock, temporary home), on `script`.
    let base = env.cmd(&[]);
    let mut s = std::process::Command::new("script");
    s.env_clear();
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            s.env(k, v);
        }
    }
    for (k, v) in envs {
        s.env(k, v);
    }
    // `script` runs the command through $SHELL -c; its output is the terminal's.
    let out = s
        .env("SHELL", "/bin/sh")
        .args(["-q", "-e", "-c", &format!("{kith} {args}"), "/dev/null"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("script(1)");
    String::from_utf8_lossy(&out.stdout).replace('\r', "")
}

#[test]
fn pager_runs_on_a_terminal_only_and_can_be_turned_off() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: no script(1) to make a terminal");
        return;
    }
    let env = TestEnv::new();
    env.add("Ada Lovelace", &[]);
    let pager = env.script("pager.sh", "sed 's/^/PAGED: /'");
    let paged = on_tty(&env, "list", &[("PAGER", &pager)]);
    assert!(
        paged.contains("PAGED: ") && paged.contains("Ada Lovelace"),
        "{paged}"
    );
    // KITH_PAGER wins over PAGER.
    let kp = env.script("kpager.sh", "sed 's/^/KITH: /'");
    let out = on_tty(
        &env,
        "search ada",
        &[("PAGER", &pager), ("KITH_PAGER", &kp)],
    );
    assert!(out.contains("KITH: "), "{out}");
    // Off: --no-pager, an empty KITH_PAGER, and commands that do not page.
    let out = on_tty(&env, "list --no-pager", &[("PAGER", &pager)]);
    assert!(
        out.contains("Ada Lovelace") && !out.contains("PAGED"),
        "{out}"
    );
    let out = on_tty(&env, "list", &[("PAGER", &pager), ("KITH_PAGER", "")]);
    assert!(
        out.contains("Ada Lovelace") && !out.contains("PAGED"),
        "{out}"
    );
    let out = on_tty(&env, "due", &[("PAGER", &pager)]);
    assert!(!out.contains("PAGED"), "{out}");
    // A pager that does not exist: a warning, and the output all the same.
    let out = on_tty(&env, "list", &[("PAGER", "/nonexistent/pager")]);
    assert!(
        out.contains("warning:") && out.contains("Ada Lovelace"),
        "{out}"
    );
    // Not a terminal (the harness pipes stdout): never paged.
    let o = env.run_with(&["list"], &[("PAGER", &pager)], None);
    assert!(!o.stdout.contains("PAGED") && o.stdout.contains("Ada Lovelace"));
}

#[test]
fn config_file_sets_home_and_pager_below_env_and_flags() {
    let env = TestEnv::new();
    let cfg_home = env.root().join("cfg-home");
    let dir = env.root().join(".config").join("kith");
    std::fs::create_dir_all(&dir).unwrap();
    // The platform config directory ($HOME/.config here) is read without KITH_CONFIG.
    std::fs::write(
        dir.join("config.toml"),
        format!("# mine\nhome = \"{}\"\n", cfg_home.display()),
    )
    .unwrap();
    let run = |args: &[&str], envs: &[(&str, &str)]| {
        let mut c = env.cmd(args);
        c.env_remove("KITH_HOME");
        for (k, v) in envs {
            c.env(k, v);
        }
        finish(c.output().unwrap())
    };
    let o = run(&["add", "Ada Lovelace"], &[]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(cfg_home.join("vault.redb").exists(), "config home not used");
    // KITH_HOME beats the file; --home beats both.
    let o = run(
        &["add", "Grace Hopper"],
        &[("KITH_HOME", env.home().to_str().unwrap())],
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert!(env.vault().exists());
    let flag_home = env.root().join("flag-home");
    let o = run(
        &["--home", flag_home.to_str().unwrap(), "add", "Alan Turing"],
        &[],
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert!(flag_home.join("vault.redb").exists());
    let list = run(&["list"], &[]);
    assert!(
        list.stdout.contains("Ada") && !list.stdout.contains("Grace"),
        "{list:?}"
    );

    // KITH_CONFIG names another file.
    let other = env.root().join("other.toml");
    std::fs::write(&other, format!("home = \"{}\"\n", flag_home.display())).unwrap();
    let list = run(&["list"], &[("KITH_CONFIG", other.to_str().unwrap())]);
    assert!(
        list.stdout.contains("Alan") && !list.stdout.contains("Ada"),
        "{list:?}"
    );
}

#[test]
fn bad_config_files_are_one_error_with_path_and_line() {
    let env = TestEnv::new();
    let cfg = env.root().join("bad.toml");
    std::fs::write(&cfg, "pager = \"less\"\n\ncolour = true\n").unwrap();
    let o = env.run_with(&["list"], &[("KITH_CONFIG", cfg.to_str().unwrap())], None);
    assert_eq!(o.code, 1, "{o:?}");
    assert_one_error(&o.stderr, "bad.toml:3:");
    assert!(o.stderr.contains("colour"), "{}", o.stderr);

    std::fs::write(&cfg, "home = [1\n").unwrap();
    let o = env.run_with(&["list"], &[("KITH_CONFIG", cfg.to_str().unwrap())], None);
    assert_eq!(o.code, 1, "{o:?}");
    assert_one_error(&o.stderr, "bad.toml:1:");

    let missing = env.root().join("missing.toml");
    let o = env.run_with(
        &["list"],
        &[("KITH_CONFIG", missing.to_str().unwrap())],
        None,
    );
    assert_eq!(o.code, 1, "{o:?}");
    assert_one_error(&o.stderr, "missing.toml");

    // A network setting the config file gets wrong is reported as such.
    std::fs::write(&cfg, "bind = \"nowhere\"\n").unwrap();
    let o = env.run_with(&["sync"], &[("KITH_CONFIG", cfg.to_str().unwrap())], None);
    assert_eq!(o.code, 1, "{o:?}");
    assert_one_error(&o.stderr, "bad.toml: 'nowhere'");
    assert!(!env.vault().exists(), "a failed command created the vault");
}
