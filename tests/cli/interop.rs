//! Import, export, merge, backup and restore through the real `kith` binary, in temporary
//! homes with a pinned clock.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::env::TestEnv;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The shared harness ([`TestEnv`]) with helpers for byte-level stdin and import reports.
struct Env {
    t: TestEnv,
}

impl Env {
    fn new() -> Env {
        Env { t: TestEnv::new() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.t.root().join(name)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        self.t.cmd(args)
    }

    fn run_in(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut c = self.cmd(args);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let mut si = child.stdin.take().unwrap();
        let data = stdin.to_vec();
        let t = std::thread::spawn(move || {
            let _ = si.write_all(&data);
        });
        let out = child.wait_with_output().unwrap();
        t.join().unwrap();
        out
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_in(args, b"")
    }

    /// Runs and asserts success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "kith {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// Runs and asserts exit code 1; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(
            o.status.code(),
            Some(1),
            "kith {args:?}: stdout {} stderr {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stderr).unwrap()
    }

    fn import_json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["--json", "import"];
        a.extend_from_slice(args);
        serde_json::from_str(&self.ok(&a)).unwrap()
    }

    fn json(&self) -> String {
        self.ok(&["export", "--format", "json"])
    }

    fn contacts(&self) -> usize {
        let v: serde_json::Value = serde_json::from_str(&self.json()).unwrap();
        v["contacts"].as_array().unwrap().len()
    }
}

fn counts(v: &serde_json::Value) -> (u64, u64, u64, u64) {
    (
        v["created"].as_u64().unwrap(),
        v["updated"].as_u64().unwrap(),
        v["unchanged"].as_u64().unwrap(),
        v["skipped"].as_u64().unwrap(),
    )
}

fn all_fixtures() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["vcard", "csv"] {
        for e in std::fs::read_dir(fixtures().join(dir)).unwrap() {
            out.push(e.unwrap().path());
        }
    }
    out.sort();
    out
}

#[test]
fn every_fixture_round_trips_to_a_fixed_point() {
    for f in all_fixtures() {
        let f = f.to_str().unwrap();
        for vcard3 in [false, true] {
            let env = Env::new();
            let first = env.import_json(&[f, "--skip-invalid"]);
            if counts(&first).0 == 0 {
                // Only a fixture with no valid card at all imports nothing.
                assert!(
                    f.contains("malformed") && counts(&first).3 > 0,
                    "{f}: {first}"
                );
                continue;
            }
            // Importing the same file again changes nothing.
            let before = env.json();
            let again = env.import_json(&[f, "--skip-invalid"]);
            let (c, u, n, _) = counts(&again);
            assert_eq!((c, u), (0, 0), "{f}: second import {again}");
            assert_eq!(n, counts(&first).0 + counts(&first).1 + counts(&first).2);
            assert_eq!(env.json(), before, "{f}: re-import changed the vault");
            // Export, import the export: nothing changes; export of a fresh import is identical.
            let mut args = vec!["export", "--format", "vcard"];
            if vcard3 {
                args.push("--vcard3");
            }
            let e1 = env.ok(&args);
            let p = env.path("e1.vcf");
            std::fs::write(&p, &e1).unwrap();
            let back = env.import_json(&[p.to_str().unwrap()]);
            assert_eq!(
                counts(&back).0 + counts(&back).1,
                0,
                "{f} (vcard3 {vcard3}): import of own export {back}\n{e1}"
            );
            assert_eq!(
                env.json(),
                before,
                "{f}: import of own export changed the vault"
            );
            let fresh = Env::new();
            fresh.import_json(&[p.to_str().unwrap()]);
            let e2 = fresh.ok(&args);
            assert_eq!(e1, e2, "{f} (vcard3 {vcard3}): export not a fixed point");
        }
    }
}

#[test]
fn unknown_properties_survive_import_and_export() {
    let env = Env::new();
    env.ok(&[
        "import",
        fixtures().join("vcard/apple.vcf").to_str().unwrap(),
    ]);
    let out = env.ok(&["export", "--format", "vcard"]);
    assert!(out.contains("X-ABUID"), "{out}");
    assert!(out.contains("X-ABLABEL:Book club"), "{out}");
    env.ok(&["import", fixtures().join("vcard/v4.vcf").to_str().unwrap()]);
    let out = env.ok(&["export", "--format", "vcard"]);
    for p in ["GEO", "KEY", "TZ", "X-SOCIALPROFILE"] {
        assert!(out.contains(p), "{p} lost:\n{out}");
    }
}

