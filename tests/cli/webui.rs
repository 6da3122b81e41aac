//! The web UI's sharing pages (shares given, slices received, who-knows) and the network view's
//! links both ways and ties over time, over HTTP against the real `kith web`; persons are paired
//! and slices received for real over loopback (`kith person invite/accept`, `kith daemon`,
//! `kith share sync`). Each route is checked for the cookie, the CSRF token and bad input (the
//! CLI's message next to the field, nothing written).

use serde_json::Value;

use crate::sync::{Daemon, Dev};
use crate::web::{csrf_of, form, unescape, Server};

pub(crate) use crate::share::pair_persons;

/// `kith share create --with Ben --tag slice --fields name,org,title,help` on `owner`'s side;
/// returns the share's id.
pub(crate) fn share_slice_with_ben(owner: &Dev) -> String {
    owner
        .ok(&[
            "share",
            "create",
            "--with",
            "Ben",
            "--tag",
            "slice",
            "--fields",
            "name,org,title,help",
        ])
        .trim()
        .to_string()
}

/// The numbers in a table row's cells (`<td>N</td>`).
fn cells(row: &str) -> Vec<&str> {
    row.split("<td>")
        .skip(1)
        .map(|c| &c[..c.find('<').unwrap()])
        .collect()
}

/// The first line of a CLI failure, without `error: `.
fn cli_error(dev: &Dev, args: &[&str]) -> String {
    let out = dev.run(args);
    assert_eq!(out.code, 1, "{args:?} should fail: {out:?}");
    out.stderr
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("error: ")
        .to_string()
}

/// The `Location` of a 303 answer.
#[track_caller]
fn location(r: &crate::web::Resp) -> String {
    assert_eq!(r.status, 303, "{}", r.body);
    r.header("location").expect("a Location")
}

/// The text of the table row (`<tr>`) holding `needle`.
fn row_with<'a>(html: &'a str, needle: &str) -> &'a str {
    let i = html
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} in:\n{html}"));
    let start = html[..i].rfind("<tr>").expect("in a row");
    let end = i + html[i..].find("</tr>").expect("row end");
    &html[start..end]
}

fn names_of(v: &Value, key: &str) -> Vec<String> {
    let mut n: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.pointer(key).and_then(Value::as_str).unwrap().to_string())
        .collect();
    n.sort();
    n
}

/// Ann's vault: two contacts tagged `slice` and one outside.
pub(crate) fn owner() -> Dev {
    let a = Dev::new("ann");
    a.add(
        "Ada Shared",
        &["--org", "Acme", "--title", "CTO", "--tag", "slice"],
    );
    a.ok(&["set", "Ada Shared", "help", "intros to analysts"]);
    a.add("Carol Slice", &["--org", "Initech", "--tag", "slice"]);
    a.add("Bob Outside", &["--org", "Hooli"]);
    a
}

