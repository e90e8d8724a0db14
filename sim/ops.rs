//! Long-running operations as pure state machines over virtual time.
//!
//! An operation is a start time plus a plan of named stages with virtual durations, and maybe a
//! planned failure. Nothing runs in the background: an operation's status and per-stage progress
//! are computed from the clock whenever someone looks ([`Operation::progress`]), and the moments
//! where something *happens* — a stage ends, the operation succeeds or fails — are deadlines in one
//! ordered queue. [`Ops::settle`] pops every deadline due by `now`, in deadline order, and lets the
//! owner apply its effects through [`Hooks`]. Callers settle before every read, so what they see is
//! always consistent with the clock; 100k pending operations cost memory, not CPU.
//!
//! The engine is generic over a payload `P` (what the operation is about and what it does when it
//! finishes); it knows nothing of tenants, portals or HTTP.

use crate::clock;
use crate::error::{ErrorCode, SimError};
use foldhash::{HashMap, HashMapExt};
use jiff::{SignedDuration, Timestamp};
use rand::{Rng, RngExt};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use uuid::Uuid;

/// Identifies an operation; drawn from the owning tenant's seeded RNG.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
pub struct OperationId(pub Uuid);

impl OperationId {
    /// A fresh id from `rng`.
    pub fn random(rng: &mut impl Rng) -> Self {
        OperationId(uuid::Builder::from_random_bytes(rng.random()).into_uuid())
    }

    /// Parses a dashed or undashed GUID.
    pub fn parse(text: &str) -> Result<Self, SimError> {
        Uuid::try_parse(text.trim()).map(OperationId).map_err(|_| {
            SimError::new(
                ErrorCode::InvalidOperationId,
                format!("\"{text}\" is not an operation id; operation ids are GUIDs"),
            )
        })
    }
}

impl fmt::Display for OperationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One stage of a plan template: a name and the range its duration is drawn from.
#[derive(Debug, Clone, PartialEq)]
pub struct StageSpec {
    /// Name shown to users, e.g. `"Validate prerequisites"`.
    pub name: String,
    /// Shortest duration.
    pub min: SignedDuration,
    /// Longest duration (inclusive).
    pub max: SignedDuration,
}

impl StageSpec {
    /// A stage whose duration is drawn uniformly (in whole seconds) from `min..=max`.
    pub fn between(name: impl Into<String>, min: SignedDuration, max: SignedDuration) -> Self {
        StageSpec {
            name: name.into(),
            min,
            max,
        }
    }

    /// A stage with a fixed duration.
    pub fn fixed(name: impl Into<String>, duration: SignedDuration) -> Self {
        Self::between(name, duration, duration)
    }
}

/// A concrete plan: stage names with their drawn virtual durations.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    stages: Vec<(String, SignedDuration)>,
}

impl Plan {
    /// Draws each stage's duration from its range with `rng`; the same seed gives the same plan.
    /// Ranges are normalised (negative bounds count as zero, swapped bounds are put in order).
    pub fn draw(specs: &[StageSpec], rng: &mut impl Rng) -> Plan {
        let stages = specs
            .iter()
            .map(|s| {
                let lo = s.min.as_secs().max(0);
                let hi = s.max.as_secs().max(0);
                let (lo, hi) = (lo.min(hi), lo.max(hi));
                let secs = if lo == hi {
                    lo
                } else {
                    rng.random_range(lo..=hi)
                };
                (s.name.clone(), SignedDuration::from_secs(secs))
            })
            .collect();
        Plan { stages }
    }

    /// A plan with exactly these stages and durations (negative durations count as zero).
    pub fn fixed(stages: impl IntoIterator<Item = (String, SignedDuration)>) -> Plan {
        Plan {
            stages: stages
                .into_iter()
                .map(|(n, d)| (n, d.max(SignedDuration::ZERO)))
                .collect(),
        }
    }

