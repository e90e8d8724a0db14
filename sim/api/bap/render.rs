//! BAP's renderings of the domain: an environment (with its `$expand`ed parts), its lifecycle
//! operations, backups, and the 202 that points at an operation.

use crate::api::extract::BaseUrl;
use crate::api::pp::{self, Days, PpQuery, Ts, ts};
use crate::ops::{Operation, OperationId, RunState};
use crate::state::AppState;
use crate::world::operations::Work;
use crate::world::ppac::{self, Actor, Backup, LifecycleOp, PpEnvId, PpEnvironment, enforcement};
use crate::world::tenant::Tenant;
use axum::response::Response;
use foldhash::HashMap;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

/// Path prefix of every BAP route.
pub(super) const PREFIX: &str = "/providers/Microsoft.BusinessAppPlatform";

fn actor_json(a: &Actor, tenant: &Tenant) -> Value {
    serde_json::to_value(ActorOut::of(a, tenant)).unwrap_or(Value::Null)
}

/// `createdBy`, `lastModifiedBy` and `requestedBy`: who did it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ActorOut<'a> {
    id: Uuid,
    display_name: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    tenant_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_principal_name: Option<&'a str>,
}

impl<'a> ActorOut<'a> {
    fn of(a: &'a Actor, tenant: &Tenant) -> Self {
        ActorOut {
            id: a.id.0,
            display_name: &a.display_name,
            kind: a.kind(),
            tenant_id: tenant.id().0,
            email: a.upn.as_deref(),
            user_principal_name: a.upn.as_deref(),
        }
    }
}

/// An environment as BAP shows it (reference §4.1), serialised straight from the domain: the
/// field order is the wire's.
#[derive(Serialize)]
pub(super) struct EnvironmentOut<'a> {
    id: EnvPath<'a>,
    #[serde(rename = "type")]
    kind: &'static str,
    location: &'a str,
    name: &'a str,
    properties: Properties<'a>,
}

impl EnvironmentOut<'_> {
    /// As a JSON value, for answers that embed it (a create's 202, a provisioning poll).
    pub(super) fn value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Properties<'a> {
    tenant_id: Uuid,
    azure_region: &'a str,
    display_name: &'a str,
    description: &'a str,
    created_time: Ts,
    created_by: ActorOut<'a>,
    last_modified_time: Ts,
    last_modified_by: ActorOut<'a>,
    provisioning_state: &'static str,
    creation_type: &'static str,
    environment_sku: &'static str,
    is_default: bool,
    billing_policy: (),
    client_uris: ClientUris<'a>,
    runtime_endpoints: RuntimeEndpoints<'a>,
    database_type: &'static str,
    trial_scenario_type: &'static str,
    notification_metadata: Fixed,
    retention_period: Days,
    lifecycle_authority: &'static str,
    states: States,
    update_cadence: Id<'a>,
    retention_details: RetentionDetails,
    protection_status: Fixed,
    cluster: Fixed,
    connected_groups: [(); 0],
    lifecycle_operations_enforcement: Enforcement<'a>,
    governance_configuration: Governance,
    #[serde(skip_serializing_if = "Option::is_none")]
    linked_environment_metadata: Option<LinkedEnvironment<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    linked_app_metadata: Option<LinkedAppOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deleted_time: Option<Ts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    capacity: Option<[CapacityOut; 3]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    addons: Option<[(); 0]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions: Option<Fixed>,
}

/// Text joined from parts at serialisation time, without building a `String`.
struct Cat<'a>(&'static str, &'a str, &'static str);

impl Serialize for Cat<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}{}{}", self.0, self.1, self.2))
    }
}

/// An environment's `id`: its path under the admin scope.
struct EnvPath<'a>(&'a str);

impl Serialize for EnvPath<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!(
            "{PREFIX}/scopes/admin/environments/{}",
            self.0
        ))
    }
}

/// A fixed JSON object (no field of it depends on the environment).
struct Fixed(&'static [(&'static str, &'static str)], &'static str);

impl Serialize for Fixed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            if self.1.is_empty() {
                map.serialize_entry(k, v)?;
            } else {
                map.serialize_entry(k, &Fixed1(self.1, v))?;
            }
        }
        map.end()
    }
}

/// `{key: value}`.
struct Fixed1(&'static str, &'static str);

