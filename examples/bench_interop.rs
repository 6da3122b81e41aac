//! Interop benchmark (not a test): whole-process wall time of the release `kith` binary.
//!
//! Generates (fixed seed) one .vcf of 10,000 cards and a 10,000-row LinkedIn Connections.csv,
//! then measures (median and min–max of 5 runs, CPU time, peak RSS): import into an empty
//! vault, import into a vault that already holds them, export of the 10,000 contacts (and
//! their 2,000 notes) in each format, and the size of the vault import built against the same
//! data as compact JSON.
//!
//!     cargo build --profile profiling --bin kith --example bench_interop
//!     target/profiling/examples/bench_interop
//!
//! Set KITH_BIN to measure another binary (e.g. `target/quick/kith`), BENCH_RUNS to change the
//! number of runs, BENCH_ONLY to a comma-separated subset of `vcard`, `linkedin`, `export`,
//! `markdown` to run only those rows (the export rows import the vCard file once to have
//! something to export), BENCH_DIR to keep the generated files and vaults in a new directory
//! under it (to profile one command on them). Prints Markdown tables.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const N: usize = 10_000;
const RUNS: usize = 5; // BENCH_RUNS overrides

/// xorshift64*: a tiny PRNG so the workload is the same on every machine.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

const FIRST: &[&str] = &[
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Margaret",
    "Linus",
    "Ken",
    "Radia",
    "Frances",
    "John",
    "Leslie",
    "Hedy",
    "Tim",
    "Katherine",
    "Dennis",
    "Anita",
    "Niklaus",
    "Zoë",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Hamilton",
    "Torvalds",
    "Thompson",
    "Perlman",
    "Allen",
    "McCarthy",
    "Lamport",
    "Lamarr",
    "Berners-Lee",
    "Johnson",
    "Ritchie",
    "Borg",
    "Wirth",
    "Müller",
];
const ORGS: &[&str] = &[
    "Analytical Engines",
    "Navy Labs",
    "Bletchley",
    "Kernel, Inc.",
    "Bell Labs",
    "Xerox PARC",
    "MIT",
    "Stanford",
    "ETH Zürich",
    "Acme",
];
const TITLES: &[&str] = &[
    "Engineer",
    "Researcher",
    "Founder, CEO",
    "Professor",
    "Manager",
    "Designer",
    "Recruiter",
];
const MONTHS: &[&str] = &[
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn gen_vcf(path: &Path) {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let mut s = String::new();
    for i in 0..N {
        let (f, l) = (r.pick(FIRST), r.pick(LAST));
        s.push_str("BEGIN:VCARD\r\nVERSION:3.0\r\n");
        s.push_str(&format!(
            "UID:bench-{i:05}\r\nFN:{f} {l}\r\nN:{l};{f};;;\r\n"
        ));
        s.push_str(&format!(
            "EMAIL;TYPE=INTERNET,WORK:{}.{}.{i}@example.com\r\n",
            f.to_lowercase(),
            l.to_lowercase()
        ));
        s.push_str(&format!("TEL;TYPE=CELL:+1 555 {:07}\r\n", i));
        s.push_str(&format!(
            "ORG:{}\r\nTITLE:{}\r\n",
            r.pick(ORGS).replace(',', "\\,"),
            r.pick(TITLES).replace(',', "\\,")
        ));
        if i % 3 == 0 {
            s.push_str("CATEGORIES:work,conference\r\n");
        }
        if i % 5 == 0 {
            s.push_str(&format!(
                "NOTE:Met at event {}\\nfollow up\r\n",
                r.next() % 100
            ));
        }
        s.push_str(&format!(
            "item1.X-ABRELATEDNAMES:{}\r\nitem1.X-ABLabel:_$!<Friend>!$_\r\n",
            r.pick(FIRST)
        ));
        s.push_str("END:VCARD\r\n");
    }
    std::fs::write(path, s).unwrap();
}

fn gen_csv(path: &Path) {
    let mut r = Rng(0x2545_f491_4f6c_dd1d);
    let mut s = String::from("Notes:\n\"Some email addresses may be missing.\"\n\nFirst Name,Last Name,URL,Email Address,Company,Position,Connected On\n");
    for i in 0..N {
        let (f, l) = (r.pick(FIRST), r.pick(LAST));
        let email = if i % 2 == 0 {
            format!("{}.{i}@example.org", f.to_lowercase())
        } else {
            String::new()
        };
        s.push_str(&format!(
            "{f},{l},https://www.linkedin.com/in/{}-{i},{email},\"{}\",\"{}\",{:02} {} {}\n",
            l.to_lowercase(),
            r.pick(ORGS),
            r.pick(TITLES),
            1 + r.next() % 28,
            r.pick(MONTHS),
            2010 + r.next() % 15
        ));
    }
    std::fs::write(path, s).unwrap();
}

/// One measured run of `kith ARGS`.
struct Sample {
    wall: Duration,
    /// User plus system CPU time of the child.
    cpu: Duration,
    max_rss_kib: u64,
    stdout: Vec<u8>,
}

/// Hidden first argument that turns this binary into the measuring helper (see [`helper`]).
const HELPER: &str = "__measure";

/// Runs `kith ARGS` in `home` through a fresh copy of this binary in helper mode (Linux carries
/// the peak RSS of the process that forks into the child's `ru_maxrss`, so spawning from this
/// process, which holds the generated files, would report its peak instead of kith's).
fn kith(bin: &Path, home: &Path, args: &[&str], scratch: &Path) -> Sample {
    let out_path = scratch.join("stdout");
    let err_path = scratch.join("stderr");
    let helper = Command::new(std::env::current_exe().unwrap())
        .arg(HELPER)
        .arg(&out_path)
        .arg(&err_path)
        .arg(bin)
        .args(args)
        .env_clear()
        .env("KITH_HOME", home)
        .env("KITH_NOW", "2026-11-22T10:00:00Z")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&helper.stdout);
    let f: Vec<i64> = report
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    assert!(
        f.len() == 4 && f[3] == 0,
        "kith {args:?}: {report} {}",
        std::fs::read_to_string(&err_path).unwrap_or_default()
    );
    Sample {
        wall: Duration::from_nanos(f[0] as u64),
        cpu: Duration::from_micros(f[1] as u64),
        max_rss_kib: f[2] as u64,
        stdout: std::fs::read(&out_path).unwrap(),
    }
}