#[test]
fn shares_are_created_shown_narrowed_widened_and_revoked_through_forms() {
    let a = owner();
    let b = Dev::new("ben");
    pair_persons(&a, "Ben", &b, "Ann");
    let s = Server::start(&a.env);

    let page = s.get("/shares");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("You share nothing yet"), "{}", page.body);
    assert!(page.body.contains("<option value=\"Ben\""), "{}", page.body);

    // Bad input: the CLI's message next to the field, and no share.
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, String);
    let cases: [Case; 5] = [
        (
            &[
                ("with", "Nobody"),
                ("filter", "tag"),
                ("value", "slice"),
                ("fields", "name"),
            ],
            "with",
            cli_error(
                &a,
                &["share", "create", "--with", "Nobody", "--tag", "slice"],
            ),
        ),
        (
            &[
                ("with", "Ben"),
                ("filter", "contact"),
                ("value", "Zebedee"),
                ("fields", "name"),
            ],
            "value",
            cli_error(
                &a,
                &["share", "create", "--with", "Ben", "--contact", "Zebedee"],
            ),
        ),
        (
            &[
                ("with", "Ben"),
                ("filter", "query"),
                ("value", " !! "),
                ("fields", "name"),
            ],
            "value",
            // The CLI says "the --query has no words": the form has no flags.
            "the query has no words".to_string(),
        ),
        (
            &[
                ("with", "Ben"),
                ("filter", "tag"),
                ("value", ""),
                ("fields", "name"),
            ],
            "value",
            "which contacts?".to_string(),
        ),
        (
            &[("with", "Ben"), ("filter", "tag"), ("value", "slice")],
            "fields",
            "no fields given".to_string(),
        ),
    ];
    for (fields, at, msg) in &cases {
        let r = s.post("/shares", fields);
        assert_eq!(r.status, 422, "{fields:?}: {}", r.body);
        let body = unescape(&r.body);
        let err = &body[body
            .find(&format!("id=\"err-{at}\""))
            .unwrap_or_else(|| panic!("an error next to {at} for {fields:?}:\n{body}"))..];
        let err = &err[..err.find("</p>").unwrap()];
        assert!(err.contains(msg.as_str()), "{msg:?} next to {at}: {err}");
        // What was typed stays.
        let value = fields.iter().find(|(k, _)| *k == "value").unwrap().1;
        if !value.trim().is_empty() {
            assert!(body.contains(&format!("value=\"{value}\"")), "{body}");
        }
    }
    assert_eq!(a.json(&["share", "list"]), serde_json::json!([]));

    // Without the CSRF token, or without the cookie: refused, nothing written.
    let ok_form = form(&[
        ("with", "Ben"),
        ("filter", "tag"),
        ("value", "slice"),
        ("fields", "name"),
        ("fields", "org"),
        ("fields", "help"),
    ]);
    let r = s.raw("POST", "/shares", &s.host(), &s.cookie, None, &ok_form);
    assert_eq!(r.status, 403);
    let csrf = csrf_of(&s.get("/shares").body);
    let with_csrf = format!("csrf={csrf}&{ok_form}");
    let r = s.raw("POST", "/shares", &s.host(), "", None, &with_csrf);
    assert_eq!(r.status, 401);
    assert_eq!(a.json(&["share", "list"]), serde_json::json!([]));

    // Create.
    let r = s.raw("POST", "/shares", &s.host(), &s.cookie, None, &with_csrf);
    let to = location(&r);
    let list = a.json(&["share", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let id = list[0]["id"].as_str().unwrap().to_string();
    assert_eq!(to, format!("/shares/{id}"));
    assert_eq!(list[0]["with"], "Ben");
    assert_eq!(
        list[0]["fields"],
        serde_json::json!(["name", "org", "help"])
    );
    assert_eq!(list[0]["filter"], serde_json::json!({ "tags": ["slice"] }));

    // Exactly what Ben sees: the names `kith share show` gives, with the fields allowed.
    let shown = s.get(&to);
    assert!(assert_accessible_and_strict(&to, &shown) >= 10);
    assert!(assert_accessible_and_strict("/shares", &s.get("/shares")) >= 10);
    let cli = a.json(&["share", "show", &id]);
    assert_eq!(
        names_of(&cli["contacts"], "/name"),
        ["Ada Shared", "Carol Slice"]
    );
    let seen = &shown.body[shown.body.find("id=\"seen\"").expect("the table")..];
    for n in [
        "Ada Shared",
        "Carol Slice",
        "Acme",
        "Initech",
        "intros to analysts",
    ] {
        assert!(seen.contains(n), "{n} in what Ben sees:\n{seen}");
    }
    assert!(
        !seen.contains("Bob Outside") && !seen.contains("CTO"),
        "{seen}"
    );
    // Listed with person, filter, fields, epoch, size and refused writes.
    let listed = s.get("/shares").body;
    let row = row_with(&listed, &id[..8]);
    for needle in [
        "Ben",
        "tagged slice",
        "name, org, help",
        "<td>1</td>",
        "<td>2</td>",
        "<td>0</td>",
    ] {
        assert!(row.contains(needle), "{needle} in {row}");
    }

    // Narrow (help taken away): a new epoch, said on the page.
    let r = s.post(
        &format!("/shares/{id}/edit"),
        &[("filter", "keep"), ("fields", "name"), ("fields", "org")],
    );
    let to = location(&r);
    assert_eq!(to, format!("/shares/{id}?narrowed_from=1"));
    assert_eq!(a.json(&["share", "list"])[0]["epoch"], 2);
    let page = s.get(&to).body;
    assert!(page.contains("Narrowed: epoch 2 starts"), "{page}");
    assert!(
        !page.contains("intros to analysts"),
        "help is no longer seen"
    );
    // Widen (another field, and Bob by name): the same epoch.
    let r = s.post(
        &format!("/shares/{id}/edit"),
        &[
            ("filter", "contact"),
            ("value", "Ada Shared, Carol Slice, Bob Outside"),
            ("fields", "name"),
            ("fields", "org"),
            ("fields", "title"),
        ],
    );
    assert_eq!(location(&r), format!("/shares/{id}?updated=1"));
    let v = a.json(&["share", "list"]);
    assert_eq!(
        (v[0]["epoch"].as_u64(), v[0]["contacts"].as_u64()),
        (Some(2), Some(3)),
        "{v}"
    );
    let page = s.get(&format!("/shares/{id}?updated=1")).body;
    assert!(
        page.contains("Bob Outside")
            && page.contains("CTO")
            && page.contains("Share updated (epoch 2)"),
        "{page}"
    );
    // Bad edits change nothing.
    let before = a.json(&["share", "list"]);
    let r = s.post(
        &format!("/shares/{id}/edit"),
        &[
            ("filter", "keep"),
            ("fields", "name"),
            ("fields", "org"),
            ("fields", "title"),
        ],
    );
    assert_eq!(r.status, 422);
    assert!(
        r.body.contains("id=\"err-value\"") && r.body.contains("nothing to change"),
        "{}",
        r.body
    );
    let r = s.post(
        &format!("/shares/{id}/edit"),
        &[("filter", "keep"), ("fields", "bogus")],
    );
    assert_eq!(r.status, 422);
    let cli = cli_error(&a, &["share", "edit", &id, "--fields", "bogus"]);
    let core = cli.trim_start_matches("--fields: ");
    assert!(unescape(&r.body).contains(core), "{core} in {}", r.body);
    assert!(r.body.contains("id=\"err-fields\""));
    let r = s.post(
        &format!("/shares/{id}/edit"),
        &[("filter", "tag"), ("value", "a b!"), ("fields", "name")],
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("id=\"err-value\""), "{}", r.body);
    let r = s.post(
        &format!("/shares/{id}/edit"),
        &[("filter", "sideways"), ("value", "x"), ("fields", "name")],
    );
    assert_eq!(r.status, 422);
    assert!(r.body.contains("id=\"err-filter\""), "{}", r.body);
    assert_eq!(a.json(&["share", "list"]), before, "nothing was written");

    // Unknown shares: the CLI's message.
    let cli = cli_error(&a, &["share", "show", "ffff"]);
    let r = s.get("/shares/ffff");
    assert_eq!(r.status, 422);
    assert!(unescape(&r.body).contains(&cli), "{cli} in {}", r.body);
    assert_eq!(s.post("/shares/ffff/revoke", &[]).status, 422);
    assert_eq!(
        s.post("/shares/ffff/edit", &[("fields", "name")]).status,
        422
    );

    // Revoke.
    let r = s.raw(
        "POST",
        &format!("/shares/{id}/revoke"),
        &s.host(),
        &s.cookie,
        None,
        "",
    );
    assert_eq!(r.status, 403, "no CSRF token");
    assert_eq!(a.json(&["share", "list"]).as_array().unwrap().len(), 1);
    let r = s.post(&format!("/shares/{id}/revoke"), &[]);
    assert_eq!(location(&r), format!("/shares?revoked={}", &id[..8]));
    assert_eq!(a.json(&["share", "list"]), serde_json::json!([]));
    let page = s.get("/shares?revoked=x").body;
    assert!(
        page.contains("Revoked share") && page.contains("You share nothing yet"),
        "{page}"
    );

    // Every new page needs the cookie.
    let one = format!("/shares/{id}");
    for path in ["/shares", one.as_str(), "/shared", "/who-knows?q=acme"] {
        let r = s.raw("GET", path, &s.host(), "", None, "");
        assert_eq!(r.status, 401, "{path}");
        assert!(!r.body.contains("Acme"), "{path}: nothing leaks");
    }
}

#[test]
fn received_slices_their_own_pages_search_and_who_knows_say_from_whom() {
    let a = owner();
    let b = Dev::new("ben");
    pair_persons(&a, "Ben", &b, "Ann");
    let id = share_slice_with_ben(&a);
    b.add("Dana Own", &["--org", "Acme", "--title", "analyst"]);
    let empty = Server::start(&b.env);
    assert!(empty
        .get("/shared")
        .body
        .contains("Nothing shared with you yet"));
    drop(empty);
    {
        let _daemon = Daemon::start(&a);
        let out = b.run(&["share", "sync"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        // Ben tries to write into the share: refused, and Ann's page says so.
        let mut c = b.cmd(&["share", "sync"]);
        c.env("KITH_TEST_SHARE_TAMPER", "1");
        let out = crate::env::finish(c.output().unwrap());
        assert_eq!(out.code, 1, "{out:?}");
    }
    let received = b.json(&["shared"]);
    assert_eq!(
        names_of(&received, "/values/name"),
        ["Ada Shared", "Carol Slice"]
    );

    let s = Server::start(&b.env);
    for r in received.as_array().unwrap() {
        let path = format!(
            "/shared/{}/{}",
            r["share"].as_str().unwrap(),
            r["id"].as_str().unwrap()
        );
        assert_accessible_and_strict(&path, &s.get(&path));
    }
    assert_accessible_and_strict("/shared", &s.get("/shared"));
    // The slices, from whom and when updated.
    let page = unescape(&s.get("/shared").body);
    assert!(
        page.contains("Ann's slice") && page.contains(&id[..8]),
        "{page}"
    );
    assert!(page.contains("updated 2026-11-22"), "{page}");
    let mut hrefs = Vec::new();
    for r in received.as_array().unwrap() {
        let href = format!(
            "/shared/{}/{}",
            r["share"].as_str().unwrap(),
            r["id"].as_str().unwrap()
        );
        assert!(page.contains(&href), "{href} in {page}");
        hrefs.push((href, r["values"]["name"].as_str().unwrap().to_string()));
    }
    assert!(!page.contains("Dana Own"), "own contacts are not received");
    // Only from Ann; from nobody known: the CLI's message next to the field.
    assert!(s.get("/shared?from=Ann").body.contains("Carol Slice"));
    let cli = cli_error(&b, &["shared", "--from", "Nobody"]);
    let r = s.get("/shared?from=Nobody");
    assert_eq!(r.status, 422);
    assert!(
        unescape(&r.body).contains(&cli) && r.body.contains("id=\"err-from\""),
        "{cli} in {}",
        r.body
    );

    // A received contact's own page: read-only, marked with its origin.
    let (ada_href, _) = hrefs.iter().find(|(_, n)| n == "Ada Shared").unwrap();
    let r = s.get(ada_href);
    assert_eq!(r.status, 200, "{}", r.body);
    let body = unescape(&r.body);
    let main = &body[body.find("<main").unwrap()..];
    for n in [
        "Ada Shared",
        "Acme",
        "CTO",
        "intros to analysts",
        "From",
        "Ann's slice",
        "updated 2026-11-22",
    ] {
        assert!(main.contains(n), "{n} in {main}");
    }
    // Read-only: the one form on the page asks for an introduction (it writes a request
    // document of B's own, never the received one).
    assert_eq!(main.matches("method=\"post\"").count(), 1, "{main}");
    assert!(main.contains("action=\"/intros/ask\""), "{main}");
    assert!(!main.contains("/edit"), "read-only: no edit link");
    let pseudonym = ada_href.rsplit('/').next().unwrap().to_string();
    let r = s.post(
        "/intros/ask",
        &[("contact", pseudonym.as_str()), ("why", "hiring a CTO")],
    );
    assert_eq!(location(&r), "/intros", "{}", r.body);
    let asked = b.json(&["intro", "list"]);
    assert_eq!(asked[0]["about"], "Ada Shared", "{asked}");
    assert_eq!(asked[0]["why"], "hiring a CTO", "{asked}");
    assert_eq!(asked[0]["direction"], "asked-by-me", "{asked}");
    let r = s.get(&format!("/shared/{id}/00000000000000000000000000000000"));
    assert_eq!(r.status, 422);
    assert!(r
        .body
        .contains("no such contact in the slices shared with you"));

    // Search marks received contacts beside one's own.
    let found = unescape(&s.get("/?q=acme").body);
    assert!(found.contains("Dana Own"), "{found}");
    let shared_part = &found[found
        .find("In slices shared with you")
        .expect("a received section")..];
    assert!(
        shared_part.contains("Ada Shared")
            && shared_part.contains("from Ann's slice")
            && shared_part.contains(ada_href.as_str()),
        "{shared_part}"
    );
    assert!(!shared_part.contains("Dana Own"));
    let cli_found = b.ok(&["search", "acme"]);
    assert!(cli_found.contains("Ada Shared") && cli_found.contains("Dana Own"));

    // Who knows: the CLI's rows, saying through whom.
    let cli = b.json(&["who-knows", "acme"]);
    let mut cli_rows: Vec<(String, String)> = cli
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["through"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    cli_rows.sort();
    assert_eq!(
        cli_rows,
        [
            ("Ada Shared".to_string(), "Ann".to_string()),
            ("Dana Own".to_string(), String::new())
        ]
    );
    let who = s.get("/who-knows?q=acme");
    assert_eq!(who.status, 200);
    let who = unescape(&who.body);
    let ada_row = row_with(&who, "Ada Shared");
    assert!(
        ada_row.contains("Ann's slice") && ada_row.contains(ada_href.as_str()),
        "{ada_row}"
    );
    let dana_row = row_with(&who, "Dana Own");
    assert!(
        dana_row.contains("<td>you</td>") && dana_row.contains("href=\"/c/"),
        "{dana_row}"
    );
    let r = s.get("/who-knows?q=analysts");
    assert!(
        r.body.contains("Ada Shared") && !r.body.contains("Carol Slice"),
        "{}",
        r.body
    );
    // Bad input: the CLI's messages.
    let cli = cli_error(&b, &["who-knows", "!!"]);
    let r = s.get("/who-knows?q=%21%21");
    assert_eq!(r.status, 422);
    assert!(
        unescape(&r.body).contains(&cli) && r.body.contains("id=\"err-q\""),
        "{cli} in {}",
        r.body
    );
    let cli = cli_error(&b, &["who-knows", "zebedee"]);
    let r = s.get("/who-knows?q=zebedee");
    assert!(unescape(&r.body).contains(&cli), "{cli} in {}", r.body);
    assert!(s
        .get("/who-knows")
        .body
        .contains("Organisation, title or how they could help"));
    drop(s);

    // Ann sees Ben's refused write on her share.
    let s = Server::start(&a.env);
    let page = s.get("/shares").body;
    let row = row_with(&page, &id[..8]);
    assert!(row.contains("class=\"error\">1</td>"), "{row}");
    let page = s.get(&format!("/shares/{id}")).body;
    assert!(
        page.contains("Ben tried to write into this share 1 time"),
        "{page}"
    );
}

#[test]
fn the_network_shows_links_both_ways_and_ties_over_time() {
    let env = crate::env::TestEnv::new();
    let ada = env.add("Ada Lovelace", &[]);
    let mary = env.add("Mary Somerville", &[]);
    env.add("Charles Babbage", &[]);
    env.add("Quiet Person", &[]);
    env.ok(&["link", "--as", "introduced-by", "Ada", "Mary"]);
    for (on, who) in [
        ("2026-10-01", vec!["Ada", "Charles"]),
        ("2026-11-20", vec!["Ada", "Charles"]),
        ("2026-11-21", vec!["Ada", "Charles"]),
        ("2026-09-05", vec!["Ada"]),
        ("2024-01-10", vec!["Ada", "Charles"]),
    ] {
        let mut args = vec!["log", "--kind", "coffee", "--on", on];
        args.extend(who);
        args.push("met");
        env.ok(&args);
    }
    env.ok(&[
        "note",
        "--about",
        "Ada",
        "--about",
        "Charles",
        "--",
        "a note is not an interaction",
    ]);
    let s = Server::start(&env);

    // From Ada's side the link is written on her; from Mary's, on the other one.
    let r = s.get(&format!("/network?c={ada}"));
    assert_eq!(r.status, 200, "{}", r.body);
    let row = row_with(&r.body, "Mary Somerville</a>");
    assert!(row.contains("introduced-by →"), "{row}");
    let r = s.get(&format!("/network?c={mary}"));
    let row = row_with(&r.body, "Ada Lovelace</a>");
    assert!(row.contains("← introduced-by"), "{row}");
    assert!(
        r.body.contains("class=\"tie link\""),
        "drawn as a link: {}",
        r.body
    );
    // The contact page lists links both ways too, as `kith show` does.
    let cli = env.json(&["show", &mary]);
    assert_eq!(cli["links_in"][0]["rel"], "introduced-by", "{cli}");
    let page = s.get(&format!("/c/{mary}")).body;
    assert!(
        page.contains("← introduced-by") && page.contains(&format!("href=\"/c/{ada}\"")),
        "{page}"
    );

    // Ties over time: interactions per month of the last twelve (2025-12 to 2026-11).
    let r = s.get(&format!("/network?c={ada}"));
    assert_accessible_and_strict("/network", &r);
    let b = &r.body;
    assert!(
        b.contains("<svg class=\"ties\"") && b.contains("<title id=\"tot-title\">"),
        "{b}"
    );
    assert!(b.contains("<polyline"), "lines drawn by plotters: {b}");
    assert!(
        !b.contains("http://") && !b.contains("https://"),
        "nothing from another origin"
    );
    assert!(
        !b.contains("style=\""),
        "no inline style (the CSP forbids it)"
    );
    let months = &b[b.find("<table class=\"months\"").expect("the numbers")..];
    let months = &months[..months.find("</table>").unwrap()];
    assert!(
        months.contains("<th scope=\"col\">2025-12</th>")
            && months.contains("<th scope=\"col\">2026-11</th>")
    );
    assert!(!months.contains("2024-01"), "only the last twelve months");
    let all = row_with(months, "all with Ada Lovelace");
    assert_eq!(
        cells(all),
        ["0", "0", "0", "0", "0", "0", "0", "0", "0", "1", "1", "2"],
        "{all}"
    );
    let charles = row_with(months, "with Charles Babbage");
    assert_eq!(
        cells(charles),
        ["0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "1", "2"],
        "{charles}"
    );
    assert!(
        !months.contains("with Mary Somerville"),
        "no interaction with Mary"
    );
    // Someone with no interaction in the window: said, no chart.
    let r = s.get("/network?c=Quiet");
    assert!(
        r.body.contains("No ties yet") || r.body.contains("No interaction with"),
        "{}",
        r.body
    );
    let r = s.get(&format!("/network?c={mary}"));
    assert!(
        r.body
            .contains("No interaction with Mary Somerville in the last 12 months"),
        "{}",
        r.body
    );
}

/// Checks a page: its controls have labels (returns how many), it fits a phone, it has the
/// strict CSP, no CORS, nothing from another origin and no inline style.
#[track_caller]
fn assert_accessible_and_strict(path: &str, r: &crate::web::Resp) -> usize {
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    let b = &r.body;
    assert!(
        b.contains("name=\"viewport\" content=\"width=device-width"),
        "{path}"
    );
    let csp = r.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
    assert!(
        !r.head.to_ascii_lowercase().contains("access-control-"),
        "{path}: no CORS"
    );
    assert!(
        !b.contains("http://") && !b.contains("https://") && !b.contains("style=\""),
        "{path}: nothing from another origin, no inline style"
    );
    crate::web::labelled_controls(path, b, false)
}

/// Every control of the new pages has a label; each page fits a phone and is strict.
#[test]
fn every_field_of_the_sharing_pages_has_a_label() {
    let a = owner();
    let s = Server::start(&a.env);
    let paths = [
        "/shares",
        "/shared",
        "/who-knows",
        "/who-knows?q=acme",
        "/?q=acme",
    ];
    let mut controls = 0;
    for path in paths {
        controls += assert_accessible_and_strict(path, &s.get(path));
    }
    assert!(controls >= 15, "the pages have fields: {controls}");
}
