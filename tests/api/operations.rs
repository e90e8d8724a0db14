//! The operation engine through the library: operations are started in a tenant from Rust (later
//! capabilities start them from their own routes) and observed over HTTP.

use crate::helpers::{DEFAULT_TENANT, TestApp, assert_error, builder, spawn_app, spawn_with};
use jiff::SignedDuration;
use lifecycle_sim::ops::{OpError, Operation, PlannedFailure, StageSpec};
use lifecycle_sim::world::identity::{TenantId, UNIFIED_OPERATIONS_PLAN};
use lifecycle_sim::world::operations::{Effect, Portal, Target, Work};
use lifecycle_sim::world::tenant::TenantState;
use lifecycle_sim::{ErrorCode, SimError};
use parking_lot::Mutex;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;

type Log = Arc<Mutex<Vec<String>>>;

/// A test effect: logs every call; optionally requires a user's license when a stage ends; when
/// it finishes successfully, appends its name to the tenant's display name (a world change that
/// shows over HTTP, in the order effects applied).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Probe {
    name: String,
    #[serde(skip)]
    log: Log,
    requires_license: Option<(usize, String)>,
}

#[typetag::serde(name = "testProbe")]
impl Effect for Probe {
    fn stage_ended(
        &self,
        tenant: &mut TenantState,
        op: &Operation<Work>,
        stage: usize,
        at: jiff::Timestamp,
    ) -> Result<(), OpError> {
        let name = op.stage_name(stage).unwrap_or_default();
        self.log.lock().push(format!("{} {name} {at}", self.name));
        match self.requires_license {
            Some((s, ref upn)) if s == stage => {
                let licensed = tenant
                    .user(upn)
                    .is_ok_and(|u| u.has_license(UNIFIED_OPERATIONS_PLAN));
                if licensed {
                    Ok(())
                } else {
                    Err(OpError::new(
                        "LicenseMissing",
                        format!("{upn} has no {UNIFIED_OPERATIONS_PLAN}; assign it, then resume"),
                    ))
                }
            }
            _ => Ok(()),
        }
    }

    fn finished(&self, tenant: &mut TenantState, op: &Operation<Work>, at: jiff::Timestamp) {
        self.log
            .lock()
            .push(format!("{} {:?} {at}", self.name, op.state()));
        if op.error().is_none() {
            tenant.display_name.push_str(&format!(" +{}", self.name));
        }
    }
}

struct Start<'a> {
    tenant: &'a str,
    name: &'a str,
    stages: Vec<StageSpec>,
    requires_license: Option<(usize, &'static str)>,
    failure: Option<PlannedFailure>,
}

fn stages(spec: &[(&str, i64)]) -> Vec<StageSpec> {
    spec.iter()
        .map(|(n, m)| StageSpec::fixed(*n, SignedDuration::from_mins(*m)))
        .collect()
}

fn start(app: &TestApp, log: &Log, s: Start<'_>) -> Result<String, SimError> {
    let tenant = app.sim.state().world.tenant(TenantId::parse(s.tenant)?)?;
    let mut tenant = tenant.lock();
    let (now, _) = tenant.settle(app.sim.state().clock.now());
    let work = Work {
        kind: "test.probe".into(),
        portal: Portal::Lcs,
        target: Target {
            kind: "lcsEnvironment".into(),
            id: s.name.into(),
        },
        effect: Box::new(Probe {
            name: s.name.into(),
            log: log.clone(),
            requires_license: s.requires_license.map(|(i, u)| (i, u.to_string())),
        }),
    };
    let id = tenant.start_operation(work, &s.stages, s.failure, now)?;
    Ok(id.to_string())
}

fn simple<'a>(tenant: &'a str, name: &'a str, spec: &[(&str, i64)]) -> Start<'a> {
    Start {
        tenant,
        name,
        stages: stages(spec),
        requires_license: None,
        failure: None,
    }
}

