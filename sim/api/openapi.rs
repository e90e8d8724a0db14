//! The OpenAPI 3.1 document of every route, built from the route table that [`super::routes`]
//! records while the router is assembled, and served at `GET /_sim/openapi.json` (rendered on
//! its first request).
//!
//! Each operation has its summary, its surface as tag, its path parameters, the surface's common
//! query parameters (`api-version`), security and request media type, and two responses: `2XX`
//! (or `303` with its `Location`, for a redirect) and `4XX` in the surface's own error envelope.
//! Bodies are described by media type only: the real services' shapes are in the reference, and
//! the simulator follows them.

use super::routes::{Op, Surface};
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use std::sync::{Arc, OnceLock};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{
    Http, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, ObjectBuilder, OpenApi, OpenApiBuilder,
    PathsBuilder, Ref, Required, ResponseBuilder, ResponsesBuilder, Schema, Type,
};

/// The query options of a paged list.
const PAGING: [(&str, &str); 3] = [
    (
        "$top",
        "At most this many items; the answer's @odata.nextlink points at the next page",
    ),
    ("$skip", "Leave out this many items first"),
    (
        "$skiptoken",
        "Where the previous page stopped: take it from an @odata.nextlink",
    ),
];

/// The document of the routes it was made from, rendered on first use (most runs never ask for
/// it, and rendering takes a few milliseconds a start would otherwise pay); cheap to clone.
#[derive(Debug, Clone)]
pub struct Document {
    ops: Arc<[Op]>,
    rendered: Arc<OnceLock<Bytes>>,
}

impl Document {
    /// The document of `ops`, not yet rendered.
    pub fn new(ops: &[Op]) -> Document {
        Document {
            ops: ops.into(),
            rendered: Arc::new(OnceLock::new()),
        }
    }

    /// The document as JSON, rendered the first time.
    pub fn json(&self) -> Bytes {
        self.rendered
            .get_or_init(|| {
                // Serializing plain data (maps, strings) cannot fail; an empty body would show it did.
                Bytes::from(serde_json::to_vec(&document(&self.ops)).unwrap_or_default())
            })
            .clone()
    }
}

impl IntoResponse for Document {
    fn into_response(self) -> Response {
        ([(header::CONTENT_TYPE, "application/json")], self.json()).into_response()
    }
}

/// What each surface is, for tags and descriptions.
fn tag(surface: Surface) -> (&'static str, &'static str) {
    match surface {
        Surface::Control => (
            "Control plane",
            "/_sim: the simulator's own routes (clock, tenants, faults, scenarios, snapshots, journal). No token.",
        ),
        Surface::Portal => (
            "LCS portal",
            "/_portal/lcs: LCS actions that exist only in the portal (deploy, delete, Power Platform integration setup).",
        ),
        Surface::Lcs => (
            "LCS API",
            "The Lifecycle Services public API (lcsapi.lcs.dynamics.com): database movement, environment info, start/stop, package deployment, asset library.",
        ),
        Surface::Blob => (
            "Azure Blob",
            "The blob endpoint behind the SAS URLs the LCS API hands out (Put Blob, Put Block, Put Block List, Get Blob); on {account}.blob.core.windows.net without the /_blob/{account} prefix.",
        ),
        Surface::Bap => (
            "BAP admin API",
            "api.bap.microsoft.com: Power Platform environments, lifecycle operations, capacity, settings.",
        ),
        Surface::PowerPlatform => (
            "Power Platform API",
            "api.powerplatform.com: environment management, operations, application packages, tenant capacity.",
        ),
        Surface::Entra => (
            "Entra ID",
            "The fake Entra ID (login.microsoftonline.com): token endpoints (v1 and v2: password, client credentials, refresh token), OpenID and instance discovery, user realm, signing keys.",
        ),
        Surface::Graph => (
            "Microsoft Graph",
            "graph.microsoft.com: GET /oidc/userinfo for a bearer token.",
        ),
        Surface::Ui => (
            "Training UI",
            "/_ui: the training demo's pages (LCS, PPAC, the conceptual environment) and their assets, embedded in the binary. The pages call only the routes above.",
        ),
    }
}

/// The component schema of the surface's error body.
fn error_schema(surface: Surface) -> &'static str {
    match surface {
        Surface::Control | Surface::Portal | Surface::Ui => "ControlError",
        Surface::Lcs => "LcsError",
        Surface::Blob => "BlobError",
        Surface::Bap | Surface::Graph => "BapError",
        Surface::PowerPlatform => "PowerPlatformError",
        Surface::Entra => "OAuthError",
    }
}

fn media(surface: Surface) -> (&'static str, &'static str) {
    // (request body, answers)
    match surface {
        Surface::Entra => ("application/x-www-form-urlencoded", "application/json"),
        Surface::Blob => ("application/octet-stream", "application/xml"),
        _ => ("application/json", "application/json"),
    }
}

