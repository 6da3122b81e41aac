//! Sharing in the web UI (issue 10's features, docs/design/sharing.md): the shares given
//! (list, exactly what the person sees, create, widen or narrow, revoke), the slices received
//! (from whom, when updated; each received contact on a read-only page of its own) and
//! who-knows search.
//!
//! Invariants: every read and write is a `Sharing` use case of `app::share`, the ones `kith
//! share`, `kith shared` and `kith who-knows` call; a form's filter and fields are checked with
//! the CLI's rules (`app::clean_tags`, `app::resolve_contact`, `share::parse_fields`) and a
//! rejected form is shown again with the message next to its field and nothing written. A
//! received contact is never editable here: the web UI has no route that writes a received
//! document.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Form;
use kith_core::share::{self as kshare, Field, Filter, PValue, Projection, Spec};
use maud::{html, Markup};

use super::pages::{csrf, error_page, field, layout, problem_at, see_other, split_list, Problem};
use super::Web;
use crate::app::share::{Person, ShareRow, SharedRow, WhoKnows, WhoOf};
use crate::app::{self, App, AppError};

type St = State<Arc<Web>>;
type Fields = Form<Vec<(String, String)>>;

/// A time in milliseconds as the CLI prints it (`never` for 0).
pub(super) fn when(ms: i64) -> String {
    if ms == 0 {
        "never".into()
    } else {
        kith_core::time::format_unix_ms_utc(ms)
    }
}

