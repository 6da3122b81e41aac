//! Devices end to end (issues 7 and 13): pairing while the daemon runs, the first sync's
//! progress, device names, `device list`/`status` columns and human times, daemon log lines,
//! the daemon's push policy against a stalled peer, and its change notification.

use std::process::Stdio;

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::env::finish;
use crate::sync::{first_line, free_port, pair, wait_with_timeout, Daemon, Dev};

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

/// Waits (at most `secs`) until `check` holds; returns whether it did.
fn eventually(secs: u64, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A daemon started with extra environment.
fn daemon_with(dev: &Dev, envs: &[(&str, &str)]) -> Daemon {
    let mut c = dev.cmd(&["daemon"]);
    c.env_remove("KITH_NOW").envs(envs.iter().copied());
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn daemon");
    let line = first_line(&mut child);
    assert!(line.contains("kith daemon ready"), "daemon said: {line}");
    assert_stamped(&line);
    Daemon(Some(child))
}

#[test]
fn a_stalled_push_does_not_hold_back_the_next_change() {
    let a = Dev::new("laptop");
    let b = Dev::new("desktop");
    pair(&a, &b);
    let paired_at = row(&b, &["status"], "laptop")["last_sync"].clone();
    // B accepts A's first session and then says nothing: A's first push hangs (its own idle
    // timeout would end it only after 30 s). The daemons run on the real clock, so that B's
    // status shows when B's own push reached A.
    let db = daemon_with(&b, &[("KITH_FAULT_SILENT_RESPONSES", "1")]);
    let da = daemon_with(&a, &[("KITH_DAEMON_STALL_MS", "1500")]);
    // B's own push reaches A (once A's daemon is up); after it B has nothing to push, so only
    // A's push can bring B the edit below.
    let synced = || row(&b, &["status"], "laptop")["last_sync"] != paired_at;
    assert!(eventually(30, synced), "B never synced with A");
    let edited = Instant::now();
    a.add("Grace Hopper", &["--email", "grace@example.com"]);
    assert!(
        eventually(12, || b.run(&["show", "grace@example.com"]).code == 0),
        "the edit did not reach B past the stalled push"
    );
    let took = edited.elapsed();
    let oa = da.stop();
    let ob = db.stop();
    assert_stamped(&oa.stderr);
    assert!(
        oa.stderr.contains("sync with desktop failed: nothing moved for 1.5 s while a newer change waited; aborted; retrying in 1 s"),
        "A: {}\nB: {}",
        oa.stderr,
        ob.stderr
    );
    assert!(took < Duration::from_secs(12), "{took:?}");
}

/// CPU time (user + system, clock ticks) of a process so far, from /proc.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (in parentheses): utime and stime are the 12th and 13th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn the_daemon_wakes_on_a_commit_and_idles_without_work() {
    let a = Dev::new("laptop");
    let b = Dev::new("desktop");
    pair(&a, &b);
    let db = Daemon::start(&b);
    // The fallback poll is pushed out of reach: only the change notification can wake A.
    let da = daemon_with(&a, &[("KITH_DAEMON_POLL_MS", "600000")]);
    let sock = a.env.home().join("daemon.sock");
    assert!(sock.exists(), "the daemon listens for notifications");
    // A second daemon on the same home is refused, even on another port, and leaves the
    // first one's socket alone.
    let mut second = a.cmd(&["daemon"]);
    second.env("KITH_BIND", format!("127.0.0.1:{}", free_port()));
    let second = finish(second.output().unwrap());
    assert_eq!(second.code, 1, "{}", second.stderr);
    crate::env::assert_one_error(&second.stderr, "a kith daemon is already running");
    assert!(sock.exists());
    // Wait for a session between the daemons (they run on the real clock).
    let paired_at = row(&a, &["status"], "desktop")["last_sync"].clone();
    let synced = || row(&a, &["status"], "desktop")["last_sync"] != paired_at;
    assert!(eventually(30, synced), "A never synced with B");
    // Idle: three seconds without a change cost (next to) no CPU.
    let pid = da.0.as_ref().unwrap().id();
    std::thread::sleep(Duration::from_millis(500));
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(3));
    let idle = cpu_ticks(pid) - before;
    assert!(idle <= 2, "the idle daemon used {idle} ticks in 3 s");
    // A commit by another process wakes it at once.
    let edited = Instant::now();
    a.add("Grace Hopper", &["--email", "grace@example.com"]);
    assert!(
        eventually(10, || b.run(&["show", "grace@example.com"]).code == 0),
        "the edit never reached B"
    );
    assert!(edited.elapsed() < Duration::from_secs(10));
    let oa = da.stop();
    drop(db);
    assert_eq!(oa.code, 0, "{}", oa.stderr);
    assert_stamped(&oa.stderr);
    assert!(oa.stderr.contains("kith daemon stopped"), "{}", oa.stderr);
    assert!(!sock.exists(), "the socket goes with the daemon");
}

