//! What operations do to a tenant: the engine's stage-end and end callbacks routed to each
//! [`Effect`] variant's rules (`lcs::effect`, `ppac::effect`, `link`). Called by
//! `Tenant::settle` in deadline order, with the tenant locked.

use super::operations::{Effect, Work};
use super::tenant::TenantState;
use crate::ops::{OpError, Operation, Ops};
use jiff::Timestamp;

impl Effect {
    /// Stage `stage` has run its time. An error fails the operation at this stage (e.g. a
    /// prerequisite that no longer holds); otherwise the next stage starts at `at`.
    pub(crate) fn stage_ended(
        &self,
        tenant: &mut TenantState,
        ops: &Ops<Work>,
        op: &Operation<Work>,
        stage: usize,
        at: Timestamp,
    ) -> Result<(), OpError> {
        match self {
            Effect::Lcs(e) => e.stage_ended(tenant, op, stage, at),
            Effect::Ppac(e) => e.stage_ended(tenant, ops, op, stage, at),
            Effect::Integration(e) => e.stage_ended(tenant, op, stage, at),
            #[cfg(test)]
            Effect::Probe(e) => e.stage_ended(tenant, op, stage, at),
        }
    }

    /// The operation reached a terminal state (see `op.state()`).
    pub(crate) fn finished(&self, tenant: &mut TenantState, op: &Operation<Work>, at: Timestamp) {
        match self {
            Effect::Lcs(e) => {
                e.finished(tenant, op, at);
                // The integration's rule, not LCS's: a deleted F&O environment unlinks its
                // Dataverse environment.
                if let Some(env) = e.deleted(op) {
                    super::integration::effect::unlink(tenant, env, at);
                }
            }
            Effect::Ppac(e) => e.finished(tenant, op, at),
            Effect::Integration(e) => e.finished(tenant, op, at),
            #[cfg(test)]
            Effect::Probe(e) => e.finished(tenant, op, at),
        }
    }
}

