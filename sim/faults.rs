//! Request faults: rules matched by surface, method, path pattern and tenant add latency drawn
//! from a distribution, answer with an error by probability, or throttle with a request budget
//! per window. Every draw comes from one seeded RNG, so the same seed and the same sequence of
//! requests give the same faults. The HTTP layer that applies them is `api::faults`; planned
//! operation failures are the domain's, in `world::faults`.

use crate::error::{ErrorCode, Injected, SimError};
use crate::world::faults::{claim_name, invalid, position_of};
use crate::world::identity::TenantId;
use jiff::{SignedDuration, Timestamp};
use rand::{Rng, RngExt};
use rand_chacha::ChaCha8Rng;
use rand_distr::Distribution;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// Longest injected latency (60 s): longer would hit the request timeout.
pub const MAX_LATENCY_MS: f64 = 60_000.0;
/// The standard normal quantile of 0.99.
const Z99: f64 = 2.326_347_874_040_841;

/// How long an injected delay takes, in milliseconds of real time.
#[derive(Debug, Clone, PartialEq)]
pub enum Latency {
    /// Always the same.
    Fixed {
        /// Delay.
        ms: f64,
    },
    /// Uniform between two bounds.
    Uniform {
        /// Lower bound.
        min_ms: f64,
        /// Upper bound.
        max_ms: f64,
    },
    /// Normal, cut at 0.
    Normal {
        /// Mean.
        mean_ms: f64,
        /// Standard deviation.
        stddev_ms: f64,
    },
    /// Log-normal given its median and 99th percentile (the usual shape of service latency).
    LogNormal {
        /// Median.
        p50_ms: f64,
        /// 99th percentile.
        p99_ms: f64,
    },
}

impl Latency {
    /// Checks the parameters, naming the field at fault (under `latency`).
    pub fn validate(&self) -> Result<(), SimError> {
        let check = |field: &str, v: f64| {
            if v.is_finite() && (0.0..=MAX_LATENCY_MS).contains(&v) {
                Ok(())
            } else {
                Err(invalid(
                    &format!("latency.{field}"),
                    format!("{field} must be between 0 and {MAX_LATENCY_MS} ms"),
                ))
            }
        };
        match *self {
            Latency::Fixed { ms } => check("ms", ms),
            Latency::Uniform { min_ms, max_ms } => {
                check("minMs", min_ms)?;
                check("maxMs", max_ms)?;
                if min_ms > max_ms {
                    return Err(invalid("latency.maxMs", "maxMs must be at least minMs"));
                }
                Ok(())
            }
            Latency::Normal { mean_ms, stddev_ms } => {
                check("meanMs", mean_ms)?;
                check("stddevMs", stddev_ms)
            }
            Latency::LogNormal { p50_ms, p99_ms } => {
                check("p50Ms", p50_ms)?;
                check("p99Ms", p99_ms)?;
                if p50_ms <= 0.0 || p99_ms < p50_ms {
                    return Err(invalid(
                        "latency.p99Ms",
                        "a log-normal latency needs 0 < p50Ms <= p99Ms",
                    ));
                }
                Ok(())
            }
        }
    }

    /// One delay, in milliseconds, within `0..=MAX_LATENCY_MS`.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let ms = match *self {
            Latency::Fixed { ms } => ms,
            Latency::Uniform { min_ms, max_ms } if min_ms < max_ms => {
                rng.random_range(min_ms..=max_ms)
            }
            Latency::Uniform { min_ms, .. } => min_ms,
            Latency::Normal { mean_ms, stddev_ms } => {
                rand_distr::Normal::new(mean_ms, stddev_ms).map_or(mean_ms, |d| d.sample(rng))
            }
            Latency::LogNormal { p50_ms, p99_ms } => {
                let mu = p50_ms.ln();
                let sigma = (p99_ms.ln() - mu) / Z99;
                rand_distr::LogNormal::new(mu, sigma).map_or(p50_ms, |d| d.sample(rng))
            }
        };
        ms.clamp(0.0, MAX_LATENCY_MS)
    }
}

