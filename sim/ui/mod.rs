//! The training demo: LCS and PPAC look-alikes and the conceptual environment, as plain HTML, CSS
//! and JavaScript embedded in the binary (no network, no build step).
//!
//! The server side is only this: one page shell for every page (the script draws the page the
//! path names) and the assets. Everything a page shows it reads from the public, `/_portal` and
//! `/_sim` APIs, like any tool; `GET /_sim/events` tells it when to read again.

use crate::api::extract::ApiPath;
use crate::api::routes::{Routes, Surface, get};
use crate::error::{ErrorCode, SimError};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};

/// Where trainers land: the LCS look-alike.
pub const HOME: &str = "/_ui/lcs";

/// The page shell; `app.js` renders the page the path names.
const SHELL: &str = include_str!("assets/index.html");

/// The assets under `/_ui/assets/`: name, media type, content.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("assets/app.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("assets/favicon.svg"),
    ),
];

/// The training pages and their assets.
pub fn router() -> Routes {
    Routes::new(Surface::Ui)
        .route("/", get(home, "Redirects to the training UI (LCS look-alike)").redirects())
        .route("/_ui", get(home, "Redirects to the training UI (LCS look-alike)").redirects())
        .route(
            "/_ui/lcs",
            get(page, "LCS look-alike: projects, environments, environment details with Power Platform integration")
                .answers("text/html"),
        )
        .route(
            "/_ui/ppac",
            get(page, "PPAC look-alike: environments and their lifecycle actions, blocked ones with the reason")
                .answers("text/html"),
        )
        .route(
            "/_ui/environments",
            get(page, "The conceptual environment: both halves, the link, running operations on a timeline, terminology")
                .answers("text/html"),
        )
        .route(
            "/_ui/assets/{file}",
            get(asset, "A script, style sheet or image of the training UI").answers("*/*"),
        )
}

async fn home() -> Redirect {
    Redirect::to(HOME)
}

async fn page() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        SHELL,
    )
        .into_response()
}

async fn asset(ApiPath(file): ApiPath<String>) -> Result<Response, SimError> {
    let (_, media, body) = ASSETS
        .iter()
        .find(|(name, _, _)| *name == file)
        .ok_or_else(|| {
            SimError::new(
                ErrorCode::UiAssetNotFound,
                format!(
                    "the training UI has no asset '{file}'; open {HOME} (assets: {})",
                    ASSETS
                        .iter()
                        .map(|(n, _, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(media)),
            // Assets change only with the binary; revalidate so an upgrade shows at once.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        *body,
    )
        .into_response())
}