#[test]
fn notes_photos_and_linkedin_connections() {
    let env = Env::new();
    env.ok(&[
        "import",
        fixtures().join("vcard/google.vcf").to_str().unwrap(),
    ]);
    let j: serde_json::Value = serde_json::from_str(&env.json()).unwrap();
    assert!(
        !j["notes"].as_array().unwrap().is_empty(),
        "NOTE became a note"
    );
    let li = fixtures().join("csv/linkedin-connections.csv");
    env.ok(&["import", li.to_str().unwrap()]);
    env.ok(&["import", li.to_str().unwrap()]);
    let j: serde_json::Value = serde_json::from_str(&env.json()).unwrap();
    let ix = j["interactions"].as_array().unwrap();
    assert!(ix
        .iter()
        .any(|i| i["date"] == "2024-11-21" && i["summary"] == "Connected on LinkedIn"));
    let linus = j["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Linus Example")
        .unwrap();
    assert_eq!(linus["met"], "Connected on LinkedIn on 2024-11-21");
    let per_date = ix.iter().filter(|i| i["date"] == "2024-11-21").count();
    assert_eq!(per_date, 1, "the interaction is created once");
    // Photos: kept by default, skipped with --skip-photos.
    let photos = fixtures().join("vcard/photo-base64.vcf");
    let env = Env::new();
    env.ok(&["import", photos.to_str().unwrap()]);
    assert!(env.ok(&["export", "--format", "vcard"]).contains("PHOTO"));
    let env = Env::new();
    let s = env.import_json(&["--skip-photos", photos.to_str().unwrap()]);
    assert!(!s["photos_skipped"].as_array().unwrap().is_empty());
    assert!(!env.ok(&["export", "--format", "vcard"]).contains("PHOTO"));
}

const ADA: &str = "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Ada Lovelace\r\nEMAIL:ada@example.com\r\n\
TEL:+44 20 7946 0000\r\nTITLE:Analyst\r\nEND:VCARD\r\n";

impl Env {
    fn import_stdin(&self, data: &str) -> serde_json::Value {
        let o = self.run_in(&["--json", "import", "-"], data.as_bytes());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    }
}

#[test]
fn cards_match_by_email_phone_and_uid() {
    // By email: the existing contact is updated, not duplicated.
    let env = Env::new();
    env.ok(&["add", "Ada", "-e", "ADA@example.com"]);
    assert_eq!(counts(&env.import_stdin(ADA)), (0, 1, 0, 0));
    assert_eq!(env.contacts(), 1);
    let show = env.ok(&["show", "ada@example.com"]);
    assert!(
        show.contains("Ada Lovelace") && show.contains("7946"),
        "{show}"
    );
    assert_eq!(counts(&env.import_stdin(ADA)), (0, 0, 1, 0));
    // By phone.
    let env = Env::new();
    env.ok(&["add", "Ada", "-p", "+44 (20) 7946-0000"]);
    assert_eq!(counts(&env.import_stdin(ADA)), (0, 1, 0, 0));
    assert_eq!(env.contacts(), 1);
    // By UID: a changed email merges into the same contact, keeping the old one.
    let env = Env::new();
    let v1 = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:abc-1\r\nFN:Grace Hopper\r\nEMAIL:g@navy.mil\r\nEND:VCARD\r\n";
    let v2 = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:abc-1\r\nFN:Grace Hopper\r\nEMAIL:grace@yale.edu\r\nEND:VCARD\r\n";
    assert_eq!(counts(&env.import_stdin(v1)), (1, 0, 0, 0));
    assert_eq!(counts(&env.import_stdin(v2)), (0, 1, 0, 0));
    assert_eq!(env.contacts(), 1);
    let show = env.ok(&["show", "Grace"]);
    assert!(
        show.contains("g@navy.mil") && show.contains("grace@yale.edu"),
        "{show}"
    );
    // Two cards of one person in the same file become one contact.
    let env = Env::new();
    let s = env.import_stdin(&format!("{ADA}{ADA}"));
    assert_eq!(counts(&s), (1, 0, 1, 0));
}

#[test]
fn dry_run_writes_nothing_and_lists_what_would_happen() {
    let env = Env::new();
    let f = fixtures().join("vcard/many-cards.vcf");
    let before = env.json();
    let out = env.ok(&["import", "--dry-run", f.to_str().unwrap()]);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("create")).count(),
        3,
        "{out}"
    );
    assert_eq!(env.json(), before);
}

