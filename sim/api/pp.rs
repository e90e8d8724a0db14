//! What the two Power Platform surfaces (BAP admin API, Power Platform API) share: the caller as
//! an actor, case-insensitive JSON bodies, query options, and the polling answer of long-running
//! operations.

use super::caller::{Caller, Principal};
use crate::config::PollStyle;
use crate::error::{ErrorCode, SimError};
use crate::ops::OperationId;
use crate::ops::{Operation, RunState};
use crate::state::AppState;
use crate::world::Settled;
use crate::world::operations::Work;
use crate::world::ppac::{Actor, PpEnvId, Sku};
use crate::world::tenant::Tenant;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// What a BAP or Power Platform API handler answers: its response, or the refusal its envelope
/// renders.
pub(crate) type Answer = Result<Response, SimError>;

/// Locks the caller's tenant, settles it to now and resolves the caller as an actor.
pub fn open<'a>(
    state: &AppState,
    caller: &'a Caller,
) -> Result<(Actor, Settled<'a>, Timestamp), SimError> {
    let tenant = caller.tenant.settled(state.clock.now());
    let now = tenant.now();
    let actor = match caller.principal {
        Principal::User(id) => crate::world::ppac::Actor::of(&tenant.state, Some(id), None)?,
        Principal::Application { object_id, .. } => {
            crate::world::ppac::Actor::of(&tenant.state, None, Some(object_id))?
        }
    };
    Ok((actor, tenant, now))
}

/// An environment id from a path segment.
pub fn env_id(text: &str) -> Result<PpEnvId, SimError> {
    PpEnvId::parse(text)
}

/// A JSON body whose member names bind case-insensitively, as the real (.NET) services do:
/// PowerShell sends `SourceEnvironmentId`, other clients `sourceEnvironmentId`. Keys are
/// lower-cased before binding, so target structs name their fields in lower case. Unknown members
/// are refused (`InvalidRequestContent` on the wire) where the struct denies them.
#[derive(Debug, Clone)]
pub struct PpJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for PpJson<T> {
    type Rejection = SimError;

    async fn from_request(req: Request, state: &S) -> Result<Self, SimError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            SimError::new(
                ErrorCode::InvalidBody,
                format!("The request content could not be read: {}", e.body_text()),
            )
        })?;
        parse_body(&bytes).map(PpJson)
    }
}

/// Parses a body case-insensitively (see [`PpJson`]); an empty body reads as `{}`.
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, SimError> {
    let value: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(bytes).map_err(|e| {
            SimError::new(
                ErrorCode::InvalidJson,
                format!(
                    "The request content was invalid and could not be deserialized: '{e}'. Send \
                     a JSON object."
                ),
            )
        })?
    };
    serde_path_to_error::deserialize(lower_keys(value)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let detail = match inner
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split_once('`'))
        {
            Some((member, _)) => format!("Could not find member '{member}'. Path '{path}'."),
            None => format!("{inner}. Path '{path}'."),
        };
        let error = SimError::new(
            ErrorCode::InvalidBody,
            format!("The request content was invalid and could not be deserialized: '{detail}'"),
        );
        if path == "." { error } else { error.at(path) }
    })
}

/// Lower-cases every object key, recursively.
pub fn lower_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), lower_keys(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(lower_keys).collect()),
        other => other,
    }
}

/// Query options with lower-cased names (`api-version`, `$expand`, `$filter`, `$top`...).
/// Unknown options are ignored, and so are unknown `api-version` values.
#[derive(Debug, Clone, Default)]
pub struct PpQuery(pub HashMap<String, String>);

impl PpQuery {
    /// An option's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// `api-version`, possibly empty.
    pub fn api_version(&self) -> &str {
        self.get("api-version").unwrap_or("")
    }

