//! A minimal Azure Blob Storage endpoint behind the asset library's SAS URLs:
//! `/_blob/{account}/{container}/{blob}` (path-style, like the storage emulators).
//!
//! Enough of the wire protocol for storage SDKs, AzCopy and plain HTTP clients to upload and
//! download asset files: Put Blob, Put Block, Put Block List, Get Blob (with `Range` /
//! `x-ms-range`) and Get Blob Properties (HEAD). Every request must carry the SAS the LCS API
//! handed out (`sp`, `se`, `sig`); errors are Azure's XML `<Error><Code>…` bodies with
//! `x-ms-error-code`.
//!
//! The account is the tenant id (32 hex digits), or `shared` for Microsoft's shared assets.

use super::envelope::{Envelope, envelope, status};
use super::sas::{SHARED_ACCOUNT, signature};
use crate::api::routes::{Routes, Surface, get};
use crate::error::{ErrorCode, SimError};
use crate::state::AppState;
use crate::world::blob::{Blob, BlockSource};
use crate::world::identity::TenantId;
use crate::world::lcs::files::SharedAsset;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use quick_xml::events::Event;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// The storage service version the endpoint speaks.
const STORAGE_VERSION: &str = "2021-08-06";
/// The blob routes, with Azure's error envelope.
pub fn router(state: Arc<AppState>) -> Routes {
    Routes::new(Surface::Blob)
        .route(
            "/_blob/{account}/{container}/{*blob}",
            get(read, "Get Blob (a SAS URL from the LCS API)").put(
                write,
                "Put Blob, Put Block or Put Block List (a SAS URL from the LCS API)",
            ),
        )
        .map(|r| r.layer(middleware::from_fn_with_state(state, envelope::<Storage>)))
}

#[derive(Debug, Default, Deserialize)]
struct BlobQuery {
    sig: Option<String>,
    se: Option<String>,
    sp: Option<String>,
    comp: Option<String>,
    blockid: Option<String>,
    #[serde(flatten)]
    _rest: HashMap<String, String>,
}

/// Checks the SAS of a request for `resource` and the permission `need` (`r` or `w`).
fn authorize(
    state: &AppState,
    query: &BlobQuery,
    resource: &str,
    need: char,
    now: Timestamp,
) -> Result<(), SimError> {
    let denied = |why: &str| {
        SimError::new(
            ErrorCode::BlobAuthenticationFailed,
            format!(
                "Server failed to authenticate the request. Make sure the value of Authorization \
                 header is formed correctly including the signature. {why}"
            ),
        )
    };
    let (Some(sig), Some(se), Some(sp)) = (&query.sig, &query.se, &query.sp) else {
        return Err(denied(
            "The URL carries no SAS (sig, se, sp); use the FileLocation the LCS API returned",
        ));
    };
    if signature(&state.blob_key, sp, se, resource) != *sig {
        return Err(denied(
            "Signature did not match; the SAS was not issued for this blob",
        ));
    }
    let expiry = crate::clock::parse_timestamp(se).map_err(|_| denied("se is not a timestamp"))?;
    if expiry <= now {
        return Err(denied(&format!(
            "Signed expiry time [{se}] has passed (virtual time is {now}); get a new FileLocation"
        )));
    }
    if !sp.contains(need) {
        return Err(SimError::new(
            ErrorCode::BlobPermissionMismatch,
            format!(
                "This request is not authorized to perform this operation using this \
                 permission: it needs '{need}' and the SAS grants '{sp}'"
            ),
        ));
    }
    Ok(())
}

fn storage_headers(headers: &mut HeaderMap, request_id: Uuid) {
    headers.insert("x-ms-version", HeaderValue::from_static(STORAGE_VERSION));
    if let Ok(id) = HeaderValue::from_str(&request_id.to_string()) {
        headers.insert("x-ms-request-id", id);
    }
}

