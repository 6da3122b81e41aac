//! The network view: one person's ties, as a server-rendered SVG picture and a table, and the
//! ties over time as a chart. A tie is an explicit link, in either direction (on this contact,
//! `kith link`, or on the other one, read from the incoming-link index as `kith show` does), or
//! people met together (items that name both); its strength is the number of shared items,
//! with the first and last of them. "Ties over time" counts interactions per month over the
//! last twelve months: with the person, and with each of their strongest ties together; the
//! chart is drawn by the `plotters` crate (its SVG backend). Read from the derived tables (the
//! timeline, the link terms and the summaries) plus the one contact document, so it costs the
//! same at 10,000 contacts as at 10.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use kith_core::id::DocId;
use kith_core::time::Date;
use kith_core::Kind;
use maud::{html, Markup, PreEscaped};

use super::pages::layout;
use super::Web;
use crate::app::{self, App, AppError};

/// The most ties drawn in the picture (the table lists them all).
const MAX_DRAWN: usize = 24;

/// One tie of the person in the middle.
pub(crate) struct Tie {
    pub id: DocId,
    pub name: String,
    /// The relations of explicit links from the person in the middle to this one (`kith link`
    /// written on the middle person), if any.
    pub rels: Vec<String>,
    /// The relations of links written on this person to the one in the middle.
    pub rels_in: Vec<String>,
    /// Interactions naming both, by month (`YYYY-MM`).
    pub months: BTreeMap<String, u32>,
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
    /// Interactions with the person, by month (`YYYY-MM`).
    pub months: BTreeMap<String, u32>,
    /// The last month of the chart (today's).
    pub today: Date,
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
    for l in app.incoming_links(&r, id)? {
        if let Some(t) = tie(&mut ties, &r, id, l.from)? {
            t.rels_in.push(if l.rel.is_empty() {
                "link".into()
            } else {
                l.rel
            });
        }
    }
    let mut months: BTreeMap<String, u32> = BTreeMap::new();
    for row in &timeline {
        let month = (row.kind == Kind::Interaction && !row.planned && row.date.len() >= 7)
            .then(|| row.date[..7].to_string());
        if let Some(m) = &month {
            *months.entry(m.clone()).or_default() += 1;
        }
        for c in &row.contacts {
            if let Some(t) = tie(&mut ties, &r, id, *c)? {
                t.shared += 1;
                if t.first.is_empty() || row.date < t.first {
                    t.first = row.date.clone();
                }
                if row.date > t.last {
                    t.last = row.date.clone();
                }
                if let Some(m) = &month {
                    *t.months.entry(m.clone()).or_default() += 1;
                }
            }
        }
    }
    let mut ties: Vec<Tie> = ties.into_values().collect();
    ties.sort_by(|a, b| {
        b.shared
            .cmp(&a.shared)
            .then((b.rels.len() + b.rels_in.len()).cmp(&(a.rels.len() + a.rels_in.len())))
            .then(a.name.cmp(&b.name))
    });
    Ok(Ego {
        id,
        name: view.contact.name,
        ties,
        months,
        today: app.today(),
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
                rels_in: Vec::new(),
                months: BTreeMap::new(),
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
                line class=(if t.rels.is_empty() && t.rels_in.is_empty() { "tie" } else { "tie link" }) x1=(f(cx)) y1=(f(cy)) x2=(f(x)) y2=(f(y))
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

/// Months in the ties-over-time chart, ending with the current one.
const CHART_MONTHS: usize = 12;
/// Ties drawn in the chart beside the person's own line.
const CHART_TIES: usize = 5;
/// Line colours of the chart: the person, then the ties (distinct in light and dark).
const CHART_COLOURS: [(u8, u8, u8); 6] = [
    (26, 95, 180),
    (192, 28, 40),
    (38, 162, 105),
    (229, 165, 10),
    (145, 65, 172),
    (134, 94, 60),
];

/// The `CHART_MONTHS` months up to `today`'s, oldest first, as `YYYY-MM`.
fn chart_months(today: Date) -> Vec<String> {
    let (mut y, mut m) = (today.year, today.month as i32);
    let mut out = Vec::with_capacity(CHART_MONTHS);
    for _ in 0..CHART_MONTHS {
        out.push(format!("{y:04}-{m:02}"));
        m -= 1;
        if m == 0 {
            m = 12;
            y -= 1;
        }
    }
    out.reverse();
    out
}

/// One line of the chart: its label and a count per month.
pub(crate) struct Series {
    pub label: String,
    pub counts: Vec<u32>,
}

/// The chart's lines: all interactions with the person, then those together with each of the
/// strongest ties that have one in the window. Empty when the window holds no interaction.
pub(crate) fn ties_series(e: &Ego) -> (Vec<String>, Vec<Series>) {
    let months = chart_months(e.today);
    let counts = |by: &BTreeMap<String, u32>| -> Vec<u32> {
        months
            .iter()
            .map(|m| by.get(m).copied().unwrap_or(0))
            .collect()
    };
    let own = counts(&e.months);
    if own.iter().all(|c| *c == 0) {
        return (months, Vec::new());
    }
    let mut series = vec![Series {
        label: format!("all with {}", e.name),
        counts: own,
    }];
    let mut ranked: Vec<(u32, &Tie)> = e
        .ties
        .iter()
        .map(|t| (counts(&t.months).iter().sum::<u32>(), t))
        .filter(|(n, _)| *n > 0)
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.name.cmp(&b.1.name)));
    for (_, t) in ranked.into_iter().take(CHART_TIES) {
        series.push(Series {
            label: format!("with {}", t.name),
            counts: counts(&t.months),
        });
    }
    (months, series)
}

/// Draws the series with plotters' SVG backend into a string.
fn draw_chart(months: &[String], series: &[Series]) -> Result<String, String> {
    use plotters::prelude::*;
    let top = series
        .iter()
        .flat_map(|s| s.counts.iter().copied())
        .max()
        .unwrap_or(1)
        .max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 320)).into_drawing_area();
        let last = months.len().saturating_sub(1) as i32;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(34)
            .y_label_area_size(36)
            .build_cartesian_2d(0..last, 0..(top as i32 + 1))
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_labels(months.len())
            .x_label_formatter(&|i| {
                months
                    .get(*i as usize)
                    .map(|m| m[2..].to_string())
                    .unwrap_or_default()
            })
            .y_labels((top as usize + 1).min(8))
            .y_label_formatter(&|v| v.to_string())
            .y_desc("interactions")
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, s) in series.iter().enumerate() {
            let (r, g, b) = CHART_COLOURS[i % CHART_COLOURS.len()];
            let colour = RGBColor(r, g, b);
            let width = if i == 0 { 3 } else { 2 };
            let points: Vec<(i32, i32)> = s
                .counts
                .iter()
                .enumerate()
                .map(|(x, c)| (x as i32, *c as i32))
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), colour.stroke_width(width)))
                .map_err(|e| e.to_string())?
                .label(s.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(3))
                });
            chart
                .draw_series(
                    points
                        .into_iter()
                        .map(|p| Circle::new(p, 3, colour.filled())),
                )
                .map_err(|e| e.to_string())?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// The ties-over-time chart as inline SVG with a title, and the same numbers as a table for