crate::world::wire::wire_enum! {
    /// The API surfaces a request rule can name.
    Surface {
        /// The LCS public API.
        Lcs => "lcs",
        /// The BAP admin API.
        Bap => "bap",
        /// The Power Platform API.
        PowerPlatform => "powerPlatform",
        /// Blob storage behind SAS URLs.
        Blob => "blob",
        /// The fake Entra ID and Graph.
        Auth => "auth",
        /// `/_portal`.
        Portal => "portal",
    }
}

impl Surface {
    /// The surface named `text` (case-insensitive).
    pub fn parse(text: &str) -> Result<Surface, SimError> {
        Surface::from_name(text).ok_or_else(|| {
            invalid(
                "match.surface",
                format!(
                    "'{text}' is not a surface; use one of: {}",
                    Surface::names()
                ),
            )
        })
    }
}

/// A path pattern: `*` matches one segment, `**` any number of segments; case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    text: String,
    segments: Vec<String>,
}

impl PathPattern {
    /// Parses a pattern such as `/providers/**/environments/*`.
    pub fn parse(text: &str) -> Result<PathPattern, SimError> {
        if !text.starts_with('/') {
            return Err(invalid(
                "match.path",
                format!("'{text}' is not a path pattern; start it with '/'"),
            ));
        }
        Ok(PathPattern {
            text: text.to_string(),
            segments: text
                .split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_ascii_lowercase)
                .collect(),
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `path` (without query) matches.
    pub fn matches(&self, path: &str) -> bool {
        let parts: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_ascii_lowercase)
            .collect();
        glob(&self.segments, &parts)
    }
}

fn glob(pattern: &[String], path: &[String]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| glob(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((p, tail)) => (first == "*" || first == p) && glob(rest, tail),
            None => false,
        },
    }
}

/// An error answer a rule injects.
#[derive(Debug, Clone, PartialEq)]
pub struct InjectedError {
    /// HTTP status (400–599).
    pub status: u16,
    /// Error code in the surface's envelope; derived from the status when absent.
    pub code: Option<String>,
    /// Message; a default naming the rule when absent.
    pub message: Option<String>,
    /// Chance (0–1) that a matching request gets it.
    pub probability: f64,
    /// `Retry-After` seconds to send with it.
    pub retry_after: Option<u32>,
}

/// A request budget per window.
#[derive(Debug, Clone, PartialEq)]
pub struct Throttle {
    /// Requests allowed per window.
    pub limit: u32,
    /// Window length (virtual time).
    pub window: SignedDuration,
    /// Count per user rather than per tenant.
    pub per_user: bool,
}

/// What a request rule does.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestAction {
    /// Delay and/or fail.
    Fault {
        /// Delay before answering.
        latency: Option<Latency>,
        /// Error answer.
        error: Option<InjectedError>,
    },
    /// Answer 429 beyond the budget.
    Throttle(Throttle),
}

/// A request rule.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRule {
    /// Unique name; sent back in `x-sim-fault`.
    pub name: String,
    /// Only this surface.
    pub surface: Option<Surface>,
    /// Only this method (upper case).
    pub method: Option<String>,
    /// Only paths matching this pattern.
    pub path: Option<PathPattern>,
    /// Only requests of this tenant.
    pub tenant: Option<TenantId>,
    /// What it does.
    pub action: RequestAction,
    /// How many more times it may fire (`None`: unlimited).
    pub remaining: Option<u32>,
    /// Active from this virtual time.
    pub from: Option<Timestamp>,
    /// Active until this virtual time.
    pub until: Option<Timestamp>,
}

/// A request as the fault rules see it.
#[derive(Debug, Clone)]
pub struct RequestInfo<'a> {
    /// Its surface.
    pub surface: Surface,
    /// Method.
    pub method: &'a str,
    /// Path without query.
    pub path: &'a str,
    /// The caller's tenant, when its token names one.
    pub tenant: Option<TenantId>,
    /// The caller (object id), when known.
    pub user: Option<String>,
}

