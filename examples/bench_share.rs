//! A share of N contacts syncing to an empty recipient, beside device sync of the same N
//! contacts to an empty device, in the same run, between real `kith` processes over loopback
//! iroh (relays and mDNS off); then a no-change reconnect of each.
//!
//! Setup (not measured): an owner home A, paired (while empty) with a device D and with a
//! person B; then A imports `--contacts` synthetic vCards (fixed seed, all tagged `bench`,
//! with org and title) and shares the tag with B (`kith share create`, default fields); D's
//! and B's homes are kept as they were right after pairing (empty vaults; B's after one
//! session with nothing shared, which pins the intro actors both ways). A's `kith daemon`
//! serves both. Per run, fresh copies of those two homes:
//!
//! - **device sync**: `kith --json sync` on D's copy (a first sync of everything);
//! - **share sync**: `kith --json share sync` on B's copy (a first sync of the slice);
//! - then each is run once more with nothing changed (the reconnect).
//!
//! Per step: wall time (spawn to exit), the recipient process's CPU time (user + system) and
//! peak RSS (`wait4`), the owner daemon's CPU time over the step (`/proc/PID/stat`), round
//! trips and bytes from the command's own JSON report, and the documents found afterwards in
//! the recipient's vault (contacts for D, received documents for B), which must equal N.
//!
//! ```sh
//! cargo build --profile profiling --bin kith
//! cargo build --example bench_share      # the driver only spawns and waits: a dev build will do
//! target/debug/examples/bench_share --kith target/profiling/kith --runs 5
//! ```

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use clap::Parser;
use kith::store::{ShareTable, Vault};
use serde_json::Value;

mod common;
use common::{loadavg, machine, median, Res, Rng, SEED};

#[derive(Parser)]
struct Args {
    /// The kith binary to run
    #[arg(long, default_value = "target/profiling/kith")]
    kith: PathBuf,
    /// Runs (median of them)
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Contacts in the owner's vault, all in the share
    #[arg(long, default_value_t = 1000)]
    contacts: usize,
}

struct Home {
    dir: PathBuf,
    bind: String,
}

impl Home {
    fn new(root: &Path, name: &str) -> Res<Home> {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir)?;
        Ok(Home {
            dir,
            bind: format!("127.0.0.1:{}", free_port()?),
        })
    }

    fn cmd(&self, kith: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(kith);
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.dir)
            .env("KITH_HOME", self.dir.join("home"))
            .env("KITH_RELAY", "off")
            .env("KITH_MDNS", "off")
            .env("KITH_BIND", &self.bind)
            .args(args)
            .stdin(Stdio::null());
        c
    }

    fn run(&self, kith: &Path, args: &[&str]) -> Res<String> {
        let o = self.cmd(kith, args).output()?;
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

    /// A copy of this home under `name` (same device key, same vault), on a new port.
    fn copy(&self, root: &Path, name: &str) -> Res<Home> {
        let h = Home::new(root, name)?;
        copy_dir(&self.dir, &h.dir)?;
        Ok(h)
    }
}

fn copy_dir(from: &Path, to: &Path) -> Res<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &target)?;
        } else if e.file_type()?.is_file() {
            std::fs::copy(e.path(), &target)?;
        }
    }
    Ok(())
}