impl Serialize for Fixed1 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(self.0, self.1)?;
        map.end()
    }
}

const NOTIFICATION: Fixed = Fixed(
    &[("state", "NotSpecified"), ("branding", "NotSpecific")],
    "",
);
const PROTECTION: Fixed = Fixed(&[("keyManagedBy", "Microsoft")], "");
const CLUSTER: Fixed = Fixed(&[("category", "Prod"), ("environment", "Prod")], "");
const PERMISSIONS: Fixed = Fixed(
    &[
        ("CreatePowerApp", "Create PowerApps"),
        ("ReadEnvironment", "Read Environment"),
        ("AdminReadEnvironment", "Admin Read Environment"),
        ("UpdateEnvironment", "Update Environment"),
        ("DeleteEnvironment", "Delete Environment"),
    ],
    "displayName",
);

#[derive(Serialize)]
struct ClientUris<'a> {
    admin: Cat<'a>,
    maker: Cat<'a>,
}

#[derive(Serialize)]
struct RuntimeEndpoints<'a> {
    #[serde(rename = "microsoft.BusinessAppPlatform")]
    bap: Cat<'a>,
    #[serde(rename = "microsoft.CommonDataModel")]
    cdm: Cat<'a>,
    #[serde(rename = "microsoft.PowerApps")]
    power_apps: Cat<'a>,
    #[serde(rename = "microsoft.Flow")]
    flow: Cat<'a>,
}

#[derive(Serialize)]
struct Id<'a> {
    id: &'a str,
}

#[derive(Serialize)]
struct States {
    management: Id<'static>,
    runtime: Runtime,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Runtime {
    runtime_reason_code: &'static str,
    requested_by: Fixed,
    id: &'static str,
}

const SYSTEM: Fixed = Fixed(&[("displayName", "SYSTEM"), ("type", "NotSpecified")], "");

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RetentionDetails {
    retention_period: Days,
    backups_available_from_date_time: Moving,
}

/// The one value of an environment's answer (without `$expand`) that moves with the clock:
/// when its backups start. A [`Template`] is rendered twice with two marks in its place, to find
/// where it goes.
enum Moving {
    At(Timestamp),
    Mark(&'static str),
}

impl Serialize for Moving {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Moving::At(at) => Ts(*at).serialize(s),
            Moving::Mark(mark) => s.serialize_str(mark),
        }
    }
}

/// When the backups of `e` start at `now`: its retention period back, but not before its
/// database was created.
fn backups_from(e: &PpEnvironment, now: Timestamp) -> Timestamp {
    crate::clock::saturating_add(
        now,
        jiff::SignedDuration::from_hours(-24 * e.retention_days()),
    )
    .max(e.dataverse.as_ref().map_or(e.created_at, |d| d.created_at))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Governance {
    protection_level: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LinkedEnvironment<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    resource_id: Uuid,
    friendly_name: &'a str,
    unique_name: &'a str,
    domain_name: &'a str,
    version: &'a str,
    instance_url: String,
    instance_api_url: String,
    base_language: u32,
    instance_state: &'static str,
    created_time: Ts,
    background_operations_state: &'static str,
    scale_group: String,
    platform_sku: &'static str,
    schema_type: &'static str,
    security_group_id: Option<Uuid>,
    template: &'a [String],
}

#[derive(Serialize)]
struct LinkedAppOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: Uuid,
    url: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CapacityOut {
    capacity_type: &'static str,
    actual_consumption: f64,
    rated_consumption: f64,
    capacity_unit: &'static str,
    updated_on: Ts,
}

/// `lifecycleOperationsEnforcement`, from the same rules that refuse requests.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Enforcement<'a> {
    allowed_operations: Vec<Allowed>,
    disallowed_operations: Vec<Disallowed<'a>>,
}

#[derive(Serialize)]
struct Allowed {
    #[serde(rename = "type")]
    kind: Id<'static>,
}

#[derive(Serialize)]
struct Disallowed<'a> {
    #[serde(rename = "type")]
    kind: Id<'static>,
    reason: Reason<'a>,
}

#[derive(Serialize)]
struct Reason<'a> {
    message: std::borrow::Cow<'a, str>,
    #[serde(rename = "type")]
    kind: &'static str,
}

