//! The network view: one person's ties, as a server-rendered SVG picture and a table. A tie is
//! an explicit link on the contact (`kith link`) or people met together (items that name both);
//! its strength is the number of shared items, with the first and last of them (ties over
//! time). Read from the derived tables (the timeline and the summaries) plus the one contact
//! document, so it costs the same at 10,000 contacts as at 10.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use kith_core::id::DocId;
use maud::{html, Markup};

use super::pages::layout;
use super::Web;
use crate::app::{self, App, AppError};

/// The most ties drawn in the picture (the table lists them all).
const MAX_DRAWN: usize = 24;

/// One tie of the person in the middle.
pub(crate) struct Tie {
    pub id: DocId,
    pub name: String,
    /// The relations of explicit links to this person (`kith link`), if any.
    pub rels: Vec<String>,
    /// Notes, interactions and reminders naming both.
    pub shared: usize,
    pub first: String,
    pub last: String,
}

pub(crate) struct Ego {
    pub id: DocId,
    pub name: String,
    /// Strongest first: most shared items, then explicit links, then by name.
    pub ties: Vec<Tie>,
}

/// The ties of `id`.
pub(crate) fn ego(app: &App, id: DocId) -> Result<Ego, AppError> {
    let view = app.show(id)?;
    let timeline = app.timeline(id)?;
    let r = app.vault.read()?;
    let mut ties: BTreeMap<DocId, Tie> = BTreeMap::new();
    for l in &view.links {
        if let Ok(to) = l.to.parse::<DocId>() {
            if let Some(t) = tie(&mut ties, &r, id, to)? {
                t.rels.push(if l.rel.is_empty() {
                    "link".into()
                } else {
                    l.rel.clone()
                });
            }
        }
    }
    for row in &timeline {
        for c in &row.contacts {
            if let Some(t) = tie(&mut ties, &r, id, *c)? {
                t.shared += 1;
                if t.first.is_empty() || row.date < t.first {
                    t.first = row.date.clone();
                }
                if row.date > t.last {
                    t.last = row.date.clone();
                }
            }
        }
    }
    let mut ties: Vec<Tie> = ties.into_values().collect();
    ties.sort_by(|a, b| {
        b.shared
            .cmp(&a.shared)
            .then(b.rels.len().cmp(&a.rels.len()))
            .then(a.name.cmp(&b.name))
    });
    Ok(Ego {
        id,
        name: view.contact.name,
        ties,
    })
}

/// The tie of `center` with `c`, created on first sight; `None` for `center` itself or a
/// contact that no longer exists.
fn tie<'a>(
    ties: &'a mut BTreeMap<DocId, Tie>,
    r: &crate::store::Reader,
    center: DocId,
    c: DocId,
) -> Result<Option<&'a mut Tie>, AppError> {
    if c == center {
        return Ok(None);
    }
    use std::collections::btree_map::Entry;
    Ok(match ties.entry(c) {
        Entry::Occupied(o) => Some(o.into_mut()),
        Entry::Vacant(v) => match r.contact(c)? {
            Some(s) => Some(v.insert(Tie {
                id: c,
                name: s.name,
                rels: Vec::new(),
                shared: 0,
                first: String::new(),
                last: String::new(),
            })),
            None => None,
        },
    })
}

/// The picture: the person in the middle, ties around, line width by strength, explicit links
/// in the accent colour. Every node links to that person's own network.
pub(crate) fn picture(e: &Ego) -> Markup {
    let drawn = &e.ties[..e.ties.len().min(MAX_DRAWN)];
    let (cx, cy, rad) = (360.0_f64, 260.0_f64, 200.0_f64);
    let n = drawn.len().max(1) as f64;
    let at = |i: usize| {
        let a = std::f64::consts::TAU * i as f64 / n - std::f64::consts::FRAC_PI_2;
        (cx + rad * a.cos(), cy + rad * a.sin())
    };
    let f = |x: f64| format!("{x:.1}");
    html! {
        svg.net viewBox="0 0 720 520" role="img" aria-labelledby="net-title" {
            title #net-title { "The network of " (e.name) ": " (e.ties.len()) " ties" }
            @for (i, t) in drawn.iter().enumerate() {
                @let (x, y) = at(i);
                line class=(if t.rels.is_empty() { "tie" } else { "tie link" }) x1=(f(cx)) y1=(f(cy)) x2=(f(x)) y2=(f(y))
                    stroke-width=(f(1.0 + (t.shared.min(8) as f64) * 0.6)) {}
            }
            @for (i, t) in drawn.iter().enumerate() {
                @let (x, y) = at(i);
                a href={ "/network?c=" (t.id) } {
                    circle cx=(f(x)) cy=(f(y)) r="7" {}
                    text x=(f(x)) y=(f(if y < cy { y - 12.0 } else { y + 20.0 })) text-anchor="middle" { (t.name) }
                }
            }
            a href={ "/c/" (e.id) } {
                circle.me cx=(f(cx)) cy=(f(cy)) r="11" {}
                text.me x=(f(cx)) y=(f(cy + 28.0)) text-anchor="middle" { (e.name) }
            }
        }
    }
}

#[derive(serde::Deserialize, Default)]
pub(super) struct NetParams {
    #[serde(default)]
    c: String,
}

/// `GET /network?c=REF`: a name, email or id, as the CLI takes them.
pub(super) async fn network(State(st): State<Arc<Web>>, Query(p): Query<NetParams>) -> Response {
    let reference = p.c.trim().to_string();
    let res = if reference.is_empty() {
        Ok(None)
    } else {
        let r2 = reference.clone();
        st.with_app(move |app| {
            let id = app::resolve_contact(&app.vault.read()?, &r2)?;
            ego(app, id).map(Some)
        })
        .await
    };
    let (e, problem) = match res {
        Ok(e) => (e, None),
        Err(err) => (None, Some(err)),
    };
    let body = html! {
        h1 { "Network" @if let Some(e) = &e { " of " (e.name) } }
        form.filters method="get" action="/network" role="search" {
            label for="net-c" { "Whose network (name, email or id)" }
            input #net-c type="text" name="c" value=(e.as_ref().map(|e| e.name.as_str()).unwrap_or(&reference)) autocomplete="off";
            button type="submit" { "Show" }
        }
        @if let Some(err) = &problem {
            p.error role="alert" id="err-c" { "error: " (err.to_string()) }
            @if let Some(h) = err.hint_text() { p.hint { "hint: " (h) } }
        }
        div #network data-live {
            @if let Some(e) = &e {
                @if e.ties.is_empty() {
                    p.muted { "No ties yet: link people with " code { "kith link" } ", or log an interaction with several people." }
                } @else {
                    (picture(e))
                    table {
                        caption { "Ties of " (e.name) ", strongest first" }
                        thead { tr { th scope="col" { "Person" } th scope="col" { "Link" } th scope="col" { "Shared items" } th scope="col" { "First" } th scope="col" { "Last" } } }
                        tbody {
                            @for t in &e.ties {
                                tr {
                                    td { a href={ "/c/" (t.id) } { (t.name) } " " a.muted href={ "/network?c=" (t.id) } aria-label={ "Network of " (t.name) } { "(network)" } }
                                    td { (t.rels.join(", ")) }
                                    td { (t.shared) }
                                    td { (t.first) }
                                    td { (t.last) }
                                }
                            }
                        }
                    }
                }
            } @else if problem.is_none() {
                p.muted { "Type a name to see that person's ties: the people linked to them and the people you met together." }
            }
        }
    };
    let status = if problem.is_some() {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        axum::http::StatusCode::OK
    };
    (status, layout(&st, "Network", body)).into_response()
}