    /// Whether `$expand` names `what` (either `properties.capacity` or `properties/capacity`).
    pub fn expands(&self, what: &str) -> bool {
        self.get("$expand").is_some_and(|e| {
            e.split(',')
                .any(|item| item.trim().rsplit(['.', '/']).next() == Some(what))
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PpQuery {
    type Rejection = SimError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, SimError> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(parts.uri.query().unwrap_or("")).map_err(|e| {
                SimError::new(
                    ErrorCode::InvalidQuery,
                    format!("The query string could not be read: {e}"),
                )
            })?;
        Ok(PpQuery(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
        ))
    }
}

/// `Retry-After` for a running operation, in real seconds: the virtual time left divided by the
/// clock's scale, between 1 and 60 (5 while the clock is paused).
pub fn retry_after(state: &AppState, op: &Operation<Work>, now: Timestamp) -> u64 {
    let clock = state.clock.status();
    if clock.paused {
        return 5;
    }
    let left = op.ends_at().duration_since(now).as_secs_f64().max(0.0);
    ((left / clock.scale).ceil() as u64).clamp(1, 60)
}

/// The status of a poll while the operation runs (200, or 202 in the PowerShell style).
pub fn running_status(state: &AppState, api_version: &str) -> StatusCode {
    let accepted = match state.config.pp_polling {
        PollStyle::Ok => false,
        PollStyle::Accepted => true,
        PollStyle::Auto => api_version.get(..4).is_some_and(|y| y < "2020"),
    };
    if accepted {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    }
}

/// 202 with absolute `Location` and `Operation-Location` (both `url`) and `Retry-After`, and
/// `body` when there is one.
pub fn accepted(
    state: &AppState,
    t: &Tenant,
    url: &str,
    op: OperationId,
    now: Timestamp,
    body: Option<Value>,
) -> Response {
    let mut response = match body {
        Some(b) => (StatusCode::ACCEPTED, Json(b)).into_response(),
        None => StatusCode::ACCEPTED.into_response(),
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(url) {
        h.insert(header::LOCATION, v.clone());
        h.insert("operation-location", v);
    }
    let secs = t.operation(op).map_or(5, |o| retry_after(state, o, now));
    h.insert(header::RETRY_AFTER, secs.into());
    response
}

/// A poll's answer: while `op` runs, 200 (or 202, see [`running_status`]) with `Retry-After`;
/// once terminal, 200 without it.
pub fn poll_answer(
    state: &AppState,
    q: &PpQuery,
    op: &Operation<Work>,
    now: Timestamp,
    body: Value,
) -> Response {
    if op.state() == RunState::Running {
        let mut response = (running_status(state, q.api_version()), Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, retry_after(state, op, now).into());
        response
    } else {
        Json(body).into_response()
    }
}

/// Splits a neutral field name (see [`SimError::respelled`]) into its first member and the rest
/// (`templates[1]` is `templates` and `[1]`), and says whether that member is a Dataverse
/// setting, which both APIs take inside `linkedEnvironmentMetadata`.
pub fn field_head(field: &str) -> (&str, &str, bool) {
    let (head, rest) = field.split_at(field.find(['.', '[']).unwrap_or(field.len()));
    let dataverse = matches!(
        head,
        "domainName" | "baseLanguage" | "currency" | "templates" | "securityGroupId"
    );
    (head, rest, dataverse)
}

/// An optional `environmentSku` body field.
pub fn sku(text: Option<&str>, field: &str) -> Result<Option<Sku>, SimError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => Sku::from_name(t).map(Some).ok_or_else(|| {
            SimError::new(
                ErrorCode::InvalidEnvironmentRequest,
                format!(
                    "'{t}' is not an environment type; use one of: {}",
                    Sku::names()
                ),
            )
            .at(field)
        }),
    }
}

/// A backup id from a path segment; 404 when it is not one.
pub fn backup_id(text: &str) -> Result<uuid::Uuid, SimError> {
    uuid::Uuid::try_parse(text).map_err(|_| {
        SimError::new(
            ErrorCode::BackupNotFound,
            format!("'{text}' is not a backup id; list them with GET …/backups"),
        )
    })
}

/// A `currency` body member; only the code is used (PowerShell also sends name and symbol).
#[derive(Debug, serde::Deserialize, Default)]
pub struct Currency {
    /// ISO code, e.g. `EUR`.
    pub code: Option<String>,
    #[serde(rename = "name")]
    _name: Option<Value>,
    #[serde(rename = "symbol")]
    _symbol: Option<Value>,
    #[serde(rename = "precision")]
    _precision: Option<Value>,
}

impl Currency {
    /// The code, if a non-empty one was sent.
    pub fn code_of(currency: Option<&Currency>) -> Option<String> {
        currency
            .and_then(|c| c.code.clone())
            .filter(|c| !c.is_empty())
    }
}

/// `{"value": [items]}`, serialised from typed items.
#[derive(serde::Serialize)]
pub struct Listed<T> {
    /// The items.
    pub value: Vec<T>,
}

/// A page of a list the Power Platform API pages (OData): `$top` items after skipping `$skip`
/// of them, from the continuation point a `$skiptoken` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// `$top`: at most this many items; `None`, all of them.
    pub top: Option<usize>,
    /// `$skip`: leave out this many before the first.
    pub skip: usize,
    /// `$skiptoken`: where the previous page stopped (a position in the list's order).
    pub from: usize,
}

impl Page {
    /// The page a query asks for; 400 `InvalidQuery` for options that are not counts.
    pub fn of(q: &PpQuery) -> Result<Page, SimError> {
        let count = |name: &str, what: &str| -> Result<Option<usize>, SimError> {
            q.get(name)
                .map(|v| {
                    v.trim().parse::<usize>().map_err(|_| {
                        SimError::new(
                            ErrorCode::InvalidQuery,
                            format!("{name} must be {what}; '{v}' is not"),
                        )
                        .at(name)
                    })
                })
                .transpose()
        };
        Ok(Page {
            top: count("$top", "a whole number of items (0 or more)")?,
            skip: count("$skip", "a whole number of items to skip (0 or more)")?.unwrap_or(0),
            from: count(
                "$skiptoken",
                "a continuation token from an @odata.nextlink of this list",
            )?
            .unwrap_or(0),
        })
    }

