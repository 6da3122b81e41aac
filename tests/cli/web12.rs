//! `kith web` and `kith daemon --web` (issue 12, second part): live updates over Server-Sent
//! Events, the network view, labels on every field, and both servers stopping on SIGINT and
//! SIGTERM. Driven over HTTP on loopback with the client of `web.rs`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::env::TestEnv;
use crate::web::Server;

const WAIT: Duration = Duration::from_secs(60);

/// An open `/events` stream: yields the `data:` values as they come.
struct Events {
    rx: mpsc::Receiver<String>,
}

impl Events {
    fn open(port: u16, host: &str, cookie: &str) -> Events {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        write!(
            s,
            "GET /events HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n"
        )
        .expect("send");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let r = BufReader::new(s);
            for line in r.lines() {
                let Ok(line) = line else { break };
                // Chunked framing: the event lines come through whole.
                if let Some(v) = line.strip_prefix("data: ") {
                    if tx.send(v.trim().to_string()).is_err() {
                        break;
                    }
                } else if line.starts_with("HTTP/1.1 ") && !line.contains(" 200 ") {
                    let _ = tx.send(format!("status {line}"));
                }
            }
        });
        Events { rx }
    }

    #[track_caller]
    fn next(&self) -> String {
        self.rx
            .recv_timeout(WAIT)
            .expect("an event from /events within the wait")
    }
}

fn seq_of_page(html: &str) -> String {
    let i = html.find("data-seq=\"").expect("data-seq on the page") + 10;
    html[i..i + html[i..].find('"').unwrap()].to_string()
}

#[test]
fn events_report_the_change_counter_and_move_when_another_process_writes() {
    let env = TestEnv::new();
    env.add("Ada Lovelace", &[]);
    let s = Server::start(&env);
    let page = s.get("/");
    let rendered = seq_of_page(&page.body);
    let ev = Events::open(s.port, &s.host(), &s.cookie);
    let first = ev.next();
    assert_eq!(first, rendered, "the stream starts at the page's counter");
    env.ok(&["note", "Ada", "written by another process"]);
    let second = ev.next();
    assert_ne!(second, first, "a write elsewhere moves the counter");
    assert!(
        second.parse::<u64>().unwrap() > first.parse::<u64>().unwrap(),
        "{first} -> {second}"
    );
    // The page rendered now carries the new counter.
    assert_eq!(seq_of_page(&s.get("/").body), second);
    // No stream without the cookie.
    let r = s.raw("GET", "/events", &s.host(), "", None, "");
    assert_eq!(r.status, 401);
}

#[test]
fn an_open_event_stream_does_not_hold_up_the_stop() {
    let env = TestEnv::new();
    let s = Server::start(&env);
    let ev = Events::open(s.port, &s.host(), &s.cookie);
    ev.next();
    let t = Instant::now();
    let (code, err) = s.stop();
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("stopped"), "{err}");
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "stopped in {:?}",
        t.elapsed()
    );
}

#[test]
fn sigint_stops_kith_web_cleanly() {
    let env = TestEnv::new();
    let s = Server::start(&env);
    assert_eq!(s.get("/").status, 200);
    let (code, err) = s.stop_with(libc::SIGINT);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("stopped"), "{err}");
}

