//! `kith web` in a real browser: headless Chromium driven over WebDriver (chromedriver on a
//! loopback port) by a minimal client (JSON over HTTP/1.1, one request per connection). The
//! browser starts with a fresh user-data dir and every network feature that could reach the
//! internet turned off; it only ever loads the test's own `kith web` on 127.0.0.1.
//!
//! Without Chromium and chromedriver the tests print a loud SKIPPED message and pass, unless
//! `KITH_BROWSER_TESTS=require` (set by `.ci/run`), which makes them fail instead.
//!
//! Screenshots go to `$KITH_SCREENSHOTS` when set (the docs' are made with
//! `KITH_SCREENSHOTS=docs/screenshots cargo test --test cli -- web_browser::screenshots`),
//! else under the test's output folder, `target/tmp/web_browser/<test>/`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::env::TestEnv;
use crate::web::Server;

const WAIT: Duration = Duration::from_secs(30);
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn which(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for name in names {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// Chromium and chromedriver, or `None` after saying loudly why the test is skipped.
fn tools() -> Option<(PathBuf, PathBuf)> {
    let browser = std::env::var_os("KITH_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| which(&["chromium", "chromium-browser", "google-chrome"]));
    let driver = std::env::var_os("KITH_CHROMEDRIVER")
        .map(PathBuf::from)
        .or_else(|| which(&["chromedriver"]));
    match (browser, driver) {
        (Some(b), Some(d)) => Some((b, d)),
        (b, d) => {
            let msg = format!(
                "browser tests need Chromium and chromedriver (Debian: apt-get install chromium chromium-driver); found browser {b:?}, driver {d:?}"
            );
            if std::env::var("KITH_BROWSER_TESTS").as_deref() == Ok("require") {
                panic!("{msg} (KITH_BROWSER_TESTS=require)");
            }
            eprintln!("\n!!!!!!!! SKIPPED: {msg} !!!!!!!!\n");
            None
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One read from chromedriver, retried when a signal interrupts it (the test process gets
/// signals from the children other tests run: a CI run once failed on `EINTR` here).
fn read_some(s: &mut TcpStream, chunk: &mut [u8]) -> usize {
    loop {
        match s.read(chunk) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => return r.expect("read from chromedriver"),
        }
    }
}

/// One HTTP/1.1 request with a JSON body; returns the status and the parsed body.
fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to chromedriver");
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if method == "POST" {
        req.push_str("Content-Type: application/json; charset=utf-8\r\n");
    }
    req.push_str("\r\n");
    req.push_str(&body);
    s.write_all(req.as_bytes()).expect("send to chromedriver");
    // chromedriver may keep the connection open: read the head, then Content-Length bytes.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = read_some(&mut s, &mut chunk);
        assert!(n > 0, "chromedriver closed the connection mid-response");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let len = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())
            .flatten()
    });
    let mut body = buf[head_end + 4..].to_vec();
    match len {
        Some(n) => {
            while body.len() < n {
                let k = read_some(&mut s, &mut chunk);
                assert!(k > 0, "chromedriver closed the connection mid-body");
                body.extend_from_slice(&chunk[..k]);
            }
            body.truncate(n);
        }
        None => {
            s.read_to_end(&mut body).expect("read from chromedriver");
        }
    }
    let text = String::from_utf8_lossy(&body).to_string();
    let rest = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        crate::web::dechunk(&text)
    } else {
        text
    };
    (status, serde_json::from_str(&rest).unwrap_or(Value::Null))
}

/// A chromedriver process and one browser session; both end on drop.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    pub shots: PathBuf,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium, or `None` (skipped) when they are missing.
    pub fn start(test: &str) -> Option<Browser> {
        let (chromium, chromedriver) = tools()?;
        let profile = tempfile::tempdir().expect("a profile dir");
        let port = free_port();
        let mut driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .env("HOME", profile.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let t = Instant::now();
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok()
                && http(port, "GET", "/status", None).1["value"]["ready"] == true
            {
                break;
            }
            if t.elapsed() > WAIT {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!("chromedriver did not start on port {port}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let user_data = profile.path().join("chromium");
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-extensions", "--disable-dev-shm-usage",
                    "--hide-scrollbars", "--force-device-scale-factor=1",
                    format!("--user-data-dir={}", user_data.display()),
                    "--window-size=1000,760",
                ],
            },
        } } });
        let (status, v) = http(port, "POST", "/session", Some(&caps));
        let Some(session) = v["value"]["sessionId"].as_str().map(str::to_string) else {
            let _ = driver.kill();
            let _ = driver.wait();
            panic!("chromedriver could not start Chromium ({status}): {v}");
        };
        let shots = match std::env::var_os("KITH_SCREENSHOTS") {
            Some(d) => PathBuf::from(d),
            None => Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join("web_browser")
                .join(test),
        };
        std::fs::create_dir_all(&shots).expect("the screenshot folder");
        Some(Browser {
            driver,
            port,
            session,
            shots,
            _profile: profile,
        })
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let full = format!("/session/{}{path}", self.session);
        let (status, v) = http(self.port, method, &full, body.as_ref());
        assert_eq!(status, 200, "WebDriver {method} {path}: {v}");
        v["value"].clone()
    }

    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    pub fn url(&self) -> String {
        self.cmd("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Runs `script` (a function body; `arguments` as given) and returns its value.
    pub fn js(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    pub fn find(&self, css: &str) -> String {
        let v = self.cmd(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": css })),
        );
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    pub fn exists(&self, css: &str) -> bool {
        let full = format!("/session/{}/elements", self.session);
        let (_, v) = http(
            self.port,
            "POST",
            &full,
            Some(&json!({ "using": "css selector", "value": css })),
        );
        v["value"].as_array().is_some_and(|a| !a.is_empty())
    }

    pub fn click(&self, css: &str) {
        let el = self.find(css);
        self.cmd("POST", &format!("/element/{el}/click"), Some(json!({})));
    }

    /// Clears the field and types `text` into it, key by key.
    pub fn fill(&self, css: &str, text: &str) {
        let el = self.find(css);
        self.cmd("POST", &format!("/element/{el}/clear"), Some(json!({})));
        self.cmd(
            "POST",
            &format!("/element/{el}/value"),
            Some(json!({ "text": text })),
        );
    }

    /// The visible text of the element.
    pub fn text(&self, css: &str) -> String {
        self.js(
            "var e = document.querySelector(arguments[0]); return e ? e.innerText : null;",
            json!([css]),
        )
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Waits until `ok` holds for the text of `css`.
    #[track_caller]
    pub fn wait_text(&self, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let t = Instant::now();
        loop {
            let text = self.text(css);
            if ok(&text) {
                return text;
            }
            if t.elapsed() > WAIT {
                let page = self.text("body");
                let shot = self.screenshot("failure");
                panic!(
                    "waited {WAIT:?} for {what} in {css}; it reads:\n{text}\n--- page {} ({}):\n{page}",
                    self.url(),
                    shot.display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Presses `keys` on the keyboard (to whatever has the focus), one key after another
    /// (WebDriver key codes, e.g. "\u{E004}" for Tab).
    pub fn keys(&self, keys: &str) {
        let mut actions = Vec::new();
        for k in keys.chars() {
            actions.push(json!({ "type": "keyDown", "value": k.to_string() }));
            actions.push(json!({ "type": "keyUp", "value": k.to_string() }));
        }
        self.cmd(
            "POST",
            "/actions",
            Some(json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] })),
        );
    }

    pub fn size(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        );
    }

    /// Emulates `prefers-color-scheme` (light or dark) through the DevTools protocol.
    pub fn color_scheme(&self, scheme: &str) {
        self.cmd(
            "POST",
            "/goog/cdp/execute",
            Some(json!({ "cmd": "Emulation.setEmulatedMedia", "params": {
                "features": [{ "name": "prefers-color-scheme", "value": scheme }]
            } })),
        );
    }

    /// Saves a PNG of the viewport as `<shots>/<name>.png`; returns its path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let b64 = self.cmd("GET", "/screenshot", None);
        let png = data_encoding::BASE64
            .decode(b64.as_str().expect("base64").as_bytes())
            .expect("a base64 PNG");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends Chromium (it would outlive chromedriver), then chromedriver.
        let full = format!("/session/{}", self.session);
        let _ = http(self.port, "DELETE", &full, None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The URL `kith web` printed, with the token.
pub(crate) fn url_of(s: &Server) -> String {
    format!("http://{}/?token={}", s.host(), s.token)
}

#[test]
fn search_open_edit_beside_another_process_log_see_it_live_and_complete_a_reminder() {
    let Some(b) = Browser::start("flow") else {
        return;
    };
    let env = TestEnv::new();
    let ada = env.add(
        "Ada Lovelace",
        &["--org", "Analytical Engines", "--email", "ada@example.org"],
    );
    env.add("Charles Babbage", &["--org", "Difference Engines"]);
    env.add("Mary Somerville", &[]);
    env.ok(&["remind", "Ada", "--in", "2d", "send the translation"]);
    let s = Server::start(&env);

    // The printed URL: the token is traded for the cookie and dropped from the address bar.
    b.goto(&url_of(&s));
    assert!(!b.url().contains("token"), "{}", b.url());
    b.wait_text("#results", "the contacts", |t| {
        t.contains("Ada Lovelace") && t.contains("Mary Somerville")
    });
    b.screenshot("contacts");

    // Search as you type: the results change without a page load.
    b.js("window.kithMarker = 1; return 1;", json!([]));
    b.fill("#q", "babb");
    b.wait_text("#results", "only Charles", |t| {
        t.contains("Charles Babbage") && !t.contains("Ada Lovelace")
    });
    assert_eq!(b.js("return window.kithMarker;", json!([])), json!(1));
    b.fill("#q", "ada");
    b.wait_text("#results", "only Ada", |t| {
        t.contains("Ada Lovelace") && !t.contains("Charles")
    });

    // Open the contact.
    b.click("#results a[href^='/c/']");
    b.wait_text("h1", "Ada's page", |t| t == "Ada Lovelace");
    assert!(b.url().ends_with(&format!("/c/{ada}")), "{}", b.url());
    assert!(b.text("#facts").contains("Analytical Engines"));

    // Edit a field while another kith process edits another one.
    b.click(&format!("a[href='/c/{ada}/edit']"));
    b.wait_text("h1", "the edit form", |t| t.starts_with("Edit"));
    b.fill("#e-nickname", "Countess");
    env.ok(&["set", "Ada", "every", "2w"]);
    // The open form learns of it live, and keeps what was typed.
    b.wait_text("#live-note", "the changed-elsewhere note", |t| {
        t.contains("Changed elsewhere")
    });
    b.screenshot("edit");
    b.click("form.edit button[type=submit]");
    b.wait_text("#facts", "both edits", |t| {
        t.contains("Countess") && t.contains("every 2w")
    });
    let v = env.json(&["show", &ada]);
    assert_eq!(v["nickname"], "Countess", "{v}");
    assert_eq!(v["every"], "2w", "the other process's edit is kept: {v}");

    // The same field changed on both sides: the page marks the conflict with both values and
    // a button to keep each.
    b.click(&format!("a[href='/c/{ada}/edit']"));
    b.wait_text("h1", "the edit form", |t| t.starts_with("Edit"));
    env.ok(&["set", "Ada", "name", "Augusta Ada"]);
    b.fill("#e-name", "Countess Lovelace");
    b.click("form.edit button[type=submit]");
    let cf = b.wait_text("#facts", "the conflict", |t| t.contains("Conflicts"));
    assert!(
        cf.contains("Augusta Ada") && cf.contains("Countess Lovelace"),
        "{cf}"
    );
    b.click("button[aria-label^='Keep Augusta Ada']");
    b.wait_text("#facts", "the settled name", |t| {
        !t.contains("Conflicts") && t.contains("Augusta Ada")
    });
    assert_eq!(env.json(&["show", &ada])["name"], "Augusta Ada");
    assert_eq!(env.json(&["show", &ada])["conflicts"], json!([]));

    // Log an interaction with two people; it shows on the timeline.
    b.click("#log-kind option[value='coffee']");
    b.fill("#log-on", "yesterday");
    b.fill("#log-with", "Charles");
    b.fill("#log-summary", "Coffee about the engine");
    b.click("form[action$='/log'] button[type=submit]");
    let tl = b.wait_text("#timeline", "the interaction", |t| {
        t.contains("Coffee about the engine")
    });
    assert!(
        tl.contains("with Charles Babbage") && tl.contains("2026-11-21"),
        "{tl}"
    );
    assert!(env
        .json(&["timeline", "Charles"])
        .to_string()
        .contains("Coffee about the engine"));

    // A note written by another process appears on the open page without a reload, and what
    // is being typed in a quick-action form stays.
    b.js("window.kithMarker = 2; return 2;", json!([]));
    b.fill("#note-body", "half-typed");
    env.ok(&["note", "Ada", "Written in the terminal"]);
    b.wait_text("#timeline", "the note from elsewhere", |t| {
        t.contains("Written in the terminal")
    });
    assert_eq!(
        b.js("return window.kithMarker;", json!([])),
        json!(2),
        "no reload"
    );
    assert_eq!(
        b.js(
            "return document.getElementById('note-body').value;",
            json!([])
        ),
        json!("half-typed")
    );
    b.screenshot("contact");

    // Complete the reminder from the today page.
    b.click("nav a[href='/today']");
    b.wait_text("#due", "the reminder", |t| {
        t.contains("send the translation")
    });
    b.screenshot("today");
    b.click("button[aria-label='Done: send the translation']");
    b.wait_text("h1", "today again", |t| t == "Today");
    b.wait_text("#due", "no reminder", |t| {
        !t.contains("send the translation")
    });
    assert!(!env
        .json(&["due", "--within", "30d"])
        .to_string()
        .contains("send the translation"));

    // Keyboard: the first Tab reaches the skip link, which leads to the content.
    b.goto(&format!("http://{}/", s.host()));
    b.js("document.activeElement.blur(); return 0;", json!([]));
    let el = b.find("body");
    b.cmd(
        "POST",
        &format!("/element/{el}/value"),
        Some(json!({ "text": "\u{E004}" })),
    );
    assert_eq!(
        b.js(
            "return document.activeElement.getAttribute('href');",
            json!([])
        ),
        json!("#main")
    );
}

/// The main pages in light and dark and at phone width, saved as PNGs: under the test's output
/// folder, or in `$KITH_SCREENSHOTS` (docs/screenshots for the README).
#[test]
fn screenshots() {
    let Some(b) = Browser::start("screenshots") else {
        return;
    };
    let env = TestEnv::new();
    let ada = env.add(
        "Ada Lovelace",
        &[
            "--org",
            "Analytical Engines",
            "--title",
            "Mathematician",
            "--email",
            "ada@example.org",
            "--tag",
            "math",
            "--every",
            "1m",
        ],
    );
    env.add(
        "Charles Babbage",
        &["--org", "Difference Engines", "--tag", "engineering"],
    );
    env.add(
        "Mary Somerville",
        &["--org", "Royal Society", "--tag", "science"],
    );
    env.add("Michael Faraday", &["--org", "Royal Institution"]);
    env.add("Augustus De Morgan", &["--tag", "math"]);
    env.ok(&["link", "--as", "introduced-by", "Ada", "Mary"]);
    env.ok(&[
        "log",
        "--kind",
        "coffee",
        "--on",
        "2026-10-03",
        "Ada",
        "Charles",
        "Talked about the Analytical Engine",
    ]);
    env.ok(&[
        "log",
        "--kind",
        "meeting",
        "--on",
        "2026-11-12",
        "Ada",
        "Charles",
        "Michael",
        "Demo of the difference engine",
    ]);
    env.ok(&[
        "note",
        "Ada",
        "Translating Menabrea's paper; wants notes on Bernoulli numbers.",
    ]);
    env.ok(&["remind", "Ada", "--in", "2d", "Send the translation notes"]);
    env.ok(&["remind", "Mary", "--in", "5d", "Ask about the lecture"]);
    let s = Server::start(&env);
    b.goto(&url_of(&s));
    b.wait_text("#results", "the contacts", |t| t.contains("Ada Lovelace"));
    let host = s.host();
    let pages = [
        ("contacts", "/".to_string()),
        ("contact", format!("/c/{ada}")),
        ("today", "/today".to_string()),
        ("devices", "/devices".to_string()),
        ("edit", format!("/c/{ada}/edit")),
        ("network", format!("/network?c={ada}")),
    ];
    let mut saved = Vec::new();
    for (name, path) in &pages {
        b.goto(&format!("http://{host}{path}"));
        b.wait_text("main", "the page", |t| !t.is_empty());
        saved.push(b.screenshot(name));
    }
    assert!(
        b.exists("svg.net line.link"),
        "the network picture has the link"
    );
    // Dark: the stylesheet follows prefers-color-scheme.
    b.color_scheme("dark");
    b.goto(&format!("http://{host}/c/{ada}"));
    let bg = b.js(
        "return getComputedStyle(document.body).backgroundColor;",
        json!([]),
    );
    assert_eq!(bg, json!("rgb(22, 22, 22)"), "dark background");
    saved.push(b.screenshot("contact-dark"));
    b.color_scheme("light");
    b.goto(&format!("http://{host}/c/{ada}"));
    let bg = b.js(
        "return getComputedStyle(document.body).backgroundColor;",
        json!([]),
    );
    assert_eq!(bg, json!("rgb(253, 253, 252)"), "light background");
    // Phone width: nothing wider than the screen.
    b.size(390, 844);
    for (name, path) in [
        ("contact-phone", format!("/c/{ada}")),
        ("contacts-phone", "/".to_string()),
    ] {
        b.goto(&format!("http://{host}{path}"));
        let w = b.js(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            json!([]),
        );
        assert!(
            w[0].as_u64() <= w[1].as_u64(),
            "{name}: the page fits the phone's width: {w}"
        );
        saved.push(b.screenshot(name));
    }
    for p in &saved {
        let n = std::fs::metadata(p).expect("saved").len();
        assert!(n > 2_000, "{} is a real picture ({n} bytes)", p.display());
    }
    eprintln!("screenshots in {}", b.shots.display());
}
