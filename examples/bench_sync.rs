//! Reproducible benchmark of peer-to-peer sync between two kith devices over loopback (issue 3).
//!
//! Two devices, A and B, each with its own `KITH_HOME` and a fixed UDP port on 127.0.0.1, no
//! relay and no mDNS. They are paired while both are empty (`kith device invite` on A,
//! `kith device join TICKET` on B, whose join does the first sync of the membership document);
//! then A is filled through the library with the deterministic network of `bench_vault`
//! (seed 42). The two paired homes are kept as templates, and every scenario starts from fresh
//! copies of them. Measured, with the real `kith` binary as whole processes:
//!
//! 1. full sync to an empty device: `kith daemon` on A, `kith --json sync` on B;
//! 2. reconnect with nothing changed: `kith --json sync` on B again;
//! 3. one edit's propagation in daemon mode: `kith daemon` on both, `kith add` on A, until B's
//!    vault (read through the library) has the contact;
//! 4. `--edits` notes edited offline on each side (through the library, daemons stopped), then
//!    `kith daemon` on A and `kith --json sync` on B.
//!
//! Time, bytes and round trips come from the `--json` sync report; peak RSS is `ru_maxrss` from
//! `wait4` (the daemon's after SIGTERM). The result is printed as Markdown; docs/benchmarks.md
//! holds the latest table.
//!
//! ```text
//! cargo build --profile profiling --examples --bin kith
//! target/profiling/examples/bench_sync [--contacts 10000 --notes 50000 --interactions 20000
//!     --reminders 5000 --runs 5 --full-runs 1 --edits 100 --dir PATH --reuse]
//! ```
//!
//! `--reuse` keeps the paired templates in `--dir` from an earlier run with the same sizes
//! (building the full network takes minutes); the recorded ports must be free again.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use kith::store::Vault;
use kith_core::model::{self, Kind};
use kith_core::DocId;
use serde::Deserialize;

mod common;
use common::{build_vault, generate, loadavg, machine, median, Res, Sizes, NOW, SEED};

/// Benchmark of kith sync between two local devices.
#[derive(Parser, Debug)]
struct Args {
    #[arg(long, default_value_t = 10_000)]
    contacts: usize,
    #[arg(long, default_value_t = 50_000)]
    notes: usize,
    #[arg(long, default_value_t = 20_000)]
    interactions: usize,
    #[arg(long, default_value_t = 5_000)]
    reminders: usize,
    /// Runs of the cheap scenarios (reconnect, propagation, offline edits)
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Runs of the full sync (each copies the templates and transfers the whole vault)
    #[arg(long, default_value_t = 1)]
    full_runs: usize,
    /// Notes edited offline on each side in scenario 4
    #[arg(long, default_value_t = 100)]
    edits: usize,
    /// Documents per write transaction while building A's vault
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Working directory (default: $TMPDIR/kith-bench-sync)
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Reuse the paired templates already in --dir (built by an earlier run with the same sizes)
    #[arg(long)]
    reuse: bool,
    /// The kith binary (default: the kith binary of this example's profile, e.g. target/profiling/kith)
    #[arg(long)]
    kith: Option<PathBuf>,
}

impl Args {
    fn sizes(&self) -> Sizes {
        Sizes {
            contacts: self.contacts,
            notes: self.notes,
            interactions: self.interactions,
            reminders: self.reminders,
        }
    }
}

const RSS_TARGET_MIB: f64 = 200.0;
const FULL_TARGET_MS: f64 = 10_000.0;
const NOCHANGE_TARGET_MS: f64 = 100.0;
const NOCHANGE_TARGET_BYTES: u64 = 1024;
const PROPAGATION_TARGET_MS: f64 = 200.0;

// ---------------------------------------------------------------------------------------------
// Devices and processes.

/// One device: its home and its fixed loopback port.
#[derive(Clone)]
struct Device {
    name: &'static str,
    home: PathBuf,
    port: u16,
}

