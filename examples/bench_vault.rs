//! Reproducible benchmark of a kith vault at a realistic size.
//!
//! Builds a deterministic synthetic network (a seeded splitmix64 generator and a pinned clock,
//! so every run produces the same contacts, notes, interactions and reminders) through the
//! library, writes the same data as JSON for the size comparison, then runs the real `kith`
//! binary as whole processes and measures, per command, the wall time (median, min and max of
//! several runs after one warm-up run) and the peak resident memory (`ru_maxrss` from `wait4`).
//! The result is printed as Markdown; docs/benchmarks.md holds the latest table.
//!
//! ```text
//! cargo build --profile profiling --examples --bin kith
//! target/profiling/examples/bench_vault [--contacts 10000 --notes 50000 --interactions 20000
//!     --reminders 5000 --runs 7 --dir PATH --keep --reuse]
//! ```
//!
//! Invariant: the generated data depends only on the sizes and [`SEED`]; the commands run with
//! `KITH_NOW` pinned to [`NOW`] and an otherwise empty environment, so their output (and the
//! counts printed as proof of work) are the same on every machine.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use kith::store::Vault;
use kith_core::model::{Contact, Interaction, Note, Reminder};
use kith_core::DocId;
use redb::{ReadableDatabase, ReadableTableMetadata, TableHandle};
use serde::Serialize;

mod common;
use common::{
    build_vault, generate, loadavg, machine, median, Data, Res, Sizes, NOW, RARE_WORD, SEED,
};

/// The contact every `show` and `timeline` run asks for; the name is unique in the network.
const TARGET_NAME: &str = "Ada Lovelace";

/// Benchmark of a kith vault: deterministic synthetic data, whole-process timings.
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
    /// Measured runs per command (after one warm-up run)
    #[arg(long, default_value_t = 7)]
    runs: usize,
    /// Documents per write transaction while building the vault
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Working directory (default: $TMPDIR/kith-bench)
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keep the vault and the JSON file afterwards
    #[arg(long)]
    keep: bool,
    /// Reuse the vault already in --dir (built by an earlier run with the same sizes)
    #[arg(long)]
    reuse: bool,
    /// The kith binary (default: the kith binary of this example's profile, e.g. target/profiling/kith)
    #[arg(long)]
    kith: Option<PathBuf>,
    /// Measure only the rows whose label contains one of these comma-separated words (e.g.
    /// `--only version,due,digest,graph,stats`); skips the storage measurement
    #[arg(long, value_name = "WORDS")]
    only: Option<String>,
}

impl Args {
    /// Whether the row labelled `label` is measured (`--only`).
    fn wants(&self, label: &str) -> bool {
        match &self.only {
            None => true,
            Some(words) => words
                .split(',')
                .map(str::trim)
                .any(|w| !w.is_empty() && label.contains(w)),
        }
    }
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

#[derive(Serialize)]
struct WithId<'a, T> {
    id: DocId,
    #[serde(flatten)]
    value: &'a T,
}

#[derive(Serialize)]
struct Dump<'a> {
    contacts: Vec<WithId<'a, Contact>>,
    notes: Vec<WithId<'a, Note>>,
    interactions: Vec<WithId<'a, Interaction>>,
    reminders: Vec<WithId<'a, Reminder>>,
}

fn with_ids<T>(v: &[(DocId, T)]) -> Vec<WithId<'_, T>> {
    v.iter()
        .map(|(id, value)| WithId { id: *id, value })
        .collect()
}