/// The engine inside a tenant, with a probe effect: status moves only with the clock, effects
/// apply in deadline order, a failed operation resumes from its failed stage, planned failures
/// fire once, tenants are isolated, the seed decides ids and durations, reset forgets.
#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::error::{ErrorCode, SimError};
    use crate::ops::{OperationId, PlannedFailure, RunState, StageSpec};
    use crate::world::identity::{License, TenantId, UNIFIED_OPERATIONS_PLAN, Upn};
    use crate::world::operations::{Portal, Target};
    use crate::world::tenant::{Tenant, TenantSpec, UserPatch, UserSpec};
    use jiff::SignedDuration;
    use parking_lot::Mutex;
    use std::sync::Arc;

    type Log = Arc<Mutex<Vec<String>>>;

    /// Logs every call; optionally requires a user's license when a stage ends; when it
    /// finishes successfully, appends its name to the tenant's display name (a world change, in
    /// the order effects applied).
    #[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
    pub struct Probe {
        name: String,
        #[serde(skip)]
        log: Log,
        requires_license: Option<(usize, String)>,
    }

    impl Probe {
        pub(crate) fn stage_ended(
            &self,
            tenant: &mut TenantState,
            op: &Operation<Work>,
            stage: usize,
            at: Timestamp,
        ) -> Result<(), OpError> {
            let name = op.stage_name(stage).unwrap_or_default();
            self.log.lock().push(format!("{} {name} {at}", self.name));
            match &self.requires_license {
                Some((s, upn)) if *s == stage => {
                    let licensed = tenant
                        .user(upn)
                        .is_ok_and(|u| u.has_license(UNIFIED_OPERATIONS_PLAN));
                    if licensed {
                        Ok(())
                    } else {
                        Err(OpError::new(
                            "LicenseMissing",
                            format!(
                                "{upn} has no {UNIFIED_OPERATIONS_PLAN}; assign it, then resume"
                            ),
                        ))
                    }
                }
                _ => Ok(()),
            }
        }

        pub(crate) fn finished(
            &self,
            tenant: &mut TenantState,
            op: &Operation<Work>,
            at: Timestamp,
        ) {
            self.log
                .lock()
                .push(format!("{} {:?} {at}", self.name, op.state()));
            if op.error().is_none() {
                tenant.display_name.push_str(&format!(" +{}", self.name));
            }
        }
    }

    const START: &str = "2026-01-01T09:00:00Z";

    fn at(offset: &str) -> Timestamp {
        let start: Timestamp = START.parse().unwrap();
        start + crate::clock::parse_duration(offset).unwrap()
    }

    fn tenant(seed: u64) -> Tenant {
        let id = TenantId::parse("8f0c3a52-4d1e-4c3b-9a57-2b6f1e0d7c41").unwrap();
        let spec = TenantSpec {
            display_name: Some("Contoso".into()),
            ..TenantSpec::default()
        };
        Tenant::build(id, spec, seed, START.parse().unwrap()).unwrap()
    }

    fn stages(spec: &[(&str, i64)]) -> Vec<StageSpec> {
        spec.iter()
            .map(|(n, m)| StageSpec::fixed(*n, SignedDuration::from_mins(*m)))
            .collect()
    }

    fn probe(log: &Log, name: &str, requires_license: Option<(usize, &str)>) -> Work {
        Work {
            kind: "test.probe".into(),
            portal: Portal::Lcs,
            target: Target {
                kind: "lcsEnvironment".into(),
                id: name.into(),
            },
            effect: Effect::Probe(Probe {
                name: name.into(),
                log: log.clone(),
                requires_license: requires_license.map(|(i, u)| (i, u.to_string())),
            }),
        }
    }

    fn start(t: &mut Tenant, log: &Log, name: &str, spec: &[(&str, i64)]) -> OperationId {
        let now = t.now(START.parse().unwrap());
        t.start_operation(probe(log, name, None), &stages(spec), None, now)
            .unwrap()
    }

    fn state_of(t: &Tenant, id: OperationId) -> RunState {
        t.operation(id).unwrap().state()
    }

    #[test]
    fn an_operations_status_moves_only_with_the_clock() {
        let (mut t, log) = (tenant(1), Log::default());
        let id = start(&mut t, &log, "deploy", &[("validate", 10), ("run", 30)]);
        let op = t.operation(id).unwrap();
        assert_eq!((op.started_at(), op.ends_at()), (at("0s"), at("40m")));
        let progress = op.progress(at("0s"));
        assert_eq!(progress.percent, 0);
        assert_eq!(
            (progress.stages[0].state, progress.stages[1].state),
            (RunState::Running, RunState::Pending)
        );
        assert_eq!(progress.stages[0].duration_seconds, 600);

        assert!(t.settle_at(at("5m")).is_empty());
        let progress = t.operation(id).unwrap().progress(at("5m"));
        assert_eq!((progress.percent, progress.stages[0].progress), (12, 50));

        t.settle_at(at("25m"));
        let progress = t.operation(id).unwrap().progress(at("25m"));
        assert_eq!(progress.stages[0].state, RunState::Succeeded);
        assert_eq!(progress.stages[1].started_at, Some(at("10m")));
        assert_eq!((progress.percent, progress.stages[1].progress), (62, 50));
        assert_eq!(log.lock().len(), 1, "only the first stage has ended");

        assert_eq!(t.settle_at(at("40m")), [id]);
        let op = t.operation(id).unwrap();
        assert_eq!(
            (op.state(), op.progress(at("40m")).percent),
            (RunState::Succeeded, 100)
        );
        assert_eq!(op.finished_at(), Some(at("40m")));
        assert_eq!(
            t.state.display_name, "Contoso +deploy",
            "the effect applied"
        );
    }

    #[test]
    fn two_operations_finishing_in_one_settle_apply_in_deadline_order() {
        let (mut t, log) = (tenant(1), Log::default());
        let slow = start(&mut t, &log, "slow", &[("one", 30), ("two", 30)]);
        let fast = start(&mut t, &log, "fast", &[("one", 20), ("two", 25)]);
        assert_eq!(t.settle_at(at("2h")), [fast, slow]);
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
        assert_eq!(t.state.display_name, "Contoso +fast +slow");
    }

    #[test]
    fn a_failed_operation_resumes_from_its_failed_stage_once_the_cause_is_fixed()
    -> Result<(), SimError> {
        let (mut t, log) = (tenant(1), Log::default());
        let upn = "fo.admin@tenant-8f0c3a52.test";
        t.add_user(UserSpec {
            upn: Upn::parse(upn)?,
            object_id: None,
            display_name: None,
            password: None,
            roles: vec![],
            licenses: vec![],
        })?;
        let plan = stages(&[("validate", 5), ("check license", 10), ("provision", 45)]);
        let id = t.start_operation(probe(&log, "setup", Some((1, upn))), &plan, None, at("0s"))?;

        assert_eq!(t.settle_at(at("20m")), [id]);
        let op = t.operation(id)?;
        let error = op.error().cloned().unwrap();
        assert_eq!(
            (op.state(), error.code.as_str()),
            (RunState::Failed, "LicenseMissing")
        );
        assert_eq!(op.finished_at(), Some(at("15m")));
        let progress = op.progress(at("20m"));
        assert_eq!(
            (progress.stages[1].state, progress.stages[2].state),
            (RunState::Failed, RunState::Pending)
        );

        // Resume before the fix: fails again at the same stage with the same message.
        t.resume_operation(id, at("20m"))?;
        assert_eq!(
            (state_of(&t, id), t.operation(id)?.attempts()),
            (RunState::Running, 2)
        );
        t.settle_at(at("30m"));
        assert_eq!(
            t.operation(id)?.error().map(|e| &e.message),
            Some(&error.message)
        );
        assert_eq!(t.operation(id)?.finished_at(), Some(at("30m")));

        // Fix the cause, resume: only the remaining stages take time.
        let patch = UserPatch {
            licenses: Some(vec![License::parse(UNIFIED_OPERATIONS_PLAN)?]),
            ..UserPatch::default()
        };
        t.update_user(upn, patch)?;
        t.resume_operation(id, at("30m"))?;
        assert_eq!(
            t.operation(id)?.ends_at(),
            at("85m"),
            "10m + 45m from 09:30"
        );
        t.settle_at(at("85m"));
        assert_eq!(state_of(&t, id), RunState::Succeeded);
        let validations = log.lock().iter().filter(|l| l.contains("validate")).count();
        assert_eq!(validations, 1, "the first stage ran once: {:?}", log.lock());

        let again = t.resume_operation(id, at("85m")).map_err(|e| e.code);
        assert_eq!(again, Err(ErrorCode::OperationNotResumable));
        Ok(())
    }

    #[test]
    fn a_planned_failure_fails_its_stage_once() -> Result<(), SimError> {
        let (mut t, log) = (tenant(1), Log::default());
        let failure = PlannedFailure {
            stage: 1,
            error: OpError::new("RefreshFailed", "the copy failed half-way"),
        };
        let plan = stages(&[("prepare", 60), ("copy", 120), ("finalize", 30)]);
        let id = t.start_operation(probe(&log, "refresh", None), &plan, Some(failure), at("0s"))?;
        t.settle_at(at("4h"));
        let op = t.operation(id)?;
        assert_eq!(
            (op.state(), op.error().map(|e| e.code.as_str())),
            (RunState::Failed, Some("RefreshFailed"))
        );
        assert_eq!(op.finished_at(), Some(at("3h")));
        assert_eq!(op.progress(at("4h")).percent, 85, "180 of 210 minutes ran");
        t.resume_operation(id, at("4h"))?;
        t.settle_at(at("390m"));
        assert_eq!(state_of(&t, id), RunState::Succeeded);
        Ok(())
    }

    #[test]
    fn operations_are_isolated_per_tenant_and_move_with_their_tenants_clock() -> Result<(), SimError>
    {
        let log = Log::default();
        let (mut a, mut b) = (tenant(1), tenant(2));
        let in_a = start(&mut a, &log, "a", &[("only", 60)]);
        let in_b = start(&mut b, &log, "b", &[("only", 60)]);
        assert_eq!(b.operations().map(|o| o.id()).collect::<Vec<_>>(), [in_b]);
        let missing = b.operation(in_a).map(|_| ()).map_err(|e| e.code);
        assert_eq!(missing, Err(ErrorCode::OperationNotFound));

        let clock: Timestamp = START.parse().unwrap();
        a.advance_clock(SignedDuration::from_hours(1), clock)?;
        assert_eq!(a.settle(clock).1, [in_a]);
        assert!(b.settle(clock).1.is_empty(), "B's time did not move");
        assert_eq!(state_of(&b, in_b), RunState::Running);
        let parsed = OperationId::parse("not-an-id").map_err(|e| e.code);
        assert_eq!(parsed, Err(ErrorCode::InvalidOperationId));
        Ok(())
    }

    #[test]
    fn the_same_seed_draws_the_same_operation_ids_and_durations() {
        let run = |seed: u64| {
            let (mut t, log) = (tenant(seed), Log::default());
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
            ["first", "second"]
                .map(|name| {
                    let id = t
                        .start_operation(probe(&log, name, None), &plan, None, at("0s"))
                        .unwrap();
                    (id, t.operation(id).unwrap().ends_at())
                })
                .to_vec()
        };
        let first = run(11);
        assert_eq!(first, run(11));
        let other = run(12);
        assert_ne!(first[0].0, other[0].0);
        assert_ne!(first[0].1, other[0].1);
    }

    #[test]
    fn a_tenant_reset_forgets_its_operations() -> Result<(), SimError> {
        let (mut t, log) = (tenant(1), Log::default());
        start(&mut t, &log, "x", &[("only", 5)]);
        t.reset(START.parse().unwrap())?;
        assert_eq!(t.operations().count(), 0);
        assert!(t.settle_at(at("1h")).is_empty());
        Ok(())
    }
}