    /// The same stages with durations scaled so that they add up to `total` (whole seconds; the
    /// last stage absorbs rounding). A plan whose stages are all zero-length gives `total` to the
    /// last stage.
    pub fn scaled_to(mut self, total: SignedDuration) -> Plan {
        let target = total.as_secs().max(0);
        let current = self.total().as_secs();
        let n = self.stages.len();
        let mut assigned = 0i64;
        for (i, (_, d)) in self.stages.iter_mut().enumerate() {
            let secs = if i + 1 == n {
                target - assigned
            } else if current == 0 {
                0
            } else {
                (i128::from(d.as_secs()) * i128::from(target) / i128::from(current)) as i64
            };
            assigned += secs;
            *d = SignedDuration::from_secs(secs.max(0));
        }
        self
    }

    /// Sum of all stage durations.
    pub fn total(&self) -> SignedDuration {
        self.stages.iter().map(|(_, d)| *d).sum()
    }

    /// Stage names and durations, in order.
    pub fn stages(&self) -> &[(String, SignedDuration)] {
        &self.stages
    }
}

/// Why an operation failed, as users see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpError {
    /// Stable code, e.g. `"InsufficientCapacity"`.
    pub code: String,
    /// What went wrong and what to do about it.
    pub message: String,
    /// The fault rule that injected this failure, if one did (so tests can tell it from a bug).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
}

impl OpError {
    /// A failure with this code and message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        OpError {
            code: code.into(),
            message: message.into(),
            fault: None,
        }
    }
}

impl From<SimError> for OpError {
    fn from(e: SimError) -> Self {
        OpError::new(e.code.as_str(), e.message)
    }
}

/// A failure decided in advance (fault injection): the operation fails when stage `stage` ends.
/// It fires once; a resumed operation runs past it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedFailure {
    /// Zero-based index of the stage that fails.
    pub stage: usize,
    /// The error the operation reports.
    pub error: OpError,
}

/// Where an operation or stage stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RunState {
    /// Not started yet (stages only).
    Pending,
    /// In progress.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished with an error; may be resumable.
    Failed,
}

/// A stage as recorded by the engine.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct StageRecord {
    /// Shared with every view of the stage, so rendering one does not copy it.
    name: Arc<str>,
    duration: SignedDuration,
    state: RunState,
    started_at: Option<Timestamp>,
    ended_at: Option<Timestamp>,
}

/// One long-running operation.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation<P> {
    id: OperationId,
    /// What the operation is about; owned by the caller.
    pub payload: P,
    started_at: Timestamp,
    stages: Vec<StageRecord>,
    /// Index of the running or failed stage; `stages.len()` once succeeded.
    current: usize,
    state: RunState,
    error: Option<OpError>,
    planned_failure: Option<PlannedFailure>,
    finished_at: Option<Timestamp>,
    attempts: u32,
}

/// A stage as seen at some virtual moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StageView {
    /// Stage name.
    pub name: Arc<str>,
    /// Where the stage stands.
    pub state: RunState,
    /// Percent done (0–100).
    pub progress: u8,
    /// How long the stage is planned to take, in seconds (what the overall progress weighs it
    /// by; a progress bar can draw the stages that have not started yet from it).
    pub duration_seconds: i64,
    /// When the stage started (latest attempt).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// When it ended, or, while running, when it is due to end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<Timestamp>,
}

/// An operation's progress at some virtual moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Percent done overall, weighted by stage durations (100 only once succeeded).
    pub percent: u8,
    /// Every stage.
    pub stages: Vec<StageView>,
}

impl<P> Operation<P> {
    /// The operation's id.
    pub fn id(&self) -> OperationId {
        self.id
    }

    /// Running, succeeded or failed.
    pub fn state(&self) -> RunState {
        self.state
    }

    /// When the operation was started (first attempt).
    pub fn started_at(&self) -> Timestamp {
        self.started_at
    }

    /// When it reached its latest terminal state.
    pub fn finished_at(&self) -> Option<Timestamp> {
        self.finished_at
    }

    /// Why it failed, while failed.
    pub fn error(&self) -> Option<&OpError> {
        self.error.as_ref()
    }

    /// Index of the running or failed stage (`None` once succeeded).
    pub fn current_stage(&self) -> Option<usize> {
        (self.current < self.stages.len()).then_some(self.current)
    }

