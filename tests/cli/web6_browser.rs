//! Issue 12's usability promises over every page, in a real browser (headless Chromium, the
//! harness of `web_browser.rs`; skipped loudly without Chromium unless
//! `KITH_BROWSER_TESTS=require`): at phone width no page is wider than the screen, every
//! visible field has a label, dark mode applies everywhere, and the keyboard alone reaches
//! every control of the contact page in order, with a visible focus ring.

use serde_json::json;

use crate::sync::{Daemon, Dev};
use crate::web::Server;
use crate::web_browser::{url_of, Browser};
use crate::webui::{owner, pair_persons, share_slice_with_ben};

/// Per page: [page width, window width, unlabelled visible fields (their outerHTML)].
const AUDIT: &str = r#"
var bad = [];
document.querySelectorAll('input, select, textarea').forEach(function (e) {
  if (e.type === 'hidden') return;
  var labelled = (e.id && document.querySelector('label[for="' + e.id + '"]'))
    || e.getAttribute('aria-label') || e.closest('label');
  if (!labelled) bad.push(e.outerHTML);
});
var wide = [];
document.querySelectorAll('main *').forEach(function (e) {
  var r = e.getBoundingClientRect();
  if (r.right > window.innerWidth + 1 && r.width > 0) wide.push(e.tagName + (e.id ? '#' + e.id : '') + (e.className && e.className.baseVal === undefined ? '.' + e.className : ''));
});
return [document.documentElement.scrollWidth, window.innerWidth, bad, wide.slice(0, 5),
        getComputedStyle(document.body).backgroundColor, document.title];
"#;

fn audit(b: &Browser, host: &str, pages: &[(String, String)], scheme: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, path) in pages {
        b.goto(&format!("http://{host}{path}"));
        b.wait_text("main", name, |t| !t.is_empty());
        let v = b.js(AUDIT, json!([]));
        let (page_w, win_w) = (v[0].as_u64().unwrap(), v[1].as_u64().unwrap());
        if page_w > win_w {
            problems.push(format!(
                "{name} ({path}): {page_w} px wide in a {win_w} px window; too wide: {}",
                v[3]
            ));
        }
        if v[2].as_array().is_some_and(|a| !a.is_empty()) {
            problems.push(format!("{name} ({path}): unlabelled fields {}", v[2]));
        }
        let want = if scheme == "dark" {
            "rgb(22, 22, 22)"
        } else {
            "rgb(253, 253, 252)"
        };
        if v[4] != json!(want) {
            problems.push(format!("{name} ({path}): {scheme} background is {}", v[4]));
        }
        if v[5].as_str().is_some_and(|t| t.starts_with("Error")) {
            problems.push(format!("{name} ({path}): an error page"));
        }
        b.screenshot(&format!("{name}-{scheme}"));
    }
    problems
}

