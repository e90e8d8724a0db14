//! Scenario files: the world a test or a demo starts from, in YAML (comments welcome) or JSON.
//!
//! A file declares the clock, global request-fault rules and tenants. A tenant takes the same
//! fields as `POST /_sim/tenants` (users, licenses, roles, capacity, governance, LCS projects and
//! environments) plus Power Platform environments, existing Power Platform integrations (with
//! add-ins, dual-write and later conversions), duration overrides, fault rules and a timeline of
//! scripted events at offsets from the moment it loads.
//!
//! Every problem is reported with its line and column: syntax and shape errors by the YAML
//! parser, rule errors (an unknown license, a link to an environment that is not declared) by
//! resolving the field path of the error to its place in the file.

use crate::clock::{self, Clock, MAX_SCALE};
use crate::error::{ErrorCode, SimError};
use crate::faults::{RequestFaults, RequestRule, SharedRequestFaults};
use crate::input::fault::{Fault, FaultBody};
use crate::input::lcs::ProjectBody;
use crate::input::tenant::{
    CreateApplication, CreateTenant, CreateUser, SetDuration, UpdateCapacity, UpdateGovernance,
};
use crate::world::identity::TenantId;
use crate::world::ppac::{NewDataverse, Sku};
use crate::world::setup::{
    CapacityDelta, CapacityFigures, EnvRef, LinkSpec, PpacEnvironmentSpec, TenantExtras,
    TimelineAction, TimelineSpec, UserChange,
};
use crate::world::tenant::{DurationOverride, Governance, TenantSnapshot};
use crate::world::{Declared, Placing, TenantRef, World};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::fmt;

/// The format version this simulator reads and writes.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// The shipped scenarios (`scenarios/*.yaml`), built into the binary: name and text.
pub const BUILT_IN: &[(&str, &str)] = &[
    (
        "fresh-tenant",
        include_str!("../scenarios/fresh-tenant.yaml"),
    ),
    (
        "capacity-shortfall",
        include_str!("../scenarios/capacity-shortfall.yaml"),
    ),
    (
        "missing-license",
        include_str!("../scenarios/missing-license.yaml"),
    ),
    (
        "restricted-governance",
        include_str!("../scenarios/restricted-governance.yaml"),
    ),
    (
        "linked-sandbox-pair",
        include_str!("../scenarios/linked-sandbox-pair.yaml"),
    ),
    (
        "linked-pair-converted",
        include_str!("../scenarios/linked-pair-converted.yaml"),
    ),
    ("busy-tenant", include_str!("../scenarios/busy-tenant.yaml")),
    (
        "flaky-portal",
        include_str!("../scenarios/flaky-portal.yaml"),
    ),
];

/// The built-in scenario called `name`.
pub fn built_in(name: &str) -> Option<&'static str> {
    let name = name.trim().trim_end_matches(".yaml");
    BUILT_IN
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, text)| *text)
}

/// A scenario's title: the first line of its comment header.
pub(crate) fn title(text: &str) -> &str {
    text.lines()
        .next()
        .and_then(|l| l.strip_prefix('#'))
        .map(str::trim)
        .unwrap_or("")
}

// ---- the file ----