fn free_port() -> Res<u16> {
    Ok(std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Runs an invite on `inviter` and the matching accept/join on `joiner`.
fn pair(kith: &Path, inviter: &Home, invite: &[&str], joiner: &Home, join: &[&str]) -> Res<()> {
    let mut child = inviter
        .cmd(kith, invite)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut ticket = String::new();
    BufReader::new(child.stdout.take().ok_or("stdout")?).read_line(&mut ticket)?;
    let mut args = join.to_vec();
    args.insert(2, ticket.trim());
    joiner.run(kith, &args)?;
    child.wait()?;
    Ok(())
}

/// A running daemon, killed on drop.
struct Daemon(Child);

impl Daemon {
    fn start(kith: &Path, h: &Home) -> Res<Daemon> {
        let mut child = h
            .cmd(kith, &["daemon"])
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
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One measured command.
struct Step {
    wall_ms: f64,
    cpu_ms: f64,
    rss_mib: f64,
    owner_cpu_ms: f64,
    report: Value,
}

/// Runs `kith ARGS` on `h`, measuring wall time, its CPU and peak RSS (wait4) and the owner
/// daemon's CPU over the same time.
fn measure(kith: &Path, h: &Home, args: &[&str], owner: &Daemon) -> Res<Step> {
    let c0 = owner.cpu_ms()?;
    let t = Instant::now();
    let mut child = h
        .cmd(kith, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut out = String::new();
    child
        .stdout
        .take()
        .ok_or("stdout")?
        .read_to_string(&mut out)?;
    let mut err = String::new();
    child
        .stderr
        .take()
        .ok_or("stderr")?
        .read_to_string(&mut err)?;
    let mut status = 0;
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut ru) };
    let wall_ms = t.elapsed().as_secs_f64() * 1000.0;
    if pid <= 0 || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!("kith {args:?} failed: {} {}", err.trim(), out.trim()).into());
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0;
    Ok(Step {
        wall_ms,
        cpu_ms: tv(ru.ru_utime) + tv(ru.ru_stime),
        rss_mib: ru.ru_maxrss as f64 / 1024.0,
        owner_cpu_ms: owner.cpu_ms()? - c0,
        report: serde_json::from_str::<Value>(&out)?[0].clone(),
    })
}

/// `n` synthetic vCards (fixed seed), all tagged `bench`.
fn vcards(n: usize, seed: u64) -> String {
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
    const TITLE: [&str; 5] = ["Engineer", "Founder", "Analyst", "Designer", "Investor"];
    let mut rng = Rng(seed);
    let mut s = String::new();
    for i in 0..n {
        let (f, l) = (FIRST[rng.below(8)], LAST[rng.below(8)]);
        s.push_str(&format!(
            "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{f} {l} {i}\r\nN:{l} {i};{f};;;\r\nORG:Org {}\r\nTITLE:{}\r\nEMAIL:{}.{}{i}@example.org\r\nCATEGORIES:bench\r\nEND:VCARD\r\n",
            rng.below(200),
            TITLE[rng.below(5)],
            f.to_lowercase(),
            l.to_lowercase()
        ));
    }
    s
}

fn range(v: &[f64]) -> String {
    let min = v.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = v.iter().cloned().fold(0.0, f64::max);
    format!("{:.0} ({:.0}–{:.0})", median(v), min, max)
}

fn num(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or(0)
}

#[derive(Default)]
struct Col {
    wall: Vec<f64>,
    cpu: Vec<f64>,
    owner: Vec<f64>,
    rss: Vec<f64>,
    rounds: Vec<u64>,
    bytes: Vec<u64>,
    docs: Vec<u64>,
    verified: Vec<usize>,
}

impl Col {
    fn push(&mut self, s: &Step, verified: usize) {
        self.wall.push(s.wall_ms);
        self.cpu.push(s.cpu_ms);
        self.owner.push(s.owner_cpu_ms);
        self.rss.push(s.rss_mib);
        self.rounds.push(num(&s.report, "round_trips"));
        self.bytes
            .push(num(&s.report, "bytes_received") + num(&s.report, "bytes_sent"));
        self.docs.push(num(&s.report, "docs_received"));
        self.verified.push(verified);
    }

    fn row(&self, name: &str) -> String {
        let span = |v: &[u64]| {
            let (lo, hi) = (v.iter().min().unwrap_or(&0), v.iter().max().unwrap_or(&0));
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}–{hi}")
            }
        };
        format!(
            "| {name} | {} | {} | {} | {:.1} | {} | {} | {} | {} |",
            range(&self.wall),
            range(&self.cpu),
            range(&self.owner),
            median(&self.rss),
            span(&self.rounds),
            span(&self.bytes),
            span(&self.docs),
            self.verified
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join("/"),
        )
    }
}

fn contacts_in(h: &Home) -> Res<usize> {
    let v = Vault::open_read_only(&h.vault())?;
    let n = v.read()?.ids_of_kind(kith_core::Kind::Contact)?.len();
    Ok(n)
}

fn received_in(h: &Home) -> Res<usize> {
    let v = Vault::open_read_only(&h.vault())?;
    let n = v.read()?.share_scan(ShareTable::Received, &[])?.len();
    Ok(n)
}

