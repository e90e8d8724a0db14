//! The asset library: a project's assets (create, upload by SAS, commit, validate, list, get,
//! delete) and the shared assets Microsoft publishes.

use super::wire::{SAS_LIFETIME, asset_sas, lcs_date, ok, open};
use crate::api::caller::Caller;
use crate::api::extract::{ApiPath, ApiQuery, BaseUrl};
use crate::api::sas::{self, Access, SHARED_ACCOUNT};
use crate::clock;
use crate::error::{ErrorCode, SimError};
use crate::state::AppState;
use crate::world::lcs::files::{SHARED_ASSETS, SharedAsset};
use crate::world::lcs::{
    ASSET_CONTAINER, Asset, AssetId, AssetSpec, FileType, FileTypeName, ProjectId, Validation,
};
use crate::world::tenant::Tenant;
use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

#[derive(Debug, Default, Deserialize)]
pub(super) struct AssetQuery {
    #[serde(rename = "assetId")]
    asset_id: Option<String>,
    #[serde(rename = "fileType")]
    file_type: Option<String>,
}

impl AssetQuery {
    fn asset(&self) -> Result<AssetId, SimError> {
        match self.asset_id.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
            Some(a) => AssetId::parse(a),
            None => Err(SimError::new(
                ErrorCode::InvalidAssetId,
                "The assetId query parameter is required (?assetId=<the Id CreateFileAsset returned>)",
            )
            .at("assetId")),
        }
    }

    fn file_type(&self) -> Result<Option<FileType>, SimError> {
        self.file_type
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(parse_file_type)
            .transpose()
    }
}

fn parse_file_type(text: &str) -> Result<FileType, SimError> {
    match text.parse::<u64>() {
        Ok(n) => FileType::from_number(n),
        Err(_) => FileTypeName::from_name(text).map(FileType).ok_or_else(|| {
            SimError::new(
                ErrorCode::InvalidAsset,
                format!("'{text}' is not an asset file type (e.g. 10 = SoftwareDeployablePackage)"),
            )
            .at("fileType")
        }),
    }
}

fn asset_item(a: &Asset, now: Timestamp) -> Map<String, Value> {
    let validation = a.validation(now);
    let mut m = Map::new();
    for (k, v) in [
        ("Id", json!(a.id)),
        ("Name", json!(a.name)),
        ("Version", json!("1")),
        ("FileName", json!(a.file_name)),
        ("FileDescription", json!(a.description)),
        ("FileType", json!(a.file_type.number())),
        ("SizeByte", json!(a.declared_size)),
        ("ModifiedDate", json!(lcs_date(a.modified))),
        ("CreatedDate", json!(lcs_date(a.created))),
        ("CreatedByName", json!(a.created_by)),
        ("DisplayStatus", json!(validation.display())),
        ("FileLocation", Value::Null),
    ] {
        m.insert(k.into(), v);
    }
    m
}

fn shared_item(a: &SharedAsset) -> Map<String, Value> {
    let mut m = Map::new();
    for (k, v) in [
        ("Id", json!(a.id)),
        ("Name", json!(a.name)),
        ("Version", json!(a.version)),
        ("FileName", json!(a.file_name)),
        ("FileDescription", json!(a.description)),
        ("FileType", json!(FileType(a.file_type).number())),
        ("ModifiedDate", json!(a.modified)),
        ("CreatedDate", json!(a.modified)),
        ("CreatedByName", json!("Microsoft")),
        ("DisplayStatus", json!("Valid")),
        ("FileLocation", Value::Null),
    ] {
        m.insert(k.into(), v);
    }
    m
}

/// CreateFileAsset's body, read case-insensitively as ASP.NET binds it.
fn asset_spec(bytes: &[u8]) -> Result<AssetSpec, SimError> {
    let value: Value = crate::api::extract::parse_json(bytes)?;
    let Value::Object(fields) = value else {
        return Err(SimError::new(
            ErrorCode::InvalidBody,
            "The body must be a JSON object with Name, FileName, FileDescription, SizeByte and FileType",
        ));
    };
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    };
    let text = |name: &str| -> Result<Option<String>, SimError> {
        match get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(SimError::new(
                ErrorCode::InvalidAsset,
                format!("{name} must be a string, not {other}"),
            )
            .at(name)),
        }
    };
    let required = |name: &str| {
        text(name)?.filter(|s| !s.trim().is_empty()).ok_or_else(|| {
            SimError::new(ErrorCode::InvalidAsset, format!("{name} is required")).at(name)
        })
    };
    let file_type = match get("FileType") {
        Some(Value::Number(n)) => FileType::from_number(n.as_u64().unwrap_or(u64::MAX))?,
        Some(Value::String(s)) => parse_file_type(s)?,
        _ => {
            return Err(SimError::new(
                ErrorCode::InvalidAsset,
                "FileType is required (e.g. 10 for a software deployable package, 17 for a database backup)",
            )
            .at("FileType"));
        }
    };
    let size = match get("SizeByte") {
        None => 0,
        Some(v) => v.as_u64().ok_or_else(|| {
            SimError::new(
                ErrorCode::InvalidAsset,
                "SizeByte must be a whole number of bytes",
            )
            .at("SizeByte")
        })?,
    };
    let file_name = required("FileName")?;
    let name = match text("Name")?.filter(|n| !n.trim().is_empty()) {
        Some(n) => n,
        None => file_name.clone(),
    };
    Ok(AssetSpec {
        name,
        file_name,
        description: text("FileDescription")?,
        file_type,
        size,
    })
}