/// A scenario file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ScenarioFile {
    version: Option<u32>,
    description: Option<String>,
    clock: Option<ClockBody>,
    #[serde(default)]
    faults: Vec<FaultBody>,
    #[serde(default)]
    tenants: Vec<TenantBody>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockBody {
    start: Option<String>,
    paused: Option<bool>,
    scale: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TenantBody {
    id: Option<String>,
    domain: Option<String>,
    display_name: Option<String>,
    users: Option<Vec<CreateUser>>,
    applications: Option<Vec<CreateApplication>>,
    capacity: Option<UpdateCapacity>,
    governance: Option<UpdateGovernance>,
    #[serde(default)]
    projects: Vec<ProjectBody>,
    #[serde(default)]
    power_platform_environments: Vec<PpacBody>,
    #[serde(default)]
    links: Vec<LinkBody>,
    #[serde(default)]
    durations: BTreeMap<String, DurationBody>,
    #[serde(default)]
    faults: Vec<FaultBody>,
    #[serde(default)]
    timeline: Vec<EventBody>,
    /// An exact state, as `GET /_sim/tenants/{id}/snapshot` writes it; excludes every other key.
    snapshot: Option<Box<TenantSnapshot>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PpacBody {
    name: String,
    #[serde(rename = "type")]
    sku: String,
    location: Option<String>,
    description: Option<String>,
    dataverse: Option<DataverseBody>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum DataverseBody {
    On(bool),
    With(DataverseSettings),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DataverseSettings {
    domain: Option<String>,
    currency: Option<String>,
    language: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LinkBody {
    fin_ops_environment: String,
    dataverse_environment: Option<String>,
    #[serde(default)]
    addins: Vec<AddinBody>,
    #[serde(default)]
    dual_write: bool,
    converted_to: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum AddinBody {
    Name(String),
    With(AddinSettings),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddinSettings {
    name: String,
    #[serde(default)]
    settings: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum DurationBody {
    Text(String),
    Range(SetDuration),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EventBody {
    at: String,
    note: Option<String>,
    capacity: Option<CapacityFigures>,
    capacity_change: Option<CapacityDelta>,
    user: Option<UserChange>,
    governance: Option<Governance>,
    fault: Option<FaultBody>,
}

// ---- the plan ----

/// Clock settings of a scenario.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ClockSettings {
    /// Virtual time the scenario starts at.
    pub start: Option<Timestamp>,
    /// Start paused.
    pub paused: Option<bool>,
    /// Virtual seconds per real second.
    pub scale: Option<f64>,
}

/// A tenant of a checked scenario.
#[derive(Debug)]
pub struct TenantPlan {
    /// The tenant clock's start (the scenario's `clock.start`), if it has its own.
    pub start: Option<Timestamp>,
    /// Everything the world builds.
    pub declared: Declared,
    /// The tenant's request rules (from/until already anchored).
    pub request_rules: Vec<RequestRule>,
}

/// A checked scenario, ready to load.
#[derive(Debug)]
pub struct Scenario {
    /// What it is about.
    pub description: Option<String>,
    /// Clock settings.
    pub clock: ClockSettings,
    /// Global request rules.
    pub request_rules: Vec<RequestRule>,
    /// Tenants.
    pub tenants: Vec<TenantPlan>,
}

/// A problem in a scenario file, with its place.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// 1-based line, when known.
    pub line: Option<u64>,
    /// 1-based column, when known.
    pub column: Option<u64>,
    /// The field at fault, e.g. `tenants[0].users[1].licenses[0]`.
    pub path: Option<String>,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, "line {l}, column {c}: ")?;
        }
        if let Some(p) = &self.path {
            write!(f, "{p}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl From<Problem> for SimError {
    fn from(p: Problem) -> SimError {
        let mut e = SimError::new(ErrorCode::InvalidScenario, p.to_string());
        e.target = p.path;
        e
    }
}

/// The YAML reader's limits for `text`, growing with it: every node and event of a file takes at
/// least one byte of its text, so one of each per byte (never fewer than the reader's own
/// defaults) admits any file written out in full, a world of 100,000 environments among them,
/// while the work stays linear in the file's size. Aliases cannot multiply it: their replay
/// keeps the reader's own caps.
fn reader_options(text: &str) -> serde_saphyr::Options {
    let bytes = text.len();
    let mut budget = serde_saphyr::Budget::default();
    budget.max_nodes = budget.max_nodes.max(bytes);
    budget.max_events = budget.max_events.max(bytes.saturating_mul(2));
    budget.max_total_scalar_bytes = budget.max_total_scalar_bytes.max(bytes);
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options
}

/// Reads and checks a scenario. `anchor` is the moment offsets (`from: 30m`) count from.
pub(crate) fn parse(text: &str, anchor: Timestamp) -> Result<Scenario, Problem> {
    let file: ScenarioFile = serde_saphyr::from_str_with_options(text, reader_options(text))
        .map_err(|e| {
            let at = e.location();
            let message = e.without_snippet().to_string();
            let message = match message.split_once(": ") {
                Some((head, rest)) if head.starts_with("error: line") => rest.to_string(),
                _ => message,
            };
            // The place is reported separately.
            let message = match message.rfind(" at line ") {
                Some(i) if message[i..].contains(", column ") => message[..i].to_string(),
                _ => message,
            };
            Problem {
                line: at.map(|l| l.line()),
                column: at.map(|l| l.column()),
                path: None,
                message,
            }
        })?;
    file.plan(anchor).map_err(|e| problem(text, e))
}

/// The problem `e` (whose target is a path into the file) with its line and column.
pub(crate) fn problem(text: &str, e: SimError) -> Problem {
    let (line, column) = e.target.as_deref().and_then(|p| locate(text, p)).unzip();
    Problem {
        line,
        column,
        path: e.target,
        message: e.message,
    }
}

/// Parses a scenario and builds its world in a scratch simulator, so that everything a load
/// would refuse (a link whose administrator has no license, a name declared twice) is reported
/// with its place, without touching a running simulator.
pub fn check(text: &str, anchor: Timestamp) -> Result<Scenario, Problem> {
    let scenario = parse(text, anchor)?;
    let world = crate::world::World::new(0);
    let declared = scenario
        .tenants
        .iter()
        .map(|t| t.declared.clone())
        .collect::<Vec<_>>();
    world
        .load(declared, anchor, Placing::default())
        .map_err(|e| problem(text, e))?;
    Ok(scenario)
}

fn bad(field: &str, message: impl Into<String>) -> SimError {
    SimError::new(ErrorCode::InvalidScenario, message).at(field)
}

impl ScenarioFile {
    fn plan(self, anchor: Timestamp) -> Result<Scenario, SimError> {
        if let Some(v) = self.version
            && v != FORMAT_VERSION
        {
            return Err(bad(
                "version",
                format!(
                    "version {v} is not supported; this simulator reads version {FORMAT_VERSION}"
                ),
            ));
        }
        let clock = match self.clock {
            None => ClockSettings::default(),
            Some(c) => ClockSettings {
                start: c
                    .start
                    .map(|s| clock::parse_timestamp(&s).map_err(|e| e.at("clock.start")))
                    .transpose()?,
                paused: c.paused,
                scale: match c.scale {
                    Some(s) if !(s.is_finite() && s > 0.0 && s <= MAX_SCALE) => {
                        return Err(bad(
                            "clock.scale",
                            format!("the scale must be greater than 0 and at most {MAX_SCALE}"),
                        ));
                    }
                    s => s,
                },
            },
        };
        let request_rules = self
            .faults
            .into_iter()
            .enumerate()
            .map(|(i, f)| {
                request_rule(f, None, anchor).map_err(|e| e.within(format!("faults[{i}]")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        check_rules(&request_rules, "faults")?;
        let tenants = self
            .tenants
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                t.plan(anchor, clock.start)
                    .map_err(|e| e.within(format!("tenants[{i}]")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Scenario {
            description: self.description,
            clock,
            request_rules,
            tenants,
        })
    }
}

/// Checks request rules as the control plane would add them (names unique among them).
fn check_rules(rules: &[RequestRule], list: &str) -> Result<(), SimError> {
    RequestFaults::check_new(&[], rules).map_err(|e| e.within(list))
}

fn request_rule(
    body: FaultBody,
    tenant: Option<TenantId>,
    anchor: Timestamp,
) -> Result<RequestRule, SimError> {
    match body.parse(tenant, anchor)? {
        Fault::Request(r) => Ok(r),
        Fault::Operation(_) => Err(bad(
            "operation",
            "a planned operation failure belongs to a tenant; move it under tenants[].faults",
        )),
    }
}

impl TenantBody {
    fn plan(self, anchor: Timestamp, start: Option<Timestamp>) -> Result<TenantPlan, SimError> {
        if let Some(snapshot) = self.snapshot {
            let others = [
                ("id", self.id.is_some()),
                ("domain", self.domain.is_some()),
                ("displayName", self.display_name.is_some()),
                ("users", self.users.is_some()),
                ("applications", self.applications.is_some()),
                ("capacity", self.capacity.is_some()),
                ("governance", self.governance.is_some()),
                ("projects", !self.projects.is_empty()),
                (
                    "powerPlatformEnvironments",
                    !self.power_platform_environments.is_empty(),
                ),
                ("links", !self.links.is_empty()),
                ("durations", !self.durations.is_empty()),
                ("faults", !self.faults.is_empty()),
                ("timeline", !self.timeline.is_empty()),
            ];
            if let Some((field, _)) = others.iter().find(|(_, set)| *set) {
                return Err(bad(
                    field,
                    "a tenant given as a snapshot takes no other keys; the snapshot holds them all",
                ));
            }
            return Ok(TenantPlan {
                start: None,
                declared: Declared {
                    id: Some(snapshot.state.id),
                    spec: crate::world::tenant::TenantSpec::default(),
                    extras: TenantExtras::default(),
                    offset: SignedDuration::ZERO,
                    snapshot: Some(std::sync::Arc::from(snapshot)),
                },
                request_rules: Vec::new(),
            });
        }
        let base = CreateTenant {
            id: self.id,
            domain: self.domain,
            display_name: self.display_name,
            users: self.users,
            applications: self.applications,
            capacity: self.capacity,
            governance: self.governance,
            projects: self.projects,
        };
        let (id, spec) = base.parse()?;
        let ppac = self
            .power_platform_environments
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                e.plan()
                    .map_err(|e| e.within(format!("powerPlatformEnvironments[{i}]")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let links = self
            .links
            .into_iter()
            .enumerate()
            .map(|(i, l)| l.plan().map_err(|e| e.within(format!("links[{i}]"))))
            .collect::<Result<Vec<_>, _>>()?;
        let durations = self
            .durations
            .into_iter()
            .map(|(kind, d)| {
                let parsed = match &d {
                    DurationBody::Text(t) => {
                        clock::parse_duration(t).map(|d| DurationOverride { min: d, max: d })
                    }
                    DurationBody::Range(r) => r.parse(),
                };
                parsed
                    .map(|d| (kind.clone(), d))
                    .map_err(|e| e.within(format!("durations.{kind}")))
            })
            .collect::<Result<BTreeMap<_, _>, _>>()?;
        let mut operation_faults = Vec::new();
        let mut request_rules = Vec::new();
        for (i, f) in self.faults.into_iter().enumerate() {
            // The tenant's id is not known before it loads: scope by the placeholder and
            // re-scope at load.
            match f.parse(Some(TenantId(uuid::Uuid::nil())), anchor) {
                Ok(Fault::Operation(o)) => operation_faults.push(o),
                Ok(Fault::Request(r)) => request_rules.push(r),
                Err(e) => return Err(e.within(format!("faults[{i}]"))),
            }
        }
        check_rules(&request_rules, "faults")?;
        let timeline = self
            .timeline
            .into_iter()
            .enumerate()
            .map(|(i, ev)| {
                ev.plan(anchor)
                    .map_err(|e| e.within(format!("timeline[{i}]")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TenantPlan {
            start,
            declared: Declared {
                id,
                spec,
                extras: TenantExtras {
                    ppac,
                    links,
                    durations,
                    operation_faults,
                    timeline,
                },
                offset: SignedDuration::ZERO,
                snapshot: None,
            },
            request_rules,
        })
    }
}

impl PpacBody {
    fn plan(self) -> Result<PpacEnvironmentSpec, SimError> {
        let sku = Sku::from_name(&self.sku).ok_or_else(|| {
            bad(
                "type",
                format!(
                    "'{}' is not an environment type; use one of: {}",
                    self.sku,
                    Sku::names()
                ),
            )
        })?;
        let location = self.location.unwrap_or_else(|| "unitedstates".to_string());
        crate::world::ppac::find_location(&location).map_err(|e| e.at("location"))?;
        let dataverse = match self.dataverse {
            None | Some(DataverseBody::On(false)) => None,
            Some(DataverseBody::On(true)) => Some(NewDataverse::default()),
            Some(DataverseBody::With(d)) => Some(NewDataverse {
                domain: d.domain,
                language: d.language,
                currency: d.currency,
                ..NewDataverse::default()
            }),
        };
        Ok(PpacEnvironmentSpec {
            name: self.name,
            sku,
            location,
            description: self.description.unwrap_or_default(),
            dataverse,
        })
    }
}

impl LinkBody {
    fn plan(self) -> Result<LinkSpec, SimError> {
        let converted_to = self
            .converted_to
            .map(|t| match Sku::from_name(&t) {
                Some(s @ (Sku::Production | Sku::Sandbox)) => Ok(s),
                _ => Err(bad(
                    "convertedTo",
                    format!("'{t}' is not a conversion target; use Production or Sandbox"),
                )),
            })
            .transpose()?;
        Ok(LinkSpec {
            finops: EnvRef(self.fin_ops_environment),
            existing: self.dataverse_environment.map(EnvRef),
            addins: self
                .addins
                .into_iter()
                .map(|a| match a {
                    AddinBody::Name(n) => (n, Vec::new()),
                    AddinBody::With(a) => (a.name, a.settings.into_iter().collect()),
                })
                .collect(),
            dual_write: self.dual_write,
            converted_to,
        })
    }
}

impl EventBody {
    fn plan(self, anchor: Timestamp) -> Result<TimelineSpec, SimError> {
        let at = parse_offset(&self.at).map_err(|e| e.at("at"))?;
        if at.is_negative() {
            return Err(bad(
                "at",
                "an event's offset counts from load and cannot be negative",
            ));
        }
        let mut actions = Vec::new();
        if let Some(c) = self.capacity {
            actions.push(("capacity", TimelineAction::Capacity(c)));
        }
        if let Some(c) = self.capacity_change {
            actions.push(("capacityChange", TimelineAction::CapacityChange(c)));
        }
        if let Some(u) = self.user {
            actions.push(("user", TimelineAction::User(u)));
        }
        if let Some(g) = self.governance {
            actions.push(("governance", TimelineAction::Governance(g)));
        }
        if let Some(f) = self.fault {
            match f.parse(None, anchor).map_err(|e| e.within("fault"))? {
                Fault::Operation(o) => actions.push(("fault", TimelineAction::OperationFault(o))),
                Fault::Request(_) => {
                    return Err(bad(
                        "fault",
                        "a timeline fault plans an operation failure; request rules take \
                         from/until offsets under faults instead",
                    ));
                }
            }
        }
        let mut actions = actions.into_iter();
        match (actions.next(), actions.next()) {
            (Some((_, action)), None) => Ok(TimelineSpec {
                at,
                note: self.note,
                action,
            }),
            (None, _) => Err(bad(
                "at",
                "say what happens: one of capacity, capacityChange, user, governance, fault",
            )),
            (Some(_), Some((second, _))) => Err(bad(
                second,
                "one action per event; give each its own entry with the same `at`",
            )),
        }
    }
}

/// A global request rule from its text (JSON or YAML), as `--fault` gives it.
pub(crate) fn parse_fault_flag(text: &str, anchor: Timestamp) -> Result<RequestRule, SimError> {
    let body: FaultBody = serde_saphyr::from_str(text).map_err(|e| {
        SimError::new(
            ErrorCode::InvalidFaultRule,
            format!("--fault '{text}': {}", e.without_snippet()),
        )
    })?;
    let rule = request_rule(body, None, anchor)
        .map_err(|e| SimError::new(e.code, format!("--fault '{text}': {}", e.message)))?;
    rule.validate()
        .map_err(|e| SimError::new(e.code, format!("--fault '{text}': {}", e.message)))?;
    Ok(rule)
}

/// A duration override from `kind=75m` or `kind=1h..2h`, as `--duration` gives it.
pub(crate) fn parse_duration_flag(text: &str) -> Result<(String, DurationOverride), SimError> {
    let invalid = |why: String| {
        SimError::new(
            ErrorCode::InvalidDurationOverride,
            format!("--duration '{text}': {why}; write KIND=75m or KIND=1h..2h"),
        )
    };
    let (kind, range) = text
        .split_once('=')
        .ok_or_else(|| invalid("no '='".into()))?;
    let (min, max) = match range.split_once("..") {
        Some((lo, hi)) => (lo, hi),
        None => (range, range),
    };
    let parse = |v: &str| clock::parse_duration(v).map_err(|e| invalid(e.message));
    let (kind, d) = (
        kind.trim(),
        DurationOverride {
            min: parse(min)?,
            max: parse(max)?,
        },
    );
    d.check(kind).map_err(|e| invalid(e.message))?;
    Ok((kind.to_string(), d))
}

/// An offset such as `30m`, `+1h30m` or `PT45M`.
pub(crate) fn parse_offset(text: &str) -> Result<SignedDuration, SimError> {
    clock::parse_duration(text.trim().trim_start_matches('+'))
}

// ---- locating a field path in the text ----

/// Where the value at `path` (`tenants[0].users[1].upn`) starts, as (line, column); the
/// nearest enclosing value when the path goes further than the file does.
pub(crate) fn locate(text: &str, path: &str) -> Option<(u64, u64)> {
    let root: Spanned<Tree> =
        serde_saphyr::from_str_with_options(text, reader_options(text)).ok()?;
    let mut node = &root;
    for step in steps(path) {
        let next = match (&node.value, step) {
            (Tree::Map(entries), Step::Key(k)) => {
                entries.iter().find(|(name, _)| name == k).map(|(_, v)| v)
            }
            (Tree::Seq(items), Step::Index(i)) => items.get(i),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => break,
        }
    }
    Some((node.referenced.line(), node.referenced.column()))
}

enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn steps(path: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if !key.is_empty() {
            out.push(Step::Key(key));
        }
        for index in rest.split('[') {
            if let Ok(i) = index.trim_end_matches(']').parse() {
                out.push(Step::Index(i));
            }
        }
    }
    out
}

/// Any YAML value, with the place of each nested value.
#[derive(Debug)]
enum Tree {
    Map(Vec<(String, Spanned<Tree>)>),
    Seq(Vec<Spanned<Tree>>),
    Leaf,
}

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Tree;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Tree, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = m.next_key::<KeyText>()? {
                    out.push((k.0, m.next_value::<Spanned<Tree>>()?));
                }
                Ok(Tree::Map(out))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Tree, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = s.next_element::<Spanned<Tree>>()? {
                    out.push(v);
                }
                Ok(Tree::Seq(out))
            }
            fn visit_str<E>(self, _: &str) -> Result<Tree, E> {
                Ok(Tree::Leaf)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Tree, E> {
                Ok(Tree::Leaf)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Tree, E> {
                Ok(Tree::Leaf)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Tree, E> {
                Ok(Tree::Leaf)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Tree, E> {
                Ok(Tree::Leaf)
            }
            fn visit_unit<E>(self) -> Result<Tree, E> {
                Ok(Tree::Leaf)
            }
            fn visit_none<E>(self) -> Result<Tree, E> {
                Ok(Tree::Leaf)
            }
        }
        d.deserialize_any(V)
    }
}

/// A mapping key as text, whatever scalar it is.
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeyText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

// ---- loading ----

/// How a scenario loads.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LoadOptions {
    /// Load the (single) tenant under this id instead of the file's.
    pub tenant: Option<TenantId>,
    /// Replace tenants whose ids exist.
    pub replace: bool,
    /// Part of the start-up state (recreated by a global reset).
    pub startup: bool,
}

/// Where a scenario loads: the world (its tenants), the request faults (its rules) and the clock
/// (its pause and scale).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Destination<'a> {
    /// Tenants go here.
    pub world: &'a World,
    /// Request rules go here.
    pub request_faults: &'a SharedRequestFaults,
    /// Pause and scale apply here.
    pub clock: &'a Clock,
}

/// Loads a checked scenario into a running simulator: every tenant or none, then the request
/// rules, then the clock's pause and scale. Returns the tenants, in file order.
pub(crate) fn load(
    to: Destination<'_>,
    mut scenario: Scenario,
    options: LoadOptions,
) -> Result<Vec<TenantRef>, SimError> {
    if let Some(id) = options.tenant {
        match scenario.tenants.as_mut_slice() {
            [only] => only.declared.id = Some(id),
            _ => {
                return Err(bad(
                    "tenants",
                    format!(
                        "loading into tenant {id} needs a scenario with exactly one tenant; this \
                         one has {}",
                        scenario.tenants.len()
                    ),
                ));
            }
        }
    }
    let now = to.clock.now();
    let mut declared = Vec::with_capacity(scenario.tenants.len());
    let mut scoped = Vec::with_capacity(scenario.tenants.len());
    for t in scenario.tenants {
        let mut d = t.declared;
        if let Some(start) = t.start {
            d.offset = start.duration_since(now);
        }
        declared.push(d);
        scoped.push(t.request_rules);
    }
    let all_rules = scenario.request_rules.len() + scoped.iter().map(Vec::len).sum::<usize>();
    if all_rules > 0 {
        // Names must be free before anything loads.
        let names: Vec<RequestRule> = scenario
            .request_rules
            .iter()
            .chain(scoped.iter().flatten())
            .cloned()
            .collect();
        to.request_faults
            .with(|faults| RequestFaults::check_new(faults.list(), &names))
            .map_err(|e| e.within("faults"))?;
    }
    let tenants = to.world.load(
        declared,
        now,
        Placing {
            replace: options.replace,
            startup: options.startup,
        },
    )?;
    let ids: Vec<TenantId> = tenants.iter().map(|t| t.id()).collect();
    let rules: Vec<RequestRule> = scenario
        .request_rules
        .into_iter()
        .chain(scoped.into_iter().zip(&ids).flat_map(|(rules, id)| {
            rules.into_iter().map(move |r| RequestRule {
                tenant: Some(*id),
                ..r
            })
        }))
        .collect();
    if !rules.is_empty() {
        to.request_faults.with(|faults| faults.add_all(rules))?;
    }
    if scenario.clock.scale.is_some() || scenario.clock.paused.is_some() {
        to.clock
            .configure(scenario.clock.scale, scenario.clock.paused)?;
    }
    Ok(tenants)
}
