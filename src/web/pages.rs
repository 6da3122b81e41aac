//! The pages and forms of `kith web`. Every read and write goes through `app`, as the CLI's
//! commands do; a rejected form is shown again with the CLI's message next to it.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use kith_core::id::DocId;
use kith_core::model::{Contact, Kind, Labeled, Role};
use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::Web;
use crate::app::{self, AppError, Item, ListQuery, SortBy};
use crate::keep::{GAVE, GOT};

type St = State<Arc<Web>>;

/// The submitted fields of a form, in order (repeated names allowed).
type Fields = Form<Vec<(String, String)>>;

pub(super) fn field<'a>(f: &'a [(String, String)], name: &str) -> &'a str {
    f.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

pub(super) fn routes() -> Router<Arc<Web>> {
    Router::new()
        .route("/", get(contacts))
        .route("/static/app.css", get(css))
        .route("/static/app.js", get(js))
        .route("/new", get(new_form).post(new_post))
        .route("/today", get(today))
        .route("/devices", get(devices))
        .route("/c/{id}", get(contact))
        .route(
            "/c/{id}/edit",
            get(contact_edit_form).post(contact_edit_post),
        )
        .route("/c/{id}/note", post(note_post))
        .route("/c/{id}/log", post(log_post))
        .route("/c/{id}/remind", post(remind_post))
        .route("/c/{id}/pick", post(pick_post))
        .route("/i/{id}/edit", get(item_edit_form).post(item_edit_post))
        .route("/i/{id}/done", post(done_post))
        .route("/events", get(super::live::events))
        .route("/network", get(super::network::network))
        .route(
            "/shares",
            get(super::shares::shares).post(super::shares::share_create),
        )
        .route("/shares/{id}", get(super::shares::share_show))
        .route("/shares/{id}/edit", post(super::shares::share_edit))
        .route("/shares/{id}/revoke", post(super::shares::share_revoke))
        .route("/shared", get(super::shares::shared))
        .route("/shared/{share}/{id}", get(super::shares::received_contact))
        .route("/who-knows", get(super::shares::who_knows_page))
        .fallback(not_found)
}

async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("assets/app.css"),
    )
        .into_response()
}

async fn js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("assets/app.js"),
    )
        .into_response()
}

async fn not_found(State(st): St) -> Response {
    let body = html! { h1 { "Not found" } p { "There is no such page. " a href="/" { "Back to contacts" } } };
    (StatusCode::NOT_FOUND, layout(&st, "Not found", body)).into_response()
}

// ---------------------------------------------------------------------------------------------
// Layout and helpers.

/// The page around `body`. `data-seq` is the change counter the page was rendered at; the
/// live-update script refreshes the `data-live` fragments when `/events` reports another.
pub(super) fn layout(st: &Web, title: &str, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    meta name="color-scheme" content="light dark";
                    title { (title) " · kith" }
                    link rel="stylesheet" href="/static/app.css";
                    script src="/static/app.js" defer {}
                }
                body data-seq=(st.seq()) {
                    a.skip href="#main" { "Skip to content" }
                    header {
                        nav aria-label="Main" {
                            a href="/" { "Contacts" }
                            a href="/today" { "Today" }
                            a href="/new" { "Add contact" }
                            a href="/network" { "Network" }
                            a href="/shares" { "Shares" }
                            a href="/shared" { "Shared with you" }
                            a href="/who-knows" { "Who knows" }
                            a href="/intros" { "Introductions" }
                            a href="/devices" { "Devices" }
                        }
                    }
                    p #live-note hidden role="status" {}
                    main #main { (body) }
                }
            }
        }
        .into_string(),
    )
}

pub(super) fn csrf(st: &Web) -> Markup {
    html! { input type="hidden" name="csrf" value=(st.csrf()); }
}

/// A form error: the CLI's message and hint, shown next to the field (or the form).
pub(super) struct Problem {
    pub(super) field: &'static str,
    msg: String,
    hint: Option<String>,
}

impl Problem {
    pub(super) fn of(field: &'static str, e: AppError) -> Self {
        Problem {
            field,
            hint: e.hint_text(),
            msg: e.to_string(),
        }
    }
}

pub(super) fn problem_at(p: Option<&Problem>, field: &str) -> Markup {
    html! {
        @if let Some(p) = p.filter(|p| p.field == field) {
            p.error role="alert" id={ "err-" (field) } {
                "error: " (p.msg)
                @if let Some(h) = &p.hint { br; span.hint { "hint: " (h) } }
            }
        }
    }
}

