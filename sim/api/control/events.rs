//! `GET /_sim/events`: server-sent events for live pages.
//!
//! Events: `clock` (the body of `GET /_sim/clock`) first, then every second of real time while
//! the clock runs and after a change that moved it; `change` (a [`Change`]) after each request
//! that may have changed state; `lagged` when this listener fell behind (read everything again).
//! The stream ends when the server shuts down.

use crate::clock::ClockStatus;
use crate::events::Change;
use crate::state::AppState;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// How often a running clock is reported. Real time, not virtual: it paces the pages' redraws.
const CLOCK_TICK: Duration = Duration::from_secs(1);

/// One open stream's side: what it listens to and what it sent last.
struct Listener {
    /// For the clock readings.
    state: Arc<AppState>,
    /// Notices published since the stream opened.
    changes: broadcast::Receiver<Change>,
    /// Turns true at shutdown; the stream then ends.
    closing: watch::Receiver<bool>,
    /// Paces clock readings while the clock runs.
    tick: tokio::time::Interval,
    /// A change was just sent; the clock follows it if the change moved it.
    clock_due: bool,
    /// The clock as last sent, so an unchanged clock is not sent again.
    sent: Option<ClockStatus>,
}

impl Listener {
    /// The clock, unless it reads as last sent.
    fn clock_event(&mut self) -> Option<Event> {
        let status = self.state.clock.status();
        if self.sent == Some(status) {
            return None;
        }
        self.sent = Some(status);
        Some(
            Event::default()
                .event("clock")
                .json_data(status)
                .unwrap_or_else(|_| Event::default().event("clock")),
        )
    }

    /// The next event, or `None` once the server shuts down.
    async fn next(&mut self) -> Option<Event> {
        if std::mem::take(&mut self.clock_due)
            && let Some(clock) = self.clock_event()
        {
            return Some(clock);
        }
        loop {
            let change = tokio::select! {
                _ = self.closing.wait_for(|closing| *closing) => return None,
                change = self.changes.recv() => Some(change),
                _ = self.tick.tick() => None,
            };
            let Some(change) = change else {
                // A paused clock reads the same, so a tick sends it only while it runs.
                match self.clock_event() {
                    Some(clock) => return Some(clock),
                    None => continue,
                }
            };
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
        sent: None,
    };
    let stream = stream::unfold(listener, |mut listener| async move {
        let event = listener.next().await?;
        Some((Ok(event), listener))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
