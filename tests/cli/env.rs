//! `TestEnv`: runs the real `kith` binary in a temporary home with a cleared environment and a
//! pinned clock, and collects stdout, stderr and the exit code.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// The pinned "now" of every test: a Sunday.
pub const NOW: &str = "2026-11-22T10:00:00Z";
pub const TODAY: &str = "2026-11-22";

/// What one run of `kith` produced.
#[derive(Debug)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

pub struct TestEnv {
    dir: tempfile::TempDir,
}

impl TestEnv {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("tmp")).expect("tmp dir");
        TestEnv { dir }
    }

    /// The temporary directory holding the home, scripts and temp files.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `KITH_HOME`.
    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }

    pub fn vault(&self) -> PathBuf {
        self.home().join("vault.redb")
    }

    /// A `kith` command with a cleared environment: PATH, HOME, TMPDIR, KITH_HOME, KITH_NOW.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kith"));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.root())
            .env("TMPDIR", self.root().join("tmp"))
            .env("KITH_HOME", self.home())
            .env("KITH_NOW", NOW)
            // Never touch the internet: no relays, no public or LAN discovery, loopback only.
            .env("KITH_RELAY", "off")
            .env("KITH_MDNS", "off")
            .env("KITH_BIND", "127.0.0.1:0")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[], None)
    }

    /// Runs with extra environment variables and, optionally, text on standard input.
    pub fn run_with(&self, args: &[&str], envs: &[(&str, &str)], stdin: Option<&str>) -> Output {
        let mut c = self.cmd(args);
        c.envs(envs.iter().copied());
        if stdin.is_some() {
            c.stdin(Stdio::piped());
        }
        let mut child = c.spawn().expect("spawn kith");
        if let Some(text) = stdin {
            let mut input = child.stdin.take().expect("stdin");
            input.write_all(text.as_bytes()).expect("write stdin");
        }
        finish(child.wait_with_output().expect("wait for kith"))
    }

    /// Runs and asserts exit 0; returns stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(o.code, 0, "kith {args:?} failed: {o:#?}");
        o.stdout
    }

    /// Runs and asserts exit 0; returns the whole output (stderr carries messages).
    #[track_caller]
    pub fn ok_out(&self, args: &[&str]) -> Output {
        let o = self.run(args);
        assert_eq!(o.code, 0, "kith {args:?} failed: {o:#?}");
        o
    }

    /// Runs and asserts the exit code; returns stderr.
    #[track_caller]
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let o = self.run(args);
        assert_eq!(o.code, code, "kith {args:?}: unexpected exit code: {o:#?}");
        o.stderr
    }

    /// Runs with `--json`, asserts exit 0 and parses stdout.
    #[track_caller]
    pub fn json(&self, args: &[&str]) -> Value {
        // `--json` is global; put it first so trailing var-args (e.g. `tag -x`) cannot eat it.
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let out = self.ok(&a);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("kith {a:?} printed invalid JSON ({e}):\n{out}"))
    }

    /// `kith add NAME EXTRA...`; returns the new id.
    #[track_caller]
    pub fn add(&self, name: &str, extra: &[&str]) -> String {
        let mut a = vec!["add", name];
        a.extend_from_slice(extra);
        let id = self.ok(&a).trim().to_string();
        assert_hex_id(&id);
        id
    }

    /// Writes an executable shell script into the temp dir; returns its path.
    pub fn script(&self, name: &str, body: &str) -> String {
        let path = self.root().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .expect("chmod script");
        }
        path.to_str().expect("utf-8 path").to_string()
    }

    /// Names of `kith list --json` (with `extra` flags), in output order.
    #[track_caller]
    pub fn names(&self, extra: &[&str]) -> Vec<String> {
        let mut a = vec!["list"];
        a.extend_from_slice(extra);
        self.json(&a)
            .as_array()
            .expect("list --json is an array")
            .iter()
            .map(|r| r["name"].as_str().expect("name").to_string())
            .collect()
    }
}

pub fn finish(o: std::process::Output) -> Output {
    Output {
        stdout: String::from_utf8(o.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(o.stderr).expect("stderr is UTF-8"),
        code: o.status.code().unwrap_or(-1),
    }
}

#[track_caller]
pub fn assert_hex_id(id: &str) {
    assert!(
        id.len() == 32
            && id
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
        "not a 32-hex id: {id:?}"
    );
}

/// Asserts that stderr is exactly one `error:` line (plus an optional `hint:` line) that
/// mentions `needle`.
#[track_caller]
pub fn assert_one_error(stderr: &str, needle: &str) {
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        !lines.is_empty() && lines[0].starts_with("error: ") && lines[0].contains(needle),
        "expected an error naming {needle:?}, got:\n{stderr}"
    );
    assert!(
        lines.len() == 1 || (lines.len() == 2 && lines[1].starts_with("hint: ")),
        "expected one error line (and a hint), got:\n{stderr}"
    );
}
