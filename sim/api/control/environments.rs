//! `GET /_sim/tenants/{t}/environments`: each conceptual environment with both halves, how they
//! are joined, running operations in both portals' words, and warnings. Neither real portal shows
//! this; the demo UI and tests use it to see the pair as one thing.

use crate::api::extract::TenantPath;
use crate::api::views::OperationDto;
use crate::state::AppState;
use crate::world::integration::views::{Conceptual, IntegrationView};
use crate::world::integration::{LinkState, TERMINOLOGY, Term, term_of};
use crate::world::lcs::FoEnvironment;
use crate::world::ppac::PpEnvironment;
use crate::world::tenant::Tenant;
use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use serde::Serialize;
use std::sync::Arc;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EnvironmentsView {
    tenant_id: String,
    now: Timestamp,
    environments: Vec<ConceptualDto>,
    terminology: Vec<TermDto>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConceptualDto {
    id: String,
    name: String,
    finance_and_operations: Option<FoHalf>,
    dataverse: Option<DvHalf>,
    link: LinkDto,
    operations: Vec<OperationView>,
    warnings: Vec<WarningDto>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FoHalf {
    id: String,
    project_id: u64,
    project_name: String,
    name: String,
    #[serde(rename = "type")]
    env_type: &'static str,
    state: &'static str,
    status: &'static str,
    url: String,
    administrator: Option<String>,
    power_platform_integration: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DvHalf {
    id: String,
    name: String,
    #[serde(rename = "type")]
    sku: &'static str,
    provisioning_state: &'static str,
    url: Option<String>,
    location: String,
    linked_app_type: Option<&'static str>,
    dual_write: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LinkDto {
    state: &'static str,
    irreversible: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OperationView {
    #[serde(flatten)]
    operation: OperationDto,
    terminology: Option<TermDto>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TermDto {
    operation: &'static str,
    lcs: Option<&'static str>,
    ppac: Option<&'static str>,
    when_linked: &'static str,
}

impl From<&Term> for TermDto {
    fn from(t: &Term) -> Self {
        TermDto {
            operation: t.operation,
            lcs: t.lcs,
            ppac: t.ppac,
            when_linked: t.when_linked,
        }
    }
}

#[derive(Serialize)]
struct WarningDto {
    code: &'static str,
    message: String,
}

fn fo_half(
    t: &Tenant,
    project: (u64, &str),
    e: &FoEnvironment,
    view: &IntegrationView<'_>,
) -> FoHalf {
    FoHalf {
        id: e.id.to_string(),
        project_id: project.0,
        project_name: project.1.to_string(),
        name: e.name.clone(),
        env_type: e.env_type.as_str(),
        state: e.state.as_str(),
        status: t.fo(e).status_display(),
        url: e.url.clone(),
        administrator: t
            .state
            .user_by_id(e.administrator)
            .map(|u| u.upn.to_string()),
        power_platform_integration: view.state.as_str(),
    }
}

fn dv_half(d: &PpEnvironment, view: Option<&IntegrationView<'_>>) -> DvHalf {
    DvHalf {
        id: d.id.to_string(),
        name: d.display_name.clone(),
        sku: d.sku.as_str(),
        provisioning_state: d.provisioning.as_str(),
        url: d.instance_url(),
        location: d.location.clone(),
        linked_app_type: d.linked_app.as_ref().map(|l| l.kind.as_str()),
        dual_write: view.map(|v| v.dual_write.as_str()),
    }
}

fn render(t: &Tenant, c: &Conceptual<'_>, now: Timestamp) -> ConceptualDto {
    let view = c.fo.map(|(_, e)| t.integration_of(e));
    let (id, name) = match (c.fo, c.dv) {
        (Some((_, e)), _) => (e.id.to_string(), e.name.clone()),
        (None, Some(d)) => (d.id.to_string(), d.display_name.clone()),
        (None, None) => (String::new(), String::new()),
    };
    ConceptualDto {
        id,
        name,
        finance_and_operations: c
            .fo
            .zip(view.as_ref())
            .map(|((p, e), v)| fo_half(t, (p.id.0, &p.name), e, v)),
        dataverse: c.dv.map(|d| dv_half(d, view.as_ref())),
        link: LinkDto {
            state: c.link.as_str(),
            irreversible: matches!(c.link, LinkState::Linked | LinkState::Unified),
        },
        operations: c
            .operations
            .iter()
            .map(|op| OperationView {
                operation: OperationDto::new(t.id(), op, now),
                terminology: term_of(&op.payload.kind).map(TermDto::from),
            })
            .collect(),
        warnings: c
            .warnings
            .iter()
            .map(|w| WarningDto {
                code: w.code,
                message: w.message.clone(),
            })
            .collect(),
    }
}

pub(super) async fn environments_list(
    State(state): State<Arc<AppState>>,
    path: TenantPath,
) -> Json<EnvironmentsView> {
    let tenant = path.tenant.settled(state.clock.now());
    let now = tenant.now();
    let environments = tenant
        .conceptual_environments()
        .iter()
        .map(|c| render(&tenant, c, now))
        .collect();
    Json(EnvironmentsView {
        tenant_id: path.id.to_string(),
        now,
        environments,
        terminology: TERMINOLOGY.iter().map(TermDto::from).collect(),
    })
}
