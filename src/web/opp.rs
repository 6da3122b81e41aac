//! Opportunities and item conflicts in the web UI: the opportunity edit form (`/o/ID/edit`,
//! merged three-way against the heads it was rendered from, like every edit form), adding an
//! opportunity from a contact's page (`/c/ID/opp`), and keeping one value of a conflicting
//! field of a note, interaction, reminder or opportunity (`/i/ID/pick`). *Every rule is the
//! app layer's (`App::opp_add`, `App::edit_opp`, `keep::opp::check_stage`,
//! `App::settle_item_conflict`); a rejected form is shown again with the message next to the
//! field and nothing written.*

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use kith_core::id::DocId;
use kith_core::model::{Conflict, Opportunity};
use maud::{html, Markup};

use super::pages::{
    self as pages, contact_with_problem, csrf, error_page, field, parse_id, problem_at, see_other,
    Problem,
};
use super::Web;
use crate::keep::opp::{check_stage, known_stages};

type St = State<Arc<Web>>;
type Fields = Form<Vec<(String, String)>>;

pub(super) fn routes() -> Router<Arc<Web>> {
    Router::new()
        .route("/o/{id}/edit", get(edit_form).post(edit_post))
        .route("/c/{id}/opp", post(add_post))
        .route("/i/{id}/pick", post(pick_post))
}

/// The conflicting fields of an item, each value with a button that keeps it.
pub(super) fn conflicts_block(st: &Web, id: DocId, conflicts: &[Conflict]) -> Markup {
    html! {
        @if !conflicts.is_empty() {
            section.conflicts aria-labelledby="item-conflicts-h" {
                h2 #item-conflicts-h { "Conflicts" }
                p { "These fields were changed in two places at once. Both values are kept until you pick one." }
                @for cf in conflicts {
                    div.conflict {
                        strong { (cf.field) } ": "
                        @for v in std::iter::once(&cf.value).chain(&cf.others) {
                            form.inline method="post" action={ "/i/" (id) "/pick" } {
                                (csrf(st))
                                input type="hidden" name="field" value=(cf.field);
                                input type="hidden" name="value" value=(v);
                                button type="submit" aria-label={ "Keep " (v) " for " (cf.field) } { "Keep “" (v) "”" }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The stage options: the known stages, plus the current one when a peer wrote another.
fn stage_select(id: &str, current: &str) -> Markup {
    let mut stages = known_stages();
    if !current.is_empty() && !stages.iter().any(|s| s == current) {
        stages.push(current.to_string());
    }
    html! {
        select id=(id) name="stage" {
            @for s in &stages { option value=(s) selected[s == current] { (s) } }
        }
    }
}

/// The fields of an "add an opportunity" form on a contact's page (`fv`: the values sent with
/// a rejected form).
pub(super) fn add_form(
    st: &Web,
    id: DocId,
    fv: &dyn Fn(&str) -> String,
    p: Option<&Problem>,
) -> Markup {
    let stage = fv("stage");
    html! {
        form method="post" action={ "/c/" (id) "/opp" } aria-label="Add an opportunity" {
            (csrf(st))
            h3 { "Add an opportunity" }
            div.field { label for="opp-title" { "Title (a job lead, a project, a referral…)" } input #opp-title name="title" type="text" value=(fv("title")) required; (problem_at(p, "title")) }
            div.field { label for="opp-stage" { "Stage" } (stage_select("opp-stage", if stage.is_empty() { "lead" } else { &stage })) (problem_at(p, "stage")) }
            button type="submit" { "Add opportunity" }
        }
    }
}

async fn add_post(State(st): St, Path(id): Path<String>, Form(f): Fields) -> Response {
    let id = match parse_id(&id) {
        Ok(i) => i,
        Err(e) => return error_page(&st, e),
    };
    let (title, stage) = (
        field(&f, "title").to_string(),
        field(&f, "stage").to_string(),
    );
    let res = st
        .with_app(move |app| {
            let known = known_stages();
            Ok(check_stage(&stage, &known)
                .map_err(|e| Problem::of("stage", e))
                .and_then(|s| {
                    app.opp_add(&title, &[id], &s, "", &known)
                        .map_err(|e| Problem::of("title", e))
                }))
        })
        .await;
    match res {
        Ok(Ok(_)) => see_other(format!("/c/{id}")),
        Ok(Err(p)) => contact_with_problem(&st, id, f, "opp", p).await,
        Err(e) => error_page(&st, e),
    }
}

fn form(
    st: &Web,
    id: DocId,
    o: &Opportunity,
    base: &str,
    conflicts: &[Conflict],
    p: Option<&Problem>,
) -> Markup {
    html! {
        h1 { "Edit opportunity" }
        (conflicts_block(st, id, conflicts))
        form.edit method="post" action={ "/o/" (id) "/edit" } {
            (csrf(st))
            input type="hidden" name="base" value=(base);
            (problem_at(p, "base"))
            div.field { label for="o-title" { "Title" } input #o-title name="title" type="text" value=(o.title) required; (problem_at(p, "title")) }
            div.field { label for="o-stage" { "Stage" } (stage_select("o-stage", &o.stage)) (problem_at(p, "stage")) }
            div.field { label for="o-note" { "Note" } textarea #o-note name="note" rows="6" { (o.note) } (problem_at(p, "note")) }
            button type="submit" { "Save" }
        }
    }
}

async fn edit_form(State(st): St, Path(id): Path<String>) -> Response {
    pages::edit_get(
        &st,
        &id,
        |app, id| app.opp_for_edit(id),
        |ed, base| {
            let body = form(&st, ed.id, &ed.value, base, &ed.conflicts, None);
            ("Edit opportunity".into(), body)
        },
    )
    .await
}

async fn edit_post(State(st): St, Path(id): Path<String>, Form(f): Fields) -> Response {
    let id = match parse_id(&id) {
        Ok(i) => i,
        Err(e) => return error_page(&st, e),
    };
    pages::edit_post(
        &st,
        f,
        "Edit opportunity",
        move |app, base| app.opp_at(id, base),
        |_, seen, f| {
            let mut edited = seen;
            edited.title = field(f, "title").trim().to_string();
            edited.note = field(f, "note").replace("\r\n", "\n");
            edited.stage = check_stage(field(f, "stage"), &known_stages())
                .map_err(|e| Problem::of("stage", e))?;
            Ok(edited)
        },
        move |app, base, seen, edited| {
            let back = seen
                .contacts
                .iter()
                .next()
                .map(|c| format!("/c/{c}"))
                .unwrap_or_else(|| "/".into());
            app.edit_opp(id, base, edited).map(|_| back).map_err(|e| {
                let at = if e.to_string().contains("note") {
                    "note"
                } else {
                    "title"
                };
                Problem::of(at, e)
            })
        },
        |seen, f, p| match seen {
            Some(o) => form(&st, id, &o, field(f, "base"), &[], Some(p)),
            None => html! { h1 { "Edit opportunity" } (problem_at(Some(p), "base")) },
        },
    )
    .await
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
    let res = st
        .with_app(move |app| {
            app.settle_item_conflict(id, &path, &value)?;
            let r = app.vault.read()?;
            Ok(r.kind_of(id)?)
        })
        .await;
    match res {
        Ok(Some(kith_core::Kind::Opportunity)) => see_other(format!("/o/{id}/edit")),
        Ok(_) => see_other(format!("/i/{id}/edit")),
        Err(e) => error_page(&st, e),
    }
}