fn http_date(t: Timestamp) -> String {
    t.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn blob_headers(headers: &mut HeaderMap, blob: &Blob, request_id: Uuid) {
    storage_headers(headers, request_id);
    let mut put = |name: header::HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    put(header::ETAG, &blob.etag);
    put(header::LAST_MODIFIED, &http_date(blob.modified));
    put(
        header::CONTENT_TYPE,
        blob.content_type
            .as_deref()
            .unwrap_or("application/octet-stream"),
    );
    headers.insert("x-ms-blob-type", HeaderValue::from_static("BlockBlob"));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&http_date(blob.created)) {
        headers.insert("x-ms-creation-time", v);
    }
}

/// Parses `bytes=a-b` / `bytes=a-` against a blob of `len` bytes.
fn byte_range(text: &str, len: usize) -> Result<(usize, usize), SimError> {
    let bad = || {
        SimError::new(
            ErrorCode::InvalidRange,
            format!(
                "The range specified is invalid for the current size of the resource ({len} bytes): '{text}'"
            ),
        )
    };
    let spec = text.trim().strip_prefix("bytes=").ok_or_else(bad)?;
    let (start, end) = spec.split_once('-').ok_or_else(bad)?;
    let start: usize = start.trim().parse().map_err(|_| bad())?;
    let end: usize = match end.trim() {
        "" => len.saturating_sub(1),
        e => e
            .parse::<usize>()
            .map_err(|_| bad())?
            .min(len.saturating_sub(1)),
    };
    if start >= len || end < start {
        return Err(bad());
    }
    Ok((start, end))
}

async fn read(
    State(state): State<Arc<AppState>>,
    Path((account, container, name)): Path<(String, String, String)>,
    Query(query): Query<BlobQuery>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, SimError> {
    let resource = format!("/{account}/{container}/{name}");
    let blob = if account == SHARED_ACCOUNT {
        authorize(&state, &query, &resource, 'r', state.clock.now())?;
        shared_blob(&name)?
    } else {
        let tenant = tenant_of(&state, &account)?;
        let tenant = tenant.settled(state.clock.now());
        let now = tenant.now();
        authorize(&state, &query, &resource, 'r', now)?;
        tenant
            .state
            .blobs
            .get(&container, &name)
            .map(Blob::properties)
            .ok_or_else(|| not_found(&resource))?
    };
    let range = headers
        .get("x-ms-range")
        .or_else(|| headers.get(header::RANGE))
        .and_then(|v| v.to_str().ok());
    let mut response = match range {
        Some(range) => {
            let (start, end) = byte_range(range, blob.data.len())?;
            let mut r = (
                StatusCode::PARTIAL_CONTENT,
                body_for(&method, blob.data.slice(start..=end)),
            )
                .into_response();
            if let Ok(v) =
                HeaderValue::from_str(&format!("bytes {start}-{end}/{}", blob.data.len()))
            {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, (end - start + 1).into());
            r
        }
        None => {
            let mut r = (StatusCode::OK, body_for(&method, blob.data.clone())).into_response();
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, blob.data.len().into());
            r
        }
    };
    blob_headers(response.headers_mut(), &blob, state.trace_id());
    Ok(response)
}

fn body_for(method: &Method, data: Bytes) -> Body {
    if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(data)
    }
}

fn shared_blob(name: &str) -> Result<Blob, SimError> {
    let asset = Uuid::try_parse(name)
        .ok()
        .and_then(SharedAsset::find)
        .ok_or_else(|| not_found(&format!("/{SHARED_ACCOUNT}/{name}")))?;
    let modified = crate::clock::parse_timestamp(&format!("{}Z", asset.modified))
        .unwrap_or(Timestamp::UNIX_EPOCH);
    Ok(Blob {
        data: Bytes::from(asset.content()),
        content_type: Some("application/x-zip-compressed".into()),
        created: modified,
        modified,
        etag: format!("\"0x8D{:014X}\"", asset.id.as_u128() & 0xFFFF_FFFF_FFFF),
        blocks: Vec::new(),
    })
}

fn tenant_of(state: &AppState, account: &str) -> Result<crate::world::TenantRef, SimError> {
    TenantId::parse(account)
        .ok()
        .and_then(|id| state.world.tenant(id).ok())
        .ok_or_else(|| {
            SimError::new(
                ErrorCode::BlobNotFound,
                format!("The storage account '{account}' does not exist (its tenant was deleted?)"),
            )
        })
}

