//! The sharing pages and the ties-over-time chart in a real browser (headless Chromium over
//! WebDriver, the harness of `web_browser.rs`; skipped loudly without Chromium unless
//! `KITH_BROWSER_TESTS=require`): create a share in the form, see it listed, narrow it, revoke
//! it; then the slice received on the other side, its contact page, search and who-knows.
//! Screenshots as in `web_browser.rs` (`$KITH_SCREENSHOTS`, else the test's output folder).

use serde_json::json;

use crate::sync::{Daemon, Dev};
use crate::web::Server;
use crate::web_browser::{url_of, Browser};
use crate::webui::{pair_persons, share_slice_with_ben};

#[test]
fn create_a_share_in_the_form_see_it_listed_narrow_and_revoke_it_then_see_the_slice_received() {
    let Some(b) = Browser::start("sharing") else {
        return;
    };
    let ann = Dev::new("ann");
    ann.add(
        "Ada Shared",
        &["--org", "Acme", "--title", "CTO", "--tag", "slice"],
    );
    ann.ok(&["set", "Ada Shared", "help", "intros to analysts"]);
    ann.add(
        "Carol Slice",
        &["--org", "Initech", "--title", "Analyst", "--tag", "slice"],
    );
    ann.add("Bob Outside", &["--org", "Hooli"]);
    ann.add("Dev Eloper", &["--org", "Acme"]);
    for (on, who) in [
        ("2026-01-14", vec!["Ada", "Carol"]),
        ("2026-03-02", vec!["Ada", "Bob"]),
        ("2026-05-20", vec!["Ada", "Carol"]),
        ("2026-06-11", vec!["Ada", "Carol", "Dev"]),
        ("2026-08-30", vec!["Ada"]),
        ("2026-09-09", vec!["Ada", "Bob"]),
        ("2026-10-01", vec!["Ada", "Carol"]),
        ("2026-11-03", vec!["Ada", "Carol"]),
        ("2026-11-18", vec!["Ada", "Dev"]),
    ] {
        let mut args = vec!["log", "--kind", "meeting", "--on", on];
        args.extend(who);
        args.push("planning");
        ann.ok(&args);
    }
    ann.ok(&["link", "--as", "reports-to", "Carol", "Ada"]);
    let ben = Dev::new("ben");
    pair_persons(&ann, "Ben", &ben, "Ann");
    let s = Server::start(&ann.env);
    b.goto(&url_of(&s));
    b.wait_text("#results", "the contacts", |t| t.contains("Ada Shared"));

    // Bad input in the form: the message next to the field.
    b.click("nav a[href='/shares']");
    b.wait_text("h1", "the shares page", |t| t == "Shares");
    b.click("#share-filter option[value='query']");
    b.fill("#share-value", "!!");
    b.click("form[action='/shares'] button[type=submit]");
    b.wait_text("#err-value", "the error", |t| t.contains("has no words"));
    assert!(ann.json(&["share", "list"]).as_array().unwrap().is_empty());

    // Create: tag `slice`, without the title.
    b.click("#share-with option[value='Ben']");
    b.click("#share-filter option[value='tag']");
    b.fill("#share-value", "slice");
    b.click("#share-f-title");
    b.click("form[action='/shares'] button[type=submit]");
    b.wait_text("h1", "the new share", |t| t == "Share with Ben");
    let seen = b.wait_text("#seen", "what Ben sees", |t| t.contains("Ada Shared"));
    assert!(
        seen.contains("Carol Slice") && seen.contains("intros to analysts"),
        "{seen}"
    );
    assert!(
        !seen.contains("Bob") && !seen.contains("CTO"),
        "only the slice and its fields: {seen}"
    );
    b.screenshot("share");
    let list = ann.json(&["share", "list"]);
    let id = list[0]["id"].as_str().unwrap().to_string();
    assert_eq!(list[0]["fields"], json!(["name", "org", "help"]));

    // Listed.
    b.click("a[href='/shares']");
    let listed = b.wait_text("#shares", "the list", |t| t.contains(&id[..8]));
    assert!(
        listed.contains("Ben") && listed.contains("tagged slice"),
        "{listed}"
    );
    b.screenshot("shares");

    // Narrow: help taken away starts epoch 2.
    b.click(&format!("a[href='/shares/{id}']"));
    b.wait_text("h1", "the share", |t| t == "Share with Ben");
    b.click("#edit-f-help");
    b.click(&format!(
        "form[action='/shares/{id}/edit'] button[type=submit]"
    ));
    b.wait_text("main", "the narrowing", |t| {
        t.contains("Narrowed: epoch 2 starts")
    });
    assert!(!b.text("#seen").contains("intros to analysts"));
    assert_eq!(ann.json(&["share", "list"])[0]["epoch"], 2);

    // Revoke.
    b.click("button.danger");
    b.wait_text("main", "the revocation", |t| t.contains("Revoked share"));
    assert!(ann.json(&["share", "list"]).as_array().unwrap().is_empty());

    // Ties over time, and links both ways, on Ada's network.
    b.goto(&format!("http://{}/network?c=Ada", s.host()));
    b.wait_text("main", "the network", |t| t.contains("Ties over time"));
    assert!(b.exists("svg.ties polyline"), "the chart's lines");
    assert!(b.text("main").contains("← reports-to"));
    b.js(
        "document.getElementById('ties-over-time').scrollIntoView(); return 0;",
        json!([]),
    );
    b.screenshot("ties-over-time");
    drop(s);

    // Ben's side: a slice received, its contact page, search and who-knows.
    share_slice_with_ben(&ann);
    {
        let _daemon = Daemon::start(&ann);
        let out = ben.run(&["share", "sync"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    ben.add(
        "Olive Own",
        &["--org", "Acme", "--title", "Analyst", "--tag", "friend"],
    );
    let s = Server::start(&ben.env);
    b.goto(&url_of(&s));
    b.wait_text("#results", "Ben's contacts", |t| t.contains("Olive Own"));
    b.click("nav a[href='/shared']");
    let rec = b.wait_text("#received", "the slice", |t| t.contains("Ann's slice"));
    assert!(
        rec.contains("Ada Shared") && rec.contains("Carol Slice"),
        "{rec}"
    );
    b.screenshot("shared");
    b.click("#received a");
    let page = b.wait_text("main", "the received contact", |t| {
        t.contains("From Ann's slice")
    });
    assert!(
        page.contains("Acme") && page.contains("Read-only"),
        "{page}"
    );
    // Read-only: the one form asks Ann for an introduction (a request document of B's own).
    assert!(b.exists("main form[action='/intros/ask']"));
    assert!(
        !b.exists("main form:not([action='/intros/ask'])"),
        "a received contact has no form that writes it"
    );
    b.screenshot("shared-contact");
    b.fill("#why", "hiring a CTO");
    b.click("main form button[type=submit]");
    let intros = b.wait_text("main", "the introduction asked", |t| {
        t.contains("hiring a CTO")
    });
    assert!(intros.contains("Ada Shared"), "{intros}");
    b.screenshot("intros");

    b.goto(&format!("http://{}/", s.host()));
    b.fill("#q", "acme");
    let hits = b.wait_text("#results", "search with received contacts", |t| {
        t.contains("In slices shared with you")
    });
    assert!(
        hits.contains("Olive Own") && hits.contains("from Ann's slice"),
        "{hits}"
    );

    b.click("nav a[href='/who-knows']");
    b.wait_text("h1", "who knows", |t| t.starts_with("Who knows"));
    b.fill("#who-q", "analyst");
    b.click("form[action='/who-knows'] button[type=submit]");
    let who = b.wait_text("#who", "the answers", |t| t.contains("Carol Slice"));
    assert!(
        who.contains("Olive Own") && who.contains("Ann's slice") && who.contains("you"),
        "{who}"
    );
    b.screenshot("who-knows");
}
