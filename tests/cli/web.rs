//! `kith web`: the real binary served in a temporary home, driven over HTTP/1.1 on loopback by
//! a minimal client (one request per connection). Checks the token, cookie, Host and CSRF
//! guards, every route, bad input, and three-way merged edits.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::env::TestEnv;

/// Generous: the machine running the tests may be loaded.
const WAIT: Duration = Duration::from_secs(60);

pub struct Server {
    /// `None` when attached to a server another process runs (`kith daemon --web`).
    child: Option<Child>,
    pub port: u16,
    pub token: String,
    pub cookie: String,
}

pub struct Resp {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

impl Server {
    /// Starts `kith web --no-open --port 0` and reads the URL from its first stdout line.
    pub fn start(env: &TestEnv) -> Server {
        let mut child = env
            .cmd(&["web", "--no-open"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kith web");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(WAIT).expect("kith web printed its URL");
        let url = line.trim();
        let rest = url
            .strip_prefix("http://127.0.0.1:")
            .unwrap_or_else(|| panic!("URL on 127.0.0.1: {url:?}"));
        let (port, token) = rest.split_once("/?token=").expect("URL with a token");
        assert_eq!(token.len(), 64, "a 256-bit token: {url}");
        let mut s = Server {
            child: Some(child),
            port: port.parse().expect("port"),
            token: token.to_string(),
            cookie: String::new(),
        };
        s.exchange();
        s
    }

    /// A client of the server listening on `port`, with the cookie traded for `token`.
    pub fn attach(port: u16, token: &str) -> Server {
        let mut s = Server {
            child: None,
            port,
            token: token.to_string(),
            cookie: String::new(),
        };
        s.exchange();
        s
    }

    /// Trades the token for the session cookie.
    fn exchange(&mut self) {
        let s = self;
        let r = s.raw(
            "GET",
            &format!("/?token={}", s.token),
            &s.host(),
            "",
            None,
            "",
        );
        assert_eq!(r.status, 303, "token exchange: {}", r.head);
        let set = r.header("set-cookie").expect("a cookie");
        s.cookie = set.split(';').next().unwrap().to_string();
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// One request; `cookie` and `origin` as given; the body is a urlencoded form.
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        host: &str,
        cookie: &str,
        origin: Option<&str>,
        body: &str,
    ) -> Resp {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
        if !cookie.is_empty() {
            req.push_str(&format!("Cookie: {cookie}\r\n"));
        }
        if let Some(o) = origin {
            req.push_str(&format!("Origin: {o}\r\n"));
        }
        if method == "POST" {
            req.push_str(&format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(body);
        s.write_all(req.as_bytes()).expect("send");
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).expect("read response");
        let text = String::from_utf8(buf).expect("UTF-8 response");
        let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("status");
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_string()
        };
        Resp {
            status,
            head: head.to_string(),
            body,
        }
    }

    pub fn get(&self, path: &str) -> Resp {
        self.raw("GET", path, &self.host(), &self.cookie, None, "")
    }

    /// A form post with this server's CSRF token (read from `page`) and the fields given.
    pub fn post(&self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let csrf = csrf_of(&self.get("/new").body);
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.raw("POST", path, &self.host(), &self.cookie, None, &form(&all))
    }

    /// Posts `fields` to the edit form at `path` with the `base` (heads) it is rendered with now.
    pub fn post_edit(&self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let base = base_of(&self.get(path).body);
        let mut all = vec![("base", base.as_str())];
        all.extend_from_slice(fields);
        self.post(path, &all)
    }

    /// Sends SIGTERM and waits for the exit code.
    pub fn stop(self) -> (i32, String) {
        self.stop_with(libc::SIGTERM)
    }

    /// Sends `sig` and waits for the exit code.
    pub fn stop_with(mut self, sig: i32) -> (i32, String) {
        let child = self.child.take().expect("a server this test started");
        signal_and_wait(child, sig)
    }
}

/// Sends `sig` to a child this test started and waits (at most [`WAIT`]) for its exit code
/// and everything it wrote to stderr.
pub fn signal_and_wait(mut child: Child, sig: i32) -> (i32, String) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let code = child.wait().ok().and_then(|s| s.code()).unwrap_or(-1);
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let _ = tx.send((code, err));
    });
    rx.recv_timeout(WAIT)
        .expect("the process stopped on the signal")
}