fn main() -> Res<()> {
    let a = Args::parse();
    let kith = a.kith.canonicalize()?;
    let root = tempfile::tempdir()?;
    let owner = Home::new(root.path(), "owner")?;
    let device = Home::new(root.path(), "device")?;
    let person = Home::new(root.path(), "person")?;
    eprintln!("pairing a device and a person with an empty owner vault...");
    pair(
        &kith,
        &owner,
        &["device", "invite", "--name", "owner"],
        &device,
        &["device", "join", "--name", "device"],
    )?;
    pair(
        &kith,
        &owner,
        &["person", "invite", "--name", "Ben"],
        &person,
        &["person", "accept", "--name", "Ann"],
    )?;
    // One session of the person with nothing shared yet: both sides pin each other's intro
    // actor now, so every fresh copy of the person's home announces the same one (a copy
    // that created its own would be refused as a changed actor).
    {
        let _daemon = Daemon::start(&kith, &owner)?;
        person.run(&kith, &["share", "sync"])?;
    }
    let cards = root.path().join("contacts.vcf");
    std::fs::write(&cards, vcards(a.contacts, SEED))?;
    owner.run(&kith, &["import", cards.to_str().ok_or("path")?])?;
    let share = owner.run(
        &kith,
        &["share", "create", "--with", "Ben", "--tag", "bench"],
    )?;
    let list: Value = serde_json::from_str(&owner.run(&kith, &["--json", "share", "list"])?)?;
    let in_share = list[0]["contacts"].as_u64().unwrap_or(0) as usize;
    if in_share != a.contacts || contacts_in(&owner)? != a.contacts {
        return Err(format!("the share holds {in_share} of {} contacts", a.contacts).into());
    }
    eprintln!(
        "share {} of {in_share} contacts; {} runs...",
        share.trim(),
        a.runs
    );
    let daemon = Daemon::start(&kith, &owner)?;
    std::thread::sleep(std::time::Duration::from_secs(2));
    let load_before = loadavg();
    let (mut dev, mut shr, mut dev_again, mut shr_again) = (
        Col::default(),
        Col::default(),
        Col::default(),
        Col::default(),
    );
    for run in 0..a.runs {
        let d = device.copy(root.path(), &format!("device{run}"))?;
        let s = measure(&kith, &d, &["--json", "sync"], &daemon)?;
        dev.push(&s, contacts_in(&d)?);
        let s = measure(&kith, &d, &["--json", "sync"], &daemon)?;
        dev_again.push(&s, contacts_in(&d)?);
        let p = person.copy(root.path(), &format!("person{run}"))?;
        let s = measure(&kith, &p, &["--json", "share", "sync"], &daemon)?;
        shr.push(&s, received_in(&p)?);
        let s = measure(&kith, &p, &["--json", "share", "sync"], &daemon)?;
        shr_again.push(&s, received_in(&p)?);
        eprintln!(
            "run {run}: device {:.0} ms, share {:.0} ms",
            dev.wall[run], shr.wall[run]
        );
    }
    drop(daemon);
    println!("Machine: {}", machine());
    println!("Load average: {load_before} before, {} after", loadavg());
    println!(
        "Workload: {} contacts (seed {SEED}, vCard import), all in one share (default fields name, org, title, help); {} runs, each on fresh copies of an empty device and an empty recipient; loopback iroh, relay and mDNS off; the owner's `kith daemon` answers both.",
        a.contacts, a.runs
    );
    println!();
    println!("| step | wall ms, median (min–max) | recipient CPU ms | owner daemon CPU ms | recipient peak RSS MiB | round trips | sync bytes (both ways) | docs received | docs found after (per run) |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!("{}", dev.row("device sync, empty device (`kith sync`)"));
    println!(
        "{}",
        shr.row("share sync, empty recipient (`kith share sync`)")
    );
    println!("{}", dev_again.row("device sync, no change"));
    println!("{}", shr_again.row("share sync, no change"));
    println!();
    for (what, s, d) in [
        ("first sync", &shr, &dev),
        ("no-change reconnect", &shr_again, &dev_again),
    ] {
        println!(
            "Ratio share / device, {what}: wall {:.2}, recipient CPU {:.2}, owner CPU {:.2}",
            median(&s.wall) / median(&d.wall),
            median(&s.cpu) / median(&d.cpu).max(f64::EPSILON),
            median(&s.owner) / median(&d.owner).max(f64::EPSILON)
        );
    }
    Ok(())
}
