//! Live updates: `/events` streams the vault's change counter as Server-Sent Events, so an open
//! page refreshes its live fragments (`data-live`) when another process or device changed the
//! vault. The counter is one small read, polled only while a page listens; the stream ends when
//! the server stops (or graceful shutdown would wait on it forever).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};

use super::Web;

/// How often a listening page's server looks at the change counter.
const POLL: Duration = Duration::from_millis(250);

/// `GET /events`: one `message` event with the counter at once, then one each time it moves.
pub(super) async fn events(State(st): State<Arc<Web>>) -> Response {
    let stop = st.stopping();
    let stream =
        futures_util::stream::unfold((st, stop, None::<u64>), |(st, mut stop, last)| async move {
            loop {
                if *stop.borrow() {
                    return None;
                }
                if let Some(seq) = st.change_seq().await {
                    if last != Some(seq) {
                        let ev = Event::default().data(seq.to_string());
                        return Some((Ok::<_, Infallible>(ev), (st, stop, Some(seq))));
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = stop.changed() => return None,
                }
            }
        });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}