fn enforcement_of(e: &PpEnvironment) -> Enforcement<'static> {
    let (mut allowed, mut disallowed) = (Vec::new(), Vec::new());
    for (op, refusal) in enforcement(e) {
        let kind = Id { id: op.as_str() };
        match refusal {
            None => allowed.push(Allowed { kind }),
            Some(r) => disallowed.push(Disallowed {
                kind,
                reason: Reason {
                    message: r.message.into(),
                    kind: r.reason.as_str(),
                },
            }),
        }
    }
    Enforcement {
        allowed_operations: allowed,
        disallowed_operations: disallowed,
    }
}

/// An environment as BAP shows it (reference §4.1); capacity, addons and permissions only when
/// `$expand`ed.
pub(super) fn environment<'a>(
    t: &'a Tenant,
    e: &'a PpEnvironment,
    q: &PpQuery,
    now: Timestamp,
) -> EnvironmentOut<'a> {
    built(t, e, q, now, Moving::At(backups_from(e, now)))
}

/// The environment with `backups` as its moving value; `now` is only read by `$expand`ed
/// parts.
fn built<'a>(
    t: &'a Tenant,
    e: &'a PpEnvironment,
    q: &PpQuery,
    now: Timestamp,
    backups: Moving,
) -> EnvironmentOut<'a> {
    let geo = e.location.as_str();
    let id = e.id.as_str();
    let retention = e.retention_days();
    let linked = match (&e.dataverse, e.instance_url()) {
        (Some(d), Some(url)) => Some(LinkedEnvironment {
            kind: "Dynamics365Instance",
            resource_id: d.org_id,
            friendly_name: &e.display_name,
            unique_name: &d.unique_name,
            domain_name: &d.domain,
            version: &d.version,
            instance_api_url: url.trim_end_matches('/').replacen(".crm", ".api.crm", 1),
            instance_url: url,
            base_language: d.base_language,
            instance_state: if e.provisioning == ppac::ProvisioningState::Creating {
                "NotSpecified"
            } else {
                "Ready"
            },
            created_time: Ts(d.created_at),
            background_operations_state: if d.background_operations {
                "Enabled"
            } else {
                "Disabled"
            },
            scale_group: format!(
                "{}CRMLIVESG1",
                geo.get(..3).unwrap_or("NAM").to_ascii_uppercase()
            ),
            platform_sku: "Standard",
            schema_type: if d.templates.is_empty() {
                "Standard"
            } else {
                "Full"
            },
            security_group_id: d.security_group,
            template: &d.templates,
        }),
        _ => None,
    };
    let capacity = q.expands("capacity").then(|| {
        let (db, file, log) = e
            .dataverse
            .as_ref()
            .map_or((0.0, 0.0, 0.0), |d| (d.database_mb, d.file_mb, d.log_mb));
        let entry = |capacity_type, mb| CapacityOut {
            capacity_type,
            actual_consumption: mb,
            rated_consumption: mb,
            capacity_unit: "MB",
            updated_on: Ts(now),
        };
        [
            entry("Database", db),
            entry("File", file),
            entry("Log", log),
        ]
    });
    let admin_mode = e.admin_mode;
    EnvironmentOut {
        id: EnvPath(id),
        kind: "Microsoft.BusinessAppPlatform/scopes/environments",
        location: geo,
        name: id,
        properties: Properties {
            tenant_id: t.id().0,
            azure_region: &e.azure_region,
            display_name: &e.display_name,
            description: &e.description,
            created_time: Ts(e.created_at),
            created_by: ActorOut::of(&e.created_by, t),
            last_modified_time: Ts(e.modified_at),
            last_modified_by: ActorOut::of(&e.modified_by, t),
            provisioning_state: e.provisioning.as_str(),
            creation_type: if e.is_default() {
                "DefaultTenant"
            } else {
                "User"
            },
            environment_sku: e.sku.as_str(),
            is_default: e.is_default(),
            billing_policy: (),
            client_uris: ClientUris {
                admin: Cat(
                    "https://admin.powerplatform.microsoft.com/environments/environment/",
                    id,
                    "/hub",
                ),
                maker: Cat("https://make.powerapps.com/environments/", id, "/home"),
            },
            runtime_endpoints: RuntimeEndpoints {
                bap: Cat("https://", geo, ".api.bap.microsoft.com"),
                cdm: Cat("https://", geo, ".api.cds.microsoft.com"),
                power_apps: Cat("https://", geo, ".api.powerapps.com"),
                flow: Cat("https://", geo, ".api.flow.microsoft.com"),
            },
            database_type: if e.dataverse.is_some() {
                "CommonDataService"
            } else {
                "None"
            },
            trial_scenario_type: "None",
            notification_metadata: NOTIFICATION,
            retention_period: Days(retention),
            lifecycle_authority: "Environment",
            states: States {
                management: Id {
                    id: if e.busy(t.ops()).is_some() {
                        "Running"
                    } else if e.dataverse.is_some() {
                        "Ready"
                    } else {
                        "NotSpecified"
                    },
                },
                runtime: Runtime {
                    runtime_reason_code: if admin_mode {
                        "AdminMode"
                    } else {
                        "NotSpecified"
                    },
                    requested_by: SYSTEM,
                    id: if admin_mode { "AdminMode" } else { "Enabled" },
                },
            },
            update_cadence: Id { id: &e.cadence },
            retention_details: RetentionDetails {
                retention_period: Days(retention),
                backups_available_from_date_time: backups,
            },
            protection_status: PROTECTION,
            cluster: CLUSTER,
            connected_groups: [],
            lifecycle_operations_enforcement: enforcement_of(e),
            governance_configuration: Governance {
                protection_level: if e.managed { "Standard" } else { "Basic" },
            },
            linked_environment_metadata: linked,
            linked_app_metadata: e.linked_app.as_ref().map(|l| LinkedAppOut {
                kind: l.kind.as_str(),
                id: l.id,
                url: &l.url,
            }),
            deleted_time: e.deleted_at.map(Ts),
            capacity,
            addons: q.expands("addons").then_some([]),
            permissions: q.expands("permissions").then_some(PERMISSIONS),
        },
    }
}

