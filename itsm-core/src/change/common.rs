//! Data shared by the three change machines: what is changed, how it is rolled
//! out, and how its first implementation attempt ended.

use serde::{Deserialize, Serialize};

use crate::id::{ActorId, ChangeId, ServiceId, Text};
use crate::records::ChangeRecord;
use crate::time::Timestamp;
use crate::vocabulary::{ChangeOutcome, Remediation, Risk, StrategyKind, text_enum};

/// One stage of a phased (canary, "gray") roll-out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    /// Stage name (`canary`, `10%`, `all`).
    pub name: String,
    /// Share of the estate reached at the end of this stage, in percent (1..=100).
    pub percent: u8,
}

/// How a change is rolled out (Table 8 levels 3-4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Strategy {
    /// Everything at once.
    BigBang,
    /// Phased / canary in stages with increasing reach.
    Phased {
        /// The stages, strictly increasing in percent and ending at 100.
        stages: Vec<Stage>,
    },
    /// Rolling over instances in batches.
    Rolling {
        /// Batch size in percent of the estate.
        batch_percent: u8,
    },
    /// Blue-green switch.
    BlueGreen,
}

impl Strategy {
    /// The fieldless kind.
    pub fn kind(&self) -> StrategyKind {
        match self {
            Strategy::BigBang => StrategyKind::BigBang,
            Strategy::Phased { .. } => StrategyKind::Phased,
            Strategy::Rolling { .. } => StrategyKind::Rolling,
            Strategy::BlueGreen => StrategyKind::BlueGreen,
        }
    }

    /// Checks the strategy's own data.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Strategy::BigBang | Strategy::BlueGreen => Ok(()),
            Strategy::Rolling { batch_percent } => {
                if (1..=100).contains(batch_percent) {
                    Ok(())
                } else {
                    Err(format!("rolling batch of {batch_percent}% is not within 1..=100"))
                }
            }
            Strategy::Phased { stages } => {
                if stages.is_empty() {
                    return Err("a phased roll-out needs at least one stage".to_owned());
                }
                let mut last = 0u8;
                for stage in stages {
                    if stage.percent <= last || stage.percent > 100 {
                        return Err(format!(
                            "stage {} at {}% does not increase within 1..=100",
                            stage.name, stage.percent
                        ));
                    }
                    last = stage.percent;
                }
                if last != 100 {
                    return Err(format!("the last stage reaches {last}%, not 100%"));
                }
                Ok(())
            }
        }
    }

    /// The number of stages done after finishing one more, or why not: the
    /// last stage ends with the change's completion, not with an advance.
    pub fn next_stage(&self, stages_done: usize) -> Result<usize, String> {
        let total = self.stage_count();
        let next = stages_done.saturating_add(1);
        if next >= total {
            return Err(format!("all {total} stages but the last are done; complete the change instead"));
        }
        Ok(next)
    }

    /// Number of stages (1 for anything but phased).
    pub fn stage_count(&self) -> usize {
        match self {
            Strategy::Phased { stages } => stages.len(),
            Strategy::BigBang | Strategy::Rolling { .. } | Strategy::BlueGreen => 1,
        }
    }
}

/// What a change is: the fields every change type has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeSpec {
    /// Its id.
    pub id: ChangeId,
    /// The service or configuration item changed.
    pub service: ServiceId,
    /// A title.
    pub title: Text,
    /// Roll-out strategy.
    pub strategy: Strategy,
    /// Whether the deployment rolls back automatically on failed health checks.
    #[serde(default)]
    pub auto_rollback: bool,
}

/// The window a change is scheduled in: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Start (inclusive).
    pub start: Timestamp,
    /// End (exclusive).
    pub end: Timestamp,
}

impl Window {
    /// A window; `None` unless `start < end`.
    pub fn new(start: Timestamp, end: Timestamp) -> Option<Window> {
        (start < end).then_some(Window { start, end })
    }

    /// Whether two half-open windows share an instant (touching windows do not).
    pub fn overlaps(&self, other: &Window) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// The assessment of a normal change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    /// Risk class (selects the approval steps).
    pub risk: Risk,
    /// Expected impact.
    pub impact: Text,
    /// The backout plan, mandatory before authorization.
    pub backout_plan: Text,
    /// Who will implement it.
    pub implementer: ActorId,
}

/// The end of the first implementation attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completion {
    /// When implementation started.
    pub started_at: Timestamp,
    /// When the first attempt ended.
    pub completed_at: Timestamp,
    /// Its outcome.
    pub outcome: ChangeOutcome,
    /// What was done after it.
    pub remediation: Remediation,
    /// Whether the deployment rolled the change back by itself when a stage
    /// failed its health checks (Table 8 level 4), rather than a person
    /// reporting the remediation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub automatic: bool,
}

impl Completion {
    /// A completion whose instants and outcome/remediation pair are consistent.
    pub fn checked(
        started_at: Timestamp,
        completed_at: Timestamp,
        outcome: ChangeOutcome,
        remediation: Remediation,
    ) -> Result<Completion, String> {
        let completion = Completion { started_at, completed_at, outcome, remediation, automatic: false };
        completion.validate()?;
        Ok(completion)
    }