/// A page for an error that is not about one field (a missing contact, a damaged vault).
pub(super) fn error_page(st: &Web, e: AppError) -> Response {
    let status = match e {
        AppError::User { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let hint = e.hint_text();
    let body = html! {
        h1 { "Something went wrong" }
        p.error role="alert" { "error: " (e.to_string()) }
        @if let Some(h) = hint { p.hint { "hint: " (h) } }
        p { a href="/" { "Back to contacts" } }
    };
    (status, layout(st, "Error", body)).into_response()
}

pub(super) fn parse_id(s: &str) -> Result<DocId, AppError> {
    s.parse()
        .map_err(|_| AppError::user(format!("'{s}' is not a document id")))
}

pub(super) fn see_other(to: String) -> Response {
    Redirect::to(&to).into_response()
}

fn kind_word(k: Kind) -> &'static str {
    match k {
        Kind::Contact => "contact",
        Kind::Note => "note",
        Kind::Interaction => "interaction",
        Kind::Reminder => "reminder",
        Kind::Opportunity => "opportunity",
        _ => "document",
    }
}

/// The edit form of an item: opportunities have their own.
fn item_href(kind: Kind, id: DocId) -> String {
    match kind {
        Kind::Opportunity => format!("/o/{id}/edit"),
        _ => format!("/i/{id}/edit"),
    }
}

pub(super) fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Contacts list and search.

#[derive(serde::Deserialize, Default)]
struct ListParams {
    #[serde(default)]
    q: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    org: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    partial: String,
    /// Which page of [`LIST_PAGE`] rows, from 0.
    #[serde(default)]
    page: usize,
}

/// Rows per page of the contact list: a page of 10,000 rows is 2 MB of HTML that no one reads
/// at once (and the render budget is 20 ms).
const LIST_PAGE: usize = 250;

/// The list (or search results) as HTML, without the layout: also what search-as-you-type
/// fetches.
pub(crate) fn render_list(
    app: &app::App,
    p_q: &str,
    tag: &str,
    org: &str,
    sort: &str,
    page: usize,
) -> Result<Markup, AppError> {
    if !p_q.trim().is_empty() {
        let (total, hits) = app.search(p_q, 100)?;
        let shared = super::shares::shared_hits(app, p_q);
        return Ok(html! {
            p #count aria-live="polite" { (total) " match" @if total != 1 { "es" } }
            ul.hits {
                @for h in &hits {
                    li {
                        @match h.kind {
                            Kind::Contact => { a href={ "/c/" (h.id) } { (h.title) } " " span.muted { (h.text) } }
                            k => {
                                span.kind { (kind_word(k)) } " " (h.date) " · " (h.title) ": "
                                a href=(item_href(k, h.id)) { (h.text) }
                            }
                        }
                    }
                }
            }
            @if !shared.is_empty() {
                h2 #shared-hits-h { "In slices shared with you" }
                ul.hits.shared aria-labelledby="shared-hits-h" {
                    @for r in &shared {
                        li {
                            span.tag { "shared" } " "
                            a href=(super::shares::received_href(r)) { (r.get("name")) } " "
                            span.muted {
                                @let role = [r.get("title"), r.get("org")].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(", ");
                                @if !role.is_empty() { (role) " · " }
                                "from " (r.from) "'s slice, updated " (super::shares::when(r.updated))
                            }
                        }
                    }
                }
            }
        });
    }
    let q = ListQuery {
        tags: split_list(tag),
        org: (!org.trim().is_empty()).then(|| org.trim().to_string()),
        sort: if sort == "last" {
            SortBy::LastContact
        } else {
            SortBy::Name
        },
        archived: false,
        ..Default::default()
    };
    let mut buf = Default::default();
    // Only the page shown is put in order (`App::list_page`); the count is of every row. A
    // page past the last shows the last: its rows are known once the count is.
    let (total, mut rows) = app.list_page(&q, &mut buf, page * LIST_PAGE, LIST_PAGE)?;
    let last_page = total.saturating_sub(1) / LIST_PAGE;
    let page = page.min(last_page);
    let (from, to) = (page * LIST_PAGE, ((page + 1) * LIST_PAGE).min(total));
    if rows.len() != to - from {
        rows = app.list_page(&q, &mut buf, from, LIST_PAGE)?.1;
    }
    let rows = &rows[..];
    let link = |p: usize| {
        let page = p.to_string();
        let q = [("sort", sort), ("tag", tag), ("org", org), ("page", &page)];
        format!("/?{}", serde_urlencoded::to_string(q).unwrap_or_default())
    };
    Ok(html! {
        p #count aria-live="polite" {
            (total) " contact" @if total != 1 { "s" }
            @if total > LIST_PAGE { ", " (from + 1) "–" (to) " shown" }
        }
        @if total > LIST_PAGE {
            nav.pages aria-label="Pages of the list" {
                @if page > 0 { a href=(link(page - 1)) rel="prev" { "Previous " (LIST_PAGE) } " " }
                @if page < last_page { a href=(link(page + 1)) rel="next" { "Next " (LIST_PAGE) } }
            }
        }
        table {
            thead { tr {
                th scope="col" { a href={ "/?sort=name&tag=" (tag) "&org=" (org) } { "Name" } }
                th scope="col" { "Organisation" }
                th scope="col" { "Email" }
                th scope="col" { "Tags" }
                th scope="col" { a href={ "/?sort=last&tag=" (tag) "&org=" (org) } { "Last contact" } }
            } }
            tbody {
                @for r in rows {
                    tr {
                        td { a href={ "/c/" (r.id) } { (r.name) } }
                        td { (r.org) @if !r.title.is_empty() { " · " (r.title) } }
                        td { (r.email) }
                        td { @for t in r.kinds.iter().chain(r.tags.iter()) { span.tag { (t) } " " } }
                        td { @if let Some(d) = r.last_contact { (d.to_string()) } @else { "never" } }
                    }
                }
            }
        }
    })
}

async fn contacts(State(st): St, Query(p): Query<ListParams>) -> Response {
    let (q, tag, org, sort, page) = (
        p.q.clone(),
        p.tag.clone(),
        p.org.clone(),
        p.sort.clone(),
        p.page,
    );
    let res = st
        .with_app(move |app| render_list(app, &q, &tag, &org, &sort, page))
        .await;
    let list = match res {
        Ok(m) => m,
        Err(e) => {
            html! { p.error role="alert" { "error: " (e.to_string()) } @if let Some(h) = e.hint_text() { p.hint { "hint: " (h) } } }
        }
    };
    if !p.partial.is_empty() {
        return Html(list.into_string()).into_response();
    }
    let body = html! {
        h1 { "Contacts" }
        form.filters method="get" action="/" role="search" {
            label for="q" { "Search" }
            input #q type="search" name="q" value=(p.q) autocomplete="off" placeholder="name, org, tag, words of a note";
            label for="tag" { "Tag or kind" }
            input #tag type="text" name="tag" value=(p.tag);
            label for="org" { "Organisation" }
            input #org type="text" name="org" value=(p.org);
            label for="sort" { "Sort by" }
            select #sort name="sort" {
                option value="name" selected[p.sort != "last"] { "name" }
                option value="last" selected[p.sort == "last"] { "last contact (oldest first)" }
            }
            button type="submit" { "Show" }
        }
        div #results data-live { (list) }
    };
    layout(&st, "Contacts", body).into_response()
}

// ---------------------------------------------------------------------------------------------
// Adding a contact.

fn new_page(st: &Web, f: &[(String, String)], p: Option<&Problem>) -> Markup {
    html! {
        h1 { "Add a contact" }
        form method="post" action="/new" {
            (csrf(st))
            @for (name, label, kind) in [("name", "Name", "text"), ("email", "Email", "email"), ("phone", "Phone", "tel"), ("org", "Organisation", "text"), ("title", "Title", "text"), ("tags", "Tags (comma-separated)", "text"), ("every", "Keep in touch every (e.g. 2w, 3m)", "text")] {
                div.field {
                    label for={ "f-" (name) } { (label) }
                    input id={ "f-" (name) } name=(name) type=(kind) value=(field(f, name)) required[name == "name"];
                    (problem_at(p, name))
                }
            }
            div.field {
                label for="f-met" { "How you met" }
                textarea #f-met name="met" rows="3" { (field(f, "met")) }
            }
            button type="submit" { "Add contact" }
        }
    }
}

async fn new_form(State(st): St) -> Response {
    let body = new_page(&st, &[], None);
    layout(&st, "Add a contact", body).into_response()
}