/// What to do with one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    /// Delay before answering, ms.
    pub latency_ms: f64,
    /// Names of the rules that fired, comma-separated (for `x-sim-fault` and the journal).
    pub fired: Vec<String>,
    /// Answer with this instead of calling the handler: an error whose status and wire code the
    /// rule fixed ([`SimError::injected`]), rendered in the surface's own envelope.
    pub answer: Option<SimError>,
}

/// The run's request rules and their state.
#[derive(Debug)]
pub struct RequestFaults {
    rules: Vec<RequestRule>,
    rng: ChaCha8Rng,
    windows: HashMap<(String, String), (Timestamp, u32)>,
    added: u64,
}

fn default_code(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        408 => "RequestTimeout",
        409 => "Conflict",
        429 => "TooManyRequests",
        500 => "InternalServerError",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        s if s < 500 => "BadRequest",
        _ => "InternalServerError",
    }
}

impl RequestRule {
    /// Checks the rule's figures, naming the field at fault.
    pub fn validate(&self) -> Result<(), SimError> {
        let rule = self;
        match &rule.action {
            RequestAction::Fault { latency, error } => {
                if latency.is_none() && error.is_none() {
                    return Err(invalid(
                        "latency",
                        "a request fault needs a latency, an error, or both",
                    ));
                }
                if let Some(l) = latency {
                    l.validate()?;
                }
                if let Some(e) = error {
                    if !(400..=599).contains(&e.status) {
                        return Err(invalid("error.status", "status must be 400 to 599"));
                    }
                    if !(e.probability.is_finite() && (0.0..=1.0).contains(&e.probability)) {
                        return Err(invalid(
                            "error.probability",
                            "probability is a number from 0 to 1",
                        ));
                    }
                }
            }
            RequestAction::Throttle(t) => {
                if t.limit == 0 {
                    return Err(invalid("throttle.limit", "limit must be at least 1"));
                }
                if t.window <= SignedDuration::ZERO {
                    return Err(invalid("throttle.window", "window must be positive"));
                }
            }
        }
        if rule.remaining == Some(0) {
            return Err(invalid("count", "count must be at least 1"));
        }
        if let (Some(f), Some(u)) = (rule.from, rule.until)
            && u <= f
        {
            return Err(invalid("until", "until must be after from"));
        }
        Ok(())
    }
}

impl RequestFaults {
    /// No rules; draws from `rng`.
    pub fn new(rng: ChaCha8Rng) -> RequestFaults {
        RequestFaults {
            rules: Vec::new(),
            rng,
            windows: HashMap::new(),
            added: 0,
        }
    }

    /// Whether there are no rules (the layer then does nothing).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Every rule, oldest first.
    pub fn list(&self) -> &[RequestRule] {
        &self.rules
    }

    /// Adds a rule after checking it; its name is drawn as `request-N` when empty.
    pub fn add(&mut self, mut rule: RequestRule) -> Result<&RequestRule, SimError> {
        rule.validate()?;
        let rules = &self.rules;
        claim_name(&mut self.added, "request", &mut rule.name, |n| {
            rules.iter().any(|r| r.name == n)
        })?;
        self.rules.push(rule);
        Ok(&self.rules[self.rules.len() - 1])
    }

    /// Adds every rule or none; an error names the rule as `[i]`.
    pub fn add_all(&mut self, rules: Vec<RequestRule>) -> Result<(), SimError> {
        Self::check_new(&self.rules, &rules)?;
        for rule in rules {
            self.add(rule)?;
        }
        Ok(())
    }

    /// Checks `rules` as [`RequestFaults::add_all`] would add them beside `existing`: each valid,
    /// no name taken by an existing rule or an earlier one; an error names the rule as `[i]`.
    pub fn check_new(existing: &[RequestRule], rules: &[RequestRule]) -> Result<(), SimError> {
        for (i, rule) in rules.iter().enumerate() {
            rule.validate().map_err(|e| e.within(format!("[{i}]")))?;
            let named = !rule.name.trim().is_empty();
            let taken = existing.iter().any(|r| r.name == rule.name)
                || rules[..i].iter().any(|r| r.name == rule.name);
            if named && taken {
                return Err(SimError::new(
                    ErrorCode::FaultRuleExists,
                    format!(
                        "a fault rule named '{}' exists already; remove it first or pick another \
                         name",
                        rule.name
                    ),
                )
                .at(format!("[{i}].name")));
            }
        }
        Ok(())
    }

