//! `/_portal`: actions that exist only in the real portals' pages (no public API), for demos,
//! tests and scenarios. Bearer tokens as for the real APIs; the control plane's JSON envelope.

pub mod lcs;

use crate::app::AppState;
use axum::Router;
use std::sync::Arc;

/// Every portal route.
pub fn router() -> Router<Arc<AppState>> {
    Router::new().nest("/lcs", lcs::router())
}
