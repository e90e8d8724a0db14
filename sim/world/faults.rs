//! Planned operation failures: a rule names an operation kind (and optionally its target), the
//! stage that fails and the error; the next matching operation(s) fail there exactly once, and
//! resume past it like any failed operation. Rules live in their tenant and are consumed as
//! operations start. Request faults (latency, errors, throttling at the HTTP door) are
//! `crate::faults`.

use crate::error::{ErrorCode, SimError};
use crate::ops::{OpError, PlannedFailure};
use jiff::SignedDuration;

/// Which stage of an operation fails: by zero-based index or by name (case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum StageRef {
    /// Zero-based index.
    Index(usize),
    /// Stage name, e.g. `Validate prerequisites`.
    Name(String),
}

/// A planned failure of the next matching operation(s).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationFault {
    /// Unique name; shown on the failed operation's error as `fault`.
    pub name: String,
    /// Engine kind, e.g. `powerPlatformIntegration.setup`.
    pub kind: String,
    /// Only operations on this target id (environment id); any when `None`.
    pub target: Option<String>,
    /// The stage that fails.
    pub stage: StageRef,
    /// The error the operation reports.
    pub code: String,
    /// Its message.
    pub message: String,
    /// How many more operations it fails.
    pub remaining: u32,
}

/// A tenant's planned operation failures, in the order they were added.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationFaults {
    rules: Vec<OperationFault>,
    added: u64,
}

/// A fault rule that cannot be taken, naming its field.
pub(crate) fn invalid(field: &str, message: impl Into<String>) -> SimError {
    SimError::new(ErrorCode::InvalidFaultRule, message).at(field)
}

/// Names an unnamed rule `{prefix}-{n}` (`n` counts the rules ever added) and refuses a name that
/// is taken.
pub(crate) fn claim_name(
    added: &mut u64,
    prefix: &str,
    name: &mut String,
    taken: impl Fn(&str) -> bool,
) -> Result<(), SimError> {
    *added += 1;
    if name.trim().is_empty() {
        *name = format!("{prefix}-{added}");
    }
    if taken(name) {
        return Err(SimError::new(
            ErrorCode::FaultRuleExists,
            format!(
                "a fault rule named '{name}' exists already; remove it first or pick another name"
            ),
        )
        .at("name"));
    }
    Ok(())
}

/// The position of the rule `name`, or the not-found error pointing at `list`.
pub(crate) fn position_of(found: Option<usize>, name: &str, list: &str) -> Result<usize, SimError> {
    found.ok_or_else(|| {
        SimError::new(
            ErrorCode::FaultRuleNotFound,
            format!("no fault rule named '{name}'; {list} lists them"),
        )
    })
}

impl OperationFaults {
    /// Adds a rule (its name drawn as `operation-N` when empty), after checking it against the
    /// known operation kinds.
    pub fn add(
        &mut self,
        mut rule: OperationFault,
        kinds: &[&str],
    ) -> Result<&OperationFault, SimError> {
        if !kinds.contains(&rule.kind.as_str()) {
            return Err(invalid(
                "operation.kind",
                format!(
                    "'{}' is not an operation kind; use one of: {}",
                    rule.kind,
                    kinds.join(", ")
                ),
            ));
        }
        if let StageRef::Name(n) = &rule.stage
            && n.trim().is_empty()
        {
            return Err(invalid(
                "operation.stage",
                "name the stage that fails, or give its index",
            ));
        }
        let code_ok = !rule.code.is_empty()
            && rule.code.len() <= 100
            && rule
                .code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !code_ok {
            return Err(invalid(
                "operation.error.code",
                "an error code is 1 to 100 letters, digits, '_' or '.', e.g. \"AdministratorNotLicensed\"",
            ));
        }
        if rule.message.trim().is_empty() {
            return Err(invalid(
                "operation.error.message",
                "give the message the failed operation shows",
            ));
        }
        if rule.remaining == 0 {
            return Err(invalid("count", "count must be at least 1"));
        }
        let rules = &self.rules;
        claim_name(&mut self.added, "operation", &mut rule.name, |n| {
            rules.iter().any(|r| r.name == n)
        })?;
        self.rules.push(rule);
        Ok(&self.rules[self.rules.len() - 1])
    }

    /// Every rule, oldest first.
    pub fn list(&self) -> &[OperationFault] {
        &self.rules
    }