    /// The items of this page from `items` (position, item), and the position the next page
    /// starts at if there are more.
    pub fn take<T>(self, items: impl Iterator<Item = (usize, T)>) -> (Vec<T>, Option<usize>) {
        let mut items = items.skip(self.skip);
        let top = self.top.unwrap_or(usize::MAX);
        let shown: Vec<T> = items.by_ref().take(top).map(|(_, item)| item).collect();
        // Unpaged lists have no link, and `$top=0` asks for nothing and for no link to more
        // (which would be the same page).
        let next = match self.top {
            Some(top) if top > 0 => items.next().map(|(at, _)| at),
            _ => None,
        };
        (shown, next)
    }

    /// The URL of the page that starts at `at`: this query's `api-version` and `$top`, with
    /// `$skiptoken` (and no `$skip`, already applied).
    pub fn next_link(self, root: &str, path: &str, q: &PpQuery, at: usize) -> String {
        use std::fmt::Write;
        let mut link = format!("{root}{path}?api-version={}", q.api_version());
        if let Some(top) = self.top {
            let _ = write!(link, "&$top={top}");
        }
        let _ = write!(link, "&$skiptoken={at}");
        link
    }
}

/// `{key: [items]}`, moving the items. (`json!` would serialize an interpolated `Value` again: a
/// deep copy per nesting level, which dominated the cost of large listings.)
pub fn wrap(key: &str, items: Vec<Value>) -> Value {
    let mut map = Map::new();
    map.insert(key.into(), Value::Array(items));
    Value::Object(map)
}

/// Moves `value` into `object[key]` (see [`wrap`] for why not through `json!`).
pub fn put(object: &mut Value, key: &str, value: Value) {
    if let Some(map) = object.as_object_mut() {
        map.insert(key.into(), value);
    }
}

/// A timestamp serialised as [`ts`] writes it, without a `String` in between.
#[derive(Clone, Copy)]
pub struct Ts(pub Timestamp);

impl serde::Serialize for Ts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// `P{n}D`, an ISO 8601 period of whole days (retention periods).
#[derive(Clone, Copy)]
pub struct Days(pub i64);

impl serde::Serialize for Days {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("P{}D", self.0))
    }
}

/// A timestamp as both APIs write it (RFC 3339, UTC).
pub fn ts(t: Timestamp) -> String {
    t.to_string()
}

/// An optional GUID body field; empty and all-zero values read as none.
pub fn guid_field(text: Option<&str>, field: &str) -> Result<Option<uuid::Uuid>, SimError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => uuid::Uuid::try_parse(t)
            .map(|g| (!g.is_nil()).then_some(g))
            .map_err(|_| {
                SimError::new(
                    ErrorCode::InvalidBody,
                    format!(
                        "The request content was invalid: '{field}' must be a GUID, not '{t}'."
                    ),
                )
                .at(field)
            }),
    }
}

/// A date-time body field: RFC 3339, or `yyyy-MM-dd HH:mm:ss` (UTC) as PowerShell examples write it.
pub fn time_field(text: &str, field: &str) -> Result<Timestamp, SimError> {
    let t = text.trim();
    if let Ok(ts) = t.parse::<Timestamp>() {
        return Ok(ts);
    }
    let civil = t.replace(' ', "T");
    civil
        .parse::<jiff::civil::DateTime>()
        .ok()
        .and_then(|dt| jiff::tz::TimeZone::UTC.to_timestamp(dt).ok())
        .ok_or_else(|| {
            SimError::new(
                ErrorCode::InvalidBody,
                format!(
                    "The request content was invalid: '{field}' must be a date and time such as \
                     2026-05-01T10:30:00Z or 2026-05-01 10:30:00, not '{t}'."
                ),
            )
            .at(field)
        })
}

/// Adds an HTTP `Warning` (299, miscellaneous persistent warning) to an answer, e.g. the
/// "not recommended" of converting an environment linked to finance and operations.
pub fn with_warning(mut response: Response, warning: Option<String>) -> Response {
    if let Some(text) = warning {
        let clean: String = text
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    ' '
                }
            })
            .filter(|c| *c != '"' && *c != '\\')
            .collect();
        if let Ok(value) = axum::http::HeaderValue::from_str(&format!("299 - \"{clean}\"")) {
            response
                .headers_mut()
                .insert(axum::http::header::WARNING, value);
        }
    }
    response
}