    /// Removes the rule `name`.
    pub fn remove(&mut self, name: &str) -> Result<RequestRule, SimError> {
        let found = self.rules.iter().position(|r| r.name == name);
        let i = position_of(found, name, "GET /_sim/faults")?;
        self.windows.retain(|(rule, _), _| rule != name);
        Ok(self.rules.remove(i))
    }

    /// Removes every rule (of one tenant, or all).
    pub fn clear(&mut self, tenant: Option<TenantId>) {
        match tenant {
            Some(t) => self.rules.retain(|r| r.tenant != Some(t)),
            None => self.rules.clear(),
        }
        let names: Vec<String> = self.rules.iter().map(|r| r.name.clone()).collect();
        self.windows.retain(|(rule, _), _| names.contains(rule));
    }

    /// Decides what happens to one request at virtual `now`; `to_real` turns virtual seconds into
    /// the real seconds a client should wait.
    pub fn decide(
        &mut self,
        request: &RequestInfo<'_>,
        now: Timestamp,
        to_real: impl Fn(f64) -> u64,
    ) -> Decision {
        let mut decision = Decision::default();
        let mut used_up = Vec::new();
        for (i, rule) in self.rules.iter_mut().enumerate() {
            let applies = rule.surface.is_none_or(|s| s == request.surface)
                && rule
                    .method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(request.method))
                && rule.path.as_ref().is_none_or(|p| p.matches(request.path))
                && rule.tenant.is_none_or(|t| Some(t) == request.tenant)
                && rule.from.is_none_or(|f| now >= f)
                && rule.until.is_none_or(|u| now < u);
            if !applies {
                continue;
            }
            let mut fired = false;
            match &rule.action {
                RequestAction::Fault { latency, error } => {
                    if let Some(l) = latency {
                        decision.latency_ms += l.sample(&mut self.rng);
                        fired = true;
                    }
                    if let Some(e) = error {
                        let hit = e.probability >= 1.0 || self.rng.random::<f64>() < e.probability;
                        if hit {
                            fired = true;
                            let code = e
                                .code
                                .clone()
                                .unwrap_or_else(|| default_code(e.status).to_string());
                            let message = e.message.clone().unwrap_or_else(|| {
                                format!(
                                    "Injected fault '{}': the service answered {} {code}.",
                                    rule.name, e.status
                                )
                            });
                            let fixed = Injected {
                                status: e.status,
                                code,
                            };
                            let mut answer =
                                SimError::injected(ErrorCode::InjectedFault, message, fixed);
                            answer.retry_after = e.retry_after.map(u64::from);
                            decision.answer = Some(answer);
                        }
                    }
                }
                RequestAction::Throttle(t) => {
                    let who = if t.per_user {
                        request.user.clone()
                    } else {
                        request.tenant.map(|t| t.to_string())
                    }
                    .unwrap_or_else(|| "anonymous".to_string());
                    let slot = self
                        .windows
                        .entry((rule.name.clone(), who))
                        .or_insert((now, 0));
                    let end = slot.0.checked_add(t.window).unwrap_or(Timestamp::MAX);
                    if now >= end {
                        *slot = (now, 0);
                    }
                    slot.1 += 1;
                    if slot.1 > t.limit {
                        fired = true;
                        let end = slot.0.checked_add(t.window).unwrap_or(Timestamp::MAX);
                        let left = end.duration_since(now).as_secs_f64().max(0.0);
                        let seconds = to_real(left).max(1);
                        let message = format!(
                            "Rate limit is exceeded: {} requests per {:#} {}. Try again in {seconds} seconds.",
                            t.limit,
                            t.window,
                            if t.per_user { "per user" } else { "per tenant" }
                        );
                        let fixed = Injected {
                            status: 429,
                            code: "TooManyRequests".into(),
                        };
                        decision.answer = Some(
                            SimError::injected(ErrorCode::Throttled, message, fixed)
                                .retry_after(seconds),
                        );
                    }
                }
            }
            if fired {
                decision.fired.push(rule.name.clone());
                if let Some(n) = rule.remaining.as_mut() {
                    *n -= 1;
                    if *n == 0 {
                        used_up.push(i);
                    }
                }
            }
            if decision.answer.is_some() {
                break;
            }
        }
        for i in used_up.into_iter().rev() {
            let gone = self.rules.remove(i);
            self.windows.retain(|(rule, _), _| *rule != gone.name);
        }
        decision
    }
}