    /// Removes the rule `name`.
    pub fn remove(&mut self, name: &str) -> Result<OperationFault, SimError> {
        let found = self.rules.iter().position(|r| r.name == name);
        let i = position_of(found, name, "GET /_sim/tenants/{t}/faults")?;
        Ok(self.rules.remove(i))
    }

    /// Removes every rule.
    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// The failure planned for an operation of `kind` on `target` with these stages, consuming
    /// one use of the first matching rule. A rule whose stage the operation does not have does
    /// not match.
    pub fn take(
        &mut self,
        kind: &str,
        target: &str,
        stages: &[(String, SignedDuration)],
    ) -> Option<PlannedFailure> {
        let (i, stage) = self.rules.iter().enumerate().find_map(|(i, r)| {
            if r.kind != kind
                || r.target
                    .as_deref()
                    .is_some_and(|t| !t.eq_ignore_ascii_case(target))
            {
                return None;
            }
            let stage = match &r.stage {
                StageRef::Index(n) => (*n < stages.len()).then_some(*n),
                StageRef::Name(name) => stages
                    .iter()
                    .position(|(s, _)| s.eq_ignore_ascii_case(name.trim())),
            }?;
            Some((i, stage))
        })?;
        let rule = &mut self.rules[i];
        rule.remaining -= 1;
        let error = OpError {
            code: rule.code.clone(),
            message: rule.message.clone(),
            fault: Some(rule.name.clone()),
        };
        if rule.remaining == 0 {
            self.rules.remove(i);
        }
        Some(PlannedFailure { stage, error })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [&str; 2] = ["lcs.databaseRefresh", "powerPlatformIntegration.setup"];

    fn rule(stage: StageRef, count: u32) -> OperationFault {
        OperationFault {
            name: String::new(),
            kind: "powerPlatformIntegration.setup".into(),
            target: None,
            stage,
            code: "AdministratorNotLicensed".into(),
            message: "no licence".into(),
            remaining: count,
        }
    }

    fn stages() -> Vec<(String, SignedDuration)> {
        ["Validate prerequisites", "Reserve capacity", "Link"]
            .iter()
            .map(|s| (s.to_string(), SignedDuration::from_mins(1)))
            .collect()
    }

    #[test]
    fn a_rule_fails_the_next_matching_operations_then_is_gone() -> Result<(), SimError> {
        let mut f = OperationFaults::default();
        f.add(rule(StageRef::Name("reserve CAPACITY".into()), 2), &KINDS)?;
        assert!(f.take("lcs.databaseRefresh", "x", &stages()).is_none());
        for _ in 0..2 {
            let planned = f.take("powerPlatformIntegration.setup", "x", &stages());
            let planned = planned.ok_or_else(|| SimError::internal("no failure planned"))?;
            assert_eq!(planned.stage, 1);
            assert_eq!(planned.error.fault.as_deref(), Some("operation-1"));
        }
        assert!(
            f.take("powerPlatformIntegration.setup", "x", &stages())
                .is_none()
        );
        assert!(f.list().is_empty());
        Ok(())
    }

    #[test]
    fn targets_and_stages_must_match() -> Result<(), SimError> {
        let mut f = OperationFaults::default();
        let mut r = rule(StageRef::Index(7), 1);
        r.target = Some("ENV-1".into());
        f.add(r, &KINDS)?;
        assert!(
            f.take("powerPlatformIntegration.setup", "env-1", &stages())
                .is_none()
        );
        let mut r = rule(StageRef::Index(0), 1);
        r.name = "mine".into();
        r.target = Some("ENV-1".into());
        f.add(r, &KINDS)?;
        assert!(
            f.take("powerPlatformIntegration.setup", "env-2", &stages())
                .is_none()
        );
        assert!(
            f.take("powerPlatformIntegration.setup", "env-1", &stages())
                .is_some()
        );
        Ok(())
    }

    #[test]
    fn bad_rules_name_the_field() {
        let mut f = OperationFaults::default();
        let mut r = rule(StageRef::Index(0), 1);
        r.kind = "lcs.teleport".into();
        let err = f.add(r, &KINDS).err();
        assert_eq!(
            err.and_then(|e| e.target).as_deref(),
            Some("operation.kind")
        );
        let err = f.add(rule(StageRef::Index(0), 0), &KINDS).err();
        assert_eq!(err.and_then(|e| e.target).as_deref(), Some("count"));
        let mut r = rule(StageRef::Index(0), 1);
        r.code = "has space".into();
        let err = f.add(r, &KINDS).err();
        assert_eq!(
            err.and_then(|e| e.target).as_deref(),
            Some("operation.error.code")
        );
    }
}