/// Helper mode: `bench_interop __measure OUT ERR KITH ARGS...` runs KITH ARGS with stdout to
/// OUT and stderr to ERR and prints "wall_ns cpu_us max_rss_kib status"; wall time runs from
/// just before the spawn to the return of `wait4`.
fn helper(mut argv: impl Iterator<Item = std::ffi::OsString>) {
    let (Some(out), Some(err), Some(bin)) = (argv.next(), argv.next(), argv.next()) else {
        panic!("usage: bench_interop __measure OUT ERR KITH ARGS...");
    };
    let out = std::fs::File::create(out).unwrap();
    let err = std::fs::File::create(err).unwrap();
    let start = Instant::now();
    let child = Command::new(bin)
        .args(argv)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is a plain C struct for which all-zero bytes is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet reaped (std's `Child` is never waited on); the
    // pointers are to live locals.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let wall = start.elapsed();
    drop(child);
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    let tv = |t: libc::timeval| t.tv_sec * 1_000_000 + t.tv_usec;
    let cpu_us = tv(ru.ru_utime) + tv(ru.ru_stime);
    println!("{} {cpu_us} {} {code}", wall.as_nanos(), ru.ru_maxrss);
}

fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn summary(out: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(out).unwrap();
    format!(
        "{} created, {} updated, {} unchanged",
        v["created"], v["updated"], v["unchanged"]
    )
}

/// One table row: median and min–max wall time, median CPU, the highest peak RSS.
fn row(what: String, samples: &[Sample], target: &str, check: String) -> [String; 7] {
    let mut wall: Vec<f64> = samples.iter().map(|s| s.wall.as_secs_f64()).collect();
    let mut cpu: Vec<f64> = samples.iter().map(|s| s.cpu.as_secs_f64()).collect();
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    let rss = samples.iter().map(|s| s.max_rss_kib).max().unwrap_or(0);
    [
        what,
        format!("{:.2} s", wall[wall.len() / 2]),
        format!("{:.2}–{:.2} s", wall[0], wall[wall.len() - 1]),
        format!("{:.2} s", cpu[cpu.len() / 2]),
        format!("{:.1}", rss as f64 / 1024.0),
        target.into(),
        check,
    ]
}

/// Size of the JSON export written compactly (no indentation), the reference for the vault.
fn compact_json_len(pretty: &[u8]) -> u64 {
    let v: serde_json::Value = serde_json::from_slice(pretty).unwrap();
    serde_json::to_vec(&v).unwrap().len() as u64
}

/// Where the generated files and vaults live: removed at the end, or kept (`BENCH_DIR`).
enum Dir {
    Temp(tempfile::TempDir),
    Kept(PathBuf),
}

impl Dir {
    fn path(&self) -> &Path {
        match self {
            Dir::Temp(t) => t.path(),
            Dir::Kept(p) => p,
        }
    }
}

fn main() {
    let mut argv = std::env::args_os().skip(1);
    let first = argv.next();
    if first.as_deref() == Some(std::ffi::OsStr::new(HELPER)) {
        helper(argv);
        return;
    }
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(RUNS);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = std::env::var_os("KITH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/profiling/kith"));
    assert!(
        bin.exists(),
        "build it first: cargo build --profile profiling --bin kith"
    );
    // BENCH_DIR keeps the generated files and the vaults there (for profiling a command).
    let kept = std::env::var_os("BENCH_DIR").map(PathBuf::from);
    let tmp = match &kept {
        Some(d) => {
            std::fs::create_dir_all(d).unwrap();
            let p = tempfile::Builder::new()
                .prefix("run-")
                .tempdir_in(d)
                .unwrap()
                .keep();
            eprintln!("files and vaults kept in {}", p.display());
            Dir::Kept(p)
        }
        None => Dir::Temp(tempfile::tempdir().unwrap()),
    };
    let scratch = tmp.path();
    let vcf = tmp.path().join("cards.vcf");
    let csv = tmp.path().join("Connections.csv");
    gen_vcf(&vcf);
    gen_csv(&csv);
    let only = std::env::var("BENCH_ONLY").ok();
    let want = |what: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|x| x == what))
    };
    let mut rows: Vec<[String; 7]> = Vec::new();
    let mut sizes: Vec<(String, u64, u64)> = Vec::new();
    for (key, label, file) in [
        ("vcard", "vCard 10,000 cards", &vcf),
        ("linkedin", "LinkedIn CSV 10,000 rows", &csv),
    ] {
        let needed = want(key) || (key == "vcard" && (want("export") || want("markdown")));
        if !needed {
            continue;
        }
        let runs = if want(key) { runs } else { 0 };
        let size = std::fs::metadata(file).unwrap().len();
        let f = file.to_str().unwrap();
        let mut empty = Vec::new();
        let mut last = String::new();
        for run in 0..runs {
            let home = tmp.path().join(format!("empty-{label}-{run}"));
            let s = kith(&bin, &home, &["--json", "import", f], scratch);
            last = summary(&s.stdout);
            empty.push(s);
        }
        if !empty.is_empty() {
            rows.push(row(
                format!(
                    "import {label} ({:.1} MB) into an empty vault",
                    size as f64 / 1e6
                ),
                &empty,
                "≤ 2 s",
                last.clone(),
            ));
        }
        let home = tmp.path().join(format!("full-{label}"));
        kith(&bin, &home, &["import", f], scratch);
        let json = kith(&bin, &home, &["export", "--format", "json"], scratch).stdout;
        sizes.push((
            label.to_string(),
            kith::store::file_size(&home.join("vault.redb")),
            compact_json_len(&json),
        ));
        let mut again = Vec::new();
        for _ in 0..runs {
            let s = kith(&bin, &home, &["--json", "import", f], scratch);
            last = summary(&s.stdout);
            again.push(s);
        }
        if !again.is_empty() {
            rows.push(row(
                format!("import {label} into a vault that holds them"),
                &again,
                "–",
                last,
            ));
        }
    }
    let home = tmp.path().join("full-vCard 10,000 cards");
    for (fmt, extra) in [("vcard", None), ("json", None), ("markdown", Some("md"))] {
        if !want(if extra.is_some() {
            "markdown"
        } else {
            "export"
        }) {
            continue;
        }
        let mut samples = Vec::new();
        let mut check = String::new();
        for run in 0..runs {
            let mut args = vec!["export", "--format", fmt];
            let dir = tmp.path().join(format!("md-{run}"));
            if extra.is_some() {
                args.extend(["-o", dir.to_str().unwrap()]);
            }
            let s = kith(&bin, &home, &args, scratch);
            check = if extra.is_some() {
                format!("{} files", std::fs::read_dir(&dir).unwrap().count())
            } else {
                format!("{} bytes, fnv {:016x}", s.stdout.len(), fnv(&s.stdout))
            };
            samples.push(s);
        }
        let target = if extra.is_some() {
            "–"
        } else {
            "≤ 0.5 s, ≤ 50 MB"
        };
        rows.push(row(
            format!("export 10,000 contacts (+ 2,000 notes) as {fmt}"),
            &samples,
            target,
            check,
        ));
    }
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "Machine: {cpu}, {cores} cores, {}; load average {}.",
        std::env::consts::OS,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("Command: `cargo build --profile profiling --bin kith --example bench_interop && target/profiling/examples/bench_interop`");
    println!("Whole-process times of `kith` (spawn to `wait4`), {runs} runs each; CPU = user + system (median); peak RSS = highest `ru_maxrss`.\n");
    println!("| workload | median | min–max | CPU | peak RSS MiB | target | check |");
    println!("|---|---:|---:|---:|---:|---|---|");
    for r in rows {
        println!("| {} |", r.join(" | "));
    }
    println!("\n| vault built by `kith import` | vault.redb bytes | compact JSON bytes | ratio | target |");
    println!("|---|---:|---:|---:|---|");
    for (label, vault, json) in sizes {
        println!(
            "| {label} | {vault} | {json} | {:.2}× | ≤ 3× |",
            vault as f64 / json as f64
        );
    }
}
