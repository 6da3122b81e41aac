//! The daemon's wake-up: how long one edit takes to reach another device when both run
//! `kith daemon`, and what an idle daemon costs.
//!
//! Two homes on loopback (relays and mDNS off), paired with `kith device invite`/`join`, each
//! A filled with `--contacts` synthetic contacts (fixed seed, through `kith import` of a
//! generated LinkedIn-style CSV), B receiving them when it joins. Then, for each mode:
//!
//! - **notify**: the daemon as shipped, woken by the datagram every commit sends
//!   (`store::notify`);
//! - **poll 100 ms**: the same binary with `KITH_DAEMON_NOTIFY=off KITH_DAEMON_POLL_MS=100`,
//!   which is what the daemon did before (a 100 ms poll of the change counter);
//!
//! both daemons start, `--runs` times `kith add` runs on A and the clock stops when B's vault,
//! opened read-only every 1 ms, finds the name (spawn of `kith add` to seen on B); then both
//! daemons sit idle for `--idle` seconds and their CPU time (utime + stime from
//! `/proc/PID/stat`) over that window is read, with their peak RSS (`VmHWM`).
//!
//! ```sh
//! cargo build --profile profiling --examples --bin kith
//! target/profiling/examples/bench_daemon --kith target/profiling/kith
//! ```

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use kith::store::Vault;

mod common;
use common::{loadavg, machine, median, Res, Rng, SEED};

#[derive(Parser)]
struct Args {
    /// The kith binary to run
    #[arg(long, default_value = "target/profiling/kith")]
    kith: PathBuf,
    /// Edits measured per mode
    #[arg(long, default_value_t = 15)]
    runs: usize,
    /// Contacts in each vault before the measurements
    #[arg(long, default_value_t = 1000)]
    contacts: usize,
    /// Seconds of idle time measured per mode
    #[arg(long, default_value_t = 10)]
    idle: u64,
}

struct Home {
    dir: PathBuf,
    bind: String,
}

impl Home {
    fn cmd(&self, kith: &Path, args: &[&str], extra: &[(&str, &str)]) -> Command {
        let mut c = Command::new(kith);
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.dir)
            .env("KITH_HOME", self.dir.join("home"))
            .env("KITH_RELAY", "off")
            .env("KITH_MDNS", "off")
            .env("KITH_BIND", &self.bind)
            .envs(extra.iter().copied())
            .args(args)
            .stdin(Stdio::null());
        c
    }

    fn run(&self, kith: &Path, args: &[&str]) -> Res<String> {
        let o = self.cmd(kith, args, &[]).output()?;
        if !o.status.success() {
            return Err(format!(
                "kith {args:?}: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )
            .into());
        }
        Ok(String::from_utf8(o.stdout)?)
    }

    fn vault(&self) -> PathBuf {
        self.dir.join("home/vault.redb")
    }
}

