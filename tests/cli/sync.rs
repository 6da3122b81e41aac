//! End-to-end sync between real `kith` processes over loopback (no relays, no discovery):
//! pairing two devices and then a third, offline edits on each converging, refusal of unknown
//! and removed devices, an interrupted sync resuming, and a daemon pushing a CLI edit.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::env::{finish, Output, TestEnv};

/// One device: its own home and a fixed loopback port it listens on.
pub(crate) struct Dev {
    pub(crate) env: TestEnv,
    pub(crate) bind: String,
    pub(crate) name: &'static str,
}

pub(crate) fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Dev {
    pub(crate) fn new(name: &'static str) -> Dev {
        Dev {
            env: TestEnv::new(),
            bind: format!("127.0.0.1:{}", free_port()),
            name,
        }
    }

    pub(crate) fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.env.cmd(args);
        c.env("KITH_BIND", &self.bind);
        c
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        finish(self.cmd(args).output().expect("run kith"))
    }

    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(o.code, 0, "{} {args:?} failed: {}", self.name, o.stderr);
        o.stdout
    }

    pub(crate) fn json(&self, args: &[&str]) -> Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        serde_json::from_str(&self.ok(&a)).expect("valid JSON")
    }

    pub(crate) fn add(&self, name: &str, extra: &[&str]) -> String {
        let mut a = vec!["add", name];
        a.extend_from_slice(extra);
        self.ok(&a).trim().to_string()
    }

    /// Everything a user can see, as one JSON value: the whole-vault JSON export (the format
    /// devices are compared by), what is due, and every contact's `show` (with conflicts).
    pub(crate) fn state(&self) -> Value {
        let export: Value = serde_json::from_str(&self.ok(&["export", "--format", "json"]))
            .expect("export is JSON");
        let list = self.json(&["list", "--archived"]);
        let shows: Vec<Value> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|row| self.json(&["show", row["id"].as_str().unwrap()]))
            .collect();
        json!({ "export": export, "shows": shows, "due": self.json(&["due", "--within", "1y"]) })
    }

    /// The export, byte for byte.
    pub(crate) fn export(&self) -> String {
        self.ok(&["export", "--format", "json"])
    }

    pub(crate) fn count(&self) -> usize {
        self.json(&["list", "--archived"]).as_array().unwrap().len()
    }

    pub(crate) fn id(&self) -> String {
        self.ok(&["device", "id"]).trim().to_string()
    }

    pub(crate) fn spawn(&self, args: &[&str]) -> Child {
        let mut c = self.cmd(args);
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        c.spawn().expect("spawn kith")
    }
}

pub(crate) fn wait_with_timeout(mut child: Child, secs: u64) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return finish(child.wait_with_output().unwrap());
        }
        if start.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            let o = finish(child.wait_with_output().unwrap());
            panic!(
                "process did not finish within {secs} s; stderr: {}",
                o.stderr
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(crate) fn first_line(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read first line");
    line.trim().to_string()
}

/// `b`'s `kith --json sync` against `a`'s daemon, which packs documents into frames of about
/// `frame_bytes`, with `b_env` set for the sync (test knobs such as `KITH_SYNC_BATCH_DOCS`).
/// Returns `b`'s report line for `a`; the lines for `b`'s other devices (no daemon) do not
/// count.
pub(crate) fn sync_from_daemon(
    a: &Dev,
    b: &Dev,
    frame_bytes: &str,
    b_env: &[(&str, &str)],
) -> serde_json::Value {
    let mut child = a.cmd(&["daemon"]);
    child
        .env("KITH_SYNC_FRAME_BYTES", frame_bytes)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = child.spawn().unwrap();
    assert!(first_line(&mut child).contains("ready"));
    let daemon = Daemon(Some(child));
    let mut sync = b.cmd(&["--json", "sync"]);
    sync.envs(b_env.iter().copied());
    let out = finish(sync.output().unwrap());
    drop(daemon);
    assert_eq!(out.code, 0, "B's sync failed: {}", out.stderr);
    let rep: serde_json::Value = serde_json::from_str(&out.stdout).expect("valid JSON");
    rep.as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == a.name)
        .cloned()
        .unwrap_or_else(|| panic!("a line for {}: {rep}", a.name))
}