/// The run's request rules behind one lock, with a flag readable without it, so that requests
/// pay for the lock only while rules exist.
#[derive(Debug)]
pub struct SharedRequestFaults {
    inner: parking_lot::Mutex<RequestFaults>,
    armed: AtomicBool,
}

impl SharedRequestFaults {
    /// No rules; draws from `rng`.
    pub fn new(rng: ChaCha8Rng) -> SharedRequestFaults {
        SharedRequestFaults {
            inner: parking_lot::Mutex::new(RequestFaults::new(rng)),
            armed: AtomicBool::new(false),
        }
    }

    /// Whether any rule exists (may be stale by one request; `with` decides exactly).
    pub fn armed(&self) -> bool {
        self.armed.load(Ordering::Acquire)
    }

    /// Runs `f` on the rules under the lock, then refreshes the flag.
    pub fn with<T>(&self, f: impl FnOnce(&mut RequestFaults) -> T) -> T {
        let mut rules = self.inner.lock();
        let out = f(&mut rules);
        self.armed.store(!rules.is_empty(), Ordering::Release);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeded(seed: u8) -> ChaCha8Rng {
        use rand::SeedableRng;
        ChaCha8Rng::from_seed([seed; 32])
    }

    fn samples(l: &Latency, seed: u8, n: usize) -> Vec<f64> {
        let mut rng = seeded(seed);
        (0..n).map(|_| l.sample(&mut rng)).collect()
    }

    fn quantile(v: &[f64], q: f64) -> f64 {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * q).round() as usize]
    }

    #[test]
    fn latency_samples_fall_in_range_and_reproduce_with_the_seed() {
        let fixed = samples(&Latency::Fixed { ms: 250.0 }, 1, 100);
        assert!(fixed.iter().all(|&x| x == 250.0));
        let uniform = samples(
            &Latency::Uniform {
                min_ms: 100.0,
                max_ms: 200.0,
            },
            1,
            2000,
        );
        assert!(uniform.iter().all(|&x| (100.0..=200.0).contains(&x)));
        assert!((quantile(&uniform, 0.5) - 150.0).abs() < 10.0);
        let normal = samples(
            &Latency::Normal {
                mean_ms: 500.0,
                stddev_ms: 50.0,
            },
            1,
            4000,
        );
        let mean = normal.iter().sum::<f64>() / normal.len() as f64;
        assert!((mean - 500.0).abs() < 5.0, "{mean}");
        assert!(normal.iter().all(|&x| x >= 0.0));
        let log = Latency::LogNormal {
            p50_ms: 200.0,
            p99_ms: 2000.0,
        };
        let ln = samples(&log, 1, 20_000);
        assert!(
            (quantile(&ln, 0.5) / 200.0 - 1.0).abs() < 0.06,
            "{}",
            quantile(&ln, 0.5)
        );
        assert!(
            (quantile(&ln, 0.99) / 2000.0 - 1.0).abs() < 0.15,
            "{}",
            quantile(&ln, 0.99)
        );
        assert!(ln.iter().all(|&x| (0.0..=MAX_LATENCY_MS).contains(&x)));
        assert_eq!(samples(&log, 9, 50), samples(&log, 9, 50));
        assert_ne!(samples(&log, 9, 50), samples(&log, 10, 50));
        assert!(
            Latency::LogNormal {
                p50_ms: 300.0,
                p99_ms: 200.0
            }
            .validate()
            .is_err()
        );
        assert!(
            Latency::Uniform {
                min_ms: 3.0,
                max_ms: 1.0
            }
            .validate()
            .is_err()
        );
        assert!(Latency::Fixed { ms: 1e9 }.validate().is_err());
    }

    #[test]
    fn path_patterns_match_one_or_any_segments() -> Result<(), SimError> {
        let p = PathPattern::parse("/providers/**/environments/*")?;
        assert!(
            p.matches("/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments/abc")
        );
        assert!(p.matches("/providers/x/environments/abc"));
        assert!(!p.matches("/providers/x/environments"));
        assert!(!p.matches("/providers/x/environments/abc/copyTo"));
        assert!(PathPattern::parse("/**")?.matches("/anything/at/all"));
        assert!(PathPattern::parse("no-slash").is_err());
        Ok(())
    }

    fn info(tenant: Option<TenantId>) -> RequestInfo<'static> {
        RequestInfo {
            surface: Surface::Bap,
            method: "GET",
            path: "/providers/Microsoft.BusinessAppPlatform/environments",
            tenant,
            user: None,
        }
    }

    fn error_rule(probability: f64, count: Option<u32>) -> RequestRule {
        RequestRule {
            name: String::new(),
            surface: Some(Surface::Bap),
            method: None,
            path: None,
            tenant: None,
            action: RequestAction::Fault {
                latency: None,
                error: Some(InjectedError {
                    status: 503,
                    code: None,
                    message: None,
                    probability,
                    retry_after: None,
                }),
            },
            remaining: count,
            from: None,
            until: None,
        }
    }

    #[test]
    fn errors_fire_by_probability_reproducibly_and_counted_rules_run_out() -> Result<(), SimError> {
        let t0 = Timestamp::UNIX_EPOCH;
        let run = |seed: u8| -> Result<Vec<bool>, SimError> {
            let mut f = RequestFaults::new(seeded(seed));
            f.add(error_rule(0.3, None))?;
            Ok((0..1000)
                .map(|_| f.decide(&info(None), t0, |s| s as u64).answer.is_some())
                .collect())
        };
        let a = run(4)?;
        let hits = a.iter().filter(|h| **h).count();
        assert!((240..=360).contains(&hits), "{hits}");
        assert_eq!(a, run(4)?);
        let mut f = RequestFaults::new(seeded(1));
        f.add(error_rule(1.0, Some(2)))?;
        let answers: Vec<Option<u16>> = (0..3)
            .map(|_| {
                f.decide(&info(None), t0, |s| s as u64)
                    .answer
                    .and_then(|a| a.injected.map(|f| f.status))
            })
            .collect();
        assert_eq!(answers, [Some(503), Some(503), None]);
        assert!(f.is_empty());
        Ok(())
    }

    #[test]
    fn throttles_answer_429_with_the_time_left_and_recover() -> Result<(), SimError> {
        let tenant = TenantId(uuid::Uuid::nil());
        let mut f = RequestFaults::new(seeded(1));
        f.add(RequestRule {
            action: RequestAction::Throttle(Throttle {
                limit: 2,
                window: SignedDuration::from_mins(5),
                per_user: false,
            }),
            ..error_rule(1.0, None)
        })?;
        let t0 = Timestamp::UNIX_EPOCH;
        let at = |s: i64| t0 + SignedDuration::from_secs(s);
        assert!(
            f.decide(&info(Some(tenant)), at(0), |s| s.ceil() as u64)
                .answer
                .is_none()
        );
        assert!(
            f.decide(&info(Some(tenant)), at(10), |s| s.ceil() as u64)
                .answer
                .is_none()
        );
        let third = f.decide(&info(Some(tenant)), at(60), |s| s.ceil() as u64);
        let answer = third
            .answer
            .ok_or_else(|| SimError::internal("not throttled"))?;
        let status = answer.injected.as_ref().map(|f| f.status);
        assert_eq!((status, answer.retry_after), (Some(429), Some(240)));
        assert_eq!(answer.code, ErrorCode::Throttled);
        // Another tenant has its own budget; the window ends and the budget is back.
        assert!(
            f.decide(&info(None), at(60), |s| s.ceil() as u64)
                .answer
                .is_none()
        );
        assert!(
            f.decide(&info(Some(tenant)), at(300), |s| s.ceil() as u64)
                .answer
                .is_none()
        );
        Ok(())
    }
}