/// An environment's answer without `$expand`, as JSON text on both sides of its moving value,
/// rendered once per change of its tenant (kept in the tenant's memo).
struct Template {
    head: Box<[u8]>,
    tail: Box<[u8]>,
}

impl Template {
    fn of(t: &Tenant, e: &PpEnvironment) -> Template {
        let plain = PpQuery::default();
        let at = |mark| {
            let out = built(t, e, &plain, Timestamp::UNIX_EPOCH, Moving::Mark(mark));
            // Serialising borrowed strings and numbers into a Vec cannot fail.
            serde_json::to_vec(&out).unwrap_or_default()
        };
        let (a, b) = (at("a"), at("b"));
        // The two differ in the mark's one letter only, whatever the environment's own text
        // holds: the moving value is the string around it.
        let mark = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(0);
        Template {
            head: a[..mark.saturating_sub(1)].into(),
            tail: a.get(mark + 2..).unwrap_or_default().into(),
        }
    }

    fn write(&self, out: &mut Vec<u8>, e: &PpEnvironment, now: Timestamp) {
        out.extend_from_slice(&self.head);
        let _ = serde_json::to_writer(&mut *out, &Ts(backups_from(e, now)));
        out.extend_from_slice(&self.tail);
    }
}

/// The templates of a tenant's environments, up to [`TEMPLATES_KEPT`] (past that, environments
/// are rendered afresh: a tenant of 100,000 would otherwise keep its whole list twice).
#[derive(Default)]
struct Templates(HashMap<PpEnvId, Template>);

/// How many environment templates a tenant keeps (about 4 KB each).
const TEMPLATES_KEPT: usize = 1024;

/// Appends the answer for `e` at `now` as JSON text: from its template when `q` expands nothing.
pub(super) fn write_environment(
    out: &mut Vec<u8>,
    t: &Tenant,
    e: &PpEnvironment,
    q: &PpQuery,
    now: Timestamp,
) {
    // Serialising borrowed strings and numbers into a Vec cannot fail.
    let fresh = |out: &mut Vec<u8>| {
        let _ = serde_json::to_writer(out, &environment(t, e, q, now));
    };
    if q.get("$expand").is_some() {
        return fresh(out);
    }
    t.memo()
        .with(|kept: &mut Templates| match kept.0.get(&e.id) {
            Some(template) => template.write(out, e, now),
            None if kept.0.len() < TEMPLATES_KEPT => {
                let template = Template::of(t, e);
                template.write(out, e, now);
                kept.0.insert(e.id.clone(), template);
            }
            // Making a template that is not kept would render the environment three times.
            None => fresh(out),
        });
}

