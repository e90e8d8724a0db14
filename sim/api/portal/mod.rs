//! `/_portal`: actions that exist only in the real portals' pages (no public API), for demos,
//! tests and scenarios. Bearer tokens as for the real APIs; the control plane's JSON envelope.

pub mod lcs;

use super::routes::{Routes, Surface};

/// Every portal route.
pub fn router() -> Routes {
    Routes::new(Surface::Portal).nest("/lcs", lcs::router())
}
