//! `/_portal`: actions that exist only in the real portals' pages (no public API), for demos,
//! tests and scenarios. Bearer tokens as for the real APIs; the control plane's JSON envelope.

pub mod lcs;

use super::envelope::{Envelope, envelope};
use super::routes::{Routes, Surface};
use crate::error::SimError;
use crate::state::AppState;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use uuid::Uuid;

/// Every portal route, behind the portal's door (request rules naming `portal`).
pub fn router(state: Arc<AppState>) -> Routes {
    Routes::new(Surface::Portal)
        .nest("/lcs", lcs::router())
        .map(|r| r.layer(middleware::from_fn_with_state(state, envelope::<Portal>)))
}

/// The portal's envelope: the control plane's, `{"error":{"code","message","target"?}}`.
pub struct Portal;

impl Envelope for Portal {
    const SURFACE: Surface = Surface::Portal;

    fn render(_: &AppState, error: &SimError, _: Option<Uuid>) -> Response {
        error.clone().into_response()
    }
}