/// Environments in one part of the whole BAP list: each part is rendered under the tenant's lock
/// and handed to the connection before the next one takes the lock again.
pub(super) const LIST_PART: usize = 500;

/// Up to [`LIST_PART`] environments the actor may see, from position `from` on, as JSON text
/// that continues the list: `{"value":[` before the first part, a comma before every environment
/// but the list's first, `]}` after the last part. Also the position the next part starts at,
/// when more follow.
pub(super) fn list_part(
    t: &Tenant,
    actor: &Actor,
    q: &PpQuery,
    now: Timestamp,
    from: usize,
) -> (Vec<u8>, Option<usize>) {
    let mut out = Vec::with_capacity(if from == 0 { 4096 } else { 1 << 20 });
    if from == 0 {
        out.extend_from_slice(b"{\"value\":[");
    }
    let mut next = None;
    for (n, (at, e)) in t.ppac(actor).environments_from(from).enumerate() {
        if n == LIST_PART {
            next = Some(at);
            break;
        }
        if n > 0 || from > 0 {
            out.push(b',');
        }
        write_environment(&mut out, t, e, q, now);
    }
    if next.is_none() {
        out.extend_from_slice(b"]}");
    }
    (out, next)
}

fn stage_state(s: RunState) -> &'static str {
    match s {
        RunState::Pending => "NotStarted",
        RunState::Running => "Running",
        RunState::Succeeded => "Succeeded",
        RunState::Failed => "Failed",
    }
}

pub(super) fn lifecycle_json(
    t: &Tenant,
    lo: LifecycleOp<'_>,
    op: &Operation<Work>,
    now: Timestamp,
) -> Value {
    let progress = op.progress(now);
    let env_link = if lo.op_type == ppac::OpType::Create && op.state() == RunState::Failed {
        String::new()
    } else {
        format!("{PREFIX}/environments/{}", lo.env)
    };
    let stages: Vec<Value> = progress
        .stages
        .iter()
        .map(|s| {
            json!({
                "id": s.name, "name": s.name,
                "state": {"id": stage_state(s.state)},
                "firstActionDateTime": s.started_at.map(ts),
                "lastActionDateTime": if s.state == RunState::Running { s.started_at.map(ts) } else { s.ends_at.map(ts) },
            })
        })
        .collect();
    let mut v = json!({
        "id": lo.id.0,
        "links": {
            "self": {"path": format!("{PREFIX}/lifecycleOperations/{}", lo.id.0)},
            "environment": {"path": env_link},
        },
        "type": {"id": lo.op_type.as_str()},
        "typeDisplayName": lo.op_type.display_name(),
        "state": {"id": stage_state(op.state())},
        "createdDateTime": ts(op.started_at()),
        "lastActionDateTime": ts(op.finished_at().unwrap_or(now)),
    });
    pp::put(&mut v, "requestedBy", actor_json(lo.requested_by, t));
    pp::put(&mut v, "stages", Value::Array(stages));
    if let Some(e) = op.error() {
        v["error"] = json!({"code": e.code, "message": e.message});
    }
    v
}

fn location_url(base: &BaseUrl, op: OperationId, q: &PpQuery) -> String {
    let version = q.api_version();
    if version.is_empty() {
        format!("{}{PREFIX}/lifecycleOperations/{}", base.root(), op.0)
    } else {
        format!(
            "{}{PREFIX}/lifecycleOperations/{}?api-version={version}",
            base.root(),
            op.0
        )
    }
}

/// 202 pointing at the lifecycle operation (see [`pp::accepted`]).
pub(super) fn accepted(
    state: &AppState,
    t: &Tenant,
    base: &BaseUrl,
    q: &PpQuery,
    op: OperationId,
    now: Timestamp,
    body: Option<Value>,
) -> Response {
    pp::accepted(state, t, &location_url(base, op, q), op, now, body)
}

/// A backup as BAP lists it.
pub(super) fn backup_json(t: &Tenant, b: &Backup) -> Value {
    json!({
        "id": b.id,
        "label": b.label,
        "notes": b.notes,
        "backupPointDateTime": ts(b.point),
        "backupExpiryDateTime": ts(b.expires),
        "createdBy": actor_json(&b.created_by, t),
    })
}
