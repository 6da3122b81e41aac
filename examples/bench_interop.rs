//! Interop benchmark (not a test): whole-process wall time of the release `kith` binary.
//!
//! Generates (fixed seed) one .vcf of 10,000 cards and a 10,000-row LinkedIn Connections.csv,
//! then measures, as the median of 5 runs: import into an empty vault, import into a vault
//! that already holds them, and export of the 10,000 contacts in each format.
//!
//!     cargo build --profile profiling && cargo run --profile profiling --example bench_interop
//!
//! Set KITH_BIN to measure another binary. Prints a Markdown table.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const N: usize = 10_000;
const RUNS: usize = 5;

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

fn kith(bin: &Path, home: &Path, args: &[&str]) -> (Duration, Vec<u8>) {
    let start = Instant::now();
    let out = Command::new(bin)
        .env("KITH_HOME", home)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let t = start.elapsed();
    assert!(
        out.status.success(),
        "kith {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (t, out.stdout)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
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

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = std::env::var_os("KITH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/profiling/kith"));
    assert!(
        bin.exists(),
        "build it first: cargo build --profile profiling --bin kith"
    );
    let tmp = tempfile::tempdir().unwrap();
    let vcf = tmp.path().join("cards.vcf");
    let csv = tmp.path().join("Connections.csv");
    gen_vcf(&vcf);
    gen_csv(&csv);
    let mut rows: Vec<[String; 4]> = Vec::new();
    for (label, file) in [
        ("vCard 10,000 cards", &vcf),
        ("LinkedIn CSV 10,000 rows", &csv),
    ] {
        let size = std::fs::metadata(file).unwrap().len();
        let f = file.to_str().unwrap();
        let mut empty = Vec::new();
        let mut last = String::new();
        for run in 0..RUNS {
            let home = tmp.path().join(format!("empty-{label}-{run}"));
            let (t, out) = kith(&bin, &home, &["--json", "import", f]);
            empty.push(t);
            last = summary(&out);
        }
        rows.push([
            format!(
                "import {label} ({:.1} MB) into an empty vault",
                size as f64 / 1e6
            ),
            format!("{:.2} s", median(empty).as_secs_f64()),
            "3 s".into(),
            last.clone(),
        ]);
        let home = tmp.path().join(format!("full-{label}"));
        kith(&bin, &home, &["import", f]);
        let mut again = Vec::new();
        for _ in 0..RUNS {
            let (t, out) = kith(&bin, &home, &["--json", "import", f]);
            again.push(t);
            last = summary(&out);
        }
        rows.push([
            format!("import {label} into a vault that holds them"),
            format!("{:.2} s", median(again).as_secs_f64()),
            "3 s".into(),
            last,
        ]);
    }
    let home = tmp.path().join("full-vCard 10,000 cards");
    for (fmt, extra) in [("vcard", None), ("json", None), ("markdown", Some("md"))] {
        let mut ts = Vec::new();
        let mut check = String::new();
        for run in 0..RUNS {
            let mut args = vec!["export", "--format", fmt];
            let dir = tmp.path().join(format!("md-{run}"));
            if extra.is_some() {
                args.extend(["-o", dir.to_str().unwrap()]);
            }
            let (t, out) = kith(&bin, &home, &args);
            ts.push(t);
            check = if extra.is_some() {
                format!("{} files", std::fs::read_dir(&dir).unwrap().count())
            } else {
                format!("{} bytes, fnv {:016x}", out.len(), fnv(&out))
            };
        }
        rows.push([
            format!("export 10,000 contacts as {fmt}"),
            format!("{:.2} s", median(ts).as_secs_f64()),
            "1 s".into(),
            check,
        ]);
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
    println!("Machine: {cpu}, {cores} cores, {}.", std::env::consts::OS);
    println!("Command: `cargo build --profile profiling && cargo run --profile profiling --example bench_interop`");
    println!("Whole-process wall time of `kith`, median of {RUNS} runs.\n");
    println!("| workload | median | target | check |");
    println!("|---|---|---|---|");
    for r in rows {
        println!("| {} | {} | {} | {} |", r[0], r[1], r[2], r[3]);
    }
}