#[test]
fn invalid_cards_fail_the_whole_import_unless_skipped() {
    let env = Env::new();
    let f = fixtures().join("vcard/malformed-missing-colon.vcf");
    let err = env.fails(&["import", f.to_str().unwrap()]);
    assert!(err.contains("malformed-missing-colon.vcf:8:"), "{err}");
    assert!(err.contains("--skip-invalid"), "{err}");
    assert_eq!(env.contacts(), 0);
    let s = env.import_json(&["--skip-invalid", f.to_str().unwrap()]);
    assert_eq!(counts(&s), (2, 0, 0, 1));
    // Every invalid card is listed, across files.
    let env = Env::new();
    let g = fixtures().join("csv/malformed-linkedin.csv");
    let err = env.fails(&["import", f.to_str().unwrap(), g.to_str().unwrap()]);
    assert!(err.contains("malformed-linkedin.csv:2:"), "{err}");
    assert!(err.contains("malformed-linkedin.csv:3:"), "{err}");
    assert!(err.contains("3 invalid cards"), "{err}");
}

#[test]
fn bad_inputs_get_one_clear_message_and_write_nothing() {
    let env = Env::new();
    let write = |name: &str, data: &[u8]| {
        let p = env.path(name);
        std::fs::write(&p, data).unwrap();
        p.to_str().unwrap().to_string()
    };
    let cases: Vec<(String, &str)> = vec![
        (
            write("garbage.vcf", &[0x7f, b'E', b'L', b'F', 0, 1, 2, 0xff]),
            "binary",
        ),
        (write("empty.vcf", b""), "empty"),
        (write("blank.csv", b"\n\n  \n"), "empty"),
        (
            write("wrong.csv", b"id,amount\n1,2\n"),
            "unrecognised format",
        ),
        (
            fixtures()
                .join("vcard/truncated.vcf")
                .to_str()
                .unwrap()
                .into(),
            "truncated.vcf:5: the card begun here has no END:VCARD",
        ),
        (
            env.path("missing.vcf").to_str().unwrap().into(),
            "no such file",
        ),
    ];
    for (path, want) in &cases {
        let err = env.fails(&["import", path]);
        assert!(err.contains(want), "{path}: {err}");
        assert!(err.starts_with("error: "), "{err}");
    }
    // An unreadable file.
    let unreadable = if unsafe { libc::geteuid() } == 0 {
        "/proc/self/mem".to_string() // root reads anything, but not this at offset 0
    } else {
        let p = write("secret.vcf", ADA.as_bytes());
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
        p
    };
    let err = env.fails(&["import", &unreadable]);
    assert!(err.contains("cannot read"), "{err}");
    // A directory without contact files.
    std::fs::create_dir(env.path("nothing")).unwrap();
    let err = env.fails(&["import", env.path("nothing").to_str().unwrap()]);
    assert!(err.contains("no .vcf or .csv"), "{err}");
    assert_eq!(env.contacts(), 0);
}

#[test]
fn a_directory_imports_every_file() {
    let env = Env::new();
    let dir = env.path("vdir");
    std::fs::create_dir(&dir).unwrap();
    for f in ["apple.vcf", "google.vcf", "many-cards.vcf"] {
        std::fs::copy(fixtures().join("vcard").join(f), dir.join(f)).unwrap();
    }
    std::fs::write(dir.join("README.txt"), "not a card").unwrap();
    let s = env.import_json(&[dir.to_str().unwrap()]);
    assert_eq!(s["files"], 3);
    assert_eq!(counts(&s).0, 5, "{s}");
}

/// Waits for `child` and returns its exit code, its stderr and its own peak RSS in KiB.
///
/// The peak is read from the child's `/proc/PID/status` (`VmHWM`, the high-water mark of its own
/// memory since it exec'd kith), polled every millisecond until it exits. Not `wait4`'s
/// `ru_maxrss`: on Linux a child's maxrss starts at the RSS of the process that spawned it (exec
/// records the old address space's high-water mark), and this test process, which runs every
/// test of the binary in parallel threads, reached 98 MiB on a CI run, which made the test fail
/// with kith itself well under its bound.
fn wait_with_rss(child: &mut std::process::Child) -> (Option<i32>, String, i64) {
    let mut stderr = child.stderr.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut v);
    });
    let pid = child.id();
    let peak = std::thread::spawn(move || {
        let mut peak = 0i64;
        // Until the process is gone or a zombie (whose status has no VmHWM line).
        while let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            let Some(kib) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
            else {
                break;
            };
            peak = peak.max(kib);
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        peak
    });
    let status = child.wait().unwrap();
    out.join().unwrap();
    let peak = peak.join().unwrap();
    assert!(peak > 0, "the child's memory was never read");
    (status.code(), err.join().unwrap(), peak)
}

#[test]
fn a_100_mb_input_streams_in_bounded_memory() {
    let env = Env::new();
    env.ok(&["list"]);
    let mut child = env
        .cmd(&["import", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut si = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = si.write_all(b"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Big\r\nNOTE:");
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..100 {
            if si.write_all(&chunk).is_err() {
                return;
            }
        }
        let _ = si.write_all(b"\r\nEND:VCARD\r\n");
        let _ = si.write_all(ADA.as_bytes());
    });
    let (code, err, rss_kib) = wait_with_rss(&mut child);
    writer.join().unwrap();
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("<stdin>:4: logical line longer than"), "{err}");
    let rss_mib = rss_kib / 1024;
    assert!(rss_mib < 64, "kith used {rss_mib} MiB for a 100 MB input");
    assert_eq!(env.contacts(), 0);
}