#[test]
fn every_page_fits_a_phone_has_labels_and_dark_mode_and_the_contact_page_works_by_keyboard() {
    let Some(b) = Browser::start("web6_audit") else {
        return;
    };
    let ann = owner();
    let list = ann.json(&["list"]);
    let ada = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Ada Shared")
        .expect("Ada")["id"]
        .as_str()
        .unwrap()
        .to_string();
    ann.ok(&[
        "set",
        &ada,
        "email",
        "ada.shared.with.a.rather.long.address@example-analytics.org",
    ]);
    ann.ok(&["note", &ada, "--", "A long note: https://example.org/a/very/long/path/that/does/not/break/anywhere/at/all/unless/the/page/breaks/it"]);
    ann.ok(&[
        "log",
        "--kind",
        "coffee",
        "--on",
        "2026-11-02",
        "Ada",
        "Carol",
        "Coffee with both",
    ]);
    ann.ok(&["remind", "--on", "2026-11-30", &ada, "Send the draft"]);
    ann.ok(&["gave", &ada, "an intro to Grace"]);
    ann.ok(&["opp", "add", "Staff role at Acme", "--with", &ada]);
    ann.ok(&["link", "--as", "reports-to", "Carol", "Ada"]);
    let ben = Dev::new("ben");
    pair_persons(&ann, "Ben", &ben, "Ann");
    let share = share_slice_with_ben(&ann);
    {
        let _d = Daemon::start(&ann);
        let out = ben.run(&["share", "sync"]);
        assert_eq!(out.code, 0, "share sync: {}", out.stderr);
    }
    let items = ann.json(&["timeline", &ada]);
    let item_pages: Vec<(String, String)> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let kind = i["kind"].as_str().unwrap().to_string();
            let id = i["id"].as_str().unwrap();
            let path = if kind == "opportunity" {
                format!("/o/{id}/edit")
            } else {
                format!("/i/{id}/edit")
            };
            (format!("edit-{kind}"), path)
        })
        .collect();
    assert!(item_pages.len() >= 5, "{items}");
    let received = ben.json(&["shared"]);
    let rec = &received[0];
    let rec_path = format!(
        "/shared/{}/{}",
        rec["share"].as_str().unwrap(),
        rec["id"].as_str().unwrap()
    );

    let sa = Server::start(&ann.env);
    let sb = Server::start(&ben.env);
    b.goto(&url_of(&sa));
    b.wait_text("#results", "the contacts", |t| t.contains("Ada Shared"));
    let mut ann_pages: Vec<(String, String)> = [
        ("contacts", "/".to_string()),
        ("contacts-search", "/?q=acme".to_string()),
        ("contact", format!("/c/{ada}")),
        ("contact-edit", format!("/c/{ada}/edit")),
        ("new", "/new".to_string()),
        ("today", "/today".to_string()),
        ("devices", "/devices".to_string()),
        ("network", "/network".to_string()),
        ("network-ada", format!("/network?c={ada}")),
        ("shares", "/shares".to_string()),
        ("share", format!("/shares/{share}")),
        ("intros-ann", "/intros".to_string()),
    ]
    .into_iter()
    .map(|(n, p)| (n.to_string(), p))
    .collect();
    ann_pages.extend(item_pages);
    let ben_pages: Vec<(String, String)> = [
        ("shared", "/shared".to_string()),
        ("received", rec_path),
        ("who-knows", "/who-knows?q=acme".to_string()),
        ("intros-ben", "/intros".to_string()),
    ]
    .into_iter()
    .map(|(n, p)| (n.to_string(), p))
    .collect();

    let mut problems = Vec::new();
    b.size(390, 844);
    for scheme in ["light", "dark"] {
        b.color_scheme(scheme);
        b.goto(&url_of(&sa));
        problems.extend(audit(&b, &sa.host(), &ann_pages, scheme));
        b.goto(&url_of(&sb));
        problems.extend(audit(&b, &sb.host(), &ben_pages, scheme));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // The keyboard alone: from the top of the contact page, Tab reaches the skip link first,
    // then every control of the page in document order, each with a visible focus ring.
    b.color_scheme("light");
    b.size(1000, 760);
    b.goto(&url_of(&sa));
    b.goto(&format!("http://{}/c/{ada}", sa.host()));
    b.wait_text("h1", "the contact", |t| t.contains("Ada Shared"));
    let expected = b.js(
        "return Array.from(document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea')).filter(function (e) { return e.offsetParent !== null || e.classList.contains('skip'); }).length;",
        json!([]),
    );
    let expected = expected.as_u64().unwrap() as usize;
    let mut seen = Vec::new();
    for i in 0..expected + 1 {
        b.keys("\u{E004}");
        let v = b.js(
            "var e = document.activeElement; var s = getComputedStyle(e); return [e.outerHTML.slice(0, 80), s.outlineStyle, s.outlineWidth, e === document.body];",
            json!([]),
        );
        if i == 0 {
            assert!(
                v[0].as_str().unwrap().contains("class=\"skip\""),
                "the skip link comes first: {v}"
            );
        }
        if v[3] == json!(true) {
            break;
        }
        assert!(
            v[1] != json!("none") && v[2] != json!("0px"),
            "a visible focus ring on {}",
            v[0]
        );
        seen.push(v[0].as_str().unwrap().to_string());
    }
    assert!(
        seen.len() >= expected,
        "Tab reached {} of {expected} controls: {seen:#?}",
        seen.len()
    );
    for want in [
        "log-kind",
        "log-with",
        "log-summary",
        "note-body",
        "remind-due",
        "opp-title",
        "opp-stage",
    ] {
        assert!(
            seen.iter().any(|s| s.contains(&format!("id=\"{want}\""))),
            "Tab never reached #{want}"
        );
    }
    // Enter on the focused "Save note" button submits the form, as a click would.
    b.click("#note-body");
    b.fill("#note-body", "typed by keyboard");
    b.keys("\u{E004}\u{E007}");
    b.wait_text("#timeline", "the note", |t| t.contains("typed by keyboard"));
}