fn fields_text(fields: &[Field]) -> String {
    fields
        .iter()
        .map(|f| f.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A filter in words; a contact filter names its contacts (by their current names).
fn filter_text(app: &App, f: &Filter) -> Result<String, AppError> {
    Ok(match f {
        Filter::Tags(t) => format!(
            "tagged {}",
            t.iter().cloned().collect::<Vec<_>>().join(" or ")
        ),
        Filter::Query(q) => format!("matching “{q}”"),
        Filter::Contacts(ids) => {
            let r = app.vault.read()?;
            let mut names = Vec::new();
            for id in ids {
                names.push(
                    r.contact(*id)?
                        .map(|s| s.name)
                        .unwrap_or_else(|| id.short()),
                );
            }
            names.join(", ")
        }
    })
}

fn pvalue(v: &PValue) -> String {
    match v {
        PValue::Str(s) => s.clone(),
        PValue::Set(s) => s.iter().cloned().collect::<Vec<_>>().join(", "),
    }
}

// ---------------------------------------------------------------------------------------------
// The filter and fields of a form, checked with the CLI's rules.

/// `filter` (tag, contact or query) and `value` of a form, as `kith share create --tag/
/// --contact/--query` takes them. `keep` (the edit form's default) is `None`.
fn form_filter(app: &App, f: &[(String, String)]) -> Result<Option<Filter>, Problem> {
    let value = field(f, "value");
    let kind = field(f, "filter");
    if kind == "keep" || (kind.is_empty() && value.trim().is_empty()) {
        return Ok(None);
    }
    let empty = || {
        Problem::of(
            "value",
            AppError::hint(
                "which contacts? give a tag, contacts or a query",
                "e.g. the tag investors",
            ),
        )
    };
    match kind {
        "tag" => {
            let tags = split_list(value);
            if tags.is_empty() {
                return Err(empty());
            }
            let tags = app::clean_tags(&tags).map_err(|e| Problem::of("value", e))?;
            if tags.is_empty() {
                return Err(empty());
            }
            Ok(Some(Filter::Tags(tags)))
        }
        "query" => {
            if kith_core::text::terms(value).is_empty() {
                return Err(Problem::of(
                    "value",
                    AppError::user("the query has no words"),
                ));
            }
            Ok(Some(Filter::Query(value.trim().to_string())))
        }
        "contact" => {
            let refs = split_list(value);
            if refs.is_empty() {
                return Err(empty());
            }
            let r = app
                .vault
                .read()
                .map_err(|e| Problem::of("value", e.into()))?;
            let mut ids = BTreeSet::new();
            for c in refs {
                ids.insert(app::resolve_contact(&r, &c).map_err(|e| Problem::of("value", e))?);
            }
            Ok(Some(Filter::Contacts(ids)))
        }
        other => Err(Problem::of(
            "filter",
            AppError::hint(
                format!("'{other}' is not a kind of filter"),
                "choose tag, contact or query",
            ),
        )),
    }
}

/// The checked `fields` boxes, parsed by the rule of `--fields`.
fn form_fields(f: &[(String, String)]) -> Result<BTreeSet<Field>, Problem> {
    let list: Vec<&str> = f
        .iter()
        .filter(|(k, _)| k == "fields")
        .map(|(_, v)| v.as_str())
        .collect();
    kshare::parse_fields(&list.join(",")).map_err(|e| {
        Problem::of(
            "fields",
            AppError::hint(format!("fields: {e}"), "tick at least one field, e.g. name"),
        )
    })
}

fn filter_inputs(f: &[(String, String)], p: Option<&Problem>, with_keep: bool, id: &str) -> Markup {
    let kind = field(f, "filter");
    let kind = if kind.is_empty() {
        if with_keep {
            "keep"
        } else {
            "tag"
        }
    } else {
        kind
    };
    html! {
        div.field {
            label for={ (id) "-filter" } { "Which contacts" }
            select id={ (id) "-filter" } name="filter" {
                @if with_keep { option value="keep" selected[kind == "keep"] { "keep the current filter" } }
                option value="tag" selected[kind == "tag"] { "those tagged (comma-separated tags)" }
                option value="contact" selected[kind == "contact"] { "these contacts (names, emails or ids, comma-separated)" }
                option value="query" selected[kind == "query"] { "those matching a query (name, org, title, email, tags, help)" }
            }
            (problem_at(p, "filter"))
        }
        div.field {
            label for={ (id) "-value" } { "Tags, contacts or query" }
            input id={ (id) "-value" } name="value" type="text" value=(field(f, "value")) autocomplete="off";
            (problem_at(p, "value"))
        }
    }
}

fn field_boxes(checked: &BTreeSet<Field>, p: Option<&Problem>, id: &str) -> Markup {
    html! {
        fieldset.fields {
            legend { "Fields the person sees" }
            @for fld in Field::ALL {
                span.check {
                    input type="checkbox" name="fields" value=(fld.as_str()) id={ (id) "-f-" (fld.as_str()) } checked[checked.contains(&fld)];
                    label for={ (id) "-f-" (fld.as_str()) } { (fld.as_str()) }
                }
            }
            (problem_at(p, "fields"))
        }
    }
}

/// The fields ticked in a submitted form (for showing it again), or `default` on a fresh form.
fn ticked(f: &[(String, String)], default: &BTreeSet<Field>) -> BTreeSet<Field> {
    if f.is_empty() {
        return default.clone();
    }
    f.iter()
        .filter(|(k, _)| k == "fields")
        .filter_map(|(_, v)| Field::parse(v))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Shares given.

struct SharesData {
    persons: Vec<Person>,
    rows: Vec<(ShareRow, String)>,
}

fn load_shares(app: &App) -> Result<SharesData, AppError> {
    let s = app.sharing();
    let persons = s.persons()?;
    let mut rows = Vec::new();
    for r in s.share_rows()? {
        let t = filter_text(app, &r.filter)?;
        rows.push((r, t));
    }
    Ok(SharesData { persons, rows })
}

#[derive(serde::Deserialize, Default)]
pub(super) struct SharesParams {
    #[serde(default)]
    revoked: String,
}

fn shares_page(
    st: &Web,
    d: &SharesData,
    note: Option<Markup>,
    f: &[(String, String)],
    p: Option<&Problem>,
) -> Markup {
    let default: BTreeSet<Field> = Field::DEFAULT.into_iter().collect();
    html! {
        h1 { "Shares" }
        p.muted { "Slices of your network you share with persons, read-only. " a href="/shared" { "Slices shared with you" } " · " a href="/who-knows" { "Who knows…" } }
        @if let Some(n) = note { (n) }
        div #shares data-live {
            @if d.rows.is_empty() {
                p.muted { "You share nothing yet." }
            } @else {
                table {
                    caption { "Shares you give" }
                    thead { tr {
                        th scope="col" { "Share" } th scope="col" { "With" } th scope="col" { "Contacts" }
                        th scope="col" { "Fields" } th scope="col" { "Epoch" } th scope="col" { "In the slice" } th scope="col" { "Refused writes" }
                    } }
                    tbody {
                        @for (r, ft) in &d.rows {
                            tr {
                                td { a href={ "/shares/" (r.id) } aria-label={ "Share " (&r.id[..8]) " with " (r.with) } { code { (&r.id[..8]) } } }
                                td { (r.with) }
                                td { (ft) }
                                td { (fields_text(&r.fields)) }
                                td { (r.epoch) }
                                td { (r.contacts) }
                                td class=[(r.write_attempts > 0).then_some("error")] { (r.write_attempts) }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="new-share-h" {
            h2 #new-share-h { "Share a slice" }
            @if d.persons.is_empty() {
                p.muted { "No persons yet: pair with someone first (" code { "kith person invite --name NAME" } " here, " code { "kith person accept TICKET --name YOUR-NAME" } " there)." }
            }
            form.edit method="post" action="/shares" aria-label="Share a slice" {
                (csrf(st))
                div.field {
                    label for="share-with" { "With" }
                    select #share-with name="with" {
                        @for person in &d.persons { option value=(person.name) selected[field(f, "with") == person.name] { (person.name) } }
                    }
                    (problem_at(p, "with"))
                }
                (filter_inputs(f, p, false, "share"))
                (field_boxes(&ticked(f, &default), p, "share"))
                button type="submit" { "Share" }
            }
        }
        @if !d.persons.is_empty() {
            section aria-labelledby="persons-h" {
                h2 #persons-h { "Persons" }
                table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Key" } th scope="col" { "Last sync" } th scope="col" { "Error" } } }
                    tbody {
                        @for person in &d.persons {
                            tr { td { (person.name) } td { code { (&person.key[..8.min(person.key.len())]) } } td { (when(person.last_sync)) } td { (person.last_error) } }
                        }
                    }
                }
            }
        }
    }
}

pub(super) async fn shares(State(st): St, Query(q): Query<SharesParams>) -> Response {
    match st.with_app(load_shares).await {
        Ok(d) => {
            let note = (!q.revoked.is_empty()).then(|| html! {
                p.note role="status" { "Revoked share " code { (q.revoked.chars().take(8).collect::<String>()) } ": nothing more is sent, and the person's copy is dropped at their next sync (what they already received cannot be recalled)." }
            });
            layout(&st, "Shares", shares_page(&st, &d, note, &[], None)).into_response()
        }
        Err(e) => error_page(&st, e),
    }
}

/// `POST /shares`: `kith share create --with PERSON (--tag|--contact|--query) [--fields]`.
pub(super) async fn share_create(State(st): St, Form(f): Fields) -> Response {
    let f2 = f.clone();
    let res = st
        .with_app(move |app| {
            let attempt = (|| {
                let s = app.sharing();
                let with = field(&f2, "with");
                let person = s.resolve_person(with).map_err(|e| Problem::of("with", e))?;
                let filter = form_filter(app, &f2)?.ok_or_else(|| {
                    Problem::of(
                        "value",
                        AppError::hint(
                            "which contacts? give a tag, contacts or a query",
                            "e.g. the tag investors",
                        ),
                    )
                })?;
                let fields = form_fields(&f2)?;
                s.create_share(&person.name, Spec { filter, fields })
                    .map_err(|e| Problem::of("with", e))
            })();
            match attempt {
                Ok(id) => Ok(Ok(id)),
                Err(p) => Ok(Err((p, load_shares(app)?))),
            }
        })
        .await;
    match res {
        Ok(Ok(id)) => see_other(format!("/shares/{}", id.to_hex())),
        Ok(Err((p, d))) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            layout(&st, "Shares", shares_page(&st, &d, None, &f, Some(&p))),
        )
            .into_response(),
        Err(e) => error_page(&st, e),
    }
}

struct ShareView {
    id: String,
    with: String,
    filter: String,
    fields: BTreeSet<Field>,
    epoch: u32,
    write_attempts: u32,
    last_attempt: i64,
    updated: i64,
    rows: Vec<Projection>,
}

/// `kith share show`: derives the projections now and returns exactly what the person sees.
fn load_share(app: &App, reference: &str) -> Result<ShareView, AppError> {
    let s = app.sharing();
    let (def, rows) = s.show_share(reference)?;
    let with = s
        .persons()?
        .into_iter()
        .find(|p| p.key == def.person)
        .map(|p| p.name)
        .unwrap_or_else(|| def.person.chars().take(8).collect());
    Ok(ShareView {
        id: def.id.to_hex(),
        with,
        filter: filter_text(app, &def.spec.filter)?,
        fields: def.spec.fields.clone(),
        epoch: def.epoch,
        write_attempts: def.write_attempts,
        last_attempt: def.last_attempt,
        updated: def.updated,
        rows,
    })
}

#[derive(serde::Deserialize, Default)]
pub(super) struct ShareParams {
    /// The epoch before an edit that narrowed the share.
    #[serde(default)]
    narrowed_from: Option<u32>,
    #[serde(default)]
    updated: String,
}

fn share_page(
    st: &Web,
    v: &ShareView,
    note: Option<Markup>,
    f: &[(String, String)],
    p: Option<&Problem>,
) -> Markup {
    let cols: Vec<Field> = v.fields.iter().copied().collect();
    html! {
        h1 { "Share with " (v.with) }
        p { a href="/shares" { "All shares" } }
        @if let Some(n) = note { (n) }
        div #share data-live {
            dl.fields {
                dt { "Share" } dd { code { (v.id) } }
                dt { "Contacts" } dd { (v.filter) }
                dt { "Fields" } dd { (fields_text(&cols)) }
                dt { "Epoch" } dd { (v.epoch) }
                dt { "Changed" } dd { (when(v.updated)) }
                dt { "Refused writes" } dd {
                    @if v.write_attempts == 0 { "none" }
                    @else { strong.error { (v.with) " tried to write into this share " (v.write_attempts) " time" @if v.write_attempts != 1 { "s" } } " (refused: shares are read-only; last " (when(v.last_attempt)) ")" }
                }
            }
            h2 { "What " (v.with) " sees" }
            @if v.rows.is_empty() {
                p.muted { "No contact is in this slice now." }
            } @else {
                table #seen {
                    caption { (v.rows.len()) " contact" @if v.rows.len() != 1 { "s" } ", exactly the fields below and nothing else (no notes, no history)" }
                    thead { tr { @for c in &cols { th scope="col" { (c.as_str()) } } } }
                    tbody {
                        @for row in &v.rows {
                            tr { @for c in &cols { td { (row.get(c.as_str()).map(pvalue).unwrap_or_default()) } } }
                        }
                    }
                }
            }
        }
        section aria-labelledby="edit-share-h" {
            h2 #edit-share-h { "Widen or narrow" }
            p.muted { "Taking a contact or a field away starts a new epoch: fresh documents, and the person's copy of the old one is dropped at their next sync." }
            form.edit method="post" action={ "/shares/" (v.id) "/edit" } aria-label="Widen or narrow the share" {
                (csrf(st))
                (filter_inputs(f, p, true, "edit"))
                (field_boxes(&ticked(f, &v.fields), p, "edit"))
                button type="submit" { "Change the share" }
            }
        }
        section aria-labelledby="revoke-h" {
            h2 #revoke-h { "Stop sharing" }
            form method="post" action={ "/shares/" (v.id) "/revoke" } aria-label="Revoke the share" {
                (csrf(st))
                p.muted { "Nothing more is sent; " (v.with) "'s copy is dropped at their next sync (what they already received cannot be recalled)." }
                button.danger type="submit" { "Revoke this share" }
            }
        }
    }
}

pub(super) async fn share_show(
    State(st): St,
    Path(id): Path<String>,
    Query(q): Query<ShareParams>,
) -> Response {
    match st.with_app(move |app| load_share(app, &id)).await {
        Ok(v) => {
            let note = match (q.narrowed_from, q.updated.is_empty()) {
                (Some(old), _) => Some(html! {
                    p.note role="status" { "Narrowed: epoch " (v.epoch) " starts; " (v.with) "'s copy of epoch " (old) " is dropped at their next sync." }
                }),
                (None, false) => {
                    Some(html! { p.note role="status" { "Share updated (epoch " (v.epoch) ")." } })
                }
                _ => None,
            };
            let body = share_page(&st, &v, note, &[], None);
            layout(&st, &format!("Share with {}", v.with), body).into_response()
        }
        Err(e) => error_page(&st, e),
    }
}

/// `POST /shares/{id}/edit`: `kith share edit ID [filter] --fields ...`.
pub(super) async fn share_edit(State(st): St, Path(id): Path<String>, Form(f): Fields) -> Response {
    let f2 = f.clone();
    let res = st
        .with_app(move |app| {
            let s = app.sharing();
            let before = s.resolve_share(&id)?;
            let attempt = (|| {
                let filter = form_filter(app, &f2)?;
                let fields = form_fields(&f2)?;
                if filter.is_none() && fields == before.spec.fields {
                    return Err(Problem::of(
                        "value",
                        AppError::hint(
                            "nothing to change",
                            "choose other contacts and/or tick other fields",
                        ),
                    ));
                }
                s.edit_share(&id, filter, Some(fields))
                    .map_err(|e| Problem::of("value", e))
            })();
            match attempt {
                Ok(def) => Ok(Ok((def.id.to_hex(), before.epoch, def.epoch))),
                Err(p) => Ok(Err((p, load_share(app, &id)?))),
            }
        })
        .await;
    match res {
        Ok(Ok((id, old, new))) if old != new => {
            see_other(format!("/shares/{id}?narrowed_from={old}"))
        }
        Ok(Ok((id, _, _))) => see_other(format!("/shares/{id}?updated=1")),
        Ok(Err((p, v))) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            layout(&st, "Share", share_page(&st, &v, None, &f, Some(&p))),
        )
            .into_response(),
        Err(e) => error_page(&st, e),
    }
}

/// `POST /shares/{id}/revoke`: `kith share revoke ID`.
pub(super) async fn share_revoke(State(st): St, Path(id): Path<String>) -> Response {
    match st
        .with_app(move |app| app.sharing().revoke_share(&id))
        .await
    {
        Ok(def) => see_other(format!("/shares?revoked={}", def.id.short())),
        Err(e) => error_page(&st, e),
    }
}

// ---------------------------------------------------------------------------------------------
// Slices received.

#[derive(serde::Deserialize, Default)]
pub(super) struct SharedParams {
    #[serde(default)]
    from: String,
}

/// The received slices of one person.
fn from_href(person: &str) -> String {
    format!(
        "/shared?{}",
        serde_urlencoded::to_string([("from", person)]).unwrap_or_default()
    )
}

/// The link of a received contact's own page.
pub(super) fn received_href(r: &SharedRow) -> String {
    format!("/shared/{}/{}", r.share, r.id)
}

/// `GET /shared[?from=PERSON]`: `kith shared [--from PERSON]`, grouped by slice.
pub(super) async fn shared(State(st): St, Query(q): Query<SharedParams>) -> Response {
    let from = q.from.trim().to_string();
    let f2 = from.clone();
    let res = st
        .with_app(move |app| {
            let only = (!f2.is_empty()).then_some(f2.as_str());
            Ok(app.sharing().shared(only))
        })
        .await;
    let (rows, problem) = match res {
        Ok(Ok(rows)) => (rows, None),
        Ok(Err(e)) => (Vec::new(), Some(Problem::of("from", e))),
        Err(e) => return error_page(&st, e),
    };
    // One group per slice, in the order of their first (alphabetical) contact.
    let mut groups: Vec<(String, String, i64, Vec<&SharedRow>)> = Vec::new();
    for r in &rows {
        match groups.iter_mut().find(|g| g.0 == r.share) {
            Some(g) => g.3.push(r),
            None => groups.push((r.share.clone(), r.from.clone(), r.updated, vec![r])),
        }
    }
    let body = html! {
        h1 { "Shared with you" }
        p.muted { "Slices persons share with you, read-only, as of their last sync (" code { "kith share sync" } "). " a href="/shares" { "Your own shares" } " · " a href="/who-knows" { "Who knows…" } }
        form.filters method="get" action="/shared" {
            label for="from" { "Only from (person)" }
            input #from name="from" type="text" value=(from);
            button type="submit" { "Show" }
        }
        (problem_at(problem.as_ref(), "from"))
        div #received data-live {
            @if groups.is_empty() && problem.is_none() { p.muted { "Nothing shared with you yet." } }
            @for (share, who, updated, list) in &groups {
                section.slice {
                    h2 { (who) "'s slice" }
                    p.muted { "Share " code { (&share[..8.min(share.len())]) } ", updated " (when(*updated)) ", " (list.len()) " contact" @if list.len() != 1 { "s" } }
                    table {
                        thead { tr { th scope="col" { "Name" } th scope="col" { "Organisation" } th scope="col" { "Title" } th scope="col" { "How they could help" } } }
                        tbody {
                            @for r in list {
                                tr {
                                    td { a href=(received_href(r)) { (r.get("name")) } }
                                    td { (r.get("org")) } td { (r.get("title")) } td { (r.get("help")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    (status, layout(&st, "Shared with you", body)).into_response()
}

/// `GET /shared/{share}/{id}`: one received contact, read-only (`kith show` of a received
/// contact).
pub(super) async fn received_contact(
    State(st): St,
    Path((share, id)): Path<(String, String)>,
) -> Response {
    let res = st
        .with_app(move |app| {
            let row = app.sharing().shared_row(&share, &id)?;
            row.ok_or_else(|| {
                AppError::hint(
                    "no such contact in the slices shared with you",
                    "it may have left the slice, or the share was revoked; see the slices received",
                )
            })
        })
        .await;
    let r = match res {
        Ok(r) => r,
        Err(e) => return error_page(&st, e),
    };
    let body = html! {
        div #facts data-live {
            h1 { (r.get("name")) }
            p.shared-mark { span.tag { "shared with you" } " From " a href=(from_href(&r.from)) { (r.from) "'s slice" } ", updated " (when(r.updated)) ". Read-only: only " (r.from) " can change it." }
            dl.fields {
                @for (k, v) in &r.values {
                    @if k != "name" { dt { (k) } dd { (pvalue(v)) } }
                }
            }
            // The one form here writes none of the received document: it asks the person
            // who shared it for an introduction (a request document of this user's own,
            // `app::intro`, the call `kith intro ask` makes; errors shown on `/intros`).
            h2 { "Ask " (r.from) " for an introduction" }
            form method="post" action="/intros/ask" {
                input type="hidden" name="csrf" value=(st.csrf());
                input type="hidden" name="contact" value=(r.id);
                label for="why" { "Why" }
                input #why name="why" required placeholder="what you hope the introduction leads to";
                button type="submit" { "Ask for an introduction" }
            }
        }
    };
    layout(&st, &r.get("name"), body).into_response()
}

/// Received contacts matching a search, for the contact list's search results.
pub(super) fn shared_hits(app: &App, q: &str) -> Vec<SharedRow> {
    app.sharing()
        .shared_matching(q)
        .unwrap_or_default()
        .into_iter()
        .map(|(_, r)| r)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Who knows.

#[derive(serde::Deserialize, Default)]
pub(super) struct WhoParams {
    #[serde(default)]
    q: Option<String>,
}

/// A row of who-knows with the page it links to.
struct WhoRow {
    row: WhoKnows,
    href: String,
}

/// `kith who-knows QUERY`, with each row's own page: an own contact's, or the received
/// contact's.
fn who_knows(app: &App, q: &str) -> Result<Vec<WhoRow>, AppError> {
    Ok(app
        .sharing()
        .who_knows(q)?
        .into_iter()
        .map(|row| {
            let href = match &row.of {
                WhoOf::Own(id) => format!("/c/{id}"),
                WhoOf::Received { share, id } => format!("/shared/{share}/{id}"),
            };
            WhoRow { row, href }
        })
        .collect())
}

pub(super) async fn who_knows_page(State(st): St, Query(p): Query<WhoParams>) -> Response {
    let q = p.q.clone().unwrap_or_default();
    let asked = p.q.is_some();
    let q2 = q.clone();
    let res = if asked {
        st.with_app(move |app| Ok(who_knows(app, &q2))).await
    } else {
        Ok(Ok(Vec::new()))
    };
    let (rows, problem) = match res {
        Ok(Ok(r)) => (r, None),
        Ok(Err(e)) => (Vec::new(), Some(Problem::of("q", e))),
        Err(e) => return error_page(&st, e),
    };
    let body = html! {
        h1 { "Who knows…" }
        p.muted { "People at an organisation, with a title, or who could help with something: your own contacts and those in slices shared with you, saying through whom." }
        form.filters method="get" action="/who-knows" role="search" {
            label for="who-q" { "Organisation, title or how they could help" }
            input #who-q name="q" type="search" value=(q) autocomplete="off";
            button type="submit" { "Ask" }
        }
        (problem_at(problem.as_ref(), "q"))
        div #who data-live {
            @if asked && problem.is_none() {
                @if rows.is_empty() {
                    p #who-none role="status" { "nobody known matches '" (q) "'" }
                } @else {
                    table {
                        caption { (rows.len()) " known, best match first" }
                        thead { tr { th scope="col" { "Name" } th scope="col" { "Organisation" } th scope="col" { "Title" } th scope="col" { "How they could help" } th scope="col" { "Through" } } }
                        tbody {
                            @for w in &rows {
                                tr {
                                    td { a href=(w.href) { (w.row.name) } }
                                    td { (w.row.org) } td { (w.row.title) } td { (w.row.help) }
                                    td {
                                        @if w.row.through.is_empty() { "you" }
                                        @else { a href=(from_href(&w.row.through)) { (w.row.through) "'s slice" } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    (status, layout(&st, "Who knows", body)).into_response()
}