    /// The first attempt of an `auto_rollback` change ended by its automatic
    /// rollback: failed, and rolled back (`restored`: the rollback restored
    /// the prior state) or with a failed rollback.
    pub fn rolled_back_automatically(
        started_at: Timestamp,
        completed_at: Timestamp,
        restored: bool,
    ) -> Result<Completion, String> {
        let remediation = if restored { Remediation::RolledBack } else { Remediation::RollbackFailed };
        let completion =
            Completion { started_at, completed_at, outcome: ChangeOutcome::Failed, remediation, automatic: true };
        completion.validate()?;
        Ok(completion)
    }

    /// Checks that outcome and remediation agree and the instants are ordered.
    pub fn validate(&self) -> Result<(), String> {
        if self.completed_at < self.started_at {
            return Err(format!("completed at {} before it started at {}", self.completed_at, self.started_at));
        }
        if self.outcome == ChangeOutcome::Successful && self.remediation != Remediation::None {
            return Err(format!("a successful change cannot need remediation {}", self.remediation));
        }
        if self.automatic
            && (self.outcome != ChangeOutcome::Failed
                || !matches!(self.remediation, Remediation::RolledBack | Remediation::RollbackFailed))
        {
            return Err(format!(
                "an automatic rollback ends a failed attempt with rolled_back or rollback_failed, not {} with {}",
                self.outcome, self.remediation
            ));
        }
        Ok(())
    }

    /// Whether the first attempt failed (outcome failed or any remediation).
    pub fn first_attempt_failed(&self) -> bool {
        self.outcome == ChangeOutcome::Failed || self.remediation != Remediation::None
    }
}

text_enum!(
    /// Post-implementation review verdict.
    ReviewVerdict {
        /// Met its objectives.
        ObjectivesMet => "objectives_met",
        /// Partly met.
        PartlyMet => "partly_met",
        /// Not met.
        NotMet => "not_met",
    }
);

/// A post-implementation review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// Verdict.
    pub verdict: ReviewVerdict,
    /// Notes.
    pub notes: Text,
    /// When it was reviewed.
    pub at: Timestamp,
    /// Reviewer.
    pub by: ActorId,
}

/// When something was done and by whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// When it was done.
    pub at: Timestamp,
    /// Who did it.
    pub by: ActorId,
}

impl Stamp {
    /// The instant and the actor of a command's context.
    pub fn of(ctx: &crate::aggregate::Context<'_>) -> Stamp {
        Stamp { at: ctx.now, by: ctx.actor.id.clone() }
    }
}

/// An ending without implementation: rejected or cancelled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ended {
    /// Why.
    pub reason: Text,
    /// When it ended.
    pub at: Timestamp,
    /// Who ended it.
    pub by: ActorId,
}

impl Ended {
    /// An ending for `reason`, stamped.
    pub fn new(reason: &Text, stamp: Stamp) -> Ended {
        Ended { reason: reason.clone(), at: stamp.at, by: stamp.by }
    }
}

/// Builds the metrics record of a change from its parts.
pub(crate) fn record(
    spec: &ChangeSpec,
    change_type: crate::vocabulary::ChangeType,
    requested_at: Option<Timestamp>,
    window: Option<Window>,
    started_at: Option<Timestamp>,
    completion: Option<&Completion>,
    authorized_at: Option<Timestamp>,
) -> ChangeRecord {
    ChangeRecord {
        id: spec.id.clone(),
        change_type,
        service: spec.service.clone(),
        requested_at,
        planned_start: window.map(|w| w.start),
        planned_end: window.map(|w| w.end),
        started_at: completion.map(|c| c.started_at).or(started_at),
        completed_at: completion.map(|c| c.completed_at),
        outcome: completion.map(|c| c.outcome),
        remediation: completion.map(|c| c.remediation).unwrap_or(Remediation::None),
        automatic_rollback: completion.is_some_and(|c| c.automatic),
        authorized_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phased_stages_must_increase_to_100() {
        let stage = |n: &str, p| Stage { name: n.to_owned(), percent: p };
        assert!(Strategy::Phased { stages: vec![stage("canary", 5), stage("all", 100)] }.validate().is_ok());
        assert!(Strategy::Phased { stages: vec![stage("a", 50), stage("b", 50)] }.validate().is_err());
        assert!(Strategy::Phased { stages: vec![stage("a", 50)] }.validate().is_err());
        assert!(Strategy::Phased { stages: vec![] }.validate().is_err());
        assert!(Strategy::Rolling { batch_percent: 0 }.validate().is_err());
    }

    #[test]
    fn touching_windows_do_not_overlap() {
        let ts = |h: i64| Timestamp::from_unix_secs(h * 3600).unwrap();
        let a = Window::new(ts(1), ts(2)).unwrap();
        let b = Window::new(ts(2), ts(3)).unwrap();
        let c = Window::new(ts(1), ts(3)).unwrap();
        assert!(!a.overlaps(&b));
        assert!(a.overlaps(&c) && b.overlaps(&c));
        assert!(Window::new(ts(2), ts(2)).is_none());
    }
}
