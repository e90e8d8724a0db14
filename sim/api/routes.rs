//! A router that documents itself: every route is added through [`Routes`] together with its
//! summary, so the OpenAPI document (`GET /_sim/openapi.json`, built by [`super::openapi`]) lists
//! exactly what is routed and cannot drift from it. `Router::route` is a disallowed method
//! everywhere else (see `clippy.toml`).

#![allow(clippy::disallowed_methods)]

use super::control::token;
use crate::state::AppState;
use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::MethodRouter;
use std::sync::Arc;

type S = Arc<AppState>;

/// Which API surface a route belongs to; decides its OpenAPI tag, security, common parameters
/// and error envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Surface {
    /// `/_sim`: the simulator's control plane.
    Control,
    /// `/_portal`: portal actions that have no public API.
    Portal,
    /// The LCS public API (`lcsapi.lcs.dynamics.com`).
    Lcs,
    /// The Azure Blob endpoint behind the LCS SAS URLs.
    Blob,
    /// The BAP admin API (`api.bap.microsoft.com`).
    Bap,
    /// The Power Platform API (`api.powerplatform.com`).
    PowerPlatform,
    /// The Entra ID token endpoints.
    Entra,
    /// Microsoft Graph's userinfo.
    Graph,
    /// `/_ui`: the training demo's pages and their assets.
    Ui,
}

/// One documented operation: a method on a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// The HTTP method.
    pub method: Method,
    /// The path template as routed, e.g. `/_sim/tenants/{tenant}`.
    pub path: String,
    /// One line on what it does.
    pub summary: &'static str,
    /// The surface it belongs to.
    pub surface: Surface,
    /// The request body's media type, when it takes one other than the surface's default.
    pub body: Option<&'static str>,
    /// The answer's media type, when it is not the surface's default (e.g. `text/event-stream`).
    pub answers: Option<&'static str>,
    /// It answers `303 See Other` with a `Location` instead of a body.
    pub redirects: bool,
    /// It pages with OData's `$top`, `$skip` and `$skiptoken` (the link in `@odata.nextlink`).
    pub pages: bool,
    /// It sits behind the control token, when the simulator has one (`--control-token`).
    pub guarded: bool,
}

/// One method of an [`Endpoint`] as documented.
struct Doc {
    method: Method,
    summary: &'static str,
    body: Option<&'static str>,
    answers: Option<&'static str>,
    redirects: bool,
    pages: bool,
}

impl Doc {
    fn new(method: Method, summary: &'static str) -> Doc {
        Doc {
            method,
            summary,
            body: None,
            answers: None,
            redirects: false,
            pages: false,
        }
    }
}

/// The handlers of one path, one per method, each with its summary.
pub struct Endpoint {
    router: MethodRouter<S>,
    ops: Vec<Doc>,
}

macro_rules! method {
    ($($name:ident => $method:ident),*) => {
        $(
            /// An endpoint answering this method with `handler`.
            pub fn $name<H, T>(handler: H, summary: &'static str) -> Endpoint
            where
                H: Handler<T, S>,
                T: 'static,
            {
                Endpoint {
                    router: MethodRouter::new(),
                    ops: Vec::new(),
                }
                .$name(handler, summary)
            }
        )*

        impl Endpoint {
            $(
                /// Also answers this method with `handler`.
                pub fn $name<H, T>(mut self, handler: H, summary: &'static str) -> Endpoint
                where
                    H: Handler<T, S>,
                    T: 'static,
                {
                    self.router = self.router.$name(handler);
                    self.ops.push(Doc::new(Method::$method, summary));
                    self
                }
            )*
        }
    };
}

method!(get => GET, post => POST, put => PUT, patch => PATCH, delete => DELETE);

impl Endpoint {
    /// The last method added takes a body of this media type (e.g. `application/yaml`).
    pub fn body(mut self, media: &'static str) -> Endpoint {
        if let Some(last) = self.ops.last_mut() {
            last.body = Some(media);
        }
        self
    }

    /// The last method added answers with this media type (e.g. `text/html`).
    pub fn answers(mut self, media: &'static str) -> Endpoint {
        if let Some(last) = self.ops.last_mut() {
            last.answers = Some(media);
        }
        self
    }

    /// The last method added pages with `$top`, `$skip` and `$skiptoken`.
    pub fn pages(mut self) -> Endpoint {
        if let Some(last) = self.ops.last_mut() {
            last.pages = true;
        }
        self
    }

    /// The last method added answers `303 See Other` with a `Location` (e.g. `/` to the UI).
    pub fn redirects(mut self) -> Endpoint {
        if let Some(last) = self.ops.last_mut() {
            last.redirects = true;
        }
        self
    }
}

/// Routes of one or more surfaces, with their documentation.
pub struct Routes {
    router: Router<S>,
    ops: Vec<Op>,
    surface: Surface,
}

impl Routes {
    /// No routes yet; those added next belong to `surface`.
    pub fn new(surface: Surface) -> Routes {
        Routes {
            router: Router::new(),
            ops: Vec::new(),
            surface,
        }
    }

    /// Routes `path` to `endpoint` and documents each of its methods.
    pub fn route(mut self, path: &str, endpoint: Endpoint) -> Routes {
        self.router = self.router.route(path, endpoint.router);
        for doc in endpoint.ops {
            self.ops.push(Op {
                method: doc.method,
                path: path.to_string(),
                summary: doc.summary,
                surface: self.surface,
                body: doc.body,
                answers: doc.answers,
                redirects: doc.redirects,
                pages: doc.pages,
                guarded: false,
            });
        }
        self
    }

    /// Routes a catch-all (`{*rest}`) that answers the surface's own "no such resource"; it is
    /// not an operation, so it is not documented.
    pub fn catch_all(mut self, path: &str, router: MethodRouter<S>) -> Routes {
        debug_assert!(
            path.contains("{*"),
            "only wildcards are undocumented: {path}"
        );
        self.router = self.router.route(path, router);
        self
    }

    /// Puts `other` under `prefix`.
    pub fn nest(mut self, prefix: &str, other: Routes) -> Routes {
        self.router = self.router.nest(prefix, other.router);
        self.ops.extend(other.ops.into_iter().map(|op| Op {
            path: format!("{prefix}{}", op.path),
            ..op
        }));
        self
    }

    /// Adds `other`'s routes beside these.
    pub fn merge(mut self, other: Routes) -> Routes {
        self.router = self.router.merge(other.router);
        self.ops.extend(other.ops);
        self
    }

    /// Puts the routes added so far behind the control token ([`token::require`]: it runs only
    /// for these routes, after routing) and documents them as guarded.
    pub fn behind_control_token(mut self, state: S) -> Routes {
        self.router = self
            .router
            .route_layer(axum::middleware::from_fn_with_state(state, token::require));
        for op in &mut self.ops {
            op.guarded = true;
        }
        self
    }

    /// Changes the router without adding routes: layers, fallbacks.
    pub fn map(mut self, f: impl FnOnce(Router<S>) -> Router<S>) -> Routes {
        self.router = f(self.router);
        self
    }

    /// The router and what it routes.
    pub fn into_parts(self) -> (Router<S>, Vec<Op>) {
        (self.router, self.ops)
    }
}