pub(super) async fn create_asset(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    base_url: BaseUrl,
    ApiPath(project): ApiPath<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, SimError> {
    let project = ProjectId::parse(&project)?;
    let spec = asset_spec(&body)?;
    let (user, mut tenant, now) = open(&state, &caller)?;
    let asset = tenant.create_asset(project, user, spec, now)?.clone();
    let mut fields = asset_item(&asset, now);
    fields.insert(
        "FileLocation".into(),
        json!(asset_sas(
            &state,
            &base_url,
            &tenant,
            &asset,
            Access::ReadWrite,
            now
        )),
    );
    Ok(ok(state.trace_id(), Value::Object(fields)))
}

pub(super) async fn commit_asset(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
    ApiQuery(query): ApiQuery<AssetQuery>,
) -> Result<Json<Value>, SimError> {
    let project = ProjectId::parse(&project)?;
    let asset = query.asset()?;
    let (user, mut tenant, now) = open(&state, &caller)?;
    tenant.commit_asset(project, user, asset, now)?;
    Ok(ok(state.trace_id(), json!({ "Id": asset })))
}

pub(super) async fn validation_status(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
    ApiQuery(query): ApiQuery<AssetQuery>,
) -> Result<Json<Value>, SimError> {
    let project = ProjectId::parse(&project)?;
    let asset = query.asset()?;
    let (user, tenant, now) = open(&state, &caller)?;
    let p = tenant.project_for(project, user)?;
    let validation = Tenant::live_asset(p, asset, now)?.validation(now);
    let message = match &validation {
        Validation::Invalid(why) => Some(why.clone()),
        _ => None,
    };
    Ok(ok(
        state.trace_id(),
        json!({ "Id": asset, "DisplayStatus": validation.display(), "ValidationMessage": message }),
    ))
}

pub(super) async fn list_assets(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
    ApiQuery(query): ApiQuery<AssetQuery>,
) -> Result<Json<Value>, SimError> {
    let project = ProjectId::parse(&project)?;
    let file_type = query.file_type()?;
    let (user, tenant, now) = open(&state, &caller)?;
    let p = tenant.project_for(project, user)?;
    let items: Vec<Value> = p
        .assets
        .iter()
        .filter(|a| a.is_committed() && file_type.is_none_or(|t| a.file_type == t))
        .map(|a| Value::Object(asset_item(a, now)))
        .collect();
    Ok(Json(Value::Array(items)))
}

pub(super) async fn shared_assets(
    caller: Caller,
    ApiQuery(query): ApiQuery<AssetQuery>,
) -> Result<Json<Value>, SimError> {
    let file_type = query.file_type()?;
    caller.user()?;
    let items: Vec<Value> = SHARED_ASSETS
        .iter()
        .filter(|a| file_type.is_none_or(|t| FileType(a.file_type) == t))
        .map(|a| Value::Object(shared_item(a)))
        .collect();
    Ok(Json(Value::Array(items)))
}

pub(super) async fn get_asset(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    base_url: BaseUrl,
    ApiPath(project): ApiPath<String>,
    ApiQuery(query): ApiQuery<AssetQuery>,
) -> Result<Json<Value>, SimError> {
    let project = ProjectId::parse(&project)?;
    let asset = query.asset()?;
    let (user, tenant, now) = open(&state, &caller)?;
    let p = tenant.project_for(project, user)?;
    let fields = match SharedAsset::find(asset.0) {
        Some(shared) => {
            let mut m = shared_item(shared);
            let url = sas::sas_url(
                &state,
                &base_url,
                SHARED_ACCOUNT,
                ASSET_CONTAINER,
                &shared.id.simple().to_string(),
                Access::Read,
                clock::saturating_add(now, SAS_LIFETIME),
            );
            m.insert("FileLocation".into(), json!(url));
            m
        }
        None => {
            let a = Tenant::live_asset(p, asset, now)?;
            let mut m = asset_item(a, now);
            if a.is_committed() {
                m.insert(
                    "FileLocation".into(),
                    json!(asset_sas(&state, &base_url, &tenant, a, Access::Read, now)),
                );
            }
            m
        }
    };
    Ok(ok(state.trace_id(), Value::Object(fields)))
}

pub(super) async fn delete_asset(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
    ApiQuery(query): ApiQuery<AssetQuery>,
) -> Result<Json<Value>, SimError> {
    let project = ProjectId::parse(&project)?;
    let asset = query.asset()?;
    let (user, mut tenant, now) = open(&state, &caller)?;
    tenant.delete_asset(project, user, asset, now)?;
    Ok(ok(state.trace_id(), json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_asset_bodies_bind_case_insensitively() -> Result<(), SimError> {
        let spec = asset_spec(
            br#"{"fileType": 10, "name": "Main", "FILENAME": "Main.zip", "SizeByte": 0}"#,
        )?;
        assert_eq!(spec.file_type, FileType::PACKAGE);
        assert_eq!(spec.name, "Main");
        assert_eq!(spec.file_name, "Main.zip");
        let err = asset_spec(br#"{"Name": "x", "FileName": "x.zip", "FileType": 99}"#).err();
        assert_eq!(err.map(|e| e.code), Some(ErrorCode::InvalidAsset));
        Ok(())
    }
}