/// screen readers and for reading exact values.
pub(crate) fn ties_over_time(e: &Ego) -> Markup {
    let (months, series) = ties_series(e);
    if series.is_empty() {
        return html! {
            section #ties-over-time aria-labelledby="tot-h" {
                h2 #tot-h { "Ties over time" }
                p.muted { "No interaction with " (e.name) " in the last " (CHART_MONTHS) " months." }
            }
        };
    }
    let svg = match draw_chart(&months, &series) {
        Ok(s) => s,
        Err(err) => {
            return html! { p.error role="alert" { "error: cannot draw the chart: " (err) } }
        }
    };
    // Inline in HTML: no namespace needed; our class, role and title instead of the fixed size.
    let svg = match svg.find("<svg") {
        Some(i) => {
            let body = &svg[i..];
            let end = body.find('>').unwrap_or(0);
            let view = body[..end]
                .split("viewBox=\"")
                .nth(1)
                .and_then(|v| v.split('"').next())
                .unwrap_or("0 0 720 320")
                .to_string();
            format!(
                "<svg class=\"ties\" viewBox=\"{view}\" role=\"img\" aria-labelledby=\"tot-title\"><title id=\"tot-title\">Interactions per month, the last {CHART_MONTHS} months: {} lines</title>{}",
                series.len(),
                &body[end + 1..]
            )
        }
        None => String::new(),
    };
    html! {
        section #ties-over-time aria-labelledby="tot-h" {
            h2 #tot-h { "Ties over time" }
            p.muted { "Interactions per month: all with " (e.name) ", and those together with each of their strongest ties." }
            (PreEscaped(svg))
            details {
                summary { "The numbers" }
                table.months {
                    thead { tr { th scope="col" { "" } @for m in &months { th scope="col" { (m) } } } }
                    tbody { @for s in &series { tr { th scope="row" { (s.label) } @for c in &s.counts { td { (c) } } } } }
                }
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
                    (ties_over_time(e))
                    table {
                        caption { "Ties of " (e.name) ", strongest first" }
                        thead { tr { th scope="col" { "Person" } th scope="col" { "Link (→ written on " (e.name) ", ← written on them)" } th scope="col" { "Shared items" } th scope="col" { "First" } th scope="col" { "Last" } } }
                        tbody {
                            @for t in &e.ties {
                                tr {
                                    td { a href={ "/c/" (t.id) } { (t.name) } " " a.muted href={ "/network?c=" (t.id) } aria-label={ "Network of " (t.name) } { "(network)" } }
                                    td {
                                        @for r in &t.rels { span.rel title={ (e.name) " " (r) " " (t.name) } { (r) " →" } " " }
                                        @for r in &t.rels_in { span.rel title={ (t.name) " " (r) " " (e.name) } { "← " (r) } " " }
                                    }
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