impl Device {
    fn vault(&self) -> PathBuf {
        kith::app::vault_path(&self.home)
    }

    /// The hermetic environment of every kith process of this device.
    fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .env("KITH_HOME", &self.home)
            .env("KITH_RELAY", "off")
            .env("KITH_MDNS", "off")
            .env("KITH_BIND", format!("127.0.0.1:{}", self.port))
            .stdin(Stdio::null());
        c
    }
}

fn free_port() -> Res<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn port_is_free(port: u16) -> bool {
    UdpSocket::bind(("127.0.0.1", port)).is_ok()
}

/// What the measuring helper reports about one finished kith process.
#[derive(Debug, Clone, Copy)]
struct Usage {
    wall_ms: f64,
    cpu_ms: f64,
    max_rss_kib: u64,
    status: i64,
}

/// Hidden first argument that turns this binary into the measuring helper (see [`helper`]).
const HELPER: &str = "__measure";

/// A kith process started through the measuring helper (a fresh, small copy of this binary, so
/// `ru_maxrss` is kith's and not inherited from this process, which may hold the whole data
/// set; see bench_vault).
struct Measured {
    helper: Child,
    out: PathBuf,
    err: PathBuf,
    pidfile: PathBuf,
}

struct Bench {
    kith: PathBuf,
    scratch: PathBuf,
    seq: std::cell::Cell<u32>,
}

impl Bench {
    fn start(&self, dev: &Device, args: &[&str]) -> Res<Measured> {
        let n = self.seq.get();
        self.seq.set(n + 1);
        let out = self.scratch.join(format!("{n}-{}.out", dev.name));
        let err = self.scratch.join(format!("{n}-{}.err", dev.name));
        let pidfile = self.scratch.join(format!("{n}-{}.pid", dev.name));
        let mut c = dev.command(&std::env::current_exe()?);
        c.arg(HELPER)
            .arg(&out)
            .arg(&err)
            .arg(&pidfile)
            .arg(&self.kith)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Ok(Measured {
            helper: c.spawn()?,
            out,
            err,
            pidfile,
        })
    }

    /// Runs `kith ARGS` on `dev` to its end; fails unless it exits with status 0.
    fn run(&self, dev: &Device, args: &[&str]) -> Res<(Usage, Vec<u8>)> {
        let m = self.start(dev, args)?;
        let (u, out, err) = m.wait()?;
        if u.status != 0 {
            return Err(format!(
                "{}: kith {} failed (status {}): {}",
                dev.name,
                args.join(" "),
                u.status,
                String::from_utf8_lossy(&err)
            )
            .into());
        }
        Ok((u, out))
    }

