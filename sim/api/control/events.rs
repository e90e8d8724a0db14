//! `GET /_sim/events`: server-sent events for live pages.
//!
//! Events: `clock` (the body of `GET /_sim/clock`) first, then every second of real time while
//! the clock runs and after every change; `change` (a [`Change`]) after each request
//! that may have changed state; `lagged` when this listener fell behind (read everything again).
//! The stream ends when the server shuts down.

use crate::app::AppState;
use crate::events::Change;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// How often a running clock is reported. Real time, not virtual: it paces the pages' redraws.
const CLOCK_TICK: Duration = Duration::from_secs(1);

struct Listener {
    state: Arc<AppState>,
    changes: broadcast::Receiver<Change>,
    closing: watch::Receiver<bool>,
    tick: tokio::time::Interval,
    /// A change was just sent; the clock follows it (a change may have been a clock change).
    clock_due: bool,
}

fn clock_event(state: &AppState) -> Event {
    Event::default()
        .event("clock")
        .json_data(state.clock.status())
        .unwrap_or_else(|_| Event::default().event("clock"))
}

impl Listener {
    /// The next event, or `None` once the server shuts down.
    async fn next(&mut self) -> Option<Event> {
        if std::mem::take(&mut self.clock_due) {
            return Some(clock_event(&self.state));
        }
        loop {
            tokio::select! {
                _ = self.closing.wait_for(|closing| *closing) => return None,
                change = self.changes.recv() => {
                    self.clock_due = true;
                    return Some(match change {
                        Ok(change) => Event::default()
                            .event("change")
                            .id(change.seq.to_string())
                            .json_data(&change)
                            .unwrap_or_else(|_| Event::default().event("lagged")),
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            Event::default().event("lagged").data(missed.to_string())
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    });
                }
                _ = self.tick.tick() => {
                    if !self.state.clock.status().paused {
                        return Some(clock_event(&self.state));
                    }
                }
            }
        }
    }
}

/// `GET /_sim/events`.
pub(super) async fn events_stream(
    State(state): State<Arc<AppState>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let (changes, closing) = state.events.subscribe();
    let mut tick = tokio::time::interval(CLOCK_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let listener = Listener {
        state,
        changes,
        closing,
        tick,
        // The first event tells the page the clock at once.
        clock_due: true,
    };
    let stream = stream::unfold(listener, |mut listener| async move {
        let event = listener.next().await?;
        Some((Ok(event), listener))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