/// Runs `kith ARGS` in `env` with writes capped at 512 bytes per file (`ulimit -f 1`, with
/// SIGXFSZ ignored so a write past it fails with EFBIG): a disk that fills up mid-write.
fn run_with_small_disk(env: &crate::env::TestEnv, args: &[&str]) -> crate::env::Output {
    let kith = env!("CARGO_BIN_EXE_kith");
    let mut sh_args = vec!["-c", "trap '' XFSZ; ulimit -f 1; exec \"$0\" \"$@\"", kith];
    sh_args.extend_from_slice(args);
    let c = env.cmd(&[]);
    finish(c.program_and("sh", &sh_args).output().unwrap())
}

#[test]
fn a_write_that_fails_midway_leaves_the_old_file_whole() {
    let env = crate::env::TestEnv::new();
    for n in 0..20 {
        env.add(
            &format!("Contact Number {n}"),
            &["--email", &format!("contact{n}@example.com")],
        );
    }
    let out_dir = env.root().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let export = out_dir.join("contacts.json");
    let backup = out_dir.join("vault.kithbak");
    std::fs::write(&export, "the old export\n").unwrap();
    std::fs::write(&backup, "the old backup\n").unwrap();
    let e = export.to_str().unwrap();
    let b = backup.to_str().unwrap();
    for args in [
        &["export", "--format", "json", "--output", e][..],
        &["backup", b][..],
    ] {
        let o = run_with_small_disk(&env, args);
        assert_ne!(o.code, 0, "{args:?} should fail: {o:?}");
        crate::env::assert_one_error(&o.stderr, "out/");
        assert!(!o.stderr.contains(".kith-"), "{}", o.stderr);
    }
    assert_eq!(
        std::fs::read_to_string(&export).unwrap(),
        "the old export\n"
    );
    assert_eq!(
        std::fs::read_to_string(&backup).unwrap(),
        "the old backup\n"
    );
    let names: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
    // Markdown export writes one file per contact: a contact whose file no longer fits keeps
    // the previous export's file whole.
    let md = env.root().join("md");
    let long = "Talked about the engine. ".repeat(40);
    env.ok(&["note", "--about", "Contact Number 0", "--", &long]);
    env.ok(&[
        "export",
        "--format",
        "markdown",
        "--output",
        md.to_str().unwrap(),
    ]);
    let file = std::fs::read_dir(&md)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .contains("Talked about the engine")
        })
        .expect("the contact's Markdown file");
    let before = std::fs::read_to_string(&file).unwrap();
    assert!(before.len() > 1024, "{}", before.len());
    let o = run_with_small_disk(
        &env,
        &[
            "export",
            "--format",
            "markdown",
            "--output",
            md.to_str().unwrap(),
        ],
    );
    assert_ne!(o.code, 0, "{o:?}");
    crate::env::assert_one_error(&o.stderr, "md/");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
    assert_eq!(
        std::fs::read_dir(&md).unwrap().count(),
        20,
        "no temporary file left"
    );
    // With room to write, both replace the old files whole.
    env.ok(&["export", "--format", "json", "--output", e]);
    env.ok(&["backup", b]);
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&export).unwrap()).unwrap();
    assert_eq!(
        json["contacts"].as_array().map(Vec::len),
        Some(20),
        "{json}"
    );
    assert_ne!(std::fs::read(&backup).unwrap(), b"the old backup\n");
}

