//! Devices end to end (issues 7 and 13): pairing while the daemon runs, the first sync's
//! progress, device names, `device list`/`status` columns and human times, daemon log lines,
//! the daemon's push policy against a stalled peer, and its change notification.

use std::process::Stdio;

use serde_json::Value;

use crate::env::finish;
use crate::sync::{first_line, wait_with_timeout, Daemon, Dev};

/// The `device list --json` row on `dev` for the device named `name`.
fn row(dev: &Dev, args: &[&str], name: &str) -> Value {
    let rows = dev.json(args);
    rows.as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {rows}"))
        .clone()
}

#[test]
fn a_device_paired_while_the_daemon_runs_reaches_the_daemon() {
    let a = Dev::new("laptop");
    let b = Dev::new("desktop");
    a.add("Ada Lovelace", &[]);
    let daemon = Daemon::start(&a);
    // The invite window runs beside the daemon (which holds A's port).
    let mut invite = a.spawn(&["device", "invite", "--name", "laptop"]);
    let ticket = first_line(&mut invite);
    let out = b.run(&["device", "join", &ticket, "--name", "desktop"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let inv = wait_with_timeout(invite, 30);
    assert_eq!(inv.code, 0, "{}", inv.stderr);
    assert_eq!(b.count(), 1);
    // B knows A by the daemon's address only, not the closed invite window's.
    let laptop = row(&b, &["device", "list"], "laptop");
    assert_eq!(laptop["addrs"], serde_json::json!([a.bind]), "{laptop}");
    // An edit on B reaches A's daemon, which was not restarted.
    b.add("Grace Hopper", &[]);
    let out = b.run(&["sync", "--timeout", "5"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("laptop: "), "{}", out.stderr);
    assert_eq!(a.count(), 2, "A's daemon received B's edit");
    let stopped = daemon.stop();
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
}

#[test]
fn the_first_sync_after_join_reports_its_final_count() {
    let a = Dev::new("laptop");
    let b = Dev::new("desktop");
    for n in 0..3 {
        a.add(&format!("Contact {n}"), &[]);
    }
    let mut invite = a.spawn(&["device", "invite", "--name", "laptop"]);
    let ticket = first_line(&mut invite);
    let out = b.run(&["device", "join", &ticket, "--name", "desktop"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let _ = wait_with_timeout(invite, 30);
    // Not a terminal: no redrawn progress line, and the summary carries the final count
    // (3 new contacts, and the membership document B already had).
    assert!(!out.stderr.contains('\r'), "{:?}", out.stderr);
    let summary = out
        .stderr
        .lines()
        .find(|l| l.starts_with("laptop: "))
        .unwrap_or_else(|| panic!("no summary line: {}", out.stderr));
    assert!(summary.contains(" 4 received (3 new)"), "{summary}");
    assert_eq!(b.count(), 3);
}

#[test]
fn the_first_sync_after_join_shows_progress_on_a_terminal() {
    let a = Dev::new("laptop");
    let b = Dev::new("desktop");
    for n in 0..3 {
        a.add(&format!("Contact {n}"), &[]);
    }
    let mut invite = a.spawn(&["device", "invite", "--name", "laptop"]);
    let ticket = first_line(&mut invite);
    // `script` gives the join a terminal.
    let kith = env!("CARGO_BIN_EXE_kith");
    let join = b.cmd(&[]);
    let join = join
        .program_and(
            "script",
            &[
                "-qec",
                &format!("{kith} device join {ticket} --name desktop"),
                "/dev/null",
            ],
        )
        .output()
        .unwrap();
    let out = finish(join);
    let _ = wait_with_timeout(invite, 30);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("\rlaptop: ") && out.stdout.contains("documents received"),
        "{:?}",
        out.stdout
    );
    assert!(
        out.stdout.contains("\r\x1b[2K"),
        "the line is erased at the end"
    );
    assert_eq!(b.count(), 3);
}

/// `Command` built like `dev.cmd` (environment), but running another program.
trait ProgramAnd {
    fn program_and(&self, program: &str, args: &[&str]) -> std::process::Command;
}

impl ProgramAnd for std::process::Command {
    fn program_and(&self, program: &str, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(program);
        c.env_clear();
        for (k, v) in self.get_envs() {
            if let Some(v) = v {
                c.env(k, v);
            }
        }
        c.args(args).stdin(Stdio::null());
        c
    }
}
