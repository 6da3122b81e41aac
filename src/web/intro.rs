//! Introductions in the web UI: `/intros` lists them (both directions) with the owner's next
//! step as a form, and an "ask for an introduction" form over the contacts of received slices.
//! *Every rule is the app layer's (`app::intro`, the same calls as `kith intro`); a rejected
//! form is shown again with the CLI's message next to the field and nothing written.*

use std::sync::Arc;

use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use kith_core::share::intro::Step;
use maud::{html, Markup};

use super::pages::{csrf, error_page, field, layout};
use super::Web;
use crate::app::intro::IntroRow;
use crate::app::share::SharedRow;
use crate::app::AppError;

type St = State<Arc<Web>>;
type Fields = Form<Vec<(String, String)>>;

pub(super) fn routes() -> Router<Arc<Web>> {
    Router::new()
        .route("/intros", get(list))
        .route("/intros/ask", post(ask))
        .route("/intros/step", post(step))
}

/// A problem shown next to a form: which form, the message and its hint.
struct Problem {
    form: &'static str,
    msg: String,
    hint: Option<String>,
}

async fn load(st: &Arc<Web>) -> Result<(Vec<IntroRow>, Vec<SharedRow>), AppError> {
    st.with_app(|app| Ok((app.intro_list()?, app.sharing().shared(None)?)))
        .await
}

fn page(
    st: &Web,
    rows: &[IntroRow],
    shared: &[SharedRow],
    f: &[(String, String)],
    p: Option<&Problem>,
) -> Markup {
    let problem = |form: &str| p.filter(|p| p.form == form);
    html! {
        h1 { "Introductions" }
        h2 { "Ask for an introduction" }
        @if shared.is_empty() {
            p.muted { "Nobody shared contacts with you yet: an introduction is asked of the person who shared a contact." }
        } @else {
            form method="post" action="/intros/ask" {
                (csrf(st))
                label for="contact" { "Contact" }
                select #contact name="contact" {
                    @for r in shared {
                        option value=(r.id) selected[field(f, "contact") == r.id] {
                            (r.get("name")) " (from " (r.from) "'s slice)"
                        }
                    }
                }
                label for="why" { "Why" }
                input #why name="why" value=(field(f, "why")) aria-describedby="err-why";
                @if let Some(p) = problem("ask") {
                    p #err-why .error role="alert" {
                        "error: " (p.msg)
                        @if let Some(h) = &p.hint { br; span.hint { "hint: " (h) } }
                    }
                }
                button type="submit" { "Ask" }
            }
        }
        h2 { "Requests" }
        @if let Some(p) = problem("step") {
            p #err-step .error role="alert" {
                "error: " (p.msg)
                @if let Some(h) = &p.hint { br; span.hint { "hint: " (h) } }
            }
        }
        @if rows.is_empty() {
            p.muted { "No introductions yet." }
        } @else {
            table {
                thead { tr {
                    th scope="col" { "Id" } th scope="col" { "Direction" } th scope="col" { "Person" }
                    th scope="col" { "About" } th scope="col" { "State" } th scope="col" { "Asked" }
                    th scope="col" { "Why" } th scope="col" { "Outcome / note" } th scope="col" { "" }
                } }
                tbody {
                    @for r in rows {
                        tr {
                            td { code { (&r.id[..8]) } }
                            td { @if r.direction == "asked-by-me" { "you asked" } @else { "asked of you" } }
                            td { (r.person) }
                            td { (r.about) }
                            td { (r.state) }
                            td { (r.asked) }
                            td { (r.why) }
                            td { (r.answer.outcome) @if !r.answer.note.is_empty() { " " span.muted { "(" (r.answer.note) ")" } } }
                            td { @if r.direction == "asked-of-me" { (next_step(st, r)) } }
                        }
                    }
                }
            }
        }
    }
}

/// The owner's next step on a request asked of them, as small forms.
fn next_step(st: &Web, r: &IntroRow) -> Markup {
    let steps: &[(&str, &str)] = match r.state {
        "asked" => &[("accept", "Accept"), ("decline", "Decline")],
        "accepted" => &[("made", "Mark as made")],
        "made" => &[("outcome", "Record outcome")],
        _ => &[],
    };
    html! {
        @for (s, label) in steps {
            form method="post" action="/intros/step" {
                (csrf(st))
                input type="hidden" name="id" value=(r.id);
                input type="hidden" name="step" value=(s);
                @if *s == "outcome" {
                    input name="text" aria-label="Outcome";
                } @else if *s != "made" {
                    input name="text" aria-label="Note (optional)" placeholder="note (optional)";
                }
                button type="submit" { (label) }
            }
        }
    }
}

async fn list(State(st): St) -> Response {
    match load(&st).await {
        Ok((rows, shared)) => {
            layout(&st, "Introductions", page(&st, &rows, &shared, &[], None)).into_response()
        }
        Err(e) => error_page(&st, e),
    }
}

async fn again(st: &Arc<Web>, f: &[(String, String)], form: &'static str, e: AppError) -> Response {
    let AppError::User { .. } = e else {
        return error_page(st, e);
    };
    let p = Problem {
        form,
        msg: e.to_string(),
        hint: e.hint_text(),
    };
    match load(st).await {
        Ok((rows, shared)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            layout(st, "Introductions", page(st, &rows, &shared, f, Some(&p))),
        )
            .into_response(),
        Err(e) => error_page(st, e),
    }
}

async fn ask(State(st): St, Form(f): Fields) -> Response {
    let (contact, why) = (
        field(&f, "contact").to_string(),
        field(&f, "why").to_string(),
    );
    match st.with_app(move |app| app.intro_ask(&contact, &why)).await {
        Ok(_) => Redirect::to("/intros").into_response(),
        Err(e) => again(&st, &f, "ask", e).await,
    }
}

async fn step(State(st): St, Form(f): Fields) -> Response {
    let id = field(&f, "id").to_string();
    let text = field(&f, "text").trim().to_string();
    let s = match field(&f, "step") {
        "accept" => Step::Accept { note: text },
        "decline" => Step::Decline { note: text },
        "made" => Step::Made,
        "outcome" => Step::Outcome { text },
        other => {
            let e = AppError::user(format!("'{other}' is not a step of an introduction"));
            return again(&st, &f, "step", e).await;
        }
    };
    match st.with_app(move |app| app.intro_step(&id, s)).await {
        Ok(_) => Redirect::to("/intros").into_response(),
        Err(e) => again(&st, &f, "step", e).await,
    }
}