#[test]
fn the_joiner_prints_the_name_given_to_invite() {
    let a = Dev::new("laptop");
    let mut printed = Vec::new();
    // --name on the first invite, another --name later, then none (the recorded one).
    for (given, joiner) in [
        (Some("work laptop"), Dev::new("desktop")),
        (Some("travel laptop"), Dev::new("server")),
        (None, Dev::new("phone")),
    ] {
        let mut args = vec!["device", "invite"];
        if let Some(n) = given {
            args.extend(["--name", n]);
        }
        let mut invite = a.spawn(&args);
        let ticket = first_line(&mut invite);
        let out = joiner.run(&["device", "join", &ticket, "--name", joiner.name]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let _ = wait_with_timeout(invite, 30);
        let line = out
            .stderr
            .lines()
            .find(|l| l.starts_with("paired with "))
            .unwrap_or_else(|| panic!("{}", out.stderr))
            .to_string();
        printed.push(line.split(" (").next().unwrap().to_string());
    }
    assert_eq!(
        printed,
        [
            "paired with work laptop",
            "paired with travel laptop",
            "paired with travel laptop"
        ]
    );
}

#[test]
fn device_list_and_status_share_columns_and_say_how_long_ago() {
    let a = Dev::new("laptop");
    let b = Dev::new("desktop");
    pair(&a, &b);
    // Three minutes after the pairing's sync (the clock is pinned by KITH_NOW).
    let later = |args: &[&str]| {
        let mut c = b.cmd(args);
        c.env("KITH_NOW", "2026-11-22T10:03:30Z");
        let o = finish(c.output().unwrap());
        assert_eq!(o.code, 0, "{}", o.stderr);
        o.stdout
    };
    let list = later(&["device", "list"]);
    let status = later(&["status"]);
    fn header(t: &str) -> Vec<&str> {
        t.lines().next().unwrap().split_whitespace().collect()
    }
    assert_eq!(header(&list), header(&status), "{list}\n{status}");
    assert_eq!(
        header(&list),
        ["NAME", "ID", "LAST", "SYNC", "LAST", "SEEN", "UNSENT", "ADDRESS"]
    );
    for t in [&list, &status] {
        let laptop = t.lines().find(|l| l.starts_with("laptop")).unwrap();
        assert_eq!(
            laptop.matches("3 minutes ago").count(),
            2,
            "last sync and last seen: {t}"
        );
        assert!(laptop.contains(&a.bind), "{t}");
        let me = t.lines().find(|l| l.starts_with("desktop")).unwrap();
        assert!(me.ends_with("this device"), "{t}");
    }
    // A day later: "1 day ago".
    let mut c = b.cmd(&["status"]);
    c.env("KITH_NOW", "2026-11-23T11:00:00Z");
    let o = finish(c.output().unwrap());
    assert!(o.stdout.contains("1 day ago"), "{}", o.stdout);
}

/// Every line of a daemon's log starts with an RFC 3339 UTC time (the real clock).
#[track_caller]
fn assert_stamped(log: &str) {
    assert!(!log.trim().is_empty());
    for line in log.lines() {
        let stamp = line.split(' ').next().unwrap();
        let ok = stamp.len() == 24
            && stamp.ends_with('Z')
            && stamp.as_bytes()[10] == b'T'
            && stamp[..4].parse::<u32>().is_ok_and(|y| y >= 2024);
        assert!(ok, "not stamped: {line:?} in the log:\n{log}");
    }
}
