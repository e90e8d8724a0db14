//! A fault rule as the control plane (`POST /_sim/faults`) and scenario files declare it: an
//! operation's planned failure, or a request rule (latency, injected error, throttling).

use crate::clock;
use crate::error::{ErrorCode, SimError};
use crate::faults::{
    InjectedError, Latency, PathPattern, RequestAction, RequestRule, Surface, Throttle,
};
use crate::world::faults::{OperationFault, StageRef};
use crate::world::identity::TenantId;
use jiff::Timestamp;
use serde::Deserialize;

/// A fault rule as the control plane takes it: an `operation` failure, or a request rule
/// (`match` with `latency` and/or `error`, or `throttle`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FaultBody {
    #[serde(default)]
    name: String,
    operation: Option<OperationBody>,
    #[serde(rename = "match")]
    matches: Option<MatchBody>,
    latency: Option<LatencyBody>,
    error: Option<InjectedBody>,
    throttle: Option<ThrottleBody>,
    count: Option<u32>,
    from: Option<String>,
    until: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MatchBody {
    surface: Option<String>,
    method: Option<String>,
    path: Option<String>,
    tenant: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(
    tag = "distribution",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
enum LatencyBody {
    Fixed { ms: f64 },
    Uniform { min_ms: f64, max_ms: f64 },
    Normal { mean_ms: f64, stddev_ms: f64 },
    LogNormal { p50_ms: f64, p99_ms: f64 },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct InjectedBody {
    status: u16,
    code: Option<String>,
    message: Option<String>,
    probability: Option<f64>,
    retry_after: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThrottleBody {
    limit: u32,
    window: String,
    per: Option<String>,
}

/// A parsed rule.
pub enum Fault {
    /// A planned operation failure.
    Operation(OperationFault),
    /// A request rule.
    Request(RequestRule),
}

pub(crate) fn bad(field: &str, message: impl Into<String>) -> SimError {
    SimError::new(ErrorCode::InvalidFaultRule, message).at(field)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OperationBody {
    kind: String,
    target: Option<String>,
    stage: StageBody,
    error: ErrorBody,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StageBody {
    Index(usize),
    Name(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ErrorBody {
    code: String,
    message: String,
}

impl FaultBody {
    /// The domain rule; `tenant` scopes a request rule to a tenant (the tenant routes). `from`
    /// and `until` take a timestamp, or an offset from `anchor` (`30m`, `+1h`).
    pub fn parse(self, tenant: Option<TenantId>, anchor: Timestamp) -> Result<Fault, SimError> {
        if let Some(op) = self.operation {
            let extra = [
                ("match", self.matches.is_some()),
                ("latency", self.latency.is_some()),
                ("error", self.error.is_some()),
                ("throttle", self.throttle.is_some()),
                ("from", self.from.is_some()),
                ("until", self.until.is_some()),
            ];
            if let Some((field, _)) = extra.iter().find(|(_, set)| *set) {
                return Err(bad(
                    field,
                    "an operation rule takes name, operation and count only",
                ));
            }
            return Ok(Fault::Operation(OperationFault {
                name: self.name,
                kind: op.kind,
                target: op.target,
                stage: match op.stage {
                    StageBody::Index(i) => StageRef::Index(i),
                    StageBody::Name(n) => StageRef::Name(n),
                },
                code: op.error.code,
                message: op.error.message,
                remaining: self.count.unwrap_or(1),
            }));
        }
        let m = self.matches.unwrap_or_default();
        let rule_tenant = match (&m.tenant, tenant) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    "match.tenant",
                    "the tenant route scopes the rule already; leave out match.tenant",
                ));
            }
            (Some(t), None) => Some(TenantId::parse(t).map_err(|e| e.at("match.tenant"))?),
            (None, t) => t,
        };
        let action = match (self.throttle, self.latency, self.error) {
            (Some(t), None, None) => RequestAction::Throttle(Throttle {
                limit: t.limit,
                window: clock::parse_duration(&t.window).map_err(|e| e.at("throttle.window"))?,
                per_user: match t.per.as_deref() {
                    None | Some("tenant") => false,
                    Some("user") => true,
                    Some(other) => {
                        return Err(bad(
                            "throttle.per",
                            format!("'{other}' is not a budget key; use tenant or user"),
                        ));
                    }
                },
            }),
            (Some(_), _, _) => {
                return Err(bad(
                    "throttle",
                    "a throttle rule takes no latency or error; make two rules",
                ));
            }
            (None, None, None) => {
                return Err(bad(
                    "operation",
                    "give an operation failure, a request fault (latency and/or error) or a \
                     throttle",
                ));
            }
            (None, latency, error) => RequestAction::Fault {
                latency: latency.map(|l| match l {
                    LatencyBody::Fixed { ms } => Latency::Fixed { ms },
                    LatencyBody::Uniform { min_ms, max_ms } => Latency::Uniform { min_ms, max_ms },
                    LatencyBody::Normal { mean_ms, stddev_ms } => {
                        Latency::Normal { mean_ms, stddev_ms }
                    }
                    LatencyBody::LogNormal { p50_ms, p99_ms } => {
                        Latency::LogNormal { p50_ms, p99_ms }
                    }
                }),
                error: error.map(|e| InjectedError {
                    status: e.status,
                    code: e.code,
                    message: e.message,
                    probability: e.probability.unwrap_or(1.0),
                    retry_after: e.retry_after,
                }),
            },
        };
        let time = |v: Option<String>, field: &str| {
            v.map(|t| {
                clock::parse_timestamp(&t)
                    .or_else(|e| {
                        let offset = t.trim().trim_start_matches('+');
                        match clock::parse_duration(offset) {
                            Ok(d) => clock::add(anchor, d),
                            Err(_) => Err(SimError::new(
                                ErrorCode::InvalidFaultRule,
                                format!(
                                    "{}; or give an offset from now such as \"30m\"",
                                    e.message
                                ),
                            )),
                        }
                    })
                    .map_err(|e| e.at(field))
            })
            .transpose()
        };
        Ok(Fault::Request(RequestRule {
            name: self.name,
            surface: m.surface.as_deref().map(Surface::parse).transpose()?,
            method: m.method.map(|x| x.trim().to_ascii_uppercase()),
            path: m.path.as_deref().map(PathPattern::parse).transpose()?,
            tenant: rule_tenant,
            action,
            remaining: self.count,
            from: time(self.from, "from")?,
            until: time(self.until, "until")?,
        }))
    }
}