/// Writes the data as compact JSON (one array per kind, each object with its id); returns bytes.
fn write_json(data: &Data, path: &Path) -> Res<u64> {
    let dump = Dump {
        contacts: with_ids(&data.contacts),
        notes: with_ids(&data.notes),
        interactions: with_ids(&data.interactions),
        reminders: with_ids(&data.reminders),
    };
    let mut f = BufWriter::new(File::create(path)?);
    serde_json::to_writer(&mut f, &dump)?;
    f.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// Where the bytes of a vault file are.
struct Storage {
    /// Per table: (name, entries, stored bytes, fragmented bytes), largest first.
    tables: Vec<(String, u64, u64, u64)>,
    /// Pages in use times the page size.
    allocated: u64,
    /// Unused bytes: free pages plus the unused parts of pages in use.
    fragmented: u64,
    /// Size of a copy of the file after redb's `compact()`.
    compacted: u64,
    /// Size of a copy after `kith reindex` (rebuilds the indexes, rewrites every table in key
    /// order and compacts the file), and the wall time of that command.
    reindexed: u64,
    reindex_secs: f64,
}

fn open_db(path: &Path) -> Res<redb::Database> {
    let mut b = redb::Builder::new();
    b.set_concurrency_mode(redb::ConcurrencyMode::MultiWriter);
    Ok(b.open(path)?)
}

fn storage(kith: &Path, path: &Path, scratch: &Path) -> Res<Storage> {
    let mut tables = Vec::new();
    let (allocated, fragmented) = {
        let db = open_db(path)?;
        {
            let r = db.begin_read()?;
            for h in r.list_tables()? {
                let name = h.name().to_string();
                let t = r.open_untyped_table(h)?;
                let s = t.stats()?;
                tables.push((name, t.len()?, s.stored_bytes(), s.fragmented_bytes()));
            }
        }
        let w = db.begin_write()?;
        let s = w.stats()?;
        w.abort()?;
        (
            s.allocated_pages() * s.page_size() as u64,
            s.fragmented_bytes(),
        )
    };
    tables.sort_by_key(|t| std::cmp::Reverse(t.2));
    let copy = scratch.join("compacted.redb");
    std::fs::copy(path, &copy)?;
    {
        let mut db = open_db(&copy)?;
        for _ in 0..8 {
            if !db.compact()? {
                break;
            }
        }
    }
    let compacted = kith::store::file_size(&copy);
    std::fs::remove_file(&copy)?;
    // The maintenance command, as a user runs it, on another copy.
    let home = scratch.join("reindex-home");
    std::fs::create_dir_all(&home)?;
    let copy = kith::app::vault_path(&home);
    std::fs::copy(path, &copy)?;
    let t = Instant::now();
    let status = Command::new(kith)
        .env_clear()
        .env("KITH_HOME", &home)
        .arg("reindex")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    let reindex_secs = t.elapsed().as_secs_f64();
    if !status.success() {
        return Err(format!("kith reindex failed: {status}").into());
    }
    let reindexed = kith::store::file_size(&copy);
    std::fs::remove_dir_all(&home)?;
    Ok(Storage {
        tables,
        allocated,
        fragmented,
        compacted,
        reindexed,
        reindex_secs,
    })
}

// ---------------------------------------------------------------------------------------------
// Measuring whole processes.

struct Sample {
    wall: Duration,
    /// User plus system CPU time of the child.
    cpu: Duration,
    max_rss_kib: u64,
    stdout: Vec<u8>,
}

/// Hidden first argument that turns this binary into the measuring helper (see [`helper`]).
const HELPER: &str = "__measure";

/// Runs `kith ARGS` with a hermetic environment; stdout goes to a file, read back afterwards.
///
/// The child is started by a fresh copy of this binary in helper mode, not by this process:
/// Linux carries the peak RSS of the process that forks over `exec` into the child's
/// `ru_maxrss`, so spawning from this process (which holds the whole data set) would report
/// its peak instead of kith's. The helper's own peak is a few MiB.
fn run_once(kith: &Path, home: &Path, args: &[String], scratch: &Path) -> Res<Sample> {
    let out_path = scratch.join("stdout");
    let err_path = scratch.join("stderr");
    let helper = Command::new(std::env::current_exe()?)
        .arg(HELPER)
        .arg(&out_path)
        .arg(&err_path)
        .arg(kith)
        .args(args)
        .env_clear()
        .env("KITH_HOME", home)
        .env("KITH_NOW", NOW)
        .stdin(Stdio::null())
        .output()?;
    let report = String::from_utf8_lossy(&helper.stdout);
    let mut f = report.split_whitespace().map(|x| x.parse::<i64>());
    let (Some(Ok(wall_ns)), Some(Ok(cpu_us)), Some(Ok(rss)), Some(Ok(status))) =
        (f.next(), f.next(), f.next(), f.next())
    else {
        return Err(format!(
            "measuring helper failed: {}{}",
            report,
            String::from_utf8_lossy(&helper.stderr)
        )
        .into());
    };
    if status != 0 {
        let msg = std::fs::read_to_string(&err_path).unwrap_or_default();
        return Err(format!("kith {} failed (status {status}): {msg}", args.join(" ")).into());
    }
    Ok(Sample {
        wall: Duration::from_nanos(wall_ns.max(0) as u64),
        cpu: Duration::from_micros(cpu_us.max(0) as u64),
        max_rss_kib: rss.max(0) as u64,
        stdout: std::fs::read(&out_path)?,
    })
}

/// Helper mode: `bench_vault __measure OUT ERR KITH ARGS...` runs KITH ARGS (environment
/// inherited) with stdout to OUT and stderr to ERR, and prints
/// "wall_ns cpu_us max_rss_kib status".
/// Wall time runs from just before the spawn to the return of `wait4`.
fn helper(mut argv: impl Iterator<Item = std::ffi::OsString>) -> Res<()> {
    let (Some(out), Some(err), Some(kith)) = (argv.next(), argv.next(), argv.next()) else {
        return Err("usage: bench_vault __measure OUT ERR KITH ARGS...".into());
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

fn lines(out: &[u8]) -> u64 {
    out.iter().filter(|&&b| b == b'\n').count() as u64
}

fn json_total(out: &[u8]) -> u64 {
    serde_json::from_slice::<serde_json::Value>(out)
        .ok()
        .and_then(|v| v["total"].as_u64())
        .unwrap_or(0)
}

struct Row {
    label: String,
    what: String,
    target_ms: Option<f64>,
    times_ms: Vec<f64>,
    cpu_ms: Vec<f64>,
    max_rss_kib: u64,
    count: String,
}

struct Bench<'a> {
    kith: &'a Path,
    scratch: &'a Path,
    runs: usize,
    args: &'a Args,
}

impl Bench<'_> {
    /// One warm-up run, then `runs` measured runs of the same command line.
    fn measure(
        &self,
        home: &Path,
        label: &str,
        what: &str,
        target_ms: Option<f64>,
        args: &[&str],
        count: impl Fn(&[u8]) -> String,
    ) -> Res<Option<Row>> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        self.measure_with(home, label, what, target_ms, |_| args.clone(), count)
    }

    fn measure_with(
        &self,
        home: &Path,
        label: &str,
        what: &str,
        target_ms: Option<f64>,
        args: impl Fn(usize) -> Vec<String>,
        count: impl Fn(&[u8]) -> String,
    ) -> Res<Option<Row>> {
        if !self.args.wants(label) {
            return Ok(None);
        }
        eprint!("  {label} ...");
        run_once(self.kith, home, &args(0), self.scratch)?;
        let mut times = Vec::new();
        let mut cpu = Vec::new();
        let mut rss = 0;
        let mut last = Vec::new();
        for i in 1..=self.runs {
            let s = run_once(self.kith, home, &args(i), self.scratch)?;
            times.push(s.wall.as_secs_f64() * 1000.0);
            cpu.push(s.cpu.as_secs_f64() * 1000.0);
            rss = rss.max(s.max_rss_kib);
            last = s.stdout;
        }
        eprintln!(" {:.1} ms", median(&times));
        Ok(Some(Row {
            label: label.to_string(),
            what: what.to_string(),
            target_ms,
            times_ms: times,
            cpu_ms: cpu,
            max_rss_kib: rss,
            count: count(&last),
        }))
    }
}