fn resume(app: &TestApp, tenant: &str, id: &str) -> Result<(), SimError> {
    let tenant = app.sim.state().world.tenant(TenantId::parse(tenant)?)?;
    let mut tenant = tenant.lock();
    let (now, _) = tenant.settle(app.sim.state().clock.now());
    tenant.resume_operation(lifecycle_sim::ops::OperationId::parse(id)?, now)
}

async fn operation(app: &TestApp, tenant: &str, id: &str) -> Value {
    let (status, op) = app
        .get(&format!("/_sim/tenants/{tenant}/operations/{id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{op}");
    op
}

fn completed_ids(advance: &Value) -> Vec<&str> {
    advance["completed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| op["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn an_operations_status_moves_only_with_the_clock() {
    let app = spawn_app().await;
    let log = Log::default();
    let id = start(
        &app,
        &log,
        simple(DEFAULT_TENANT, "deploy", &[("validate", 10), ("run", 30)]),
    )
    .unwrap();

    let op = operation(&app, DEFAULT_TENANT, &id).await;
    assert_eq!(op["state"], "running");
    assert_eq!(op["kind"], "test.probe");
    assert_eq!(op["portal"], "lcs");
    assert_eq!(op["tenantId"], DEFAULT_TENANT);
    assert_eq!(
        op["target"],
        json!({"type": "lcsEnvironment", "id": "deploy"})
    );
    assert_eq!(op["startedAt"], "2026-01-01T09:00:00Z");
    assert_eq!(op["endsAt"], "2026-01-01T09:40:00Z");
    assert_eq!(op["progress"], 0);
    assert_eq!(
        op["stages"][0],
        json!({"name": "validate", "state": "running", "progress": 0, "durationSeconds": 600, "startedAt": "2026-01-01T09:00:00Z", "endsAt": "2026-01-01T09:10:00Z"})
    );
    assert_eq!(
        op["stages"][1],
        json!({"name": "run", "state": "pending", "progress": 0, "durationSeconds": 1800})
    );
    assert_eq!(
        operation(&app, DEFAULT_TENANT, &id).await,
        op,
        "no clock movement, no change"
    );

    let advanced = app.advance("5m").await;
    assert!(completed_ids(&advanced).is_empty());
    let op = operation(&app, DEFAULT_TENANT, &id).await;
    assert_eq!(
        (
            op["progress"].as_u64(),
            op["stages"][0]["progress"].as_u64()
        ),
        (Some(12), Some(50))
    );

    app.advance("20m").await;
    let op = operation(&app, DEFAULT_TENANT, &id).await;
    assert_eq!(op["stages"][0]["state"], "succeeded");
    assert_eq!(op["stages"][1]["state"], "running");
    assert_eq!(op["stages"][1]["startedAt"], "2026-01-01T09:10:00Z");
    assert_eq!(
        (
            op["progress"].as_u64(),
            op["stages"][1]["progress"].as_u64()
        ),
        (Some(62), Some(50))
    );
    assert_eq!(log.lock().len(), 1, "only the first stage has ended");

    let advanced = app.advance("15m").await;
    assert_eq!(completed_ids(&advanced), [id.as_str()]);
    assert_eq!(advanced["completed"][0]["state"], "succeeded");
    let op = operation(&app, DEFAULT_TENANT, &id).await;
    assert_eq!(
        (op["state"].as_str(), op["progress"].as_u64()),
        (Some("succeeded"), Some(100))
    );
    assert_eq!(
        op["finishedAt"], "2026-01-01T09:40:00Z",
        "finished at its deadline, not at the advance"
    );
    let (_, tenant) = app.get(&format!("/_sim/tenants/{DEFAULT_TENANT}")).await;
    assert_eq!(
        tenant["displayName"], "Contoso +deploy",
        "the effect applied"
    );
}

#[tokio::test]
async fn two_operations_finishing_in_one_advance_apply_in_deadline_order() {
    let app = spawn_app().await;
    let log = Log::default();
    let slow = start(
        &app,
        &log,
        simple(DEFAULT_TENANT, "slow", &[("one", 30), ("two", 30)]),
    )
    .unwrap();
    let fast = start(
        &app,
        &log,
        simple(DEFAULT_TENANT, "fast", &[("one", 20), ("two", 25)]),
    )
    .unwrap();

    let advanced = app.advance("2h").await;
    assert_eq!(completed_ids(&advanced), [fast.as_str(), slow.as_str()]);
    assert_eq!(
        *log.lock(),
        [
            "fast one 2026-01-01T09:20:00Z",
            "slow one 2026-01-01T09:30:00Z",
            "fast two 2026-01-01T09:45:00Z",
            "fast Succeeded 2026-01-01T09:45:00Z",
            "slow two 2026-01-01T10:00:00Z",
            "slow Succeeded 2026-01-01T10:00:00Z",
        ]
    );
    let (_, tenant) = app.get(&format!("/_sim/tenants/{DEFAULT_TENANT}")).await;
    assert_eq!(tenant["displayName"], "Contoso +fast +slow");
}

#[tokio::test]
async fn a_failed_operation_resumes_from_its_failed_stage_once_the_cause_is_fixed() {
    let app = spawn_app().await;
    let base = format!("/_sim/tenants/{DEFAULT_TENANT}");
    app.post(
        &format!("{base}/users"),
        json!({"upn": "fo.admin@contoso.test"}),
    )
    .await;
    let log = Log::default();
    let setup = Start {
        requires_license: Some((1, "fo.admin@contoso.test")),
        ..simple(
            DEFAULT_TENANT,
            "setup",
            &[("validate", 5), ("check license", 10), ("provision", 45)],
        )
    };
    let id = start(&app, &log, setup).unwrap();

    let advanced = app.advance("20m").await;
    assert_eq!(completed_ids(&advanced), [id.as_str()]);
    let op = &advanced["completed"][0];
    assert_eq!(op["state"], "failed");
    assert_eq!(op["error"]["code"], "LicenseMissing");
    assert_eq!(op["error"]["stage"], "check license");
    assert_eq!(op["finishedAt"], "2026-01-01T09:15:00Z");
    assert_eq!(op["stages"][1]["state"], "failed");
    assert_eq!(op["stages"][2]["state"], "pending");
    let message = op["error"]["message"].clone();

    // Resume before the fix: fails again at the same stage with the same message.
    resume(&app, DEFAULT_TENANT, &id).unwrap();
    let op = operation(&app, DEFAULT_TENANT, &id).await;
    assert_eq!(
        (op["state"].as_str(), op["attempts"].as_u64()),
        (Some("running"), Some(2))
    );
    let advanced = app.advance("10m").await;
    assert_eq!(advanced["completed"][0]["error"]["message"], message);
    assert_eq!(
        advanced["completed"][0]["finishedAt"],
        "2026-01-01T09:30:00Z"
    );

    // Fix the cause through the control plane, resume: only the remaining stages take time.
    app.patch(
        &format!("{base}/users/fo.admin@contoso.test"),
        json!({"licenses": [UNIFIED_OPERATIONS_PLAN]}),
    )
    .await;
    resume(&app, DEFAULT_TENANT, &id).unwrap();
    let op = operation(&app, DEFAULT_TENANT, &id).await;
    assert_eq!(
        op["endsAt"], "2026-01-01T10:25:00Z",
        "10m + 45m from the resume at 09:30"
    );
    assert_eq!(
        op["stages"][0]["state"], "succeeded",
        "done stages stay done"
    );
    let advanced = app.advance("55m").await;
    assert_eq!(advanced["completed"][0]["state"], "succeeded");
    let validations = log.lock().iter().filter(|l| l.contains("validate")).count();
    assert_eq!(validations, 1, "the first stage ran once: {:?}", log.lock());

    let again = resume(&app, DEFAULT_TENANT, &id).map_err(|e| e.code);
    assert_eq!(again, Err(ErrorCode::OperationNotResumable));
}

#[tokio::test]
async fn a_planned_failure_fails_its_stage_once() {
    let app = spawn_app().await;
    let log = Log::default();
    let refresh = Start {
        failure: Some(PlannedFailure {
            stage: 1,
            error: OpError::new("RefreshFailed", "the copy failed half-way"),
        }),
        ..simple(
            DEFAULT_TENANT,
            "refresh",
            &[("prepare", 60), ("copy", 120), ("finalize", 30)],
        )
    };
    let id = start(&app, &log, refresh).unwrap();
    let advanced = app.advance("4h").await;
    let op = &advanced["completed"][0];
    assert_eq!(
        (op["state"].as_str(), op["error"]["code"].as_str()),
        (Some("failed"), Some("RefreshFailed"))
    );
    assert_eq!(op["finishedAt"], "2026-01-01T12:00:00Z");
    assert_eq!(op["progress"], 85, "180 of 210 minutes ran");
    resume(&app, DEFAULT_TENANT, &id).unwrap();
    let advanced = app.advance("150m").await;
    assert_eq!(advanced["completed"][0]["state"], "succeeded");
}

#[tokio::test]
async fn operations_are_isolated_per_tenant_and_move_with_their_tenants_clock() {
    let app = spawn_app().await;
    let a = app.create_tenant(json!({})).await;
    let b = app.create_tenant(json!({})).await;
    let (a, b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let log = Log::default();
    let in_a = start(&app, &log, simple(a, "a", &[("only", 60)])).unwrap();
    let in_b = start(&app, &log, simple(b, "b", &[("only", 60)])).unwrap();

    let (_, ops) = app.get(&format!("/_sim/tenants/{b}/operations")).await;
    let ids: Vec<&str> = ops["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [in_b.as_str()]);
    let reply = app
        .get(&format!("/_sim/tenants/{b}/operations/{in_a}"))
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "OperationNotFound");

    let (_, advanced) = app
        .post(
            &format!("/_sim/tenants/{a}/clock/advance"),
            json!({"by": "1h"}),
        )
        .await;
    assert_eq!(completed_ids(&advanced), [in_a.as_str()]);
    assert_eq!(
        operation(&app, b, &in_b).await["state"],
        "running",
        "B's time did not move"
    );
    let advanced = app.advance("1h").await;
    assert_eq!(completed_ids(&advanced), [in_b.as_str()]);

    let reply = app
        .get(&format!("/_sim/tenants/{a}/operations/not-an-id"))
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "InvalidOperationId");
}

#[tokio::test]
async fn the_same_seed_draws_the_same_operation_ids_and_durations() {
    async fn run(seed: u64) -> Value {
        let app = spawn_with(builder().seed(seed)).await;
        let log = Log::default();
        let plan = vec![
            StageSpec::between(
                "validate",
                SignedDuration::from_mins(1),
                SignedDuration::from_mins(5),
            ),
            StageSpec::between(
                "provision",
                SignedDuration::from_mins(50),
                SignedDuration::from_mins(80),
            ),
        ];
        for name in ["first", "second"] {
            let s = Start {
                stages: plan.clone(),
                ..simple(DEFAULT_TENANT, name, &[])
            };
            start(&app, &log, s).unwrap();
        }
        let (_, ops) = app
            .get(&format!("/_sim/tenants/{DEFAULT_TENANT}/operations"))
            .await;
        ops
    }
    let first = run(11).await;
    assert_eq!(first, run(11).await);
    let other = run(12).await;
    assert_ne!(first["operations"][0]["id"], other["operations"][0]["id"]);
    assert_ne!(
        first["operations"][0]["endsAt"],
        other["operations"][0]["endsAt"]
    );
}

#[tokio::test]
async fn a_tenant_reset_forgets_its_operations() {
    let app = spawn_app().await;
    let log = Log::default();
    start(&app, &log, simple(DEFAULT_TENANT, "x", &[("only", 5)])).unwrap();
    app.post(&format!("/_sim/tenants/{DEFAULT_TENANT}/reset"), json!({}))
        .await;
    let (_, ops) = app
        .get(&format!("/_sim/tenants/{DEFAULT_TENANT}/operations"))
        .await;
    assert_eq!(ops, json!({"operations": []}));
    assert!(completed_ids(&app.advance("1h").await).is_empty());
}