    /// Name of stage `i`.
    pub fn stage_name(&self, i: usize) -> Option<&str> {
        self.stages.get(i).map(|s| &*s.name)
    }

    /// How many times it was started: 1, plus one per resume.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// When it finishes (or finished); while running, assuming no failure.
    pub fn ends_at(&self) -> Timestamp {
        if let Some(done) = self.finished_at {
            return done;
        }
        let stage = &self.stages[self.current];
        let start = stage.started_at.unwrap_or(self.started_at);
        let rest: SignedDuration = self.stages[self.current..].iter().map(|s| s.duration).sum();
        start.checked_add(rest).unwrap_or(Timestamp::MAX)
    }

    /// Status and per-stage progress at `now`, computed from the clock. Call after settling to
    /// `now`; a running stage whose time is up shows 99% until settled.
    pub fn progress(&self, now: Timestamp) -> Progress {
        let mut done = SignedDuration::ZERO;
        let mut total = SignedDuration::ZERO;
        let stages = self
            .stages
            .iter()
            .map(|s| {
                total += s.duration;
                let (elapsed, percent, ends_at) = match s.state {
                    RunState::Pending => (SignedDuration::ZERO, 0, None),
                    RunState::Succeeded => (s.duration, 100, s.ended_at),
                    RunState::Running | RunState::Failed => {
                        let start = s.started_at.unwrap_or(self.started_at);
                        let until = s.ended_at.unwrap_or(now).max(start);
                        let elapsed = until.duration_since(start).min(s.duration);
                        let cap = if s.state == RunState::Running {
                            99
                        } else {
                            100
                        };
                        let percent = percent_of(elapsed, s.duration).min(cap);
                        let end = s.ended_at.or_else(|| start.checked_add(s.duration).ok());
                        (elapsed, percent, end)
                    }
                };
                done += elapsed;
                StageView {
                    name: s.name.clone(),
                    state: s.state,
                    progress: percent,
                    duration_seconds: s.duration.as_secs(),
                    started_at: s.started_at,
                    ends_at,
                }
            })
            .collect();
        let percent = match self.state {
            RunState::Succeeded => 100,
            _ => percent_of(done, total).min(99),
        };
        Progress { percent, stages }
    }
}

fn percent_of(part: SignedDuration, whole: SignedDuration) -> u8 {
    if whole.is_zero() {
        return 0;
    }
    let ratio = part.as_secs_f64() / whole.as_secs_f64();
    (ratio * 100.0).floor().clamp(0.0, 100.0) as u8
}

/// What the owner of the operations does when something happens. Called inside [`Ops::settle`],
/// in deadline order across all operations.
pub trait Hooks<P> {
    /// Stage `stage` of `op` has run its time at `at`. Return an error to fail the operation
    /// there (e.g. a prerequisite check); `Ok` lets the next stage start at `at`. `ops` shows
    /// every operation as it stands at `at`, so a check can read another operation's state.
    fn stage_ended(
        &mut self,
        ops: &Ops<P>,
        op: &Operation<P>,
        stage: usize,
        at: Timestamp,
    ) -> Result<(), OpError>;

    /// `op` has reached a terminal state (succeeded or failed) at `at`.
    fn finished(&mut self, op: &Operation<P>, at: Timestamp);
}

/// Why an operation cannot be resumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResumeError {
    /// No such operation.
    NotFound,
    /// It is running or has succeeded; only failed operations resume.
    NotFailed(RunState),
}

/// All operations of one owner (a tenant) and their deadline queue.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ops<P> {
    /// Operations in the order they were started.
    ops: Vec<Operation<P>>,
    /// Position of each operation in `ops` (rebuilt when loaded).
    #[serde(skip)]
    index: HashMap<OperationId, usize>,
    /// One entry per running operation: when its current stage ends. The sequence number breaks
    /// ties so that deadlines at the same instant apply in the order they were scheduled.
    deadlines: BTreeSet<(Timestamp, u64, OperationId)>,
    next_seq: u64,
}

impl<P> Default for Ops<P> {
    fn default() -> Self {
        Ops {
            ops: Vec::new(),
            index: HashMap::new(),
            deadlines: BTreeSet::new(),
            next_seq: 0,
        }
    }
}

