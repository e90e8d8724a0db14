//! The request journal: a bounded ring of recent requests, so a test can see what its tool sent
//! and what the simulator answered (`GET /_sim/journal`).

use crate::world::identity::TenantId;
use jiff::Timestamp;
use parking_lot::Mutex;
use serde::Serialize;
use std::collections::VecDeque;

/// One request as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// Position in the run's request sequence, starting at 1; use it with `since` to page.
    pub seq: u64,
    /// Wall-clock time the request arrived.
    pub real_time: Timestamp,
    /// Virtual time (shared clock) the request arrived.
    pub virtual_time: Timestamp,
    /// Tenant the request acted for, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<TenantId>,
    /// HTTP method.
    pub method: String,
    /// The host the request named (`Host`, or the authority of an HTTP/2 or proxy request),
    /// e.g. `api.bap.microsoft.com` through the proxy, `127.0.0.1:4747` on the plain port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// `https` when it came over TLS (the TLS port or a proxy tunnel), else `http`.
    pub scheme: &'static str,
    /// Path and query.
    pub path: String,
    /// The route template that served it, e.g. `/_sim/tenants/{tenant}` (as in the OpenAPI
    /// document); absent when no route matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Response status.
    pub status: u16,
    /// Real time taken to answer, in milliseconds.
    pub duration_ms: f64,
    /// Stable error code when the answer was an error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<&'static str>,
    /// The fault rules that changed this answer (injected latency, error or throttling).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
}

/// Which entries to return.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter {
    /// Only this tenant's requests.
    pub tenant: Option<TenantId>,
    /// Only entries with a larger `seq`.
    pub since: Option<u64>,
    /// At most this many (the most recent).
    pub limit: Option<usize>,
}

/// The ring of recent requests.
#[derive(Debug)]
pub struct Journal {
    /// How many entries are kept; older ones are dropped.
    capacity: usize,
    /// Entries and the next sequence number. A sync lock held for one push or one scan; requests
    /// take it once, after their answer is ready.
    inner: Mutex<(VecDeque<Entry>, u64)>,
}

impl Journal {
    /// A journal keeping the last `capacity` requests (0 keeps none).
    pub fn new(capacity: usize) -> Journal {
        Journal {
            capacity,
            inner: Mutex::new((VecDeque::with_capacity(capacity.min(4096)), 1)),
        }
    }

    /// Records a request; its `seq` is assigned here.
    pub fn record(&self, mut entry: Entry) -> u64 {
        let mut inner = self.inner.lock();
        let seq = inner.1;
        entry.seq = seq;
        inner.1 += 1;
        if self.capacity == 0 {
            return seq;
        }
        if inner.0.len() == self.capacity {
            inner.0.pop_front();
        }
        inner.0.push_back(entry);
        seq
    }

    /// Matching entries, oldest first.
    pub fn entries(&self, filter: Filter) -> Vec<Entry> {
        let inner = self.inner.lock();
        let matching: Vec<&Entry> = inner
            .0
            .iter()
            .filter(|e| filter.tenant.is_none_or(|t| e.tenant == Some(t)))
            .filter(|e| filter.since.is_none_or(|s| e.seq > s))
            .collect();
        let skip = filter
            .limit
            .map_or(0, |limit| matching.len().saturating_sub(limit));
        matching.into_iter().skip(skip).cloned().collect()
    }

    /// Forgets every entry (the sequence keeps counting).
    pub fn clear(&self) {
        self.inner.lock().0.clear();
    }

    /// How many entries are kept at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, tenant: Option<TenantId>) -> Entry {
        Entry {
            seq: 0,
            real_time: Timestamp::UNIX_EPOCH,
            virtual_time: Timestamp::UNIX_EPOCH,
            tenant,
            method: "GET".into(),
            host: None,
            scheme: "http",
            path: path.into(),
            route: None,
            status: 200,
            duration_ms: 0.1,
            error_code: None,
            fault: None,
        }
    }

    #[test]
    fn keeps_the_most_recent_entries_and_filters() {
        let journal = Journal::new(3);
        let t = TenantId(uuid::Uuid::from_u128(1));
        for (i, tenant) in [None, Some(t), None, Some(t)].into_iter().enumerate() {
            journal.record(entry(&format!("/{i}"), tenant));
        }
        let paths =
            |f: Filter| -> Vec<String> { journal.entries(f).into_iter().map(|e| e.path).collect() };
        assert_eq!(paths(Filter::default()), ["/1", "/2", "/3"]);
        let by_tenant = Filter {
            tenant: Some(t),
            ..Filter::default()
        };
        assert_eq!(paths(by_tenant), ["/1", "/3"]);
        let since = Filter {
            since: Some(3),
            ..Filter::default()
        };
        assert_eq!(paths(since), ["/3"]);
        let limit = Filter {
            limit: Some(1),
            ..Filter::default()
        };
        assert_eq!(paths(limit), ["/3"]);
    }
}