fn bearer(surface: Surface) -> bool {
    !matches!(
        surface,
        Surface::Control | Surface::Entra | Surface::Blob | Surface::Ui
    )
}

fn http_method(method: &Method) -> HttpMethod {
    match *method {
        Method::POST => HttpMethod::Post,
        Method::PUT => HttpMethod::Put,
        Method::PATCH => HttpMethod::Patch,
        Method::DELETE => HttpMethod::Delete,
        Method::HEAD => HttpMethod::Head,
        Method::OPTIONS => HttpMethod::Options,
        _ => HttpMethod::Get,
    }
}

/// `{name}` and `{*name}` segments of a route template, and the template in OpenAPI's syntax.
fn template(path: &str) -> (String, Vec<String>) {
    let mut names = Vec::new();
    let openapi = path
        .split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => {
                    let name = name.trim_start_matches('*').to_string();
                    let out = format!("{{{name}}}");
                    names.push(name);
                    out
                }
                None => segment.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/");
    (openapi, names)
}

/// A unique, stable id: method and path, e.g. `get_sim_tenants_tenant_operations`.
fn operation_id(method: &Method, path: &str) -> String {
    let mut id = method.as_str().to_ascii_lowercase();
    for part in path
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
    {
        id.push('_');
        id.push_str(part);
    }
    id
}

fn string_schema() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn object(properties: &[(&str, Schema)], required: &[&str]) -> Schema {
    let mut builder = ObjectBuilder::new().schema_type(Type::Object);
    for (name, schema) in properties {
        builder = builder.property(*name, schema.clone());
    }
    for name in required {
        builder = builder.required(*name);
    }
    Schema::Object(builder.build())
}

fn string(description: &str) -> Schema {
    Schema::Object(string_schema().description(Some(description)).build())
}

fn code_message() -> Schema {
    object(
        &[
            ("code", string("A stable error code")),
            ("message", string("What went wrong and what to do")),
        ],
        &["code", "message"],
    )
}

/// The error bodies of every surface.
fn components() -> utoipa::openapi::Components {
    let bool_schema = Schema::Object(ObjectBuilder::new().schema_type(Type::Boolean).build());
    ComponentsBuilder::new()
        .schema(
            "ControlError",
            object(
                &[(
                    "error",
                    object(
                        &[
                            ("code", string("A stable error code, e.g. TenantNotFound")),
                            ("message", string("What went wrong and what to do")),
                            (
                                "target",
                                string("The field at fault, e.g. users[0].roles[1]"),
                            ),
                        ],
                        &["code", "message"],
                    ),
                )],
                &["error"],
            ),
        )
        .schema(
            "LcsError",
            object(
                &[
                    ("IsSuccess", bool_schema),
                    ("ErrorMessage", string("What went wrong")),
                    ("OperationActivityId", string("The request's activity id")),
                    ("VersionEOL", string("Always 9999-12-31T23:59:59.9999999")),
                ],
                &["IsSuccess", "ErrorMessage"],
            ),
        )
        .schema("BapError", object(&[("error", code_message())], &["error"]))
        .schema(
            "PowerPlatformError",
            object(
                &[
                    ("error", code_message()),
                    (
                        "errorDetail",
                        object(
                            &[
                                ("code", string("A stable error code")),
                                ("message", string("What went wrong")),
                                ("fieldErrors", object(&[], &[])),
                            ],
                            &["code", "message"],
                        ),
                    ),
                ],
                &[],
            ),
        )
        .schema(
            "OAuthError",
            object(
                &[
                    ("error", string("An OAuth 2.0 error, e.g. invalid_grant")),
                    (
                        "error_description",
                        string("AADSTS code and what went wrong"),
                    ),
                    (
                        "error_codes",
                        Schema::Array(
                            utoipa::openapi::ArrayBuilder::new()
                                .items(ObjectBuilder::new().schema_type(Type::Integer))
                                .build(),
                        ),
                    ),
                    ("timestamp", string("When")),
                    ("trace_id", string("A trace id")),
                    ("correlation_id", string("A correlation id")),
                ],
                &["error", "error_description"],
            ),
        )
        .schema(
            "BlobError",
            Schema::Object(
                string_schema()
                    .description(Some(
                        "<Error><Code>...</Code><Message>...</Message></Error>, with the code \
                         also in the x-ms-error-code header",
                    ))
                    .build(),
            ),
        )
        .security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        )
        .security_scheme(
            "controlToken",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The token the simulator was started with (--control-token, \
                         LIFECYCLE_SIM_CONTROL_TOKEN), needed only when it was started with one",
                    ))
                    .build(),
            ),
        )
        .build()
}