fn free_port() -> Res<u16> {
    Ok(std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A running daemon, killed on drop.
struct Daemon(Child);

impl Daemon {
    fn start(kith: &Path, h: &Home, extra: &[(&str, &str)]) -> Res<Daemon> {
        let mut child = h
            .cmd(kith, &["daemon"], extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().ok_or("stdout")?).read_line(&mut line)?;
        if !line.contains("ready") {
            return Err(format!("daemon said: {line}").into());
        }
        Ok(Daemon(child))
    }

    /// CPU time so far (ms) from /proc/PID/stat.
    fn cpu_ms(&self) -> Res<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.0.id()))?;
        let rest = &stat[stat.rfind(')').ok_or("stat")? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = f[11].parse::<u64>()? + f[12].parse::<u64>()?;
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        Ok(ticks as f64 * 1000.0 / hz)
    }

    /// Peak RSS (MiB) from /proc/PID/status.
    fn peak_rss_mib(&self) -> f64 {
        common::read_first(&format!("/proc/{}/status", self.0.id()), "VmHWM")
            .and_then(|v| v.trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A CSV of `n` synthetic contacts (fixed seed).
fn contacts_csv(n: usize, seed: u64) -> String {
    const FIRST: [&str; 8] = [
        "Ada", "Grace", "Alan", "Mary", "Emmy", "Kurt", "Sofia", "Nils",
    ];
    const LAST: [&str; 8] = [
        "Lovelace",
        "Hopper",
        "Turing",
        "Somerville",
        "Noether",
        "Goedel",
        "Kovalevskaya",
        "Berg",
    ];
    let mut rng = Rng(seed);
    let mut s = String::from("First Name,Last Name,Email Address,Connected On\n");
    for i in 0..n {
        let f = FIRST[rng.below(8)];
        let l = LAST[rng.below(8)];
        s.push_str(&format!(
            "{f},{l} {i},{}.{}{i}@example.org,01 Jan 2024\n",
            f.to_lowercase(),
            l.to_lowercase()
        ));
    }
    s
}

struct Mode {
    name: &'static str,
    env: Vec<(&'static str, &'static str)>,
}

struct Measured {
    prop_ms: Vec<f64>,
    /// From `kith add` exiting (its commit done) to seen on B.
    after_ms: Vec<f64>,
    add_ms: Vec<f64>,
    seen: usize,
    idle_cpu_ms: (f64, f64),
    rss: (f64, f64),
}

fn measure(a: &Args, ha: &Home, hb: &Home, mode: &Mode, tag: &str) -> Res<Measured> {
    let env: Vec<(&str, &str)> = mode.env.clone();
    let db = Daemon::start(&a.kith, hb, &env)?;
    let da = Daemon::start(&a.kith, ha, &env)?;
    // Let the first pushes (each daemon registers itself at start) settle.
    std::thread::sleep(Duration::from_secs(3));
    let (mut prop_ms, mut after_ms, mut add_ms, mut seen) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for i in 0..a.runs {
        let name = format!("Probe {tag} {i}");
        let folded = kith_core::text::fold(&name);
        let t = Instant::now();
        let mut add = ha
            .cmd(&a.kith, &["add", &name], &[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut added = None;
        let found = loop {
            if added.is_none() && add.try_wait()?.is_some() {
                added = Some(t.elapsed());
            }
            let v = Vault::open_read_only(&hb.vault())?;
            let hit = !v.read()?.by_name(&folded)?.is_empty();
            drop(v);
            if hit {
                break Some(t.elapsed());
            }
            if t.elapsed() > Duration::from_secs(30) {
                break None;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        add.wait()?;
        let added = added.unwrap_or_else(|| t.elapsed());
        add_ms.push(added.as_secs_f64() * 1000.0);
        if let Some(d) = found {
            seen += 1;
            prop_ms.push(d.as_secs_f64() * 1000.0);
            after_ms.push(d.saturating_sub(added).as_secs_f64() * 1000.0);
        }
        // Let both daemons go quiet before the next edit.
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(2));
    let (a0, b0) = (da.cpu_ms()?, db.cpu_ms()?);
    std::thread::sleep(Duration::from_secs(a.idle));
    let (a1, b1) = (da.cpu_ms()?, db.cpu_ms()?);
    Ok(Measured {
        prop_ms,
        after_ms,
        add_ms,
        seen,
        idle_cpu_ms: (a1 - a0, b1 - b0),
        rss: (da.peak_rss_mib(), db.peak_rss_mib()),
    })
}

fn range(v: &[f64]) -> String {
    let min = v.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = v.iter().cloned().fold(0.0, f64::max);
    format!("{:.0} ({:.0}–{:.0})", median(v), min, max)
}

fn main() -> Res<()> {
    let a = Args::parse();
    let root = tempfile::tempdir()?;
    let ha = Home {
        dir: root.path().join("a"),
        bind: format!("127.0.0.1:{}", free_port()?),
    };
    let hb = Home {
        dir: root.path().join("b"),
        bind: format!("127.0.0.1:{}", free_port()?),
    };
    for h in [&ha, &hb] {
        std::fs::create_dir_all(&h.dir)?;
    }
    let csv = root.path().join("contacts.csv");
    std::fs::write(&csv, contacts_csv(a.contacts, SEED))?;
    ha.run(&a.kith, &["import", csv.to_str().ok_or("path")?])?;
    // Pair: the ticket is the first line of the invite's stdout.
    let mut invite = ha
        .cmd(&a.kith, &["device", "invite", "--name", "a"], &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut ticket = String::new();
    BufReader::new(invite.stdout.take().ok_or("stdout")?).read_line(&mut ticket)?;
    hb.run(&a.kith, &["device", "join", ticket.trim(), "--name", "b"])?;
    invite.wait()?;
    let modes = [
        Mode {
            name: "notify (as shipped)",
            env: vec![],
        },
        Mode {
            name: "poll 100 ms (as before)",
            env: vec![
                ("KITH_DAEMON_NOTIFY", "off"),
                ("KITH_DAEMON_POLL_MS", "100"),
            ],
        },
    ];
    let load_before = loadavg();
    let mut results = Vec::new();
    for (i, m) in modes.iter().enumerate() {
        eprintln!("{}: {} edits, then {} s idle...", m.name, a.runs, a.idle);
        results.push(measure(&a, &ha, &hb, m, &i.to_string())?);
    }
    println!("Machine: {}", machine());
    println!("Load average: {load_before} before, {} after", loadavg());
    println!(
        "Workload: {} contacts on each device (seed {SEED}), {} edits per mode, {} s idle; loopback, relay and mDNS off.",
        a.contacts, a.runs, a.idle
    );
    println!();
    println!("| daemon wakes by | `kith add` spawned to seen on B, ms, median (min–max) | `kith add` exited to seen on B, ms | `kith add` alone, ms | edits seen on B | idle CPU over {} s, ms, A / B | peak RSS MiB A / B |", a.idle);
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (m, r) in modes.iter().zip(&results) {
        println!(
            "| {} | {} | {} | {:.0} | {}/{} | {:.0} / {:.0} | {:.1} / {:.1} |",
            m.name,
            range(&r.prop_ms),
            range(&r.after_ms),
            median(&r.add_ms),
            r.seen,
            a.runs,
            r.idle_cpu_ms.0,
            r.idle_cpu_ms.1,
            r.rss.0,
            r.rss.1
        );
    }
    let (n, p) = (&results[0], &results[1]);
    println!();
    println!(
        "Ratio notify / poll: latency after the commit {:.2}, idle CPU {:.2}",
        median(&n.after_ms) / median(&p.after_ms).max(f64::EPSILON),
        (n.idle_cpu_ms.0 + n.idle_cpu_ms.1) / (p.idle_cpu_ms.0 + p.idle_cpu_ms.1).max(f64::EPSILON)
    );
    Ok(())
}
