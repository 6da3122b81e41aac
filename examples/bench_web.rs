//! Render benchmark of the web UI (`kith web`) at a realistic size.
//!
//! Builds the synthetic network of `bench_vault` (same generator, seed and pinned clock: 10,000
//! contacts, 50,000 notes, 20,000 interactions, 5,000 reminders by default), starts the real
//! `kith web` on it, and times each page as the browser gets it: one GET over loopback, from
//! the request to the last byte (median, min and max of several runs after a warm-up). Per page
//! it also reports the server's CPU time per request (the sum of the server threads' run time
//! from /proc/PID/task/*/schedstat, over all runs, divided by the runs), the bytes of HTML and
//! a count of rows or items rendered (proof of work). The sharing pages get a person, a share of
//! one tag's contacts to them and a slice of 1,000 contacts received from them. The server's peak RSS (VmHWM) is printed
//! at the end. Output: Markdown, as in docs/benchmarks.md.
//!
//! ```text
//! cargo build --profile profiling --bin kith --example bench_web
//! target/profiling/examples/bench_web [--contacts 10000 --received 1000 --runs 15 --dir PATH --keep]
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use clap::Parser;
use kith::app::share::{OfferEntry, Sharing};
use kith::store::Vault;
use kith_core::share::{Field, Filter, Spec};
use kith_core::DocId;

mod common;
use common::{
    build_vault, generate, loadavg, machine, median, Data, Res, Sizes, NOW, RARE_WORD, SEED,
};

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
    /// Contacts in the slice received from a person
    #[arg(long, default_value_t = 1_000)]
    received: usize,
    /// Measured runs per page (after one warm-up run)
    #[arg(long, default_value_t = 15)]
    runs: usize,
    /// Working directory (default: $TMPDIR/kith-bench-web)
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keep the vault afterwards
    #[arg(long)]
    keep: bool,
    /// Reuse the vault already in --dir
    #[arg(long)]
    reuse: bool,
    /// The kith binary (default: the one of this example's profile)
    #[arg(long)]
    kith: Option<PathBuf>,
}

/// What the sharing rows of the benchmark point at.
struct SharingSetup {
    tag: String,
    /// The share's id (hex).
    share: String,
    /// `/shared/SHARE/ID` of one received contact.
    received_contact: String,
    /// A word of an organisation (for who-knows).
    org_word: String,
}