async fn new_post(State(st): St, Form(f): Fields) -> Response {
    // Checked field by field so the message lands next to its field; add_contact checks again.
    let problem = (|| {
        app::check_name(field(&f, "name")).map_err(|e| Problem::of("name", e))?;
        if !field(&f, "email").trim().is_empty() {
            app::check_email(field(&f, "email")).map_err(|e| Problem::of("email", e))?;
        }
        if !field(&f, "every").trim().is_empty() {
            app::parse_span(field(&f, "every")).map_err(|e| Problem::of("every", e))?;
        }
        app::clean_tags(&split_list(field(&f, "tags"))).map_err(|e| Problem::of("tags", e))?;
        Ok::<(), Problem>(())
    })()
    .err();
    let p = match problem {
        Some(p) => p,
        None => {
            let opt = |k: &str| Some(field(&f, k).trim().to_string()).filter(|s| !s.is_empty());
            let n = app::NewContact {
                name: field(&f, "name").to_string(),
                emails: opt("email").into_iter().collect(),
                phones: opt("phone").into_iter().collect(),
                org: opt("org"),
                title: opt("title"),
                tags: split_list(field(&f, "tags")),
                kinds: Vec::new(),
                met: opt("met"),
                every: opt("every"),
                ..Default::default()
            };
            match st.with_app(move |app| app.add_contact(n)).await {
                Ok(added) => return see_other(format!("/c/{}", added.id)),
                Err(e) => {
                    let fieldname = if e.to_string().contains("phone") {
                        "phone"
                    } else {
                        "name"
                    };
                    Problem::of(fieldname, e)
                }
            }
        }
    };
    let body = new_page(&st, &f, Some(&p));
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        layout(&st, "Add a contact", body),
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// A contact's page.

struct ContactPage {
    view: app::ContactView,
    timeline: Vec<app::ItemRow>,
    names: std::collections::BTreeMap<DocId, String>,
    /// Links other contacts have to this one (`kith show`'s "links in").
    links_in: Vec<crate::keep::graph::IncomingLink>,
    /// The give-and-take (`kith show`'s "give and take" row).
    give: crate::keep::LedgerRow,
}

fn load_contact(app: &app::App, id: DocId) -> Result<ContactPage, AppError> {
    let view = app.show(id)?;
    let timeline = app.timeline(id)?;
    let r = app.vault.read()?;
    let mut names = std::collections::BTreeMap::new();
    for row in &timeline {
        for c in &row.contacts {
            if !names.contains_key(c) {
                let n = r.contact(*c)?.map(|s| s.name).unwrap_or_else(|| c.short());
                names.insert(*c, n);
            }
        }
    }
    let links_in = app.incoming_links(&r, id)?;
    let give = app.ledger_of(&r, id, false)?;
    Ok(ContactPage {
        view,
        timeline,
        names,
        links_in,
        give,
    })
}

fn contact_page(
    st: &Web,
    id: DocId,
    cp: &ContactPage,
    f: &[(String, String)],
    p: Option<(&str, &Problem)>,
) -> Markup {
    let c = &cp.view.contact;
    let pf = |form: &str| p.filter(|(f, _)| *f == form).map(|(_, p)| p);
    let fv = |form: &str, name: &str| -> String {
        if p.is_some_and(|(x, _)| x == form) {
            field(f, name).to_string()
        } else {
            String::new()
        }
    };
    html! {
        div #facts data-live {
        h1 { (c.name) }
        p { a href={ "/c/" (id) "/edit" } { "Edit " (c.name) } " · " a href={ "/network?c=" (id) } { "Network of " (c.name) } }
        @if !cp.view.conflicts_explained.is_empty() {
            section.conflicts aria-labelledby="conflicts-h" {
                h2 #conflicts-h { "Conflicts" }
                p { "These fields were changed in two places at once. Both values are kept until you pick one." }
                (problem_at(pf("pick"), "value"))
                @for cf in &cp.view.conflicts_explained {
                    div.conflict {
                        strong { (cf.what) } ": "
                        @for v in &cf.values {
                            form.inline method="post" action={ "/c/" (id) "/pick" } {
                                (csrf(st))
                                input type="hidden" name="field" value=(cf.field);
                                input type="hidden" name="value" value=(v);
                                button type="submit" aria-label={ "Keep " (v) " for " (cf.what) } { "Keep “" (v) "”" }
                            }
                        }
                    }
                }
            }
        }
        dl.fields {
            @if !c.nickname.is_empty() { dt { "Nickname" } dd { (c.nickname) } }
            @for r in c.orgs.values() {
                dt { "Organisation" } dd { (r.org) @if !r.title.is_empty() { " · " (r.title) } @if !r.unit.is_empty() { " (" (r.unit) ")" } }
            }
            @for e in c.emails.values() { dt { "Email" @if !e.label.is_empty() { " (" (e.label) ")" } } dd { (e.value) } }
            @for e in c.phones.values() { dt { "Phone" @if !e.label.is_empty() { " (" (e.label) ")" } } dd { (e.value) } }
            @for e in c.urls.values() { dt { "Web" } dd { (e.value) } }
            @for a in c.addresses.values() { dt { "Address" } dd { (a.street) " " (a.locality) " " (a.region) " " (a.postcode) " " (a.country) } }
            @if !c.birthday.is_empty() { dt { "Birthday" } dd { (c.birthday) } }
            @for e in c.dates.values() { dt { "Date" @if !e.label.is_empty() { " (" (e.label) ")" } } dd { (e.value) } }
            @if !c.kinds.is_empty() { dt { "Kinds" } dd { @for t in &c.kinds { span.tag { (t) } " " } } }
            @if !c.tags.is_empty() { dt { "Tags" } dd { @for t in &c.tags { a.tag href={ "/?tag=" (t) } { (t) } " " } } }
            @if !c.every.is_empty() { dt { "Keep in touch" } dd { "every " (c.every) @if let Some(d) = &cp.view.next_due { " (next " (d) ")" } } }
            dt { "Last contact" } dd { (cp.view.last_contact.as_deref().unwrap_or("never")) }
            @if cp.give.gave + cp.give.got > 0 {
                dt { "Give and take" } dd #give { "gave " (cp.give.gave) ", got " (cp.give.got) " (balance " (format!("{:+}", cp.give.balance)) ")" }
            }
            @if !c.met.is_empty() { dt { "How you met" } dd.pre { (c.met) } }
            @for (k, v) in &c.custom { dt { (k) } dd { (v) } }
            @for l in &cp.view.links {
                dt { (l.rel) }
                dd { @match &l.name { Some(n) => { a href={ "/c/" (l.to) } { (n) } }, None => { (l.to) } } }
            }
            @for l in &cp.links_in {
                dt { "← " (l.rel) }
                dd { a href={ "/c/" (l.from) } { (l.name) } span.muted { " (" (l.name) " " (l.rel) " " (c.name) ")" } }
            }
        }
        }
        section aria-labelledby="actions-h" {
            h2 #actions-h { "Quick actions" }
            div.actions {
                form method="post" action={ "/c/" (id) "/log" } aria-label="Log an interaction" {
                    (csrf(st))
                    h3 { "Log an interaction" }
                    div.field { label for="log-kind" { "Kind" }
                        select #log-kind name="kind" {
                            @for k in kith_core::model::INTERACTION_KINDS { option value=(k) selected[fv("log","kind") == *k] { (k) } }
                            option value=(GAVE) selected[fv("log","kind") == GAVE] { "gave (you did something for them)" }
                            option value=(GOT) selected[fv("log","kind") == GOT] { "got (they did something for you)" }
                        } (problem_at(pf("log"), "kind")) }
                    div.field { label for="log-on" { "On (date, today, yesterday, -3d)" } input #log-on name="on" type="text" value=(fv("log","on")) placeholder="today"; (problem_at(pf("log"), "on")) }
                    div.field { label for="log-with" { "Also with (names or emails, comma-separated)" } input #log-with name="with" type="text" value=(fv("log","with")); (problem_at(pf("log"), "with")) }
                    div.field { label for="log-summary" { "Summary" } textarea #log-summary name="summary" rows="2" { (fv("log","summary")) } (problem_at(pf("log"), "summary")) }
                    button type="submit" { "Log" }
                }
                form method="post" action={ "/c/" (id) "/note" } aria-label="Write a note" {
                    (csrf(st))
                    h3 { "Write a note" }
                    div.field { label for="note-body" { "Note" } textarea #note-body name="body" rows="3" { (fv("note","body")) } (problem_at(pf("note"), "body")) }
                    button type="submit" { "Save note" }
                }
                form method="post" action={ "/c/" (id) "/remind" } aria-label="Set a reminder" {
                    (csrf(st))
                    h3 { "Remind me" }
                    div.field { label for="remind-due" { "When (date or 3d, 2w, ...)" } input #remind-due name="due" type="text" value=(fv("remind","due")) required; (problem_at(pf("remind"), "due")) }
                    div.field { label for="remind-text" { "What" } input #remind-text name="text" type="text" value=(fv("remind","text")) required; (problem_at(pf("remind"), "text")) }
                    button type="submit" { "Set reminder" }
                }
                (super::opp::add_form(st, id, &|name| fv("opp", name), pf("opp")))
            }
        }
        section #timeline aria-labelledby="tl-h" data-live {
            h2 #tl-h { "Timeline" }
            (problem_at(pf("done"), "snooze"))
            @if cp.timeline.is_empty() { p.muted { "Nothing yet." } }
            ol.timeline {
                @for row in &cp.timeline {
                    li class={ "item " (kind_word(row.kind)) @if row.done { " done" } } {
                        span.kind { (kind_word(row.kind)) @if !row.label.is_empty() { " · " (row.label) } }
                        " " time { (row.date) } " "
                        @if row.done { span.muted { "(done) " } }
                        span.text { (row.text) }
                        @let others: Vec<&String> = row.contacts.iter().filter(|c| **c != id).filter_map(|c| cp.names.get(c)).collect();
                        @if !others.is_empty() { " " span.muted { "with " @for (i, n) in others.iter().enumerate() { @if i > 0 { ", " } (n) } } }
                        " " a href=(item_href(row.kind, row.id)) aria-label={ "Edit " (kind_word(row.kind)) " of " (row.date) } { "edit" }
                        @if row.kind == Kind::Reminder && !row.done {
                            form.inline method="post" action={ "/i/" (row.id) "/done" } {
                                (csrf(st))
                                input type="hidden" name="back" value={ "/c/" (id) };
                                button type="submit" { "Done" }
                            }
                            form.inline method="post" action={ "/i/" (row.id) "/done" } {
                                (csrf(st))
                                input type="hidden" name="back" value={ "/c/" (id) };
                                label for={ "snooze-" (row.id) } { "Snooze until" }
                                input id={ "snooze-" (row.id) } name="snooze" type="text" size="8" placeholder="1w";
                                button type="submit" { "Snooze" }
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn contact(State(st): St, Path(id): Path<String>) -> Response {
    let id = match parse_id(&id) {
        Ok(i) => i,
        Err(e) => return error_page(&st, e),
    };
    match st.with_app(move |app| load_contact(app, id)).await {
        Ok(cp) => {
            let body = contact_page(&st, id, &cp, &[], None);
            layout(&st, &cp.view.contact.name, body).into_response()
        }
        Err(e) => error_page(&st, e),
    }
}

/// Shows the contact page again with a form's error (nothing was written).
pub(super) async fn contact_with_problem(
    st: &Arc<Web>,
    id: DocId,
    f: Vec<(String, String)>,
    form: &'static str,
    p: Problem,
) -> Response {
    match st.with_app(move |app| load_contact(app, id)).await {
        Ok(cp) => {
            let body = contact_page(st, id, &cp, &f, Some((form, &p)));
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                layout(st, &cp.view.contact.name, body),
            )
                .into_response()
        }
        Err(e) => error_page(st, e),
    }
}

async fn note_post(State(st): St, Path(id): Path<String>, Form(f): Fields) -> Response {
    let id = match parse_id(&id) {
        Ok(i) => i,
        Err(e) => return error_page(&st, e),
    };
    let body = field(&f, "body").to_string();
    match st
        .with_app(move |app| app.add_note(&[id], &body, &[]))
        .await
    {
        Ok(_) => see_other(format!("/c/{id}")),
        Err(e) => contact_with_problem(&st, id, f, "note", Problem::of("body", e)).await,
    }
}

async fn log_post(State(st): St, Path(id): Path<String>, Form(f): Fields) -> Response {
    let id = match parse_id(&id) {
        Ok(i) => i,
        Err(e) => return error_page(&st, e),
    };
    let (kind, on, with, summary) = (
        field(&f, "kind").to_string(),
        field(&f, "on").to_string(),
        field(&f, "with").to_string(),
        field(&f, "summary").to_string(),
    );
    let res = st
        .with_app(move |app| Ok(log_checked(app, id, &kind, &on, &with, &summary)))
        .await;
    match res {
        Ok(Ok(_)) => see_other(format!("/c/{id}")),
        Ok(Err(p)) => contact_with_problem(&st, id, f, "log", p).await,
        Err(e) => error_page(&st, e),
    }
}

fn log_checked(
    app: &app::App,
    id: DocId,
    kind: &str,
    on: &str,
    with: &str,
    summary: &str,
) -> Result<DocId, Problem> {
    let on = if on.trim().is_empty() {
        "today"
    } else {
        on.trim()
    };
    let on = app::parse_date(on, app.today()).map_err(|e| Problem::of("on", e))?;
    let mut who = vec![id];
    {
        let r = app
            .vault
            .read()
            .map_err(|e| Problem::of("with", e.into()))?;
        for w in split_list(with) {
            let c = app::resolve_contact(&r, &w).map_err(|e| Problem::of("with", e))?;
            if !who.contains(&c) {
                who.push(c);
            }
        }
    }
    // The same use case as `kith log` (one transaction, the date rule included); the "with"
    // references were resolved above only to show their problems next to that field.
    let refs: Vec<String> = who.iter().map(|c| c.to_hex()).collect();
    app.log_refs(&refs, kind, on, false, summary).map_err(|e| {
        let msg = e.to_string();
        Problem::of(
            if msg.contains("date") {
                "on"
            } else if msg.contains("kind") {
                "kind"
            } else {
                "summary"
            },
            e,
        )
    })
}

async fn remind_post(State(st): St, Path(id): Path<String>, Form(f): Fields) -> Response {
    let id = match parse_id(&id) {
        Ok(i) => i,
        Err(e) => return error_page(&st, e),
    };
    let (due, text) = (field(&f, "due").to_string(), field(&f, "text").to_string());
    let res = st
        .with_app(move |app| {
            Ok((|| {
                let due = app::parse_date(&due, app.today()).map_err(|e| Problem::of("due", e))?;
                app.remind_ref(&id.to_hex(), due, &text).map_err(|e| {
                    let field = if e.to_string().contains("date") {
                        "due"
                    } else {
                        "text"
                    };
                    Problem::of(field, e)
                })
            })())
        })
        .await;
    match res {
        Ok(Ok(_)) => see_other(format!("/c/{id}")),
        Ok(Err(p)) => contact_with_problem(&st, id, f, "remind", p).await,
        Err(e) => error_page(&st, e),
    }
}

async fn pick_post(State(st): St, Path(id): Path<String>, Form(f): Fields) -> Response {
    let id = match parse_id(&id) {
        Ok(i) => i,
        Err(e) => return error_page(&st, e),
    };
    let (path, value) = (
        field(&f, "field").to_string(),
        field(&f, "value").to_string(),
    );
    match st
        .with_app(move |app| app.settle_contact_conflict(id, &path, &value))
        .await
    {
        Ok(()) => see_other(format!("/c/{id}")),
        Err(e) => contact_with_problem(&st, id, f, "pick", Problem::of("value", e)).await,
    }
}

async fn done_post(State(st): St, Path(id): Path<String>, Form(f): Fields) -> Response {
    let id = match parse_id(&id) {
        Ok(i) => i,
        Err(e) => return error_page(&st, e),
    };
    let back = field(&f, "back");
    // Only our own pages: never redirect elsewhere.
    let back = if back.starts_with("/c/") || back == "/today" {
        back.to_string()
    } else {
        "/today".to_string()
    };
    let snooze = field(&f, "snooze").trim().to_string();
    let res = st
        .with_app(move |app| {
            let until = if snooze.is_empty() {
                None
            } else {
                Some(app::parse_date(&snooze, app.today())?)
            };
            app.done_ref(&id.to_hex(), until)
        })
        .await;
    match res {
        Ok(_) => see_other(back),
        Err(e) => error_page(&st, e),
    }
}

// ---------------------------------------------------------------------------------------------
// Editing a contact: the form carries the heads it was rendered from; the edit is merged
// three-way (App::edit_contact), so changes made meanwhile elsewhere are kept.

fn contact_form(st: &Web, id: DocId, c: &Contact, base: &str, p: Option<&Problem>) -> Markup {
    html! {
        h1 { "Edit " (c.name) }
        form.edit method="post" action={ "/c/" (id) "/edit" } {
            (csrf(st))
            input type="hidden" name="base" value=(base);
            (problem_at(p, "base"))
            div.field { label for="e-name" { "Name" } input #e-name name="name" type="text" value=(c.name) required; (problem_at(p, "name")) }
            div.field { label for="e-nickname" { "Nickname" } input #e-nickname name="nickname" type="text" value=(c.nickname); }
            @for (k, r) in &c.orgs {
                div.field { label for={ "e-org-" (k) } { "Organisation" } input id={ "e-org-" (k) } name={ "org." (k) } type="text" value=(r.org); }
                div.field { label for={ "e-title-" (k) } { "Title" } input id={ "e-title-" (k) } name={ "title." (k) } type="text" value=(r.title); }
            }
            div.field { label for="e-org-new" { "Add an organisation" } input #e-org-new name="org.new" type="text"; }
            div.field { label for="e-title-new" { "Title there" } input #e-title-new name="title.new" type="text"; }
            @for (k, e) in &c.emails {
                div.field { label for={ "e-email-" (k) } { "Email" } input id={ "e-email-" (k) } name={ "email." (k) } type="email" value=(e.value); }
            }
            div.field { label for="e-email-new" { "Add an email" } input #e-email-new name="email.new" type="email"; (problem_at(p, "email")) }
            @for (k, e) in &c.phones {
                div.field { label for={ "e-phone-" (k) } { "Phone" } input id={ "e-phone-" (k) } name={ "phone." (k) } type="tel" value=(e.value); }
            }
            div.field { label for="e-phone-new" { "Add a phone" } input #e-phone-new name="phone.new" type="tel"; (problem_at(p, "phone")) }
            div.field { label for="e-birthday" { "Birthday (YYYY-MM-DD or --MM-DD)" } input #e-birthday name="birthday" type="text" value=(c.birthday); (problem_at(p, "birthday")) }
            div.field { label for="e-tags" { "Tags (comma-separated)" } input #e-tags name="tags" type="text" value=(c.tags.iter().cloned().collect::<Vec<_>>().join(", ")); (problem_at(p, "tags")) }
            div.field { label for="e-kinds" { "Kinds (comma-separated)" } input #e-kinds name="kinds" type="text" value=(c.kinds.iter().cloned().collect::<Vec<_>>().join(", ")); (problem_at(p, "kinds")) }
            div.field { label for="e-every" { "Keep in touch every" } input #e-every name="every" type="text" value=(c.every); (problem_at(p, "every")) }
            div.field { label for="e-met" { "How you met" } textarea #e-met name="met" rows="4" { (c.met) } (problem_at(p, "met")) }
            button type="submit" { "Save" } " " a href={ "/c/" (id) } { "Cancel" }
        }
    }
}

/// Applies the form to the contact as it was rendered; each field is checked with the CLI's rule.
fn apply_contact_form(
    mut c: Contact,
    f: &[(String, String)],
    now: i64,
) -> Result<Contact, Problem> {
    c.name = app::check_name(field(f, "name")).map_err(|e| Problem::of("name", e))?;
    c.nickname = field(f, "nickname").trim().to_string();
    let keys: Vec<String> = c.orgs.keys().cloned().collect();
    for k in keys {
        let org = field(f, &format!("org.{k}")).trim().to_string();
        let title = field(f, &format!("title.{k}")).trim().to_string();
        if org.is_empty() && title.is_empty() {
            c.orgs.remove(&k);
        } else if let Some(r) = c.orgs.get_mut(&k) {
            r.org = org;
            r.title = title;
        }
    }
    let (org, title) = (field(f, "org.new").trim(), field(f, "title.new").trim());
    if !org.is_empty() || !title.is_empty() {
        c.orgs.insert(
            app::entry_key(now),
            Role {
                org: org.into(),
                title: title.into(),
                ..Default::default()
            },
        );
    }
    let keys: Vec<String> = c.emails.keys().cloned().collect();
    for k in keys {
        let v = field(f, &format!("email.{k}")).trim().to_string();
        if v.is_empty() {
            c.emails.remove(&k);
        } else {
            let v = app::check_email(&v).map_err(|e| Problem::of("email", e))?;
            if let Some(e) = c.emails.get_mut(&k) {
                e.value = v;
            }
        }
    }
    if !field(f, "email.new").trim().is_empty() {
        let v = app::check_email(field(f, "email.new")).map_err(|e| Problem::of("email", e))?;
        c.emails.insert(
            format!("{}e", app::entry_key(now)),
            Labeled {
                value: v,
                label: String::new(),
            },
        );
    }
    let keys: Vec<String> = c.phones.keys().cloned().collect();
    for k in keys {
        let v = field(f, &format!("phone.{k}")).trim().to_string();
        if v.is_empty() {
            c.phones.remove(&k);
        } else if let Some(e) = c.phones.get_mut(&k) {
            e.value = app::check_phone(&v).map_err(|e| Problem::of("phone", e))?;
        }
    }
    if !field(f, "phone.new").trim().is_empty() {
        let v = app::check_phone(field(f, "phone.new")).map_err(|e| Problem::of("phone", e))?;
        c.phones.insert(
            format!("{}p", app::entry_key(now)),
            Labeled {
                value: v,
                label: String::new(),
            },
        );
    }
    let birthday = field(f, "birthday").trim();
    c.birthday = if birthday.is_empty() {
        String::new()
    } else {
        app::parse_partial_date(birthday).map_err(|e| Problem::of("birthday", e))?
    };
    c.tags = app::clean_tags(&split_list(field(f, "tags"))).map_err(|e| Problem::of("tags", e))?;
    c.kinds =
        app::clean_tags(&split_list(field(f, "kinds"))).map_err(|e| Problem::of("kinds", e))?;
    let every = field(f, "every").trim();
    c.every = if every.is_empty() {
        String::new()
    } else {
        app::parse_span(every)
            .map_err(|e| Problem::of("every", e))?
            .to_string()
    };
    let met = field(f, "met").replace("\r\n", "\n");
    app::check_text_size("how you met", &met).map_err(|e| Problem::of("met", e))?;
    c.met = met;
    Ok(c)
}

async fn contact_edit_form(State(st): St, Path(id): Path<String>) -> Response {
    edit_get(
        &st,
        &id,
        |app, id| app.contact_for_edit(id),
        |ed, base| {
            let body = contact_form(&st, ed.id, &ed.value, base, None);
            (format!("Edit {}", ed.value.name), body)
        },
    )
    .await
}

/// The GET of every edit form: `read` reads the document as it is now, with the heads the
/// form will carry; `render` gives the page's title and body (given those heads as text).
pub(super) async fn edit_get<T: Send + 'static>(
    st: &Arc<Web>,
    id: &str,
    read: impl FnOnce(&app::App, DocId) -> Result<app::Editable<T>, AppError> + Send + 'static,
    render: impl FnOnce(&app::Editable<T>, &str) -> (String, Markup),
) -> Response {
    let id = match parse_id(id) {
        Ok(i) => i,
        Err(e) => return error_page(st, e),
    };
    match st.with_app(move |app| read(app, id)).await {
        Ok(ed) => {
            let (title, body) = render(&ed, &app::heads_text(&ed.heads));
            layout(st, &title, body).into_response()
        }
        Err(e) => error_page(st, e),
    }
}

async fn contact_edit_post(State(st): St, Path(id): Path<String>, Form(f): Fields) -> Response {
    let id = match parse_id(&id) {
        Ok(i) => i,
        Err(e) => return error_page(&st, e),
    };
    edit_post(
        &st,
        f,
        "Edit",
        move |app, base| app.contact_at(id, base),
        |app, seen, f| apply_contact_form(seen, f, app.now()),
        move |app, base, _, edited| match app.edit_contact(id, base, edited) {
            Ok(_) => Ok(format!("/c/{id}")),
            Err(e) => Err(Problem::of("name", e)),
        },
        |seen, f, p| {
            // Show the user's own values again, against the same base.
            let shown = match seen {
                Some(c) => form_values(c, f),
                None => Contact {
                    name: field(f, "name").to_string(),
                    ..Default::default()
                },
            };
            contact_form(&st, id, &shown, field(f, "base"), Some(p))
        },
    )
    .await
}

/// Document heads, as an edit form carries them.
pub(super) type Heads = [automerge::ChangeHash];

/// The POST of every edit form (a contact, an item, an opportunity). The form carries the
/// heads it was rendered from (`base`): `at` reads the value at those heads, `apply` applies
/// the submitted fields to it (a problem names its field), `save` merges the edit three-way
/// (so whatever changed meanwhile is kept) and says where to go next. A rejected form is
/// shown again by `render` (given the value the form was rendered from, when it could be
/// read) with the problem next to its field, and nothing is written.
pub(super) async fn edit_post<T: Clone + Send + 'static>(
    st: &Arc<Web>,
    f: Vec<(String, String)>,
    title: &str,
    at: impl FnOnce(&app::App, &Heads) -> Result<T, AppError> + Send + 'static,
    apply: impl FnOnce(&app::App, T, &[(String, String)]) -> Result<T, Problem> + Send + 'static,
    save: impl FnOnce(&app::App, &Heads, &T, &T) -> Result<String, Problem> + Send + 'static,
    render: impl FnOnce(Option<T>, &[(String, String)], &Problem) -> Markup,
) -> Response {
    let f2 = f.clone();
    let res = st
        .with_app(move |app| {
            let base = match app::parse_heads(field(&f2, "base")) {
                Ok(b) => b,
                Err(e) => return Ok(Err((Problem::of("base", e), None))),
            };
            let seen = match at(app, &base) {
                Ok(v) => v,
                Err(e) => return Ok(Err((Problem::of("base", e), None))),
            };
            let edited = match apply(app, seen.clone(), &f2) {
                Ok(v) => v,
                Err(p) => return Ok(Err((p, Some(seen)))),
            };
            Ok(save(app, &base, &seen, &edited).map_err(|p| (p, Some(seen))))
        })
        .await;
    match res {
        Ok(Ok(back)) => see_other(back),
        Ok(Err((p, seen))) => {
            let body = render(seen, &f, &p);
            (StatusCode::UNPROCESSABLE_ENTITY, layout(st, title, body)).into_response()
        }
        Err(e) => error_page(st, e),
    }
}

/// The rendered contact with the text the user typed put back (unchecked), for a form shown
/// again after an error.
fn form_values(mut c: Contact, f: &[(String, String)]) -> Contact {
    c.name = field(f, "name").to_string();
    c.nickname = field(f, "nickname").to_string();
    c.birthday = field(f, "birthday").to_string();
    c.every = field(f, "every").to_string();
    c.met = field(f, "met").to_string();
    c.tags = BTreeSet::from([field(f, "tags").to_string()])
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    c.kinds = BTreeSet::from([field(f, "kinds").to_string()])
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    for (k, e) in c.emails.iter_mut() {
        e.value = field(f, &format!("email.{k}")).to_string();
    }
    for (k, e) in c.phones.iter_mut() {
        e.value = field(f, &format!("phone.{k}")).to_string();
    }
    c
}

// ---------------------------------------------------------------------------------------------
// Editing a note, interaction or reminder.

/// A note, interaction or reminder with the names of the contacts it is about, by name (the
/// form shows names; an unchanged name keeps its contact even when another has the same name).
#[derive(Clone)]
struct ItemEdit {
    item: Item,
    with: Vec<(DocId, String)>,
}

fn item_edit_of(app: &app::App, item: Item) -> Result<ItemEdit, AppError> {
    let r = app.vault.read()?;
    let mut with = Vec::new();
    for c in item.contacts() {
        let name = r.contact(c)?.map(|s| s.name).unwrap_or_else(|| c.to_hex());
        with.push((c, name));
    }
    with.sort_by(|a, b| (&a.1, a.0).cmp(&(&b.1, b.0)));
    Ok(ItemEdit { item, with })
}

/// The contacts of the form's "with" field: each entry is a name the form showed (its
/// contact), else a reference `kith log` accepts (id prefix, name, email). At least one.
fn with_of(
    app: &app::App,
    shown: &[(DocId, String)],
    text: &str,
) -> Result<BTreeSet<DocId>, Problem> {
    let r = app
        .vault
        .read()
        .map_err(|e| Problem::of("with", e.into()))?;
    let mut out = BTreeSet::new();
    for w in split_list(text) {
        match shown.iter().find(|(_, n)| *n == w) {
            Some((id, _)) => out.insert(*id),
            None => out.insert(app::resolve_contact(&r, &w).map_err(|e| Problem::of("with", e))?),
        };
    }
    if out.is_empty() {
        return Err(Problem::of(
            "with",
            AppError::hint(
                "name at least one contact",
                "e.g. Ada Lovelace, Charles Babbage",
            ),
        ));
    }
    Ok(out)
}

fn item_form(
    st: &Web,
    id: DocId,
    edit: &ItemEdit,
    base: &str,
    conflicts: &[kith_core::model::Conflict],
    p: Option<&Problem>,
) -> Markup {
    let item = &edit.item;
    let names = edit
        .with
        .iter()
        .map(|(_, n)| n.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let with = html! {
        div.field { label for="i-with" { "With (names, emails or ids, comma-separated)" } input #i-with name="with" type="text" value=(names); (problem_at(p, "with")) }
    };
    html! {
        h1 { "Edit " (kind_word(item.kind())) }
        (super::opp::conflicts_block(st, id, conflicts))
        form.edit method="post" action={ "/i/" (id) "/edit" } {
            (csrf(st))
            input type="hidden" name="base" value=(base);
            (problem_at(p, "base"))
            @match item {
                Item::Note(n) => {
                    div.field { label for="i-body" { "Note" } textarea #i-body name="body" rows="8" { (n.body) } (problem_at(p, "body")) }
                    div.field { label for="i-tags" { "Tags (comma-separated)" } input #i-tags name="tags" type="text" value=(n.tags.iter().cloned().collect::<Vec<_>>().join(", ")); (problem_at(p, "tags")) }
                    (with)
                }
                Item::Interaction(i) => {
                    div.field { label for="i-date" { "Date" } input #i-date name="date" type="text" value=(i.date); (problem_at(p, "date")) }
                    div.field { label for="i-kind" { "Kind" } input #i-kind name="kind" type="text" value=(i.kind) list="kinds"; (problem_at(p, "kind"))
                        datalist #kinds { @for k in kith_core::model::INTERACTION_KINDS { option value=(k) {} } } }
                    div.field { label for="i-summary" { "Summary" } textarea #i-summary name="summary" rows="6" { (i.summary) } (problem_at(p, "summary")) }
                    (with)
                }
                Item::Reminder(r) => {
                    div.field { label for="i-due" { "Due" } input #i-due name="due" type="text" value=(r.due); (problem_at(p, "due")) }
                    div.field { label for="i-text" { "Text" } input #i-text name="text" type="text" value=(r.text); (problem_at(p, "text")) }
                    div.field { label for="i-snoozed" { "Snoozed until (empty: not snoozed)" } input #i-snoozed name="snoozed" type="text" value=(r.snoozed_until); (problem_at(p, "snoozed")) }
                    div.field { input #i-done name="done" type="checkbox" value="1" checked[r.done]; label for="i-done" { "Done" } }
                }
            }
            button type="submit" { "Save" }
        }
    }
}

fn apply_item_form(
    app: &app::App,
    edit: ItemEdit,
    f: &[(String, String)],
) -> Result<ItemEdit, Problem> {
    let today = app.today();
    let ItemEdit { item, with } = edit;
    let item = match item {
        Item::Note(mut n) => {
            let body = field(f, "body").replace("\r\n", "\n");
            app::check_text_size("the note", &body).map_err(|e| Problem::of("body", e))?;
            if body.trim().is_empty() {
                return Err(Problem::of(
                    "body",
                    AppError::user("the note is empty; nothing was saved"),
                ));
            }
            n.body = body;
            n.contacts = with_of(app, &with, field(f, "with"))?;
            n.tags = app::clean_tags(&split_list(field(f, "tags")))
                .map_err(|e| Problem::of("tags", e))?;
            Item::Note(n)
        }
        Item::Interaction(mut i) => {
            i.date = app::parse_date(field(f, "date"), today)
                .map_err(|e| Problem::of("date", e))?
                .to_string();
            i.kind = app::check_interaction_kind(field(f, "kind"))
                .map_err(|e| Problem::of("kind", e))?;
            let s = field(f, "summary").replace("\r\n", "\n");
            app::check_text_size("the summary", &s).map_err(|e| Problem::of("summary", e))?;
            i.summary = s;
            i.contacts = with_of(app, &with, field(f, "with"))?;
            Item::Interaction(i)
        }
        Item::Reminder(mut r) => {
            r.due = app::parse_date(field(f, "due"), today)
                .map_err(|e| Problem::of("due", e))?
                .to_string();
            let t = field(f, "text").trim().to_string();
            app::check_text_size("the reminder text", &t).map_err(|e| Problem::of("text", e))?;
            if t.is_empty() {
                return Err(Problem::of(
                    "text",
                    AppError::user("a reminder needs a text"),
                ));
            }
            r.text = t;
            let snoozed = field(f, "snoozed").trim();
            r.snoozed_until = if snoozed.is_empty() {
                String::new()
            } else {
                app::parse_date(snoozed, today)
                    .map_err(|e| Problem::of("snoozed", e))?
                    .to_string()
            };
            r.done = !field(f, "done").is_empty();
            Item::Reminder(r)
        }
    };
    Ok(ItemEdit { item, with })
}

async fn item_edit_form(State(st): St, Path(id): Path<String>) -> Response {
    edit_get(
        &st,
        &id,
        |app, id| {
            let ed = app.item_for_edit(id)?;
            Ok(app::Editable {
                value: item_edit_of(app, ed.value)?,
                id: ed.id,
                heads: ed.heads,
                conflicts: ed.conflicts,
                deleted: ed.deleted,
            })
        },
        |ed, base| {
            let body = item_form(&st, ed.id, &ed.value, base, &ed.conflicts, None);
            ("Edit".into(), body)
        },
    )
    .await
}

async fn item_edit_post(State(st): St, Path(id): Path<String>, Form(f): Fields) -> Response {
    let id = match parse_id(&id) {
        Ok(i) => i,
        Err(e) => return error_page(&st, e),
    };
    edit_post(
        &st,
        f,
        "Edit",
        move |app, base| item_edit_of(app, app.item_at(id, base)?),
        apply_item_form,
        move |app, base, _, edited| {
            let edited = &edited.item;
            let back = edited
                .contacts()
                .first()
                .map(|c| format!("/c/{c}"))
                .unwrap_or_else(|| "/".into());
            match app.edit_item(id, base, edited) {
                Ok(_) => Ok(back),
                Err(e) => Err(Problem::of("base", e)),
            }
        },
        |seen, f, p| match seen {
            Some(item) => item_form(&st, id, &item, field(f, "base"), &[], Some(p)),
            None => html! { h1 { "Edit" } (problem_at(Some(p), "base")) },
        },
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Today and devices.

#[derive(serde::Deserialize, Default)]
struct TodayParams {
    #[serde(default)]
    within: String,
    /// Which page of [`TODAY_PAGE`] rows, from 0.
    #[serde(default)]
    page: usize,
}

/// Rows per page of "today": the list `kith due` prints (3,356 rows on the 10,000-contact
/// benchmark network, 1.3 MB of HTML) is paged like the contact list, with its count.
const TODAY_PAGE: usize = 100;

async fn today(State(st): St, Query(p): Query<TodayParams>) -> Response {
    let within = if p.within.trim().is_empty() {
        "7d".to_string()
    } else {
        p.within.clone()
    };
    let w2 = within.clone();
    let res = st
        .with_app(move |app| {
            let span = app::parse_span(&w2)?;
            app.due(span)
        })
        .await;
    let rows = match res {
        Ok(r) => r,
        Err(e) => return error_page(&st, e),
    };
    // The same rows as `kith due`, of which one page is rendered.
    let total = rows.len();
    let last_page = total.saturating_sub(1) / TODAY_PAGE;
    let page = p.page.min(last_page);
    let (from, to) = (page * TODAY_PAGE, ((page + 1) * TODAY_PAGE).min(total));
    let rows = &rows[from..to];
    let link = |n: usize| {
        let n = n.to_string();
        let q = [("within", within.as_str()), ("page", n.as_str())];
        format!(
            "/today?{}",
            serde_urlencoded::to_string(q).unwrap_or_default()
        )
    };
    let body = html! {
        h1 { "Today" }
        form.filters method="get" action="/today" {
            label for="within" { "Look ahead" }
            input #within name="within" type="text" value=(within);
            button type="submit" { "Show" }
        }
        div #due data-live {
        @if total == 0 { p { "Nothing due. " } }
        @if total > 0 {
            p #count aria-live="polite" {
                (total) " item" @if total != 1 { "s" } " due"
                @if total > TODAY_PAGE { ", " (from + 1) "–" (to) " shown" }
            }
        }
        @if total > TODAY_PAGE {
            nav.pages aria-label="Pages of the list" {
                @if page > 0 { a href=(link(page - 1)) rel="prev" { "Previous " (TODAY_PAGE) } " " }
                @if page < last_page { a href=(link(page + 1)) rel="next" { "Next " (TODAY_PAGE) } }
            }
        }
        ul.due {
            @for r in rows {
                li class=(if r.days < 0 { "overdue" } else { "upcoming" }) {
                    time { (r.date) } " "
                    @if r.days < 0 { strong { (-r.days) " day" @if r.days != -1 { "s" } " overdue" } " " }
                    @if let Some(c) = r.contact { a href={ "/c/" (c) } { (r.name) } ": " }
                    (r.text)
                    @if r.kind == "reminder" {
                        form.inline method="post" action={ "/i/" (r.id) "/done" } {
                            (csrf(&st))
                            input type="hidden" name="back" value="/today";
                            button type="submit" aria-label={ "Done: " (r.text) } { "Done" }
                        }
                    }
                }
            }
        }
        }
    };
    layout(&st, "Today", body).into_response()
}

async fn devices(State(st): St) -> Response {
    let res = st
        .with_app(move |app| {
            let rows = crate::app::devices::device_rows(app)?;
            serde_json::to_value(rows).map_err(|e| crate::app::AppError::user(e.to_string()))
        })
        .await;
    let rows = match res {
        Ok(serde_json::Value::Array(r)) => r,
        Ok(_) => Vec::new(),
        Err(e) => return error_page(&st, e),
    };
    let s = |v: &serde_json::Value, k: &str| {
        v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string()
    };
    let body = html! {
        h1 { "Devices" }
        div #devices data-live {
        table {
            thead { tr { th scope="col" { "Name" } th scope="col" { "Id" } th scope="col" { "Last sync" } th scope="col" { "Unsent changes" } th scope="col" { "" } } }
            tbody {
                @for d in &rows {
                    tr {
                        td { (s(d, "name")) }
                        td { code { (s(d, "id").chars().take(16).collect::<String>()) } }
                        td { @if d.get("this_device").and_then(|x| x.as_bool()) == Some(true) { "-" } @else { (Some(s(d, "last_sync")).filter(|x| !x.is_empty()).unwrap_or_else(|| "never".into())) } }
                        td { (d.get("unsent_changes").and_then(|x| x.as_u64()).map(|n| n.to_string()).unwrap_or_else(|| "-".into())) }
                        td {
                            @if d.get("this_device").and_then(|x| x.as_bool()) == Some(true) { "this device" }
                            @else if d.get("removed").and_then(|x| x.as_bool()) == Some(true) { "removed" }
                            @else { (s(d, "last_error")) }
                        }
                    }
                }
            }
        }
        @if rows.len() <= 1 {
            p.muted { "No other devices yet: pair one with " code { "kith device invite" } " here and " code { "kith device join TICKET" } " there." }
        }
        }
    };
    layout(&st, "Devices", body).into_response()
}

#[allow(dead_code)]
fn raw(s: &str) -> PreEscaped<&str> {
    PreEscaped(s)
}
