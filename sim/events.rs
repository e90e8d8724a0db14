//! Change notices for live pages (`GET /_sim/events`): one notice per request that may have
//! changed state (every method but GET, HEAD and OPTIONS), published after it is answered.
//!
//! A notice says *that* something changed and where, never what: listeners read the state they
//! show through the same APIs as any tool, so a page never shows anything a tool could not see.
//! State that moves with no request (the clock running, operations finishing by themselves) is
//! covered by the stream's clock ticks while the clock runs.

use crate::world::identity::TenantId;
use serde::Serialize;
use tokio::sync::{broadcast, watch};

/// How many notices a slow listener may fall behind before it is told it lagged (it then reads
/// everything afresh, so nothing is lost but the detail).
const BACKLOG: usize = 256;

/// One request that may have changed state.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// The request's journal sequence number.
    pub seq: u64,
    /// HTTP method.
    pub method: String,
    /// The route template that served it, when one matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The tenant it acted for, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<TenantId>,
    /// The answer's status code (a refused request changed nothing, but pages may show it).
    pub status: u16,
}

/// The publish side, shared in the app state; listeners subscribe.
#[derive(Debug)]
pub struct Events {
    /// Fan-out of notices; a send with no listener is not an error.
    changes: broadcast::Sender<Change>,
    /// Turns true once the server shuts down, so open streams end and draining can finish.
    closing: watch::Sender<bool>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            changes: broadcast::channel(BACKLOG).0,
            closing: watch::channel(false).0,
        }
    }
}

impl Events {
    /// Tells every listener about `change`.
    pub fn publish(&self, change: Change) {
        // No listener is the common case (no page open); the notice is simply dropped.
        let _ = self.changes.send(change);
    }

    /// A listener: the notices from now on, and the shutdown flag.
    pub fn subscribe(&self) -> (broadcast::Receiver<Change>, watch::Receiver<bool>) {
        (self.changes.subscribe(), self.closing.subscribe())
    }

    /// Ends every open stream (server shutdown).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Whether anyone listens (so the request path builds no notice for nobody).
    pub fn listening(&self) -> bool {
        self.changes.receiver_count() > 0
    }

    /// Whether a request with this method may change state and so gets a notice.
    pub fn notable(method: &str) -> bool {
        !matches!(method, "GET" | "HEAD" | "OPTIONS")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(seq: u64) -> Change {
        Change {
            seq,
            method: "POST".into(),
            route: None,
            tenant: None,
            status: 200,
        }
    }

    #[test]
    fn listeners_get_notices_published_after_they_subscribed() {
        let events = Events::default();
        events.publish(change(1));
        let (mut rx, _) = events.subscribe();
        events.publish(change(2));
        assert_eq!(rx.try_recv().map(|c| c.seq).ok(), Some(2));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn close_raises_the_flag_for_every_listener() {
        let events = Events::default();
        let (_, closing) = events.subscribe();
        assert!(!*closing.borrow());
        events.close();
        assert!(*closing.borrow());
    }

    #[test]
    fn listening_is_true_only_while_a_listener_lives() {
        let events = Events::default();
        assert!(!events.listening());
        let listener = events.subscribe();
        assert!(events.listening());
        drop(listener);
        assert!(!events.listening());
    }

    #[test]
    fn only_methods_that_can_change_state_are_notable() {
        assert!(Events::notable("POST") && Events::notable("PATCH") && Events::notable("DELETE"));
        assert!(!Events::notable("GET") && !Events::notable("HEAD"));
    }
}