fn not_found(resource: &str) -> SimError {
    SimError::new(
        ErrorCode::BlobNotFound,
        format!("The specified blob does not exist: {resource}"),
    )
}

async fn write(
    State(state): State<Arc<AppState>>,
    Path((account, container, name)): Path<(String, String, String)>,
    Query(query): Query<BlobQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, SimError> {
    let resource = format!("/{account}/{container}/{name}");
    if account == SHARED_ACCOUNT {
        authorize(&state, &query, &resource, 'w', state.clock.now())?;
    }
    let tenant = tenant_of(&state, &account)?;
    {
        let t = tenant.settled(state.clock.now());
        let now = t.now();
        authorize(&state, &query, &resource, 'w', now)?;
    }
    // Read the body without holding the tenant's lock.
    let limit = state.config.max_upload_bytes;
    let data = axum::body::to_bytes(body, limit).await.map_err(|_| {
        SimError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "The request body is too large: this simulator accepts at most {limit} bytes per \
                 Put Blob or Put Block (--max-upload-bytes); upload large files in blocks"
            ),
        )
    })?;
    let content_type = headers
        .get("x-ms-blob-content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut t = tenant.settled(state.clock.now());
    let now = t.now();
    let blobs = &mut t.state.blobs;
    let blob = match query.comp.as_deref() {
        None => {
            let kind = headers.get("x-ms-blob-type").and_then(|v| v.to_str().ok());
            match kind {
                Some(k) if k.eq_ignore_ascii_case("BlockBlob") => {}
                Some(k) => {
                    return Err(SimError::new(
                        ErrorCode::InvalidBlobRequest,
                        format!("x-ms-blob-type '{k}' is not supported here; asset files are block blobs"),
                    )
                    .at("x-ms-blob-type"));
                }
                None => {
                    return Err(SimError::new(
                        ErrorCode::InvalidBlobRequest,
                        "An HTTP header that's mandatory for this request is not specified: \
                         x-ms-blob-type (send 'x-ms-blob-type: BlockBlob')",
                    )
                    .at("x-ms-blob-type"));
                }
            }
            blobs
                .put(&container, &name, data, content_type, now)
                .properties()
        }
        Some("block") => {
            let id = query.blockid.as_deref().ok_or_else(|| {
                SimError::new(
                    ErrorCode::InvalidBlobRequest,
                    "Put Block needs a blockid query parameter",
                )
                .at("blockid")
            })?;
            blobs.stage_block(&container, &name, id, data)?;
            let mut response = StatusCode::CREATED.into_response();
            storage_headers(response.headers_mut(), state.trace_id());
            response.headers_mut().insert(
                "x-ms-request-server-encrypted",
                HeaderValue::from_static("true"),
            );
            return Ok(response);
        }
        Some("blocklist") => {
            let list = parse_block_list(&data)?;
            blobs
                .commit_block_list(&container, &name, &list, content_type, now)?
                .properties()
        }
        Some(other) => {
            return Err(SimError::new(
                ErrorCode::InvalidBlobRequest,
                format!("comp={other} is not supported; use comp=block or comp=blocklist"),
            )
            .at("comp"));
        }
    };
    drop(t);
    let mut response = StatusCode::CREATED.into_response();
    blob_headers(response.headers_mut(), &blob, state.trace_id());
    response.headers_mut().remove(header::CONTENT_TYPE);
    response.headers_mut().insert(
        "x-ms-request-server-encrypted",
        HeaderValue::from_static("true"),
    );
    Ok(response)
}