#[test]
fn merge_folds_the_second_contact_into_the_first() {
    let env = Env::new();
    let a = env
        .ok(&["add", "Ada Lovelace", "-e", "ada@example.com"])
        .trim()
        .to_string();
    let b = env
        .ok(&[
            "add",
            "A. King",
            "-e",
            "countess@example.com",
            "--org",
            "Analytical",
        ])
        .trim()
        .to_string();
    let c = env.ok(&["add", "Charles Babbage"]).trim().to_string();
    env.ok(&["note", &b, "prefers letters"]);
    env.ok(&["log", &b, "--kind", "call", "talked engines"]);
    env.ok(&["remind", &b, "--on", "2026-12-01", "send notes"]);
    env.ok(&["link", &c, &b, "--as", "works-with"]);
    let m: serde_json::Value =
        serde_json::from_str(&env.ok(&["--json", "merge", &a[..8], &b[..8]])).unwrap();
    assert_eq!(m["items"], 3);
    assert_eq!(m["links"], 1);
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["--json", "show", &a])).unwrap();
    let emails: Vec<&str> = v["emails"]
        .as_object()
        .unwrap()
        .values()
        .map(|e| e["value"].as_str().unwrap())
        .collect();
    assert_eq!(emails.len(), 2, "{v}");
    assert_eq!(v["name"], "Ada Lovelace");
    assert_eq!(v["timeline_items"], 3);
    // The merged contact's id still resolves, to the survivor.
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["--json", "show", &b])).unwrap();
    assert_eq!(v["id"], a.as_str());
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["--json", "show", &c])).unwrap();
    assert_eq!(v["links_resolved"][0]["to"], a.as_str());
    // It is no longer listed, and merging again is refused.
    assert_eq!(env.ok(&["list", "--no-header"]).lines().count(), 2);
    let err = env.fails(&["merge", &a, &b]);
    assert!(err.contains("same contact"), "{err}");
}

#[test]
fn backup_and_restore_give_identical_data() {
    let env = Env::new();
    for f in [
        "vcard/apple.vcf",
        "vcard/google.vcf",
        "csv/linkedin-connections.csv",
    ] {
        env.ok(&["import", fixtures().join(f).to_str().unwrap()]);
    }
    env.ok(&["remind", "Linus", "--on", "2026-12-24", "send a card"]);
    let backup = env.path("vault.kithbak");
    env.ok(&["backup", backup.to_str().unwrap()]);
    let original = env.json();
    let other = Env::new();
    other.ok(&["restore", backup.to_str().unwrap()]);
    assert_eq!(other.json(), original);
    // Indexes work in the restored vault.
    assert!(other.ok(&["search", "Linus"]).contains("Linus"));
    // Restore refuses a non-empty home, and a damaged file.
    let err = env.fails(&["restore", backup.to_str().unwrap()]);
    assert!(err.contains("already holds"), "{err}");
    let mut bytes = std::fs::read(&backup).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    let bad = env.path("bad.kithbak");
    std::fs::write(&bad, &bytes).unwrap();
    let third = Env::new();
    let err = third.fails(&["restore", bad.to_str().unwrap()]);
    assert!(err.contains("not a usable kith backup"), "{err}");
    assert_eq!(third.contacts(), 0);
}

#[test]
fn json_and_markdown_exports() {
    let env = Env::new();
    env.ok(&[
        "import",
        fixtures().join("vcard/many-cards.vcf").to_str().unwrap(),
    ]);
    let j1 = env.json();
    assert_eq!(j1, env.json(), "deterministic");
    let v: serde_json::Value = serde_json::from_str(&j1).unwrap();
    assert_eq!(v["kith_export"], 1);
    let ids: Vec<&str> = v["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
    let out = env.path("json-out.json");
    env.ok(&["export", "--format", "json", "-o", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), j1);
    let md = env.path("md");
    env.ok(&["export", "--format", "markdown", "-o", md.to_str().unwrap()]);
    let files: Vec<_> = std::fs::read_dir(&md).unwrap().collect();
    assert_eq!(files.len(), 3);
    for f in files {
        let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
        assert!(text.starts_with("---\nid: \""), "{text}");
        assert!(text.contains("\n---\n\n# "), "{text}");
    }
    let err = env.fails(&["export", "--format", "markdown"]);
    assert!(err.contains("-o DIR"), "{err}");
}
