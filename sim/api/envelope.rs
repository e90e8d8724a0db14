//! Errors on the wire: the HTTP status of each error code, the control plane's own envelope (the
//! default rendering of a [`SimError`]), and the middleware that re-renders a surface's errors in
//! that surface's envelope ([`Envelope`]), after the request rules had their say. Shared by every
//! surface; imports none of them.

use super::faults;
use super::routes::Surface;
use crate::error::{ErrorClass, ErrorCode, SimError};
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;
use uuid::Uuid;

/// The HTTP status for an error code.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code.class() {
        ErrorClass::BadRequest => StatusCode::BAD_REQUEST,
        ErrorClass::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorClass::Forbidden => StatusCode::FORBIDDEN,
        ErrorClass::NotFound => StatusCode::NOT_FOUND,
        ErrorClass::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorClass::Conflict => StatusCode::CONFLICT,
        ErrorClass::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorClass::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        ErrorClass::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The HTTP status of an error: the one a request rule fixed, else its code's.
pub fn status(error: &SimError) -> StatusCode {
    error
        .injected
        .as_deref()
        .and_then(|fixed| StatusCode::from_u16(fixed.status).ok())
        .unwrap_or_else(|| status_of(error.code))
}

/// The control plane's envelope: `{"error":{"code","message","target"?}}`.
impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        let mut body = json!({"code": self.wire_code(self.code.as_str()), "message": self.message});
        if let Some(target) = &self.target {
            body["target"] = json!(target);
        }
        let mut response = (status(&self), axum::Json(json!({ "error": body }))).into_response();
        set_retry_after(&mut response, &self);
        response.extensions_mut().insert(Arc::new(self));
        response
    }
}

/// Adds `Retry-After` (whole seconds) when the error says when to retry.
fn set_retry_after(response: &mut Response, error: &SimError) {
    if let Some(seconds) = error.retry_after {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, seconds.into());
    }
}

/// The error a response carries, if it is an error response built from a [`SimError`].
pub fn error_of(response: &Response) -> Option<Arc<SimError>> {
    response.extensions().get::<Arc<SimError>>().cloned()
}

/// Marks an error response whose body must stay empty (BAP answers a DELETE that conflicts with a
/// running operation with a bare 409); [`envelope`] passes it through, and the journal still sees
/// its error.
#[derive(Debug, Clone, Copy)]
pub struct Bodiless;

impl SimError {
    /// This error's status with an empty body, still carrying the error for the journal.
    pub fn bodiless(self) -> Response {
        let mut response = status_of(self.code).into_response();
        response.extensions_mut().insert(Arc::new(self));
        response.extensions_mut().insert(Bodiless);
        response
    }
}

/// A surface's own error envelope. Wrap the surface's routes in
/// `middleware::from_fn_with_state(state, envelope::<MySurface>)`.
pub trait Envelope {
    /// The surface of these routes, whose request rules apply at its door.
    const SURFACE: Surface;

    /// The response for `error`; `correlation` is the id the client sent in `client-request-id`.
    /// An injected error ([`SimError::injected`]) is rendered with the status and code its rule
    /// fixed ([`status`], [`SimError::wire_code`], [`SimError::class`]). `Retry-After` is added
    /// afterwards when the error has one.
    fn render(state: &AppState, error: &SimError, correlation: Option<Uuid>) -> Response;
}

/// The door of a surface with envelope `E`: applies the run's request rules for `E::SURFACE`
/// (a delay, an injected error), then re-renders any error response of the routes it wraps in
/// `E`. The new response still carries the error, for the journal.
pub async fn envelope<E: Envelope>(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let correlation = request
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Uuid::try_parse(v).ok());
    let decision = faults::decide(&state, E::SURFACE, &request);
    faults::delay(&decision).await;
    let mut response = match &decision.answer {
        Some(error) => error.clone().into_response(),
        None => next.run(request).await,
    };
    if let Some(error) = error_of(&response)
        && response.extensions().get::<Bodiless>().is_none()
    {
        response = E::render(&state, &error, correlation);
        if !response.headers().contains_key(header::RETRY_AFTER) {
            set_retry_after(&mut response, &error);
        }
        response.extensions_mut().insert(error);
    }
    faults::mark(&mut response, &decision);
    response
}