/// The wire code of an error on the Power Platform surfaces.
pub fn wire_code(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::InsufficientCapacity => "InsufficientCapacity_StorageDriven",
        ErrorCode::InvalidJson | ErrorCode::InvalidBody | ErrorCode::InvalidQuery => {
            "InvalidRequestContent"
        }
        ErrorCode::OperationNotFound => "LifecycleOperationNotFound",
        ErrorCode::MissingToken | ErrorCode::InvalidToken | ErrorCode::TokenExpired => {
            "InvalidAuthenticationToken"
        }
        other => other.as_str(),
    }
}

/// `FullCopy`/`MinimalCopy` (BAP), `Full`/`Minimal` (Power Platform API), `TransactionLess`.
pub fn copy_kind(text: Option<&str>) -> Result<bool, SimError> {
    match text.map(|t| t.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("fullcopy") | Some("full") | Some("transactionless") => Ok(true),
        Some("minimalcopy") | Some("minimal") => Ok(false),
        Some(other) => Err(SimError::new(
            ErrorCode::InvalidBody,
            format!("The request content was invalid: copyType must be FullCopy or MinimalCopy, not '{other}'."),
        )
        .at("copyType")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn query(pairs: &[(&str, &str)]) -> PpQuery {
        PpQuery(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn pages_follow_top_skip_and_the_skiptoken() -> Result<(), SimError> {
        // Positions 0..10 with 3 and 4 hidden (as deleted environments are).
        let items = || (0..10).filter(|i| *i != 3 && *i != 4).map(|i| (i, i));
        let page = Page::of(&query(&[("$top", "3")]))?;
        assert_eq!(page.take(items()), (vec![0, 1, 2], Some(5)));
        let page = Page::of(&query(&[("$top", "3"), ("$skiptoken", "5")]))?;
        assert_eq!(
            page.take(items().skip_while(|(at, _)| *at < 5)),
            (vec![5, 6, 7], Some(8))
        );
        let page = Page::of(&query(&[("$top", "3"), ("$skiptoken", "8")]))?;
        assert_eq!(
            page.take(items().skip_while(|(at, _)| *at < 8)),
            (vec![8, 9], None)
        );
        let page = Page::of(&query(&[("$top", "2"), ("$skip", "2")]))?;
        assert_eq!(page.take(items()), (vec![2, 5], Some(6)));
        assert_eq!(
            Page::of(&query(&[]))?.take(items()).1,
            None,
            "unpaged: all, no link"
        );
        let nothing = Page::of(&query(&[("$top", "0")]))?;
        assert_eq!(
            nothing.take(items()),
            (vec![], None),
            "$top=0 links to no next page"
        );
        let link = Page::of(&query(&[
            ("$top", "3"),
            ("api-version", "2022-03-01-preview"),
        ]))?
        .next_link(
            "https://api.powerplatform.com",
            "/environmentmanagement/environments",
            &query(&[("api-version", "2022-03-01-preview")]),
            5,
        );
        assert_eq!(
            link,
            "https://api.powerplatform.com/environmentmanagement/environments?api-version=2022-03-01-preview&$top=3&$skiptoken=5"
        );
        for bad in [("$top", "-1"), ("$skip", "many"), ("$skiptoken", "x1")] {
            let e = Page::of(&query(&[bad])).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidQuery, "{bad:?}");
            assert!(e.message.contains(bad.1), "{}", e.message);
        }
        Ok(())
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        sourceenvironmentid: Option<String>,
    }

    #[test]
    fn members_bind_in_any_case_and_unknown_ones_are_named() {
        let b: Result<Body, _> = parse_body(br#"{"SourceEnvironmentId":"x"}"#);
        assert_eq!(
            b.ok().and_then(|b| b.sourceenvironmentid).as_deref(),
            Some("x")
        );
        let e = parse_body::<Body>(br#"{"Bogus":1}"#).err();
        assert!(e.is_some_and(|e| e.message.contains("Could not find member 'bogus'")));
        assert_eq!(
            parse_body::<Body>(b"{").err().map(|e| e.code),
            Some(ErrorCode::InvalidJson)
        );
    }

    #[test]
    fn restore_points_take_both_formats() -> Result<(), SimError> {
        let a = time_field("2026-05-01 10:30:00", "x")?;
        let b = time_field("2026-05-01T10:30:00Z", "x")?;
        assert_eq!(a, b);
        assert!(time_field("yesterday", "x").is_err());
        Ok(())
    }
}