// ---------------------------------------------------------------------------------------------
// Report.

const MIB: f64 = 1024.0 * 1024.0;
const RSS_TARGET_MIB: f64 = 64.0;
const SIZE_TARGET_RATIO: f64 = 3.0;

fn print_report(
    a: &Args,
    rows: &[Row],
    vault_bytes: u64,
    json_bytes: u64,
    st: Option<&Storage>,
    build_secs: Option<f64>,
    load: (&str, &str),
) {
    let docs = a.contacts + a.notes + a.interactions + a.reminders;
    println!(
        "Workload: {} contacts, {} notes, {} interactions, {} reminders ({docs} documents), \
         seed {SEED}, KITH_NOW={NOW}.",
        a.contacts, a.notes, a.interactions, a.reminders
    );
    println!();
    println!(
        "| command | what it does | median ms | min–max ms | CPU ms | peak RSS MiB | proof of work | target | met? |"
    );
    println!("|---|---|---:|---:|---:|---:|---|---|---|");
    for r in rows {
        let med = median(&r.times_ms);
        let min = r.times_ms.iter().copied().fold(f64::INFINITY, f64::min);
        let max = r.times_ms.iter().copied().fold(0.0, f64::max);
        let rss = r.max_rss_kib as f64 / 1024.0;
        let cpu = median(&r.cpu_ms);
        let (target, met) = match r.target_ms {
            Some(t) => {
                let ok = med <= t && rss <= RSS_TARGET_MIB;
                (
                    format!("≤ {t:.0} ms, ≤ {RSS_TARGET_MIB:.0} MiB"),
                    if ok { "yes" } else { "**no**" },
                )
            }
            None => ("–".to_string(), "–"),
        };
        println!(
            "| `{}` | {} | {med:.1} | {min:.1}–{max:.1} | {cpu:.1} | {rss:.1} | {} | {target} | {met} |",
            r.label,
            r.what,
            r.count
        );
    }
    if let Some(st) = st {
        println!();
        let ratio = vault_bytes as f64 / json_bytes.max(1) as f64;
        println!("| storage | bytes | MiB | ratio to JSON | target | met? |");
        println!("|---|---:|---:|---:|---|---|");
        println!(
            "| same data as compact JSON | {json_bytes} | {:.1} | 1.00 | | |",
            json_bytes as f64 / MIB
        );
        let verdict = |r: f64| {
            if r <= SIZE_TARGET_RATIO {
                "yes"
            } else {
                "**no**"
            }
        };
        println!(
            "| vault.redb as built | {vault_bytes} | {:.1} | {ratio:.2} | ≤ {SIZE_TARGET_RATIO:.0}× JSON | {} |",
            vault_bytes as f64 / MIB,
            verdict(ratio)
        );
        println!(
            "| pages in use (allocated) | {} | {:.1} | {:.2} | | |",
            st.allocated,
            st.allocated as f64 / MIB,
            st.allocated as f64 / json_bytes.max(1) as f64
        );
        println!(
            "| unused bytes (free pages + slack inside used pages) | {} | {:.1} | {:.2} | | |",
            st.fragmented,
            st.fragmented as f64 / MIB,
            st.fragmented as f64 / json_bytes.max(1) as f64
        );
        let cratio = st.compacted as f64 / json_bytes.max(1) as f64;
        println!(
            "| a copy after redb `compact()` | {} | {:.1} | {cratio:.2} | ≤ {SIZE_TARGET_RATIO:.0}× JSON | {} |",
            st.compacted,
            st.compacted as f64 / MIB,
            verdict(cratio)
        );
        let rratio = st.reindexed as f64 / json_bytes.max(1) as f64;
        println!(
            "| a copy after `kith reindex` ({:.1} s) | {} | {:.1} | {rratio:.2} | ≤ {SIZE_TARGET_RATIO:.0}× JSON | {} |",
            st.reindex_secs,
            st.reindexed,
            st.reindexed as f64 / MIB,
            verdict(rratio)
        );
        println!();
        println!("Where the vault's bytes are (redb table stats; stored = keys + values, without page overhead):");
        println!();
        println!("| table | entries | stored MiB | fragmented MiB |");
        println!("|---|---:|---:|---:|");
        let mut stored_total = 0;
        for (name, n, stored, frag) in &st.tables {
            stored_total += stored;
            println!(
                "| {name} | {n} | {:.1} | {:.1} |",
                *stored as f64 / MIB,
                *frag as f64 / MIB
            );
        }
        println!("| **all tables** | | {:.1} | |", stored_total as f64 / MIB);
        println!();
    }
    if let Some(s) = build_secs {
        println!(
            "Building the vault through the library ({} documents per write transaction) took {s:.1} s \
             ({:.0} documents/s).",
            a.batch,
            docs as f64 / s
        );
    }
    println!("Machine: {}.", machine());
    println!(
        "Load average (1/5/15 min) before the measurements: {}; after: {}.",
        load.0, load.1
    );
    let argv: Vec<String> = std::env::args().collect();
    println!("Command: `{}`", argv.join(" "));
    println!(
        "Runs: 1 warm-up + {} measured runs per command, warm page cache; times are whole-process \
         wall times (spawn to exit); CPU ms is the median user + system time of the process; \
         peak RSS is the maximum `ru_maxrss` over the measured runs.",
        a.runs
    );
}

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
        .unwrap_or_else(|| std::env::temp_dir().join("kith-bench"));
    let home = dir.join("home");
    let vault_path = kith::app::vault_path(&home);
    let json_path = dir.join("network.json");
    let scratch = dir.join("out");
    let add_home = dir.join("add-home");
    std::fs::create_dir_all(&scratch)?;

    eprintln!("generating data (seed {SEED})...");
    let t = Instant::now();
    let data = generate(&a.sizes(), now_ms);
    eprintln!("  in memory in {:.1} s", t.elapsed().as_secs_f64());
    let json_bytes = write_json(&data, &json_path)?;

    let build_secs = if a.reuse && vault_path.exists() {
        eprintln!("reusing {}", vault_path.display());
        None
    } else {
        if vault_path.exists() {
            std::fs::remove_file(&vault_path)?;
        }
        eprintln!("building {} ...", vault_path.display());
        let t = Instant::now();
        let vault = Vault::open(&vault_path)?;
        build_vault(&vault, &data, now_ms, a.batch)?;
        drop(vault);
        Some(t.elapsed().as_secs_f64())
    };
    let vault_bytes = kith::store::file_size(&vault_path);
    let st = if a.only.is_some() {
        None
    } else {
        eprintln!("measuring storage (and compacting a copy)...");
        Some(storage(&kith, &vault_path, &scratch)?)
    };

    let b = Bench {
        kith: &kith,
        scratch: &scratch,
        runs: a.runs.max(1),
        args: &a,
    };
    let target = data.contacts.first().ok_or("no contacts")?.0;
    let prefix = target.short();
    let load_before = loadavg();
    eprintln!("measuring ({} runs per command)...", b.runs);
    let mut rows = Vec::new();
    rows.extend(b.measure(
        &home,
        "kith --version",
        "process start and exit only: the floor under every row",
        None,
        &["--version"],
        |o| format!("{} line", lines(o)),
    )?);
    rows.extend(b.measure(
        &home,
        "kith list",
        "every contact, sorted by name, as a table",
        Some(50.0),
        &["list"],
        |o| format!("{} lines", lines(o)),
    )?);
    rows.extend(b.measure(
        &home,
        &format!("kith --json search {RARE_WORD}"),
        "full-text search for a word in 1% of notes",
        Some(50.0),
        &["--json", "search", RARE_WORD],
        |o| format!("total {}", json_total(o)),
    )?);
    rows.extend(b.measure(
        &home,
        &format!("kith show \"{TARGET_NAME}\""),
        "resolve a name, load and render one contact",
        Some(50.0),
        &["show", TARGET_NAME],
        |o| format!("{} lines", lines(o)),
    )?);
    rows.extend(b.measure(
        &home,
        &format!("kith timeline {prefix}"),
        "resolve an id prefix, every item of one close contact",
        Some(50.0),
        &["timeline", &prefix],
        |o| format!("{} lines", lines(o)),
    )?);
    rows.extend(b.measure(
        &home,
        "kith due",
        "open reminders and cadences due within 7 days",
        Some(20.0),
        &["due"],
        |o| format!("{} lines", lines(o)),
    )?);
    rows.extend(b.measure(
        &home,
        "kith digest",
        "overdue cadences, fading ties (rhythm of every contact silent 30+ days), dates, reminders, promises",
        Some(20.0),
        &["digest"],
        |o| format!("{} lines", lines(o)),
    )?);
    // Issue 11 (keep11): the network views.
    rows.extend(b.measure(
        &home,
        "kith graph",
        "the network as DOT: every contact, links, shared orgs, people met together",
        Some(200.0),
        &["graph"],
        |o| format!("{} lines", lines(o)),
    )?);
    rows.extend(b.measure(
        &home,
        "kith stats",
        "contacts per tag and kind, interactions per month, strongest and fading ties",
        Some(200.0),
        &["stats"],
        |o| format!("{} lines", lines(o)),
    )?);
    let common = data.common_word.clone();
    rows.extend(b.measure(
        &home,
        &format!("kith --json search {common}"),
        "stress: the most common word (prefix match)",
        Some(50.0),
        &["--json", "search", &common],
        |o| format!("total {}", json_total(o)),
    )?);
    // `add` writes: run it against a copy so the measured vault stays as generated.
    std::fs::create_dir_all(&add_home)?;
    let add_vault = kith::app::vault_path(&add_home);
    std::fs::copy(&vault_path, &add_vault)?;
    let add = b.measure_with(
        &add_home,
        "kith add NAME --email E --org O",
        "add one contact (one write transaction); each run adds another",
        Some(30.0),
        |i| {
            vec![
                "add".into(),
                format!("Bench Person {i}"),
                "--email".into(),
                format!("bench.person{i}@example.org"),
                "--org".into(),
                "Benchmark Ltd".into(),
            ]
        },
        |o| {
            format!(
                "id of {} hex digits",
                o.iter().filter(|b| b.is_ascii_hexdigit()).count()
            )
        },
    )?;
    if let Some(mut add) = add {
        let after = run_once(&kith, &add_home, &["list".into()], &scratch)?;
        add.count = format!(
            "{} ({} contacts listed afterwards)",
            add.count,
            lines(&after.stdout)
        );
        rows.push(add);
    }
    // `log` writes one interaction with the benchmark's close contact, on the same copy.
    rows.extend(b.measure_with(
        &add_home,
        &format!("kith log \"{TARGET_NAME}\" --kind call TEXT"),
        "log one interaction with a contact (one write transaction); each run logs another",
        Some(30.0),
        |i| {
            vec![
                "log".into(),
                TARGET_NAME.into(),
                "--kind".into(),
                "call".into(),
                format!("bench call {i}"),
            ]
        },
        |o| {
            format!(
                "id of {} hex digits",
                o.iter().filter(|b| b.is_ascii_hexdigit()).count()
            )
        },
    )?);
    let load_after = loadavg();
    std::fs::remove_dir_all(&add_home)?;

    print_report(
        &a,
        &rows,
        vault_bytes,
        json_bytes,
        st.as_ref(),
        build_secs,
        (&load_before, &load_after),
    );

    if !a.keep {
        std::fs::remove_file(&vault_path)?;
        std::fs::remove_file(&json_path)?;
        std::fs::remove_dir_all(&scratch)?;
        let _ = std::fs::remove_dir(&home);
        let _ = std::fs::remove_dir(&dir);
    }
    Ok(())
}