/// Pairs nobody for real: records a person, shares the contacts of the first contact's first
/// tag with them, and stores a slice of `received` contacts as received from them (the owner's
/// actor announced, as `kith share sync` checks). Done once per vault (`--reuse` keeps it).
fn setup_sharing(vault: &Vault, data: &Data, now_ms: i64, received: usize) -> Res<SharingSetup> {
    let s = Sharing { vault, now: now_ms };
    let key = "5a".repeat(32);
    let tag = data
        .contacts
        .iter()
        .find_map(|(_, c)| c.tags.iter().next().cloned())
        .ok_or("no tagged contact")?;
    let org_word = data
        .contacts
        .iter()
        .find_map(|(_, c)| c.primary_role().map(|r| r.org.clone()))
        .and_then(|o| o.split_whitespace().next().map(str::to_lowercase))
        .ok_or("no organisation")?;
    let share_id = DocId([0x5a; 16]);
    if s.persons()?.is_empty() {
        s.add_person("Sam", &key, Vec::new())?;
        s.create_share(
            "Sam",
            Spec {
                filter: Filter::Tags([tag.clone()].into_iter().collect()),
                fields: Field::DEFAULT.into_iter().collect(),
            },
        )?;
        let actor = "a5".repeat(16);
        let offer = OfferEntry {
            id: share_id.0,
            epoch: 1,
            actors: vec![actor.clone()],
            fields: Field::DEFAULT.to_vec(),
        };
        s.begin_received(&key, &offer)?;
        let fields = Field::DEFAULT.into_iter().collect();
        let actor = automerge::ActorId::from(data_encoding::HEXLOWER.decode(actor.as_bytes())?);
        let mut docs = Vec::with_capacity(received);
        for (i, (_, c)) in data.contacts.iter().take(received).enumerate() {
            let p = kith_core::share::project(c, &fields);
            let mut d = kith_core::share::build_projection(&p, actor.clone())?;
            let mut pid = [0u8; 16];
            pid[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            docs.push((DocId(pid), automerge::Automerge::load(&d.save())?));
        }
        s.store_received(&share_id, &docs, 1, None)?;
    }
    let share = s.shares()?.first().ok_or("no share")?.id.to_hex();
    // A received contact with an organisation and a title, so its page has rows to count.
    let first = s
        .shared(None)?
        .into_iter()
        .find(|r| !r.get("org").is_empty() && !r.get("title").is_empty())
        .ok_or("no received contact with an organisation and a title")?;
    Ok(SharingSetup {
        tag,
        share,
        received_contact: format!("/shared/{}/{}", first.share, first.id),
        org_word,
    })
}

/// One GET with the session cookie; returns the status and the body.
fn get(port: u16, cookie: &str, path: &str) -> Res<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").ok_or("not an HTTP response")?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = if head.to_ascii_lowercase().contains("chunked") {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}

/// The server's CPU time so far, in nanoseconds: the sum over its live threads.
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn status_kb(pid: u32, key: &str) -> String {
    common::read_first(&format!("/proc/{pid}/status"), key).unwrap_or_else(|| "?".into())
}

fn main() -> Res<()> {
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
        return Err(format!("{} not found; build it or pass --kith", kith.display()).into());
    }
    let dir = a
        .dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("kith-bench-web"));
    let home = dir.join("home");
    let vault_path = kith::app::vault_path(&home);
    let sizes = Sizes {
        contacts: a.contacts,
        notes: a.notes,
        interactions: a.interactions,
        reminders: a.reminders,
    };
    eprintln!("generating data (seed {SEED})...");
    let data = generate(&sizes, now_ms);
    if !(a.reuse && vault_path.exists()) {
        if home.exists() {
            std::fs::remove_dir_all(&home)?;
        }
        let t = Instant::now();
        let vault = Vault::open(&vault_path)?;
        build_vault(&vault, &data, now_ms, 1000)?;
        eprintln!("vault built in {:.1} s", t.elapsed().as_secs_f64());
    }
    // Sharing: a person (Sam), a share of one tag's contacts to Sam, and a slice of
    // `--received` contacts received from Sam (the projections of the first contacts, as
    // `kith share sync` would store them).
    let sharing = {
        let vault = Vault::open(&vault_path)?;
        setup_sharing(&vault, &data, now_ms, a.received)?
    };
    let ada = data.contacts[0].0;
    let note = data
        .notes
        .iter()
        .find(|(_, n)| n.contacts.contains(&ada))
        .or(data.notes.first())
        .map(|(id, _)| *id)
        .ok_or("no notes")?;

    let mut child = Command::new(&kith)
        .args(["web", "--no-open"])
        .env_clear()
        .env("HOME", &dir)
        .env("KITH_HOME", &home)
        .env("KITH_NOW", NOW)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = child.id();
    let mut line = String::new();
    BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
    let url = line.trim().to_string();
    let rest = url
        .strip_prefix("http://127.0.0.1:")
        .ok_or("unexpected URL")?;
    let (port, token) = rest.split_once("/?token=").ok_or("no token")?;
    let port: u16 = port.parse()?;
    // The token for the cookie.
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    write!(
        s,
        "GET /?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = String::new();
    s.read_to_string(&mut head)?;
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .ok_or("no cookie")?
        .to_string();

    let common_word = data.common_word.clone();
    let pages: Vec<(String, String, &str)> = vec![
        ("contacts (all, by name)".into(), "/".into(), "<tr>"),
        (
            "contacts by last contact".into(),
            "/?sort=last".into(),
            "<tr>",
        ),
        (
            "search, rare word".into(),
            format!("/?q={RARE_WORD}"),
            "<li>",
        ),
        (
            "search, common word (as you type)".into(),
            format!("/?q={common_word}&partial=1"),
            "<li>",
        ),
        (
            "contact (Ada)".into(),
            format!("/c/{ada}"),
            "<li class=\"item",
        ),
        (
            "contact edit form".into(),
            format!("/c/{ada}/edit"),
            "<input",
        ),
        (
            "note edit form".into(),
            format!("/i/{note}/edit"),
            "<textarea",
        ),
        (
            format!("search with received matches \"{}\"", sharing.org_word),
            format!("/?q={}", sharing.org_word),
            "href=\"/shared/",
        ),
        ("today (7 days)".into(), "/today".into(), "<li class="),
        ("devices".into(), "/devices".into(), "<tr>"),
        ("network (Ada)".into(), format!("/network?c={ada}"), "<tr>"),
        ("add contact".into(), "/new".into(), "<input"),
        ("shares given".into(), "/shares".into(), "<tr>"),
        (
            format!("share show (tag {})", sharing.tag),
            format!("/shares/{}", sharing.share),
            "<tr>",
        ),
        (
            format!("shared with you ({} received)", a.received),
            "/shared".into(),
            "<tr>",
        ),
        (
            "received contact".into(),
            sharing.received_contact.clone(),
            "<dd>",
        ),
        (
            format!("who-knows \"{}\"", sharing.org_word),
            format!("/who-knows?q={}", sharing.org_word),
            "<tr>",
        ),
    ];
    println!(
        "| page | median ms | min–max ms | server CPU ms/request | HTML KiB | rows/items |\n|---|---:|---:|---:|---:|---:|"
    );
    for (name, path, unit) in &pages {
        let (status, body) = get(port, &cookie, path)?; // warm-up
        if status != 200 {
            return Err(format!("{path}: status {status}").into());
        }
        let count = body.matches(unit).count();
        let mut times = Vec::with_capacity(a.runs);
        let cpu0 = cpu_ns(pid);
        for _ in 0..a.runs {
            let t = Instant::now();
            let (st, b) = get(port, &cookie, path)?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            if st != 200 || b.len() != body.len() {
                return Err(format!("{path}: a run differed ({st}, {} bytes)", b.len()).into());
            }
        }
        let cpu = (cpu_ns(pid).saturating_sub(cpu0)) as f64 / 1e6 / a.runs as f64;
        let min = times.iter().copied().fold(f64::MAX, f64::min);
        let max = times.iter().copied().fold(0.0, f64::max);
        println!(
            "| {name} | {:.1} | {min:.1}–{max:.1} | {cpu:.1} | {:.0} | {count} |",
            median(&times),
            body.len() as f64 / 1024.0
        );
    }
    println!();
    println!(
        "Server peak RSS (VmHWM): {}. {} contacts, {} notes, {} interactions, {} reminders; {} runs per page after a warm-up; machine: {}; load average at the end: {}.",
        status_kb(pid, "VmHWM"),
        a.contacts,
        a.notes,
        a.interactions,
        a.reminders,
        a.runs,
        machine(),
        loadavg()
    );
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
    let _ = child.wait();
    if !a.keep {
        let _ = std::fs::remove_dir_all(&home);
    }
    Ok(())
}