/// Counts the visible form controls of a page (`<input>`, `<select>`, `<textarea>`, hidden
/// inputs aside) and asserts each has a `<label for>` (or, with `aria_ok`, an `aria-label`).
#[track_caller]
pub fn labelled_controls(path: &str, body: &str, aria_ok: bool) -> usize {
    let mut controls = 0;
    for tag in ["<input", "<select", "<textarea"] {
        let mut rest = body;
        while let Some(i) = rest.find(tag) {
            let el = &rest[i..i + rest[i..].find('>').unwrap()];
            rest = &rest[i + tag.len()..];
            if el.contains("type=\"hidden\"") {
                continue;
            }
            controls += 1;
            if aria_ok && el.contains("aria-label=\"") {
                continue;
            }
            let id_at = el
                .find(" id=\"")
                .unwrap_or_else(|| panic!("{path}: a field without an id: {el}"));
            let id = &el[id_at + 5..];
            let id = &id[..id.find('"').unwrap()];
            assert!(
                body.contains(&format!("<label for=\"{id}\"")),
                "{path}: no label for {el}"
            );
        }
    }
    controls
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

pub fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn attr_after(html: &str, marker: &str) -> String {
    let i = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker:?} in page:\n{html}"));
    let rest = &html[i + marker.len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

pub fn csrf_of(html: &str) -> String {
    attr_after(html, "name=\"csrf\" value=\"")
}

pub fn base_of(html: &str) -> String {
    attr_after(html, "name=\"base\" value=\"")
}

/// The page's text with the few entities maud writes turned back.
pub fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[test]
fn the_token_is_traded_for_a_strict_http_only_cookie_and_dropped_from_the_url() {
    let env = TestEnv::new();
    env.add("Ada Lovelace", &[]);
    let s = Server::start(&env);
    let r = s.raw(
        "GET",
        &format!("/?token={}&tag=x", s.token),
        &s.host(),
        "",
        None,
        "",
    );
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location").as_deref(), Some("/?tag=x"));
    let set = r.header("set-cookie").unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    assert!(!set.contains(&s.token), "the cookie is not the token");
    let page = s.get("/");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Ada Lovelace"), "{}", page.body);
}

#[test]
fn requests_without_the_cookie_or_with_a_wrong_token_are_refused() {
    let env = TestEnv::new();
    env.add("Ada Lovelace", &[]);
    let s = Server::start(&env);
    let h = s.host();
    for path in ["/", "/static/app.css", "/today", "/devices", "/new"] {
        let r = s.raw("GET", path, &h, "", None, "");
        assert_eq!(r.status, 401, "{path} without a cookie");
        assert!(!r.body.contains("Ada"), "nothing leaks");
        let r = s.raw("GET", path, &h, "kith=0123", None, "");
        assert_eq!(r.status, 401, "{path} with a wrong cookie");
    }
    let r = s.raw("GET", "/?token=00", &h, "", None, "");
    assert_eq!(r.status, 401);
    assert!(r.header("set-cookie").is_none());
    let r = s.raw("POST", "/new", &h, "", None, "name=Eve");
    assert_eq!(r.status, 401);
    assert_eq!(env.names(&[]), vec!["Ada Lovelace"]);
}

#[test]
fn a_foreign_host_header_is_refused_localhost_is_not() {
    let env = TestEnv::new();
    let s = Server::start(&env);
    for host in [
        format!("evil.example:{}", s.port),
        "127.0.0.1".to_string(),
        format!("127.0.0.1:{}", s.port + 1),
    ] {
        let r = s.raw("GET", "/", &host, &s.cookie, None, "");
        assert_eq!(r.status, 403, "Host {host}");
        // Not even the token exchange answers to another name (DNS rebinding).
        let r = s.raw("GET", &format!("/?token={}", s.token), &host, "", None, "");
        assert_eq!(r.status, 403, "Host {host} with the token");
    }
    let r = s.raw(
        "GET",
        "/",
        &format!("localhost:{}", s.port),
        &s.cookie,
        None,
        "",
    );
    assert_eq!(r.status, 200);
}

#[test]
fn a_post_without_the_csrf_token_or_from_another_origin_changes_nothing() {
    let env = TestEnv::new();
    let s = Server::start(&env);
    let h = s.host();
    let r = s.raw(
        "POST",
        "/new",
        &h,
        &s.cookie,
        None,
        &form(&[("name", "Eve")]),
    );
    assert_eq!(r.status, 403);
    assert!(r.body.contains("CSRF"), "{}", r.body);
    let r = s.raw(
        "POST",
        "/new",
        &h,
        &s.cookie,
        None,
        &form(&[("csrf", &"0".repeat(64)), ("name", "Eve")]),
    );
    assert_eq!(r.status, 403, "a wrong CSRF token");
    let csrf = csrf_of(&s.get("/new").body);
    let r = s.raw(
        "POST",
        "/new",
        &h,
        &s.cookie,
        Some("http://evil.example"),
        &form(&[("csrf", &csrf), ("name", "Eve")]),
    );
    assert_eq!(r.status, 403, "another origin");
    assert!(env.names(&[]).is_empty(), "nothing was written");
    // The same form from our own origin works.
    let r = s.raw(
        "POST",
        "/new",
        &h,
        &s.cookie,
        Some(&format!("http://{h}")),
        &form(&[("csrf", &csrf), ("name", "Eve")]),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(env.names(&[]), vec!["Eve"]);
}

#[test]
fn every_page_renders_with_a_strict_csp_and_no_cors() {
    let env = TestEnv::new();
    let ada = env.add("Ada Lovelace", &["--org", "Analytical", "--tag", "math"]);
    env.add("Charles Babbage", &[]);
    env.ok(&["note", "Ada", "Talked about the engine"]);
    env.ok(&["remind", "Ada", "--in", "3d", "send the paper"]);
    let s = Server::start(&env);
    let tl = env.json(&["timeline", "Ada"]);
    let item = tl[0]["id"].as_str().unwrap().to_string();
    let pages = [
        ("/".to_string(), "Charles Babbage"),
        ("/?sort=last".to_string(), "Ada Lovelace"),
        ("/?tag=math".to_string(), "Ada Lovelace"),
        ("/?org=analyt".to_string(), "Ada Lovelace"),
        ("/?q=engine".to_string(), "Talked about the engine"),
        ("/?q=ada&partial=1".to_string(), "Ada Lovelace"),
        ("/new".to_string(), "Add a contact"),
        ("/today".to_string(), "send the paper"),
        ("/devices".to_string(), "No other devices yet"),
        (format!("/c/{ada}"), "Talked about the engine"),
        (format!("/c/{ada}/edit"), "Analytical"),
        (format!("/i/{item}/edit"), "name=\"base\""),
        ("/static/app.css".to_string(), "prefers-color-scheme"),
        ("/static/app.js".to_string(), "fetch("),
    ];
    for (path, needle) in &pages {
        let r = s.get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert!(
            r.body.contains(needle),
            "{path} shows {needle:?}:\n{}",
            r.body
        );
        let csp = r.header("content-security-policy").unwrap_or_default();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
            "{path}: {csp}"
        );
        assert!(
            !r.head.to_ascii_lowercase().contains("access-control-"),
            "{path}: no CORS"
        );
        assert!(
            !r.body.contains("http://") && !r.body.contains("https://"),
            "{path}: nothing from another origin"
        );
    }
    assert!(
        !s.get("/?q=ada&partial=1").body.contains("<html"),
        "a fragment"
    );
    assert_eq!(s.get("/nope").status, 404);
    assert_eq!(s.get("/c/zz").status, 422);
}

#[test]
fn bad_input_gets_the_cli_message_next_to_the_field_and_writes_nothing() {
    let env = TestEnv::new();
    let ada = env.add("Ada Lovelace", &[]);
    let s = Server::start(&env);
    let cli = env.fails(&["add", "Eve", "--email", "not-an-email"], 1);
    let cli_msg = cli.lines().next().unwrap().to_string();
    let r = s.post("/new", &[("name", "Eve"), ("email", "not-an-email")]);
    assert_eq!(r.status, 422);
    let body = unescape(&r.body);
    assert!(body.contains(&cli_msg), "{cli_msg:?} in:\n{body}");
    assert!(body.contains("id=\"err-email\""), "next to the email field");
    assert!(body.contains("value=\"not-an-email\""), "the input is kept");

    let before = env.json(&["timeline", "Ada"]);
    let cli = env.fails(
        &[
            "log", "Ada", "--kind", "coffee", "--on", "someday", "coffee",
        ],
        1,
    );
    let cli_msg = cli.lines().next().unwrap().to_string();
    let r = s.post(
        &format!("/c/{ada}/log"),
        &[("kind", "coffee"), ("on", "someday"), ("summary", "x")],
    );
    assert_eq!(r.status, 422);
    assert!(
        unescape(&r.body).contains(&cli_msg),
        "{cli_msg:?} in:\n{}",
        r.body
    );
    let r = s.post(
        &format!("/c/{ada}/log"),
        &[
            ("kind", "coffee"),
            ("with", "Nobody Known"),
            ("summary", "x"),
        ],
    );
    assert_eq!(r.status, 422);
    assert!(r.body.contains("id=\"err-with\""), "{}", r.body);
    let r = s.post(
        &format!("/c/{ada}/remind"),
        &[("due", "2026-11-25"), ("text", " ")],
    );
    assert_eq!(r.status, 422);
    assert!(r.body.contains("a reminder needs a text"));
    let r = s.post(&format!("/c/{ada}/note"), &[("body", "  ")]);
    assert_eq!(r.status, 422);
    assert!(r.body.contains("the note is empty"));
    let r = s.post(
        &format!("/c/{ada}/edit"),
        &[("base", "nothex"), ("name", "X")],
    );
    assert_eq!(r.status, 422);
    assert!(
        unescape(&r.body).contains("'nothex' is not a document version"),
        "{}",
        r.body
    );
    let r = s.post_edit(
        &format!("/c/{ada}/edit"),
        &[("name", "Ada"), ("every", "often")],
    );
    assert_eq!(r.status, 422);
    assert!(r.body.contains("id=\"err-every\""), "{}", r.body);
    assert_eq!(
        env.json(&["timeline", "Ada"]),
        before,
        "nothing was written"
    );
    assert_eq!(env.names(&[]), vec!["Ada Lovelace"]);
    assert!(env.json(&["show", "Ada"]).get("every").is_none());
}

#[test]
fn a_web_edit_and_a_cli_edit_of_other_fields_made_meanwhile_are_both_kept() {
    let env = TestEnv::new();
    let ada = env.add("Ada Lovelace", &["--org", "Analytical"]);
    let s = Server::start(&env);
    let page = s.get(&format!("/c/{ada}/edit")).body;
    let base = base_of(&page);
    // Another process changes a field while the form is open.
    env.ok(&["set", "Ada", "every", "2w"]);
    let r = s.post(
        &format!("/c/{ada}/edit"),
        &[
            ("base", &base),
            ("name", "Ada King"),
            ("tags", "math, poetry"),
            ("every", ""),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let v = env.json(&["show", &ada]);
    assert_eq!(v["name"], "Ada King");
    assert_eq!(v["every"], "2w", "the other edit survives: {v}");
    assert_eq!(v["tags"], serde_json::json!(["math", "poetry"]));
    // The same field on both sides: a visible conflict with a way to pick one.
    let page = s.get(&format!("/c/{ada}/edit")).body;
    let base = base_of(&page);
    env.ok(&["set", &ada, "name", "Augusta Ada"]);
    let r = s.post(
        &format!("/c/{ada}/edit"),
        &[
            ("base", &base),
            ("name", "Countess Lovelace"),
            ("every", "2w"),
        ],
    );
    assert_eq!(r.status, 303);
    let page = s.get(&format!("/c/{ada}")).body;
    assert!(page.contains("Conflicts"), "{page}");
    assert!(
        page.contains("Augusta Ada") && page.contains("Countess Lovelace"),
        "both values shown"
    );
    let r = s.post(
        &format!("/c/{ada}/pick"),
        &[("field", "name"), ("value", "Augusta Ada")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let v = env.json(&["show", &ada]);
    assert_eq!(v["name"], "Augusta Ada");
    assert_eq!(v["conflicts"], serde_json::json!([]));
    let r = s.post(
        &format!("/c/{ada}/pick"),
        &[("field", "name"), ("value", "Other")],
    );
    assert_eq!(r.status, 422);
}

#[test]
fn quick_actions_log_with_several_people_note_remind_done_and_snooze() {
    let env = TestEnv::new();
    let ada = env.add("Ada Lovelace", &[]);
    env.add("Charles Babbage", &[]);
    let s = Server::start(&env);
    let r = s.post(
        &format!("/c/{ada}/log"),
        &[
            ("kind", "coffee"),
            ("on", "yesterday"),
            ("with", "Charles"),
            ("summary", "Engines & looms"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let tl = env.json(&["timeline", "Charles"]);
    assert_eq!(tl[0]["text"], "Engines & looms", "{tl}");
    assert_eq!(tl[0]["date"], "2026-11-21");
    let page = s.get(&format!("/c/{ada}")).body;
    assert!(
        page.contains("Engines &amp; looms") && page.contains("with Charles Babbage"),
        "{page}"
    );
    assert_eq!(
        s.post(&format!("/c/{ada}/note"), &[("body", "Likes poetry")])
            .status,
        303
    );
    assert_eq!(
        s.post(
            &format!("/c/{ada}/remind"),
            &[("due", "2026-11-24"), ("text", "send notes")]
        )
        .status,
        303
    );
    assert_eq!(
        s.post(
            &format!("/c/{ada}/remind"),
            &[("due", "2026-11-23"), ("text", "call")]
        )
        .status,
        303
    );
    let due = env.json(&["due"]);
    assert_eq!(due.as_array().unwrap().len(), 2, "{due}");
    let call = due
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["text"] == "call")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let send = due
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["text"] == "send notes")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s.post(&format!("/i/{call}/done"), &[("back", "/today")]);
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location").as_deref(), Some("/today"));
    let r = s.post(
        &format!("/i/{send}/done"),
        &[("back", "https://evil.example/"), ("snooze", "2026-12-06")],
    );
    assert_eq!(
        r.header("location").as_deref(),
        Some("/today"),
        "never redirects elsewhere"
    );
    assert_eq!(env.json(&["due"]), serde_json::json!([]));
    assert!(env
        .json(&["due", "--within", "30d"])
        .to_string()
        .contains("send notes"));
    // Editing an item merges against its base too.
    let r = s.post_edit(
        &format!("/i/{send}/edit"),
        &[("due", "2026-12-24"), ("text", "send the notes")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(env
        .json(&["due", "--within", "60d"])
        .to_string()
        .contains("send the notes"));
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let env = TestEnv::new();
    let s = Server::start(&env);
    assert_eq!(s.get("/").status, 200);
    let (code, err) = s.stop();
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("stopped"), "{err}");
}