#[test]
fn the_network_view_draws_links_and_people_met_together_with_their_dates() {
    let env = TestEnv::new();
    let ada = env.add("Ada Lovelace", &[]);
    let charles = env.add("Charles Babbage", &[]);
    env.add("Mary Somerville", &[]);
    env.add("Nobody Related", &[]);
    env.ok(&["link", "--as", "introduced-by", "Ada", "Mary"]);
    env.ok(&[
        "log",
        "--kind",
        "coffee",
        "--on",
        "2026-10-01",
        "Ada",
        "Charles",
        "engines",
    ]);
    env.ok(&[
        "log",
        "--kind",
        "call",
        "--on",
        "2026-11-20",
        "Ada",
        "Charles",
        "looms",
    ]);
    let s = Server::start(&env);
    let r = s.get("/network?c=Ada");
    assert_eq!(r.status, 200, "{}", r.body);
    let b = &r.body;
    assert!(b.contains("<svg") && b.contains("role=\"img\""), "{b}");
    assert!(b.contains(&format!("href=\"/network?c={charles}\"")), "{b}");
    assert!(b.contains("Mary Somerville") && b.contains("introduced-by"));
    assert!(!b.contains("Nobody Related"), "only ties are shown");
    // Charles: two shared items, from the first to the last.
    let row = &b[b.find("<td><a href=\"/c/".to_string().as_str()).unwrap()..];
    let charles_row = &row[..row.find("</tr>").unwrap()];
    assert!(
        charles_row.contains("Charles Babbage")
            && charles_row.contains("<td>2</td>")
            && charles_row.contains("2026-10-01")
            && charles_row.contains("2026-11-20"),
        "strongest first, with its dates: {charles_row}"
    );
    // From Charles's side, Ada is a tie too (people met together).
    let r = s.get(&format!("/network?c={charles}"));
    assert!(r.body.contains("Ada Lovelace"), "{}", r.body);
    // The contact page links to it.
    assert!(s
        .get(&format!("/c/{ada}"))
        .body
        .contains(&format!("/network?c={ada}")));
    // An unknown name: the CLI's message, nothing else.
    let cli = env.fails(&["show", "Zebedee"], 1);
    let r = s.get("/network?c=Zebedee");
    assert_eq!(r.status, 422);
    assert!(
        crate::web::unescape(&r.body)
            .contains(cli.lines().next().unwrap().trim_start_matches("error: ")),
        "{cli} in {}",
        r.body
    );
    assert!(s.get("/network").body.contains("Type a name"));
}

/// Every form control of every page has a label: a `<label for=ID>` naming it, or an
/// aria-label; hidden inputs excepted.
#[test]
fn every_field_of_every_page_has_a_label_and_pages_fit_a_phone() {
    let env = TestEnv::new();
    let ada = env.add(
        "Ada Lovelace",
        &["--email", "ada@example.org", "--phone", "+44 1"],
    );
    env.add("Charles Babbage", &[]);
    env.ok(&["note", "Ada", "Talked"]);
    env.ok(&["remind", "Ada", "--in", "3d", "send the paper"]);
    let s = Server::start(&env);
    let item = env.json(&["timeline", "Ada"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let paths = [
        "/".to_string(),
        "/new".to_string(),
        "/today".to_string(),
        "/devices".to_string(),
        "/network?c=Ada".to_string(),
        format!("/c/{ada}"),
        format!("/c/{ada}/edit"),
        format!("/i/{item}/edit"),
    ];
    let mut controls = 0;
    for path in &paths {
        let r = s.get(path);
        assert_eq!(r.status, 200, "{path}");
        let b = &r.body;
        assert!(
            b.contains("name=\"viewport\" content=\"width=device-width"),
            "{path}: phone-sized"
        );
        assert!(b.contains("href=\"#main\""), "{path}: skip link");
        // `no-referrer` would make browsers send `Origin: null` with our own forms, which the
        // Origin check refuses (found by the browser test).
        assert_eq!(
            r.header("referrer-policy").as_deref(),
            Some("same-origin"),
            "{path}"
        );
        controls += crate::web::labelled_controls(path, b, true);
    }
    assert!(controls >= 30, "the pages have fields: {controls}");
    let css = s.get("/static/app.css").body;
    assert!(css.contains("@media (prefers-color-scheme: dark)"), "dark");
    assert!(css.contains("@media (max-width: 40rem)"), "narrow");
    assert!(css.contains(":focus"), "a visible focus");
}

/// `kith daemon --web` on a test home: the daemon's ready line, then the web UI's URL.
struct WebDaemon {
    child: Child,
    port: u16,
    token: String,
}

impl WebDaemon {
    fn start(env: &TestEnv) -> WebDaemon {
        Self::spawn(env.cmd(&["daemon", "--web"]))
    }

    fn spawn(mut cmd: std::process::Command) -> WebDaemon {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kith daemon --web");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            for _ in 0..2 {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let _ = tx.send(line);
            }
            // Keep reading so the daemon never blocks on a full pipe.
            let _ = std::io::copy(&mut r, &mut std::io::sink());
        });
        let ready = rx.recv_timeout(WAIT).expect("the ready line");
        assert!(ready.contains("kith daemon ready"), "{ready}");
        let web = rx.recv_timeout(WAIT).expect("the web line");
        let url = web
            .split("kith web: ")
            .nth(1)
            .unwrap_or_else(|| panic!("a web line: {web}"))
            .trim()
            .to_string();
        let rest = url.strip_prefix("http://127.0.0.1:").expect("loopback");
        let (port, token) = rest.split_once("/?token=").expect("token");
        WebDaemon {
            child,
            port: port.parse().unwrap(),
            token: token.to_string(),
        }
    }

    fn stop(mut self, sig: i32) -> (i32, String) {
        let child = std::mem::replace(
            &mut self.child,
            std::process::Command::new("true").spawn().expect("true"),
        );
        crate::web::signal_and_wait(child, sig)
    }
}