/// The OpenAPI 3.1 document of `ops`.
pub fn document(ops: &[Op]) -> OpenApi {
    let mut paths = PathsBuilder::new();
    let mut surfaces: Vec<Surface> = ops.iter().map(|op| op.surface).collect();
    surfaces.sort();
    surfaces.dedup();
    for op in ops {
        let (path, names) = template(&op.path);
        let (body_media, answer_media) = media(op.surface);
        let (tag_name, _) = tag(op.surface);
        let mut operation = OperationBuilder::new()
            .tag(tag_name)
            .summary(Some(op.summary))
            .operation_id(Some(operation_id(&op.method, &path)));
        for name in names {
            operation = operation.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(string_schema())),
            );
        }
        if matches!(op.surface, Surface::Bap | Surface::PowerPlatform) {
            operation = operation.parameter(
                ParameterBuilder::new()
                    .name("api-version")
                    .parameter_in(ParameterIn::Query)
                    .required(Required::False)
                    .description(Some(
                        "The API version; the real service requires it, the simulator accepts \
                         any (some answers follow it, e.g. the poll protocol)",
                    ))
                    .schema(Some(string_schema())),
            );
        }
        if op.pages {
            for (name, description) in PAGING {
                operation = operation.parameter(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Query)
                        .required(Required::False)
                        .description(Some(description))
                        .schema(Some(
                            ObjectBuilder::new()
                                .schema_type(Type::Integer)
                                .minimum(Some(0))
                                .build(),
                        )),
                );
            }
        }
        if matches!(op.method, Method::POST | Method::PUT | Method::PATCH) {
            let media = op.body.unwrap_or(body_media);
            operation = operation.request_body(Some(
                RequestBodyBuilder::new()
                    .content(media, ContentBuilder::new().build())
                    .required(Some(Required::False))
                    .build(),
            ));
        }
        if bearer(op.surface) {
            operation =
                operation.security(SecurityRequirement::new("bearer", Vec::<String>::new()));
        }
        if op.guarded {
            // Optional: the guard is on only when the simulator was started with a token.
            operation = operation.security(SecurityRequirement::default()).security(
                SecurityRequirement::new("controlToken", Vec::<String>::new()),
            );
        }
        let error = ResponseBuilder::new()
            .description("Refused, in the surface's own envelope, with a stable code")
            .content(
                answer_media,
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(error_schema(op.surface))))
                    .build(),
            )
            .build();
        let (status, success) = if op.redirects {
            (
                "303",
                ResponseBuilder::new()
                    .description("See Other: the page to open is in Location")
                    .header(
                        "Location",
                        HeaderBuilder::new()
                            .schema(string_schema())
                            .description(Some("Where the page is"))
                            .build(),
                    )
                    .build(),
            )
        } else {
            (
                "2XX",
                ResponseBuilder::new()
                    .description("Success")
                    .content(
                        op.answers.unwrap_or(answer_media),
                        ContentBuilder::new().build(),
                    )
                    .build(),
            )
        };
        operation = operation.responses(
            ResponsesBuilder::new()
                .response(status, success)
                .response("4XX", error)
                .build(),
        );
        paths = paths.path(
            path,
            utoipa::openapi::PathItem::new(http_method(&op.method), operation.build()),
        );
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("lifecycle-sim")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "In-memory emulator of the Dynamics Lifecycle Services and Power Platform \
                     admin APIs, with a virtual clock. Every surface is served on one port; real \
                     clients need only a different base URL. Clients that keep Microsoft's host \
                     names reach the same routes over TLS through the HTTPS proxy \
                     (--proxy-port: CONNECT host:443 to login.microsoftonline.com, \
                     api.bap.microsoft.com, api.powerplatform.com, the lcsapi hosts and the \
                     asset library's {account}.blob.core.windows.net, where /{container}/{blob} \
                     is the /_blob/{account}/... route) or the TLS port (--tls-port, certificate \
                     by SNI), trusting the CA of GET /_sim/tls/ca.pem (--tls-ca-dir keeps it). \
                     Answers name Microsoft's hosts when the request came that way.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components()))
        .tags(Some(surfaces.into_iter().map(|s| {
            let (name, description) = tag(s);
            TagBuilder::new()
                .name(name)
                .description(Some(description))
                .build()
        })))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_become_openapi_paths_with_their_parameters() {
        assert_eq!(
            template("/_blob/{account}/{container}/{*blob}"),
            (
                "/_blob/{account}/{container}/{blob}".to_string(),
                vec!["account".into(), "container".into(), "blob".into()]
            )
        );
        assert_eq!(template("/_sim/health"), ("/_sim/health".into(), vec![]));
    }

    #[test]
    fn operation_ids_are_method_and_path() {
        assert_eq!(
            operation_id(&Method::GET, "/_sim/tenants/{tenant}/operations"),
            "get_sim_tenants_tenant_operations"
        );
        assert_eq!(
            operation_id(&Method::POST, "/{tenant}/oauth2/v2.0/token"),
            "post_tenant_oauth2_v2_0_token"
        );
    }
}