    /// Starts `kith daemon` on `dev` and waits for its ready line.
    fn daemon(&self, dev: &Device) -> Res<Measured> {
        let m = self.start(dev, &["daemon"])?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(&m.out).unwrap_or_default();
            if text.contains("kith daemon ready") {
                return Ok(m);
            }
            if Instant::now() > deadline {
                let err = std::fs::read_to_string(&m.err).unwrap_or_default();
                return Err(
                    format!("{}: kith daemon not ready within 20 s: {err}", dev.name).into(),
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Measured {
    fn pid(&self) -> Res<libc::pid_t> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(s) = std::fs::read_to_string(&self.pidfile) {
                if let Ok(p) = s.trim().parse() {
                    return Ok(p);
                }
            }
            if Instant::now() > deadline {
                return Err("the measuring helper did not report the child's pid".into());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Sends SIGTERM to the kith process and waits for it.
    fn stop(self) -> Res<(Usage, Vec<u8>, Vec<u8>)> {
        let pid = self.pid()?;
        // SAFETY: plain syscall on the pid of a child of our helper, which is not reaped yet
        // (the helper reaps it only after it exits).
        unsafe { libc::kill(pid, libc::SIGTERM) };
        self.wait()
    }

    fn wait(mut self) -> Res<(Usage, Vec<u8>, Vec<u8>)> {
        let mut report = String::new();
        if let Some(mut o) = self.helper.stdout.take() {
            o.read_to_string(&mut report)?;
        }
        let mut herr = String::new();
        if let Some(mut e) = self.helper.stderr.take() {
            e.read_to_string(&mut herr)?;
        }
        self.helper.wait()?;
        let mut f = report.split_whitespace().map(|x| x.parse::<i64>());
        let (Some(Ok(wall_ns)), Some(Ok(cpu_us)), Some(Ok(rss)), Some(Ok(status))) =
            (f.next(), f.next(), f.next(), f.next())
        else {
            return Err(format!("measuring helper failed: {report}{herr}").into());
        };
        let out = std::fs::read(&self.out).unwrap_or_default();
        let err = std::fs::read(&self.err).unwrap_or_default();
        Ok((
            Usage {
                wall_ms: wall_ns as f64 / 1e6,
                cpu_ms: cpu_us as f64 / 1e3,
                max_rss_kib: rss.max(0) as u64,
                status,
            },
            out,
            err,
        ))
    }
}

/// Helper mode: `bench_sync __measure OUT ERR PIDFILE KITH ARGS...` runs KITH ARGS (environment
/// inherited) with stdout to OUT and stderr to ERR, writes the child's pid to PIDFILE, and prints
/// "wall_ns cpu_us max_rss_kib status" once it has exited. Wall time runs from just before the
/// spawn to the return of `wait4`.
fn helper(mut argv: impl Iterator<Item = std::ffi::OsString>) -> Res<()> {
    let (Some(out), Some(err), Some(pidfile), Some(kith)) =
        (argv.next(), argv.next(), argv.next(), argv.next())
    else {
        return Err("usage: bench_sync __measure OUT ERR PIDFILE KITH ARGS...".into());
    };
    let out = File::create(out)?;
    let err = File::create(err)?;
    let start = Instant::now();
    let child = Command::new(kith)
        .args(argv)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()?;
    let pid = child.id() as libc::pid_t;
    std::fs::write(&pidfile, pid.to_string())?;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is a plain C struct for which all-zero bytes is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet reaped (std's `Child` is never waited on); the
    // pointers are to live locals.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let wall = start.elapsed();
    drop(child);
    if r != pid {
        return Err(format!("wait4 failed: {}", std::io::Error::last_os_error()).into());
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    let tv = |t: libc::timeval| t.tv_sec * 1_000_000 + t.tv_usec;
    let cpu_us = tv(ru.ru_utime) + tv(ru.ru_stime);
    println!("{} {cpu_us} {} {code}", wall.as_nanos(), ru.ru_maxrss);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The `--json` sync report.

#[derive(Deserialize, Debug, Clone, Default)]
struct SyncReport {
    ok: bool,
    #[serde(default)]
    error: String,
    docs_differing: u64,
    docs_sent: u64,
    docs_received: u64,
    bytes_sent: u64,
    bytes_received: u64,
    round_trips: u64,
    millis: u64,
}

fn sync_report(out: &[u8]) -> Res<SyncReport> {
    let v: Vec<SyncReport> = serde_json::from_slice(out)
        .map_err(|e| format!("bad sync report ({e}): {}", String::from_utf8_lossy(out)))?;
    let r = v.into_iter().next().ok_or("empty sync report")?;
    if !r.ok {
        return Err(format!("sync failed: {}", r.error).into());
    }
    Ok(r)
}

/// B's `kith --json sync` against A, which must be running `kith daemon`.
fn sync_b(bench: &Bench, b: &Device) -> Res<(Usage, SyncReport)> {
    let (u, out) = bench.run(b, &["--json", "sync"])?;
    Ok((u, sync_report(&out)?))
}

// ---------------------------------------------------------------------------------------------
// Setup: pairing and filling A.

fn copy_dir(from: &Path, to: &Path) -> Res<()> {
    if to.exists() {
        std::fs::remove_dir_all(to)?;
    }
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.file_type()?.is_file() {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}

/// Pairs A and B while both are empty: A's invite prints the ticket, B joins (and does the
/// first sync), the invite exits after that sync.
fn pair(kith: &Path, a: &Device, b: &Device) -> Res<()> {
    let mut inv = a
        .command(kith)
        .args(["device", "invite", "--name", "A"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut first = String::new();
    BufReader::new(inv.stdout.take().ok_or("no stdout")?).read_line(&mut first)?;
    let ticket = first.trim().to_string();
    if ticket.is_empty() {
        let mut e = String::new();
        inv.stderr
            .take()
            .ok_or("no stderr")?
            .read_to_string(&mut e)?;
        return Err(format!("kith device invite printed no ticket: {e}").into());
    }
    let join = b
        .command(kith)
        .args(["device", "join", &ticket, "--name", "B"])
        .output()?;
    if !join.status.success() {
        return Err(format!(
            "kith device join failed: {}",
            String::from_utf8_lossy(&join.stderr)
        )
        .into());
    }
    let st = inv.wait()?;
    if !st.success() {
        return Err(format!("kith device invite exited with {st}").into());
    }
    eprintln!(
        "  paired: {}",
        String::from_utf8_lossy(&join.stderr)
            .trim()
            .replace('\n', " / ")
    );
    Ok(())
}

fn sizes_line(s: &Sizes) -> String {
    format!(
        "{} {} {} {} seed {SEED}",
        s.contacts, s.notes, s.interactions, s.reminders
    )
}

/// Builds (or reuses) the paired templates; returns (A, B) with their recorded ports.
fn templates(a: &Args, kith: &Path, dir: &Path, now_ms: i64) -> Res<(Device, Device, f64)> {
    let tmpl = dir.join("templates");
    let info = tmpl.join("info.txt");
    let want = sizes_line(&a.sizes());
    if a.reuse {
        if let Ok(text) = std::fs::read_to_string(&info) {
            let mut l = text.lines();
            let sizes = l.next().unwrap_or_default();
            let ports: Vec<u16> = l
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect();
            if sizes == want && ports.len() == 2 {
                if !port_is_free(ports[0]) || !port_is_free(ports[1]) {
                    return Err(format!(
                        "the recorded ports {ports:?} are not free; run without --reuse"
                    )
                    .into());
                }
                eprintln!("reusing the paired templates in {}", tmpl.display());
                return Ok((
                    Device {
                        name: "A",
                        home: tmpl.join("a"),
                        port: ports[0],
                    },
                    Device {
                        name: "B",
                        home: tmpl.join("b"),
                        port: ports[1],
                    },
                    0.0,
                ));
            }
            eprintln!(
                "templates in {} have other sizes; rebuilding",
                tmpl.display()
            );
        }
    }
    if tmpl.exists() {
        std::fs::remove_dir_all(&tmpl)?;
    }
    std::fs::create_dir_all(&tmpl)?;
    let pa = free_port()?;
    let mut pb = free_port()?;
    while pb == pa {
        pb = free_port()?;
    }
    let da = Device {
        name: "A",
        home: tmpl.join("a"),
        port: pa,
    };
    let db = Device {
        name: "B",
        home: tmpl.join("b"),
        port: pb,
    };
    eprintln!("pairing two empty devices (A on port {pa}, B on port {pb})...");
    pair(kith, &da, &db)?;
    eprintln!("generating data (seed {SEED})...");
    let data = generate(&a.sizes(), now_ms);
    eprintln!("filling A through the library...");
    let t = Instant::now();
    let vault = Vault::open(&da.vault())?;
    build_vault(&vault, &data, now_ms, a.batch)?;
    drop(vault);
    let build = t.elapsed().as_secs_f64();
    std::fs::write(&info, format!("{want}\n{pa} {pb}\n"))?;
    Ok((da, db, build))
}

fn counts(dev: &Device) -> Res<std::collections::BTreeMap<Kind, u64>> {
    let v = Vault::open_read_only(&dev.vault())?;
    let c = v.read()?.counts()?;
    Ok(c)
}

fn count_line(dev: &Device) -> Res<String> {
    let c = counts(dev)?;
    let get = |k| c.get(&k).copied().unwrap_or(0);
    Ok(format!(
        "{} contacts, {} notes, {} interactions, {} reminders on {}",
        get(Kind::Contact),
        get(Kind::Note),
        get(Kind::Interaction),
        get(Kind::Reminder),
        dev.name
    ))
}

/// Appends a marker to the body of each note in `ids`, in one write transaction.
fn edit_notes(dev: &Device, ids: &[DocId], marker: &str, now_ms: i64) -> Res<()> {
    let vault = Vault::open(&dev.vault())?;
    vault.write(now_ms, |w| -> Res<()> {
        for id in ids {
            let mut l = w.load(*id)?.ok_or("note missing")?;
            let mut n = model::read_note(&l.doc);
            n.body.push(' ');
            n.body.push_str(marker);
            model::write_note(&mut l.doc, &n, now_ms)?;
            w.save(l)?;
        }
        Ok(())
    })
}

fn note_has(dev: &Device, id: DocId, marker: &str) -> Res<bool> {
    let v = Vault::open_read_only(&dev.vault())?;
    let r = v.read()?;
    let Some(doc) = r.load(id)? else {
        return Ok(false);
    };
    Ok(model::read_note(&doc).body.contains(marker))
}

// ---------------------------------------------------------------------------------------------
// Report.

struct Row {
    scenario: String,
    runs: usize,
    wall_ms: Vec<f64>,
    /// CPU ms (user + system) of B's process (of `kith add` on A in scenario 3).
    cpu_ms: Vec<f64>,
    session_ms: Vec<f64>,
    bytes_sent: Vec<f64>,
    bytes_received: Vec<f64>,
    round_trips: Vec<f64>,
    /// Peak RSS (KiB) of B's process and of A's daemon, over the runs.
    rss_b: u64,
    rss_a: u64,
    proof: String,
    target: String,
    met: bool,
}

fn range(v: &[f64]) -> String {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(0.0, f64::max);
    if v.len() <= 1 {
        String::new()
    } else {
        format!(" ({min:.0}–{max:.0})")
    }
}

fn print_report(a: &Args, rows: &[Row], build_secs: f64, load: (&str, &str)) {
    let s = a.sizes();
    println!(
        "Workload: {} contacts, {} notes, {} interactions, {} reminders ({} documents), seed {SEED}, \
         on A; B starts empty. Loopback (127.0.0.1), relay and mDNS off.",
        s.contacts,
        s.notes,
        s.interactions,
        s.reminders,
        s.total()
    );
    println!();
    println!(
        "| scenario | runs | wall ms, median (min–max) | CPU ms | session ms | bytes B→A | bytes A→B | round trips | peak RSS MiB B / A | proof of work | target | met? |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|");
    for r in rows {
        let opt = |v: &[f64]| {
            if v.is_empty() {
                "–".to_string()
            } else {
                format!("{:.0}", median(v))
            }
        };
        let rss = |k: u64| {
            if k == 0 {
                "–".to_string()
            } else {
                format!("{:.1}", k as f64 / 1024.0)
            }
        };
        println!(
            "| {} | {} | {:.0}{} | {} | {} | {} | {} | {} | {} / {} | {} | {} | {} |",
            r.scenario,
            r.runs,
            median(&r.wall_ms),
            range(&r.wall_ms),
            opt(&r.cpu_ms),
            opt(&r.session_ms),
            opt(&r.bytes_sent),
            opt(&r.bytes_received),
            opt(&r.round_trips),
            rss(r.rss_b),
            rss(r.rss_a),
            r.proof,
            r.target,
            if r.met { "yes" } else { "**no**" }
        );
    }
    println!();
    if build_secs > 0.0 {
        println!(
            "Filling A through the library ({} documents per write transaction) took {build_secs:.1} s.",
            a.batch
        );
    }
    println!("Machine: {}.", machine());
    println!(
        "Load average (1/5/15 min) before the measurements: {}; after: {}.",
        load.0, load.1
    );
    let argv: Vec<String> = std::env::args().collect();
    println!("Command: `{}`", argv.join(" "));
}

// ---------------------------------------------------------------------------------------------

fn main() -> Res<()> {
    let mut argv = std::env::args_os();
    if std::env::args_os().nth(1).is_some_and(|a| a == HELPER) {
        argv.nth(1);
        return helper(argv);
    }
    let a = Args::parse();
    let now_ms = kith_core::time::parse_rfc3339_to_unix_ms(NOW)?;
    let kith = match &a.kith {
        Some(k) => k.clone(),
        None => {
            let exe = std::env::current_exe()?;
            let dir = exe
                .parent()
                .and_then(Path::parent)
                .ok_or("cannot locate the target directory")?;
            dir.join(format!("kith{}", std::env::consts::EXE_SUFFIX))
        }
    };
    if !kith.exists() {
        return Err(format!(
            "{} not found; build it with `cargo build --profile profiling --bin kith` or pass --kith",
            kith.display()
        )
        .into());
    }
    let dir = a
        .dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("kith-bench-sync"));
    let scratch = dir.join("out");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)?;
    }
    std::fs::create_dir_all(&scratch)?;
    let (ta, tb, build_secs) = templates(&a, &kith, &dir, now_ms)?;
    let bench = Bench {
        kith,
        scratch,
        seq: Default::default(),
    };
    let da = Device {
        name: "A",
        home: dir.join("run/a"),
        port: ta.port,
    };
    let db = Device {
        name: "B",
        home: dir.join("run/b"),
        port: tb.port,
    };
    let runs = a.runs.max(1);
    let load_before = loadavg();
    let mut rows = Vec::new();

    // 1 and 2: full sync to an empty device, then reconnects with nothing changed.
    let expected = a.sizes().total() as u64 + 1;
    let mut full = Row {
        scenario: "1. full sync to an empty device (`kith --json sync` on B, `kith daemon` on A)"
            .into(),
        runs: a.full_runs.max(1),
        wall_ms: vec![],
        cpu_ms: vec![],
        session_ms: vec![],
        bytes_sent: vec![],
        bytes_received: vec![],
        round_trips: vec![],
        rss_b: 0,
        rss_a: 0,
        proof: String::new(),
        target: format!(
            "≤ {:.0} s, ≤ {RSS_TARGET_MIB:.0} MiB",
            FULL_TARGET_MS / 1000.0
        ),
        met: true,
    };
    let mut again = Row {
        scenario: "2. reconnect, nothing changed (`kith --json sync` on B again)".into(),
        runs: 0,
        wall_ms: vec![],
        cpu_ms: vec![],
        session_ms: vec![],
        bytes_sent: vec![],
        bytes_received: vec![],
        round_trips: vec![],
        rss_b: 0,
        rss_a: 0,
        proof: String::new(),
        target: format!("1 round trip, < {NOCHANGE_TARGET_BYTES} B, < {NOCHANGE_TARGET_MS:.0} ms"),
        met: true,
    };
    for i in 0..a.full_runs.max(1) {
        copy_dir(&ta.home, &da.home)?;
        copy_dir(&tb.home, &db.home)?;
        eprintln!("1. full sync, run {}/{}...", i + 1, a.full_runs.max(1));
        let daemon = bench.daemon(&da)?;
        let (u, r) = sync_b(&bench, &db)?;
        eprintln!("   {:.0} ms, {r:?}", u.wall_ms);
        full.wall_ms.push(u.wall_ms);
        full.cpu_ms.push(u.cpu_ms);
        full.session_ms.push(r.millis as f64);
        full.bytes_sent.push(r.bytes_sent as f64);
        full.bytes_received.push(r.bytes_received as f64);
        full.round_trips.push(r.round_trips as f64);
        full.rss_b = full.rss_b.max(u.max_rss_kib);
        full.proof = format!(
            "{} documents differed, {} received; {}",
            r.docs_differing,
            r.docs_received,
            count_line(&db)?
        );
        full.met &= r.docs_received >= expected - 1;
        if i == 0 {
            eprintln!("2. reconnect with nothing changed, {runs} runs...");
            for _ in 0..runs {
                let (u, r) = sync_b(&bench, &db)?;
                again.wall_ms.push(u.wall_ms);
                again.cpu_ms.push(u.cpu_ms);
                again.session_ms.push(r.millis as f64);
                again.bytes_sent.push(r.bytes_sent as f64);
                again.bytes_received.push(r.bytes_received as f64);
                again.round_trips.push(r.round_trips as f64);
                again.rss_b = again.rss_b.max(u.max_rss_kib);
                again.runs += 1;
                again.proof = format!(
                    "{} documents differed, {} sent, {} received",
                    r.docs_differing, r.docs_sent, r.docs_received
                );
                again.met &=
                    r.round_trips <= 1 && r.bytes_sent + r.bytes_received < NOCHANGE_TARGET_BYTES;
            }
        }
        let (ua, _, err) = daemon.stop()?;
        if ua.status != 0 {
            eprintln!(
                "   A's daemon exited with {}: {}",
                ua.status,
                String::from_utf8_lossy(&err)
            );
        }
        full.rss_a = full.rss_a.max(ua.max_rss_kib);
        if i == 0 {
            again.rss_a = ua.max_rss_kib;
        }
    }
    full.met &= median(&full.wall_ms) <= FULL_TARGET_MS
        && full.rss_a.max(full.rss_b) as f64 <= RSS_TARGET_MIB * 1024.0;
    again.met &= median(&again.wall_ms) < NOCHANGE_TARGET_MS;
    rows.push(full);
    rows.push(again);

    // 3. One edit's propagation in daemon mode.
    eprintln!("3. propagation of one `kith add` between two daemons, {runs} runs...");
    let dmn_a = bench.daemon(&da)?;
    let dmn_b = bench.daemon(&db)?;
    // Let the daemons' first pushes (each registered itself at start) settle.
    std::thread::sleep(Duration::from_secs(3));
    let mut prop = Row {
        scenario: "3. one `kith add` on A until B's vault has it (both run `kith daemon`)".into(),
        runs,
        wall_ms: vec![],
        cpu_ms: vec![],
        session_ms: vec![],
        bytes_sent: vec![],
        bytes_received: vec![],
        round_trips: vec![],
        rss_b: 0,
        rss_a: 0,
        proof: String::new(),
        target: format!("< {PROPAGATION_TARGET_MS:.0} ms"),
        met: true,
    };
    let mut add_ms = Vec::new();
    let mut seen = 0;
    for i in 0..runs {
        let name = format!("Sync Probe {i}");
        let folded = kith_core::text::fold(&name);
        let t = Instant::now();
        let add = bench.start(
            &da,
            &["add", &name, "--email", &format!("probe{i}@example.org")],
        )?;
        let found = loop {
            let v = Vault::open_read_only(&db.vault())?;
            let hit = !v.read()?.by_name(&folded)?.is_empty();
            drop(v);
            if hit {
                break Some(t.elapsed());
            }
            if t.elapsed() > Duration::from_secs(30) {
                break None;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let (ua, _, err) = add.wait()?;
        if ua.status != 0 {
            return Err(format!("kith add failed: {}", String::from_utf8_lossy(&err)).into());
        }
        add_ms.push(ua.wall_ms);
        prop.cpu_ms.push(ua.cpu_ms);
        match found {
            Some(d) => {
                seen += 1;
                prop.wall_ms.push(d.as_secs_f64() * 1000.0);
                eprintln!(
                    "   {:.0} ms (the add itself {:.0} ms)",
                    d.as_secs_f64() * 1000.0,
                    ua.wall_ms
                );
            }
            None => {
                eprintln!("   not seen on B within 30 s");
                prop.met = false;
            }
        }
        // Let B's push back to A (its root changed) finish before the next edit.
        std::thread::sleep(Duration::from_millis(1500));
    }
    let (ub, _, _) = dmn_b.stop()?;
    let (ua, _, _) = dmn_a.stop()?;
    prop.rss_a = ua.max_rss_kib;
    prop.rss_b = ub.max_rss_kib;
    prop.proof = format!(
        "{seen}/{runs} contacts seen on B; `kith add` alone {:.0} ms",
        median(&add_ms)
    );
    prop.met &= !prop.wall_ms.is_empty() && median(&prop.wall_ms) < PROPAGATION_TARGET_MS;
    rows.push(prop);

    // 4. Edits made offline on both sides, then one sync.
    let k = a.edits;
    eprintln!("4. {k} notes edited offline on each side, then `kith --json sync`, {runs} runs...");
    let notes = Vault::open_read_only(&da.vault())?
        .read()?
        .ids_of_kind(Kind::Note)?;
    let mut off = Row {
        scenario: format!("4. {k} notes edited offline on each side, then `kith --json sync` on B"),
        runs,
        wall_ms: vec![],
        cpu_ms: vec![],
        session_ms: vec![],
        bytes_sent: vec![],
        bytes_received: vec![],
        round_trips: vec![],
        rss_b: 0,
        rss_a: 0,
        proof: String::new(),
        target: "–".into(),
        met: true,
    };
    for i in 0..runs {
        let base = (i * 2 * k) % notes.len().max(1);
        let pick = |from: usize| -> Vec<DocId> {
            (0..k)
                .map(|j| notes[(base + from + j) % notes.len()])
                .collect()
        };
        let (on_a, on_b) = (pick(0), pick(k));
        let (ma, mb) = (
            format!("[edited on A, round {i}]"),
            format!("[edited on B, round {i}]"),
        );
        edit_notes(&da, &on_a, &ma, now_ms + i as i64)?;
        edit_notes(&db, &on_b, &mb, now_ms + i as i64)?;
        let daemon = bench.daemon(&da)?;
        let (u, r) = sync_b(&bench, &db)?;
        let (ua, _, _) = daemon.stop()?;
        eprintln!("   {:.0} ms, {r:?}", u.wall_ms);
        off.wall_ms.push(u.wall_ms);
        off.cpu_ms.push(u.cpu_ms);
        off.session_ms.push(r.millis as f64);
        off.bytes_sent.push(r.bytes_sent as f64);
        off.bytes_received.push(r.bytes_received as f64);
        off.round_trips.push(r.round_trips as f64);
        off.rss_b = off.rss_b.max(u.max_rss_kib);
        off.rss_a = off.rss_a.max(ua.max_rss_kib);
        let ok_b = on_a
            .iter()
            .all(|id| note_has(&db, *id, &ma).unwrap_or(false));
        let ok_a = on_b
            .iter()
            .all(|id| note_has(&da, *id, &mb).unwrap_or(false));
        off.met &= ok_a && ok_b;
        off.proof = format!(
            "{} documents differed, {} sent, {} received; every edit on both sides: {}",
            r.docs_differing,
            r.docs_sent,
            r.docs_received,
            if ok_a && ok_b { "yes" } else { "**no**" }
        );
    }
    rows.push(off);
    let load_after = loadavg();
    print_report(&a, &rows, build_secs, (&load_before, &load_after));
    Ok(())
}