/// Pairs `joiner` with `inviter` (which must not be running a daemon).
pub(crate) fn pair(inviter: &Dev, joiner: &Dev) {
    let mut invite = inviter.spawn(&["device", "invite", "--name", inviter.name]);
    let ticket = first_line(&mut invite);
    assert!(ticket.starts_with("kith1"), "ticket: {ticket}");
    let out = joiner.run(&["device", "join", &ticket, "--name", joiner.name]);
    assert_eq!(out.code, 0, "join failed: {}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("paired with {}", inviter.name)),
        "{}",
        out.stderr
    );
    let inv = wait_with_timeout(invite, 30);
    assert_eq!(inv.code, 0, "invite failed: {}", inv.stderr);
    assert!(
        inv.stderr.contains(&format!("paired with {}", joiner.name)),
        "{}",
        inv.stderr
    );
}

/// A running `kith daemon`, stopped with SIGTERM on drop.
pub(crate) struct Daemon(pub(crate) Option<Child>);

impl Daemon {
    pub(crate) fn start(dev: &Dev) -> Daemon {
        let mut child = dev.spawn(&["daemon"]);
        let line = first_line(&mut child);
        assert!(line.contains("ready"), "daemon said: {line}");
        Daemon(Some(child))
    }

    pub(crate) fn stop(mut self) -> Output {
        let child = self.0.take().unwrap();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        wait_with_timeout(child, 15)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn two_then_three_devices_pair_edit_offline_and_converge() {
    let a = Dev::new("laptop");
    let b = Dev::new("desktop");
    let c = Dev::new("server");
    let ada = a.add(
        "Ada Lovelace",
        &["--email", "ada@example.com", "--tag", "math"],
    );
    let charles = a.add("Charles Babbage", &["--org", "Analytical Engines"]);
    a.ok(&["note", &ada, "Talked about the Bernoulli numbers"]);

    pair(&a, &b);
    assert_eq!(b.count(), 2, "the joiner receives everything");
    assert_eq!(a.state(), b.state());

    // Offline edits on both: different fields, the same field, a shared note, an archive.
    a.ok(&["set", &ada, "nickname", "Countess"]);
    a.ok(&["set", &ada, "name", "Ada King"]);
    a.ok(&[
        "log",
        &ada,
        "--kind",
        "call",
        "--on",
        "2026-11-20",
        "Call about the engine",
    ]);
    a.ok(&["rm", &charles]);
    b.ok(&["set", &ada, "birthday", "1815-12-10"]);
    b.ok(&["set", &ada, "name", "Augusta Ada Lovelace"]);
    b.ok(&["set", &charles, "title", "Inventor"]);
    b.add("Mary Somerville", &["--email", "mary@example.com"]);

    // A third device pairs with B, and learns about A through the membership document.
    pair(&b, &c);
    let devices = c.json(&["device", "list"]);
    let names: Vec<&str> = devices
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    for n in ["laptop", "desktop", "server"] {
        assert!(names.contains(&n), "C knows {n}: {names:?}");
    }
    c.ok(&["tag", &ada, "+mentor"]);

    // A listens. C is not trusted by A yet: A learns about C from B's membership document.
    let daemon = Daemon::start(&a);
    let early = c.run(&["sync", "--timeout", "2"]);
    assert_ne!(early.code, 0);
    assert!(early.stderr.contains("unknown device"), "{}", early.stderr);
    b.ok(&["sync", "--timeout", "2"]);
    // Now C reaches A, whom it never met, at the address recorded in the membership document.
    c.ok(&["sync", "--timeout", "2"]);
    b.ok(&["sync", "--timeout", "2"]);
    let stopped = daemon.stop();
    assert_eq!(
        stopped.code, 0,
        "daemon exits cleanly on SIGTERM: {}",
        stopped.stderr
    );

    let sa = a.state();
    assert_eq!(sa, b.state(), "A and B converge");
    assert_eq!(sa, c.state(), "A and C converge");
    assert_eq!(a.export(), b.export(), "byte-identical JSON export");
    assert_eq!(a.export(), c.export(), "byte-identical JSON export");
    // Both field edits survive; the same-field edit is one value everywhere, the other shown.
    let show = a.json(&["show", &ada]);
    assert_eq!(show["nickname"], "Countess");
    assert_eq!(show["birthday"], "1815-12-10");
    assert_eq!(show["last_contact"], "2026-11-20");
    assert!(show["tags"].as_array().unwrap().contains(&json!("mentor")));
    let name = show["name"].as_str().unwrap();
    assert!(name == "Ada King" || name == "Augusta Ada Lovelace");
    let conflict = show["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "name")
        .expect("name conflict shown");
    let other = conflict["others"][0].as_str().unwrap();
    assert!(other != name && (other == "Ada King" || other == "Augusta Ada Lovelace"));
    let text = a.ok(&["show", &ada]);
    assert!(text.contains("[conflict: also"), "{text}");
    // Archived on A, edited on B: archived, with the edit kept.
    let ch = a.json(&["show", &charles]);
    assert_eq!(ch["archived"], true);
    assert_eq!(
        ch["orgs"].as_object().unwrap().values().next().unwrap()["title"],
        "Inventor"
    );
    // Setting the field settles the conflict, and that syncs too.
    a.ok(&["set", &ada, "name", "Ada Lovelace"]);
    assert!(a.json(&["show", &ada])["conflicts"]
        .as_array()
        .unwrap()
        .is_empty());
    // `status` shows the other devices and a last sync.
    let status = b.json(&["status"]);
    let laptop = status
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "laptop")
        .unwrap();
    assert!(laptop["last_sync"].is_string());
}

#[test]
fn a_device_that_was_never_paired_is_refused_and_gets_nothing() {
    let a = Dev::new("laptop");
    let b = Dev::new("desktop");
    a.add("Ada Lovelace", &[]);
    pair(&a, &b);
    // An impostor: B's vault (which trusts A) under a different device key.
    let d = Dev::new("impostor");
    std::fs::create_dir_all(d.env.home()).unwrap();
    std::fs::copy(b.env.vault(), d.env.vault()).unwrap();
    a.add("Secret Person", &[]);
    let daemon = Daemon::start(&a);
    let out = d.run(&["sync", "--timeout", "2"]);
    drop(daemon);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("unknown device"), "{}", out.stderr);
    assert_eq!(d.count(), 1, "nothing was received");
    assert!(d.run(&["show", "Secret Person"]).code != 0);
}

#[test]
fn a_removed_device_is_refused() {
    let a = Dev::new("laptop");
    let b = Dev::new("desktop");
    a.add("Ada Lovelace", &[]);
    pair(&a, &b);
    let b_id = b.id();
    // By the name `device list` shows.
    let removed = a.run(&["device", "remove", "desktop"]);
    assert_eq!(removed.code, 0, "{}", removed.stderr);
    assert!(
        removed.stderr.contains("keeps the data it already had"),
        "{}",
        removed.stderr
    );
    let list = a.json(&["device", "list"]);
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == b_id.as_str())
        .unwrap();
    assert_eq!(entry["removed"], true);
    a.add("After Removal", &[]);
    let daemon = Daemon::start(&a);
    let out = b.run(&["sync", "--timeout", "2"]);
    drop(daemon);
    assert_ne!(out.code, 0);
    crate::env::assert_one_error(&out.stderr, "this device was removed from your vault");
    assert!(!out.stderr.contains("kith daemon"), "{}", out.stderr);
    assert_eq!(
        b.count(),
        1,
        "the removed device keeps what it had and gets nothing new"
    );
}