impl Drop for WebDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn daemon_web_serves_the_ui_beside_sync_follows_other_processes_and_stops_on_both_signals() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let env = TestEnv::new();
        let ada = env.add("Ada Lovelace", &[]);
        let d = WebDaemon::start(&env);
        let s = Server::attach(d.port, &d.token);
        let r = s.get(&format!("/c/{ada}"));
        assert_eq!(r.status, 200);
        let ev = Events::open(s.port, &s.host(), &s.cookie);
        let first = ev.next();
        // Another process writes while the daemon holds the vault open.
        env.ok(&["note", "Ada", "from the terminal"]);
        assert_ne!(ev.next(), first);
        assert!(s
            .get(&format!("/c/{ada}"))
            .body
            .contains("from the terminal"));
        // The web UI writes through the daemon's process; the CLI sees it.
        let r = s.post(&format!("/c/{ada}/note"), &[("body", "from the browser")]);
        assert_eq!(r.status, 303, "{}", r.body);
        assert!(env
            .json(&["timeline", "Ada"])
            .to_string()
            .contains("from the browser"));
        let (code, err) = d.stop(sig);
        assert_eq!(code, 0, "signal {sig}: {err}");
        assert!(err.contains("kith daemon stopped"), "{err}");
        // The port is closed: the web UI stopped with the daemon.
        assert!(TcpStream::connect(("127.0.0.1", s.port)).is_err());
        drop(ev);
    }
}

#[test]
fn daemon_web_port_without_web_is_a_usage_error() {
    let env = TestEnv::new();
    let err = env.fails(&["daemon", "--web-port", "8080"], 2);
    assert!(err.contains("--web"), "{err}");
}

#[test]
fn a_long_contact_list_comes_in_pages_that_keep_the_filters() {
    let env = TestEnv::new();
    let mut vcf = String::new();
    for i in 0..260 {
        vcf.push_str(&format!(
            "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Person {i:03}\r\nCATEGORIES:many\r\nEND:VCARD\r\n"
        ));
    }
    let path = env.root().join("many.vcf");
    std::fs::write(&path, vcf).unwrap();
    env.ok(&["import", path.to_str().unwrap()]);
    env.add("Zed Alone", &[]);
    let s = Server::start(&env);
    let r = s.get("/?tag=many");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("260 contacts, 1–250 shown"), "{}", r.body);
    assert_eq!(r.body.matches("<tr>").count(), 251, "a header and 250 rows");
    assert!(r.body.contains("Person 000") && !r.body.contains("Person 250"));
    let next = "/?sort=&amp;tag=many&amp;org=&amp;page=1";
    assert!(r.body.contains(next), "{}", r.body);
    let r = s.get("/?sort=&tag=many&org=&page=1");
    assert!(r.body.contains("251–260 shown"), "{}", r.body);
    assert!(r.body.contains("Person 259") && !r.body.contains("Person 249"));
    assert!(!r.body.contains("Zed Alone"), "the filter is kept");
    // A page past the end shows the last one.
    assert!(s.get("/?tag=many&page=99").body.contains("Person 259"));
}

#[test]
fn daemon_web_shows_an_edit_synced_from_another_device_without_a_reload() {
    use crate::sync::{pair, Dev};
    let a = Dev::new("laptop");
    let b = Dev::new("desktop");
    let ada = a.add("Ada Lovelace", &[]);
    pair(&a, &b);
    let d = WebDaemon::spawn(a.cmd(&["daemon", "--web"]));
    let s = Server::attach(d.port, &d.token);
    assert_eq!(s.get(&format!("/c/{ada}")).status, 200);
    let ev = Events::open(s.port, &s.host(), &s.cookie);
    let first = ev.next();
    b.ok(&["note", &ada, "written on the desktop"]);
    b.ok(&["sync", "--timeout", "10"]);
    let t = Instant::now();
    let mut moved = ev.next();
    while moved == first && t.elapsed() < WAIT {
        moved = ev.next();
    }
    assert_ne!(moved, first, "the synced change moved the counter");
    assert!(s
        .get(&format!("/c/{ada}"))
        .body
        .contains("written on the desktop"));
    let (code, err) = d.stop(libc::SIGTERM);
    assert_eq!(code, 0, "{err}");
}
