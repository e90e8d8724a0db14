//! The control token (`--control-token`): when the simulator has one, the control plane's state
//! routes answer only requests that carry it, so that a simulator reachable from a network (a
//! CI service container binds 0.0.0.0) cannot be reset or fast-forwarded by anyone who finds it.
//!
//! Tools send it as `Authorization: Bearer <token>`. A browser's `EventSource` cannot set
//! headers, so the training UI keeps it in the `lifecycle-sim-control-token` cookie (path
//! `/_sim`, `SameSite=Strict`, so other sites' pages cannot use it), which is accepted as well.

use crate::error::{ErrorCode, SimError};
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The cookie the training UI keeps the token in.
pub const COOKIE: &str = "lifecycle-sim-control-token";

/// Lets the request through if the simulator has no control token or the request carries it.
pub async fn require(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let Some(expected) = &state.config.control_token else {
        return next.run(request).await;
    };
    let refusal = match presented(request.headers()) {
        // Compared as digests, so the time taken says nothing about the token.
        Some(token) if Sha256::digest(token) == Sha256::digest(expected.as_str()) => {
            return next.run(request).await;
        }
        Some(_) => SimError::new(
            ErrorCode::ControlTokenInvalid,
            "The control token sent is not the one this simulator was started with \
             (--control-token, LIFECYCLE_SIM_CONTROL_TOKEN); send that one as \
             'Authorization: Bearer <token>'.",
        ),
        None => SimError::new(
            ErrorCode::ControlTokenRequired,
            "This simulator's control plane is guarded by a control token (--control-token, \
             LIFECYCLE_SIM_CONTROL_TOKEN): send it as 'Authorization: Bearer <token>'. \
             GET /_sim/health, /_sim/ready, /_sim/openapi.json and /_sim/tls/ca.pem need none.",
        ),
    };
    let invalid = refusal.code == ErrorCode::ControlTokenInvalid;
    let mut response = refusal.into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(if invalid {
            r#"Bearer realm="lifecycle-sim control plane", error="invalid_token""#
        } else {
            r#"Bearer realm="lifecycle-sim control plane""#
        }),
    );
    response
}

/// The token a request carries: its bearer token, else the UI's cookie.
fn presented(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(name, value)| (name == COOKIE && !value.is_empty()).then_some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), HeaderValue::from_str(value).unwrap()); // ok: literals
        }
        map
    }

    #[test]
    fn a_bearer_token_is_read_whatever_the_scheme_s_case() {
        let h = headers(&[(header::AUTHORIZATION, "bearer s3cret")]);
        assert_eq!(presented(&h), Some("s3cret"));
        let h = headers(&[(header::AUTHORIZATION, "Bearer  s3cret ")]);
        assert_eq!(presented(&h), Some("s3cret"));
    }

    #[test]
    fn another_scheme_or_an_empty_token_is_no_token() {
        let h = headers(&[(header::AUTHORIZATION, "Basic czNjcmV0")]);
        assert_eq!(presented(&h), None);
        let h = headers(&[(header::AUTHORIZATION, "Bearer ")]);
        assert_eq!(presented(&h), None);
        assert_eq!(presented(&HeaderMap::new()), None);
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let h = headers(&[
            (header::COOKIE, "theme=dark"),
            (
                header::COOKIE,
                "a=1; lifecycle-sim-control-token=s3cret; b=2",
            ),
        ]);
        assert_eq!(presented(&h), Some("s3cret"));
        let h = headers(&[(header::COOKIE, "lifecycle-sim-control-token=")]);
        assert_eq!(presented(&h), None);
    }

    #[test]
    fn an_authorization_header_wins_over_the_cookie() {
        let h = headers(&[
            (header::AUTHORIZATION, "Bearer from-header"),
            (header::COOKIE, "lifecycle-sim-control-token=from-cookie"),
        ]);
        assert_eq!(presented(&h), Some("from-header"));
    }
}