impl<P> Ops<P> {
    /// Rebuilds the id index (after loading a snapshot); refuses duplicate ids and deadlines of
    /// operations that do not exist.
    pub fn reindex(&mut self) -> Result<(), SimError> {
        self.index.clear();
        for (i, op) in self.ops.iter().enumerate() {
            let in_range = match op.state {
                RunState::Succeeded => op.current <= op.stages.len(),
                _ => op.current < op.stages.len(),
            };
            if op.stages.is_empty() || !in_range {
                return Err(SimError::new(
                    crate::error::ErrorCode::InvalidScenario,
                    format!(
                        "operation {} has {} stages and stands at stage {}; an operation has at \
                         least one stage and stands at one of them",
                        op.id,
                        op.stages.len(),
                        op.current
                    ),
                ));
            }
            if self.index.insert(op.id, i).is_some() {
                return Err(SimError::new(
                    crate::error::ErrorCode::InvalidScenario,
                    format!("operation {} appears twice", op.id),
                ));
            }
        }
        if let Some((_, _, id)) = self
            .deadlines
            .iter()
            .find(|(_, _, id)| !self.index.contains_key(id))
        {
            return Err(SimError::new(
                crate::error::ErrorCode::InvalidScenario,
                format!("a deadline names operation {id}, which is not there"),
            ));
        }
        Ok(())
    }

    /// Starts an operation at `now` with the given plan (which must have at least one stage).
    pub fn start(
        &mut self,
        id: OperationId,
        payload: P,
        plan: Plan,
        now: Timestamp,
        failure: Option<PlannedFailure>,
    ) -> Result<&Operation<P>, SimError> {
        if plan.stages.is_empty() {
            return Err(SimError::internal("an operation needs at least one stage"));
        }
        if self.index.contains_key(&id) {
            return Err(SimError::internal(format!(
                "operation id {id} is already in use"
            )));
        }
        let mut stages: Vec<StageRecord> = plan
            .stages
            .into_iter()
            .map(|(name, duration)| StageRecord {
                name: name.into(),
                duration,
                state: RunState::Pending,
                started_at: None,
                ended_at: None,
            })
            .collect();
        stages[0].state = RunState::Running;
        stages[0].started_at = Some(now);
        let first_end = clock::add(now, stages[0].duration)?;
        let op = Operation {
            id,
            payload,
            started_at: now,
            stages,
            current: 0,
            state: RunState::Running,
            error: None,
            planned_failure: failure,
            finished_at: None,
            attempts: 1,
        };
        self.schedule(first_end, id);
        self.index.insert(id, self.ops.len());
        self.ops.push(op);
        Ok(&self.ops[self.ops.len() - 1])
    }

    /// The operation with this id.
    pub fn get(&self, id: OperationId) -> Option<&Operation<P>> {
        self.index.get(&id).map(|&i| &self.ops[i])
    }