/// Reads a Put Block List body: `<BlockList><Latest>id</Latest>…</BlockList>`.
fn parse_block_list(body: &[u8]) -> Result<Vec<(BlockSource, String)>, SimError> {
    let bad = |why: String| {
        SimError::new(
            ErrorCode::InvalidBlobRequest,
            format!("The block list is not valid XML of the form <BlockList><Latest>id</Latest>...</BlockList>: {why}"),
        )
        .at("BlockList")
    };
    let mut reader = quick_xml::Reader::from_reader(body);
    reader.config_mut().trim_text(true);
    let mut list = Vec::new();
    let mut current: Option<BlockSource> = None;
    let mut seen_root = false;
    loop {
        match reader.read_event().map_err(|e| bad(e.to_string()))? {
            Event::Start(e) => match e.name().as_ref() {
                "BlockList" => seen_root = true,
                "Latest" => current = Some(BlockSource::Latest),
                "Committed" => current = Some(BlockSource::Committed),
                "Uncommitted" => current = Some(BlockSource::Uncommitted),
                other => return Err(bad(format!("unexpected element <{other}>"))),
            },
            Event::Text(t) => {
                if let Some(source) = current {
                    let id = t.into_inner().trim().to_string();
                    list.push((source, id));
                }
            }
            Event::End(_) => current = None,
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_root {
        return Err(bad("no <BlockList> element".into()));
    }
    Ok(list)
}

/// Azure Storage's error envelope.
pub struct Storage;

impl Envelope for Storage {
    const SURFACE: Surface = Surface::Blob;

    fn render(state: &AppState, error: &SimError, _correlation: Option<Uuid>) -> Response {
        let (status, code) = match error.code {
            _ if error.injected.is_some() => (status(error), error.wire_code("")),
            ErrorCode::BlobAuthenticationFailed => (StatusCode::FORBIDDEN, "AuthenticationFailed"),
            ErrorCode::BlobPermissionMismatch => {
                (StatusCode::FORBIDDEN, "AuthorizationPermissionMismatch")
            }
            ErrorCode::BlobNotFound => (StatusCode::NOT_FOUND, "BlobNotFound"),
            ErrorCode::InvalidRange => (StatusCode::RANGE_NOT_SATISFIABLE, "InvalidRange"),
            ErrorCode::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "RequestBodyTooLarge"),
            ErrorCode::InvalidBlobRequest => (
                StatusCode::BAD_REQUEST,
                match error.target.as_deref() {
                    Some("BlockList") => "InvalidBlockList",
                    Some("x-ms-blob-type") => "MissingRequiredHeader",
                    Some("blockid") => "InvalidQueryParameterValue",
                    Some("comp") => "InvalidQueryParameterValue",
                    _ => "InvalidInput",
                },
            ),
            ErrorCode::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "UnsupportedHttpVerb"),
            ErrorCode::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
            _ => (StatusCode::BAD_REQUEST, "InvalidInput"),
        };
        let request_id = state.trace_id();
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>{}\n\
             RequestId:{request_id}\nTime:{}</Message></Error>",
            xml_text(&error.message),
            state.clock.now()
        );
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        if let Ok(v) = HeaderValue::from_str(code) {
            headers.insert("x-ms-error-code", v);
        }
        headers.insert("x-ms-version", HeaderValue::from_static(STORAGE_VERSION));
        if let Ok(v) = HeaderValue::from_str(&request_id.to_string()) {
            headers.insert("x-ms-request-id", v);
        }
        response
    }
}

fn xml_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_http_semantics() -> Result<(), SimError> {
        assert_eq!(byte_range("bytes=0-3", 10)?, (0, 3));
        assert_eq!(byte_range("bytes=4-", 10)?, (4, 9));
        assert_eq!(byte_range("bytes=8-100", 10)?, (8, 9));
        assert!(byte_range("bytes=10-", 10).is_err());
        assert!(byte_range("items=0-1", 10).is_err());
        Ok(())
    }

    #[test]
    fn block_lists_parse_in_order() -> Result<(), SimError> {
        let xml = b"<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList><Latest>AAA=</Latest>\
                    <Committed>BBB=</Committed><Uncommitted>CCC=</Uncommitted></BlockList>";
        let list = parse_block_list(xml)?;
        assert_eq!(
            list,
            vec![
                (BlockSource::Latest, "AAA=".to_string()),
                (BlockSource::Committed, "BBB=".to_string()),
                (BlockSource::Uncommitted, "CCC=".to_string()),
            ]
        );
        assert!(parse_block_list(b"<Nope/>").is_err());
        Ok(())
    }
}