#[test]
fn a_wrong_or_expired_or_reused_ticket_is_refused() {
    let a = Dev::new("laptop");
    let b = Dev::new("desktop");
    let out = b.run(&["device", "join", "not-a-ticket"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("not a kith pairing ticket"),
        "{}",
        out.stderr
    );
    let out = b.run(&["device", "join", "kith1zzzz"]);
    assert_eq!(out.code, 1);
    crate::env::assert_one_error(&out.stderr, "damaged or incomplete ticket");
    // A real ticket used after its expiry (the joiner's clock is 11 minutes later).
    let mut invite = a.spawn(&["device", "invite"]);
    let ticket = first_line(&mut invite);
    let mut join = b.cmd(&["device", "join", &ticket]);
    join.env("KITH_NOW", "2026-11-22T10:11:00Z");
    let out = finish(join.output().unwrap());
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("expired"), "{}", out.stderr);
    // A tampered secret is refused by the inviter.
    let tampered = tamper_secret(&ticket);
    let out = b.run(&["device", "join", &tampered]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("wrong ticket secret") || out.stderr.contains("refused"),
        "{}",
        out.stderr
    );
    // The real ticket works once...
    let out = b.run(&["device", "join", &ticket]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let _ = wait_with_timeout(invite, 30);
    // ...and not twice (the invite window is closed).
    let c = Dev::new("server");
    let out = c.run(&["device", "join", &ticket, "--name", "server"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("could not reach") || out.stderr.contains("refused"),
        "{}",
        out.stderr
    );
}

/// The same ticket with one bit of its secret flipped (re-encoded), so it parses but is wrong.
fn tamper_secret(ticket: &str) -> String {
    let body = ticket.strip_prefix("kith1").unwrap().to_uppercase();
    let mut bytes = data_encoding::BASE32_NOPAD.decode(body.as_bytes()).unwrap();
    // Layout (postcard): version u8, device [u8;32], addrs (varint len + entries), secret [u8;16],
    // expires varint. The secret sits right before the trailing expiry varint (8-10 bytes): flip
    // a byte 12 from the end, which is inside the secret for any realistic expiry.
    let n = bytes.len();
    bytes[n - 12] ^= 0x01;
    format!(
        "kith1{}",
        data_encoding::BASE32_NOPAD.encode(&bytes).to_lowercase()
    )
}

#[test]
fn an_interrupted_sync_resumes_and_completes() {
    let a = Dev::new("laptop");
    let b = Dev::new("desktop");
    pair(&a, &b);
    // Enough data for several batches: 60 notes of ~6 KB of incompressible text.
    let ada = a.add("Ada Lovelace", &[]);
    let mut x: u64 = 42;
    for i in 0..60 {
        let mut body = format!("{i}: ");
        for _ in 0..1000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            body.push_str(&format!("{:05x} ", x & 0xfffff));
        }
        a.ok(&["note", &ada, &body]);
    }
    // Protocol v2 sends these 61 documents whole, all in one frame and one batch by default:
    // A packs one document per frame and B commits at most 10 documents per batch, so the
    // kill lands mid-transfer.
    let mut child = a.cmd(&["daemon"]);
    child
        .env("KITH_SYNC_FRAME_BYTES", "8000")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = child.spawn().unwrap();
    assert!(first_line(&mut child).contains("ready"));
    let daemon = Daemon(Some(child));
    // B's sync dies (abort, as kill -9) right after its first committed batch of documents.
    let mut crash = b.cmd(&["sync"]);
    crash.env("KITH_FAULT_ABORT_AFTER_BATCHES", "1");
    crash.env("KITH_SYNC_BATCH_DOCS", "10");
    let crashed = finish(crash.output().unwrap());
    assert_ne!(crashed.code, 0, "the sync was killed");
    let partial = b.run(&["--json", "timeline", "Ada"]);
    let got = if partial.code == 0 {
        serde_json::from_str::<Value>(&partial.stdout)
            .unwrap()
            .as_array()
            .map_or(0, |a| a.len())
    } else {
        0
    };
    assert!(
        got < 60,
        "the killed sync left part of the data ({got} of 60 notes)"
    );
    // ...and something did arrive before the kill (the abort came after a committed batch):
    // `kith check` counts every stored document by kind, notes whose contact has not arrived
    // yet included.
    let docs = b.json(&["check"])["documents"].clone();
    let received = ["contact", "note"]
        .iter()
        .map(|k| docs[*k].as_u64().unwrap_or(0))
        .sum::<u64>();
    assert!(
        received > 0 && received < 61,
        "part of the documents were received before the kill: {docs}"
    );
    // Whatever happened, the next sync completes and nothing is lost.
    b.ok(&["sync"]);
    drop(daemon);
    assert_eq!(b.json(&["timeline", "Ada"]).as_array().unwrap().len(), 60);
    assert_eq!(a.state(), b.state());
}

#[test]
fn a_daemon_pushes_a_cli_edit_to_another_device() {
    let a = Dev::new("laptop");
    let b = Dev::new("desktop");
    pair(&a, &b);
    let da = Daemon::start(&a);
    // A second daemon on the same home is refused, even on another port.
    let mut second = a.cmd(&["daemon"]);
    second.env("KITH_BIND", format!("127.0.0.1:{}", free_port()));
    let second = finish(second.output().unwrap());
    assert_eq!(second.code, 1, "{}", second.stderr);
    crate::env::assert_one_error(&second.stderr, "already running");
    let db = Daemon::start(&b);
    // An edit made by an ordinary command on A, while A's daemon runs.
    a.add("Grace Hopper", &["--email", "grace@example.com"]);
    let start = Instant::now();
    let mut seen = false;
    while start.elapsed() < Duration::from_secs(20) {
        if b.run(&["show", "grace@example.com"]).code == 0 {
            seen = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(seen, "B's vault received the contact through the daemons");
    // And back: an edit on B reaches A.
    b.ok(&["note", "grace@example.com", "Invented the compiler"]);
    let start = Instant::now();
    let mut back = false;
    while start.elapsed() < Duration::from_secs(20) {
        // `search` exits 1 until something matches.
        if a.run(&["search", "compiler"])
            .stdout
            .contains("Invented the compiler")
        {
            back = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(back, "A received B's note");
    let oa = da.stop();
    let ob = db.stop();
    assert_eq!(oa.code, 0, "{}", oa.stderr);
    assert_eq!(ob.code, 0, "{}", ob.stderr);
    assert!(oa.stderr.contains("stopped"));
}