    /// All operations, in the order they were started.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Operation<P>> {
        self.ops.iter()
    }

    /// Whether a deadline falls at or before `now` (a settle to `now` has something to apply).
    pub fn due(&self, now: Timestamp) -> bool {
        self.deadlines.first().is_some_and(|&(at, _, _)| at <= now)
    }

    /// Applies, in deadline order, everything due by `now`; returns the operations that reached a
    /// terminal state, in the order they did.
    pub fn settle(&mut self, now: Timestamp, hooks: &mut impl Hooks<P>) -> Vec<OperationId> {
        let mut finished = Vec::new();
        while self.deadlines.first().is_some_and(|&(at, _, _)| at <= now) {
            let Some((at, _, id)) = self.deadlines.pop_first() else {
                break;
            };
            let Some(&i) = self.index.get(&id) else {
                continue;
            };
            let stage = self.ops[i].current;
            let planned = self.ops[i].planned_failure.take_if(|f| f.stage == stage);
            let verdict = match planned {
                Some(planned) => Err(planned.error),
                None => hooks.stage_ended(self, &self.ops[i], stage, at),
            };
            let op = &mut self.ops[i];
            let record = &mut op.stages[stage];
            record.ended_at = Some(at);
            match verdict {
                Ok(()) => {
                    record.state = RunState::Succeeded;
                    op.current += 1;
                    if let Some(next) = op.stages.get_mut(op.current) {
                        next.state = RunState::Running;
                        next.started_at = Some(at);
                        let end = at.checked_add(next.duration).unwrap_or(Timestamp::MAX);
                        self.schedule(end, id);
                        continue;
                    }
                    op.state = RunState::Succeeded;
                }
                Err(error) => {
                    record.state = RunState::Failed;
                    op.state = RunState::Failed;
                    op.error = Some(error);
                }
            }
            op.finished_at = Some(at);
            hooks.finished(&self.ops[i], at);
            finished.push(id);
        }
        finished
    }

    /// Resumes a failed operation at `now` from its failed stage: that stage runs again for its
    /// full duration, then the remaining stages; stages that succeeded are not repeated.
    pub fn resume(&mut self, id: OperationId, now: Timestamp) -> Result<(), ResumeError> {
        let &i = self.index.get(&id).ok_or(ResumeError::NotFound)?;
        let op = &mut self.ops[i];
        if op.state != RunState::Failed {
            return Err(ResumeError::NotFailed(op.state));
        }
        let stage = &mut op.stages[op.current];
        stage.state = RunState::Running;
        stage.started_at = Some(now);
        stage.ended_at = None;
        let end = now.checked_add(stage.duration).unwrap_or(Timestamp::MAX);
        op.state = RunState::Running;
        op.error = None;
        op.finished_at = None;
        op.attempts += 1;
        self.schedule(end, id);
        Ok(())
    }

    /// Forgets every operation.
    pub fn clear(&mut self) {
        *self = Ops::default();
    }

    fn schedule(&mut self, at: Timestamp, id: OperationId) {
        self.deadlines.insert((at, self.next_seq, id));
        self.next_seq += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_keeps_proportions_and_hits_the_total() {
        let plan = Plan::fixed([
            ("a".to_string(), SignedDuration::from_mins(10)),
            ("b".to_string(), SignedDuration::from_mins(30)),
        ])
        .scaled_to(SignedDuration::from_hours(2));
        assert_eq!(plan.total(), SignedDuration::from_hours(2));
        assert_eq!(plan.stages()[0].1, SignedDuration::from_mins(30));
        let zero = Plan::fixed([("a".to_string(), SignedDuration::ZERO)])
            .scaled_to(SignedDuration::from_secs(7));
        assert_eq!(zero.total(), SignedDuration::from_secs(7));
    }
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn t0() -> Timestamp {
        Timestamp::constant(1_800_000_000, 0)
    }

    fn mins(m: i64) -> SignedDuration {
        SignedDuration::from_mins(m)
    }

    fn at(m: i64) -> Timestamp {
        t0().checked_add(mins(m)).unwrap_or(Timestamp::MAX)
    }

    fn plan(stages: &[(&str, i64)]) -> Plan {
        Plan::fixed(stages.iter().map(|(n, m)| (n.to_string(), mins(*m))))
    }

    fn id(n: u128) -> OperationId {
        OperationId(Uuid::from_u128(n))
    }

    fn get<P>(ops: &Ops<P>, n: u128) -> &Operation<P> {
        match ops.get(id(n)) {
            Some(op) => op,
            None => panic!("operation {n} is missing"),
        }
    }

    /// Records every hook call; fails stage `fail_stage` of payload `fail_payload` while set.
    #[derive(Default)]
    struct Recorder {
        events: Vec<String>,
        fail: Option<(&'static str, usize)>,
    }

    impl Hooks<&'static str> for Recorder {
        fn stage_ended(
            &mut self,
            _ops: &Ops<&'static str>,
            op: &Operation<&'static str>,
            stage: usize,
            at: Timestamp,
        ) -> Result<(), OpError> {
            self.events
                .push(format!("{} stage {stage} @{}", op.payload, at.as_second()));
            match self.fail {
                Some((p, s)) if p == op.payload && s == stage => {
                    Err(OpError::new("NoLicense", "assign the license"))
                }
                _ => Ok(()),
            }
        }

        fn finished(&mut self, op: &Operation<&'static str>, at: Timestamp) {
            self.events.push(format!(
                "{} {:?} @{}",
                op.payload,
                op.state(),
                at.as_second()
            ));
        }
    }

    /// (payload, id, stages as (name, minutes))
    type Run<'a> = (&'static str, u128, &'a [(&'a str, i64)]);

    fn ops_with(runs: &[Run<'_>]) -> Ops<&'static str> {
        let mut ops = Ops::default();
        for (payload, n, stages) in runs {
            assert!(
                ops.start(id(*n), *payload, plan(stages), t0(), None)
                    .is_ok()
            );
        }
        ops
    }

    #[test]
    fn status_moves_only_with_the_clock() {
        let mut ops = ops_with(&[("a", 1, &[("validate", 10), ("run", 30)])]);
        let mut hooks = Recorder::default();
        let op = get(&ops, 1);
        assert_eq!(op.progress(at(0)).percent, 0);
        assert_eq!(
            op.progress(at(20)).stages[0].progress,
            99,
            "due but not settled"
        );

        assert!(ops.settle(at(5), &mut hooks).is_empty());
        let op = get(&ops, 1);
        let p = op.progress(at(5));
        assert_eq!(
            (p.percent, p.stages[0].progress, p.stages[1].state),
            (12, 50, RunState::Pending)
        );

        assert!(ops.settle(at(25), &mut hooks).is_empty());
        let op = get(&ops, 1);
        let p = op.progress(at(25));
        assert_eq!(p.stages[0].state, RunState::Succeeded);
        assert_eq!(p.stages[1].state, RunState::Running);
        assert_eq!((p.percent, p.stages[1].progress), (62, 50));
        assert_eq!(
            p.stages[1].started_at,
            Some(at(10)),
            "next stage starts at the deadline"
        );
        assert_eq!(op.ends_at(), at(40));

        assert_eq!(ops.settle(at(40), &mut hooks), vec![id(1)]);
        let op = get(&ops, 1);
        assert_eq!(
            (op.state(), op.progress(at(99)).percent),
            (RunState::Succeeded, 100)
        );
        assert_eq!(op.finished_at(), Some(at(40)));
    }

    #[test]
    fn effects_apply_in_deadline_order_across_operations() {
        // b was started after a but finishes first; one big settle must still apply b first.
        let mut ops = ops_with(&[
            ("a", 1, &[("one", 30), ("two", 30)]),
            ("b", 2, &[("one", 20), ("two", 20)]),
        ]);
        let mut hooks = Recorder::default();
        let finished = ops.settle(at(120), &mut hooks);
        assert_eq!(finished, vec![id(2), id(1)]);
        let s = |m: i64| at(m).as_second();
        assert_eq!(
            hooks.events,
            vec![
                format!("b stage 0 @{}", s(20)),
                format!("a stage 0 @{}", s(30)),
                format!("b stage 1 @{}", s(40)),
                format!("b Succeeded @{}", s(40)),
                format!("a stage 1 @{}", s(60)),
                format!("a Succeeded @{}", s(60)),
            ]
        );
    }

    #[test]
    fn simultaneous_deadlines_apply_in_start_order() {
        let mut ops = ops_with(&[("x", 9, &[("only", 10)]), ("y", 3, &[("only", 10)])]);
        let finished = ops.settle(at(10), &mut Recorder::default());
        assert_eq!(finished, vec![id(9), id(3)]);
    }

    #[test]
    fn hook_failure_stops_the_operation_and_resume_continues_from_the_failed_stage() {
        let stages: &[(&str, i64)] = &[("validate", 5), ("reserve", 10), ("provision", 45)];
        let mut ops = ops_with(&[("setup", 1, stages)]);
        let mut hooks = Recorder {
            fail: Some(("setup", 1)),
            ..Recorder::default()
        };
        assert_eq!(ops.settle(at(100), &mut hooks), vec![id(1)]);
        let op = get(&ops, 1);
        assert_eq!(op.state(), RunState::Failed);
        assert_eq!(op.finished_at(), Some(at(15)));
        assert_eq!(op.current_stage(), Some(1));
        assert_eq!(op.error().map(|e| e.code.as_str()), Some("NoLicense"));
        let p = op.progress(at(100));
        assert_eq!(p.stages[1].state, RunState::Failed);
        assert_eq!(p.stages[2].state, RunState::Pending);
        assert_eq!(p.percent, 25, "frozen at the failure point");

        // Resume before the fix: the check runs again and fails at the same stage.
        assert_eq!(ops.resume(id(1), at(100)), Ok(()));
        assert_eq!(ops.settle(at(110), &mut hooks), vec![id(1)]);
        let op = get(&ops, 1);
        assert_eq!(
            (op.state(), op.current_stage()),
            (RunState::Failed, Some(1))
        );
        assert_eq!(op.finished_at(), Some(at(110)));

        // Fix the cause, resume: only the failed stage and the ones after it take time.
        hooks.fail = None;
        hooks.events.clear();
        assert_eq!(ops.resume(id(1), at(200)), Ok(()));
        let op = get(&ops, 1);
        assert_eq!(op.ends_at(), at(255));
        assert_eq!(op.attempts(), 3);
        assert_eq!(ops.settle(at(255), &mut hooks), vec![id(1)]);
        assert_eq!(
            hooks.events.len(),
            3,
            "stage 0 is not repeated: {:?}",
            hooks.events
        );
        assert!(hooks.events[0].starts_with("setup stage 1"));
        let op = get(&ops, 1);
        assert_eq!(op.state(), RunState::Succeeded);
        assert_eq!(op.progress(at(255)).stages[0].ends_at, Some(at(5)));
    }

    #[test]
    fn planned_failure_fires_once() {
        let mut ops: Ops<&'static str> = Ops::default();
        let failure = PlannedFailure {
            stage: 1,
            error: OpError::new("Injected", "planned"),
        };
        let started = ops.start(
            id(1),
            "refresh",
            plan(&[("a", 10), ("b", 10)]),
            t0(),
            Some(failure),
        );
        assert!(started.is_ok());
        let mut hooks = Recorder::default();
        ops.settle(at(60), &mut hooks);
        let op = get(&ops, 1);
        assert_eq!(op.error().map(|e| e.code.as_str()), Some("Injected"));
        assert_eq!(op.finished_at(), Some(at(20)));
        assert_eq!(
            hooks.events.len(),
            2,
            "the planned failure skips the hook: {:?}",
            hooks.events
        );

        assert_eq!(ops.resume(id(1), at(60)), Ok(()));
        ops.settle(at(70), &mut hooks);
        let op = get(&ops, 1);
        assert_eq!(op.state(), RunState::Succeeded);
    }

    #[test]
    fn only_failed_operations_resume() {
        let mut ops = ops_with(&[("a", 1, &[("only", 10)])]);
        assert_eq!(
            ops.resume(id(1), at(1)),
            Err(ResumeError::NotFailed(RunState::Running))
        );
        ops.settle(at(10), &mut Recorder::default());
        assert_eq!(
            ops.resume(id(1), at(11)),
            Err(ResumeError::NotFailed(RunState::Succeeded))
        );
        assert_eq!(ops.resume(id(2), at(11)), Err(ResumeError::NotFound));
    }

    #[test]
    fn zero_length_stages_finish_at_the_next_settle() {
        let mut ops = ops_with(&[("a", 1, &[("instant", 0), ("also", 0)])]);
        assert_eq!(ops.settle(t0(), &mut Recorder::default()), vec![id(1)]);
    }

    #[test]
    fn drawn_plans_are_reproducible_and_within_range() {
        let specs = [
            StageSpec::between("validate", mins(1), mins(5)),
            StageSpec::between("provision", mins(50), mins(80)),
            StageSpec::fixed("link", mins(5)),
        ];
        let a = Plan::draw(&specs, &mut ChaCha8Rng::seed_from_u64(7));
        let b = Plan::draw(&specs, &mut ChaCha8Rng::seed_from_u64(7));
        let c = Plan::draw(&specs, &mut ChaCha8Rng::seed_from_u64(8));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.total() >= mins(56) && a.total() <= mins(90));
        assert_eq!(a.stages()[2].1, mins(5));
    }
}
