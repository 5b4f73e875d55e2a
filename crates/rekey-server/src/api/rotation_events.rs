//! `GET /api/v1/rotations/{id}/events`: a rotation's progress as server-sent events, so a page
//! follows its phases as they are journaled instead of polling. Each change of the journal row
//! (phase, error, finish) is one `rotation` event whose data is the rotation exactly as
//! `GET /api/v1/rotations/{id}` answers it; the first event is sent at once. The stream ends
//! after the event of a finished rotation, when the server stops, or after [`MAX_AGE`]; a client
//! then asks again or falls back to polling. The server reads the row every [`EVERY`] (one read
//! by primary key per watcher, and the account's for a token confined to folders), and a
//! comment every 15 s keeps idle proxies from cutting it.
//! The stream also ends once its token no longer stands (revoked or expired: checked every
//! [`TOKEN_CACHE_TTL`], as long as a request's check is taken on trust) or the account has left
//! the token's folders (checked at every read).

use super::{extract::Param, require, rotations::visible};
use crate::{
    auth::{Action, Caller},
    error::{ApiResult, ErrorBody},
    AppState, TOKEN_CACHE_TTL,
};
use axum::{
    extract::State,
    response::sse::{Event, KeepAlive, Sse},
    Extension,
};
use futures_util::stream::{self, Stream};
use rekey_store::Rotation;
use std::{
    convert::Infallible,
    time::{Duration, Instant},
};

/// How often a watched rotation's row is read.
const EVERY: Duration = Duration::from_millis(250);

/// How long one stream lasts at most.
const MAX_AGE: Duration = Duration::from_secs(600);

/// What a stream remembers between events.
struct Watch {
    s: AppState,
    caller: Caller,
    id: String,
    started: Instant,
    /// When the token was last found standing.
    token_checked: Instant,
    /// The rotation read but not sent yet (the first one).
    unsent: Option<Rotation>,
    /// What the last event showed (phase, error, finish, last change).
    shown: Option<String>,
    /// The last event sent showed a finished rotation.
    over: bool,
}

/// What a client would see change.
fn fingerprint(r: &Rotation) -> String {
    format!("{}|{:?}|{:?}|{}", r.phase, r.error, r.finished_at, r.updated_at.timestamp_millis())
}

impl Watch {
    /// The next rotation to send, or `None` when the stream should end.
    async fn next(&mut self) -> Option<Rotation> {
        loop {
            if self.over {
                return None;
            }
            let r = match self.unsent.take() {
                Some(r) => r,
                None => {
                    tokio::time::sleep(EVERY).await;
                    if self.s.engine.stopping() || self.started.elapsed() > MAX_AGE {
                        return None;
                    }
                    if self.token_checked.elapsed() >= TOKEN_CACHE_TTL {
                        if !self.s.engine.token_stands(&self.caller.token_id).await {
                            return None;
                        }
                        self.token_checked = Instant::now();
                    }
                    visible(&self.s, &self.caller, &self.id).await.ok()?
                }
            };
            let seen = fingerprint(&r);
            if self.shown.as_ref() != Some(&seen) {
                self.shown = Some(seen);
                self.over = r.finished_at.is_some() || r.phase.is_final();
                return Some(r);
            }
        }
    }
}

/// The rotation's changes as server-sent events (`event: rotation`, `data:` the rotation as
/// JSON), until it has finished.
#[utoipa::path(get, path = "/api/v1/rotations/{id}/events", tag = "rotations",
    params(("id" = String, Path, description = "Rotation id")),
    responses((status = 200, description = "`text/event-stream`: one `rotation` event per change, the first at once",
            content_type = "text/event-stream", body = String),
        (status = 404, description = "No such rotation in the token's folders", body = ErrorBody)))]
pub async fn events(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Param(id): Param,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    require(&caller, Action::Read)?;
    let first = visible(&s, &caller, &id).await?;
    let now = Instant::now();
    let watch =
        Watch { s, caller, id, started: now, token_checked: now, unsent: Some(first), shown: None, over: false };
    let events = stream::unfold(watch, |mut w| async move {
        let r = w.next().await?;
        let event = Event::default().event("rotation").json_data(&r).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "a rotation event could not be encoded");
            Event::default().event("rotation").comment("unencodable")
        });
        Some((Ok(event), w))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
