//! What the correlator decides for an alert: a [`Decision`] (the incident
//! commands to run, if any) or why it changes nothing ([`IgnoreReason`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{AlertError, AlertSeverity, MaintenanceWindow};
use crate::id::{IncidentId, ServiceId};
use crate::incident::IncidentCommand;

/// Why an alert changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum IgnoreReason {
    /// The alert is invalid.
    Invalid {
        /// What is wrong.
        error: AlertError,
    },
    /// An annotate-only severity and no incident of its group to annotate.
    NothingOpen {
        /// The severity.
        severity: AlertSeverity,
    },
    /// A recovery of an alert never seen firing (remembered, see
    /// [`IgnoreReason::AlreadyRecovered`]).
    UnknownRecovery,
    /// A firing whose recovery was seen first.
    AlreadyRecovered,
    /// Fired before its group's closed incident was resolved: too late to
    /// record, and a closed incident cannot reopen.
    Late {
        /// The closed incident.
        incident: IncidentId,
    },
}

impl IgnoreReason {
    /// The reason's stable name (as in JSON): `invalid`, `nothing_open`,
    /// `unknown_recovery`, `already_recovered`, `late`.
    pub fn name(&self) -> &'static str {
        match self {
            IgnoreReason::Invalid { .. } => "invalid",
            IgnoreReason::NothingOpen { .. } => "nothing_open",
            IgnoreReason::UnknownRecovery => "unknown_recovery",
            IgnoreReason::AlreadyRecovered => "already_recovered",
            IgnoreReason::Late { .. } => "late",
        }
    }
}

impl fmt::Display for IgnoreReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IgnoreReason::Invalid { error } => write!(f, "invalid: {error}"),
            IgnoreReason::NothingOpen { severity } => {
                write!(f, "nothing_open: a {severity} alert only annotates, and its group has no incident to annotate")
            }
            IgnoreReason::UnknownRecovery => f.write_str("unknown_recovery: a recovery of an alert never seen firing"),
            IgnoreReason::AlreadyRecovered => f.write_str("already_recovered: its recovery arrived before the firing"),
            IgnoreReason::Late { incident } => {
                write!(
                    f,
                    "late: fired before its group's incident {incident} was resolved, and that incident is closed"
                )
            }
        }
    }
}

/// What to do with an alert. Commands are listed in execution order; run them
/// with an automation actor, then
/// [`Correlator::apply`](super::Correlator::apply) the decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Seen before: nothing to do.
    Duplicate,
    /// Open the group's first incident (or the next after a cancelled one) and
    /// record the alert on it.
    Open {
        /// The new incident.
        incident: IncidentId,
        /// `IncidentCommand::Open`, detected by monitoring.
        open: IncidentCommand,
        /// `IncidentCommand::CorrelateAlert`.
        correlate: IncidentCommand,
    },
    /// Record the alert on the group's incident (open, or resolved for an alert
    /// that fired before the resolution), re-prioritising it when the alert is
    /// more severe.
    Merge {
        /// The incident.
        incident: IncidentId,
        /// `IncidentCommand::CorrelateAlert`.
        correlate: IncidentCommand,
        /// `IncidentCommand::Reprioritize`, when the alert raises impact or urgency.
        reprioritize: Option<IncidentCommand>,
    },
    /// Reopen the resolved incident (within the reopen window): `Reopen`,
    /// `CorrelateAlert`, and `Reprioritize` when the alert is more severe.
    Reopen {
        /// The incident.
        incident: IncidentId,
        /// The commands.
        commands: Vec<IncidentCommand>,
    },
    /// Open the group's next incident, linked to the earlier one: `Open`
    /// (same service and category as the earlier one), `AddNote` (internal,
    /// naming the earlier incident), `CorrelateAlert`.
    OpenLinked {
        /// The new incident.
        incident: IncidentId,
        /// The earlier incident (resolved outside the reopen window, closed, or
        /// still open but its group ended).
        earlier: IncidentId,
        /// The commands.
        commands: Vec<IncidentCommand>,
    },
    /// Record the alert on the open incident of an item its object needs
    /// (the root cause, [`Topology::upstream`](super::Topology::upstream)):
    /// the alert's own group had no incident it would join, and the root's
    /// group is live for it. `CorrelateAlert`, and `Reprioritize` when the
    /// alert is more severe (an opening severity) than the root incident.
    /// The alert then belongs to the root's group: its recovery and its
    /// redeliveries are decided there.
    RootCause {
        /// The root-cause incident.
        incident: IncidentId,
        /// Its group's key.
        group: String,
        /// The item the root-cause incident is on.
        root: ServiceId,
        /// The commands.
        commands: Vec<IncidentCommand>,
    },
    /// A firing during maintenance that takes its object down: recorded as
    /// suppressed, with no incident command. Its recovery and its
    /// redeliveries change nothing.
    Suppressed {
        /// The window suppressing it.
        maintenance: MaintenanceWindow,
    },
    /// Record an annotate-only alert on the group's incident.
    Annotate {
        /// The incident.
        incident: IncidentId,
        /// `IncidentCommand::CorrelateAlert`.
        correlate: IncidentCommand,
    },
    /// A recovery, recorded on the group for flapping; no incident command.
    Recovery {
        /// The incident the alert was correlated to, if any.
        incident: Option<IncidentId>,
        /// Whether every opening alert of the group's current incident has now recovered.
        all_clear: bool,
    },
    /// Nothing to do, for a reason.
    Ignore {
        /// Why.
        reason: IgnoreReason,
    },
}

impl Decision {
    /// The incident commands to run, in order, each with its incident.
    pub fn commands(&self) -> Vec<(IncidentId, IncidentCommand)> {
        fn with(incident: &IncidentId, commands: &[&IncidentCommand]) -> Vec<(IncidentId, IncidentCommand)> {
            commands.iter().map(|c| (incident.clone(), (*c).clone())).collect()
        }
        match self {
            Decision::Open { incident, open, correlate } => with(incident, &[open, correlate]),
            Decision::Merge { incident, correlate, reprioritize } => {
                let mut commands = vec![correlate];
                commands.extend(reprioritize.iter());
                with(incident, &commands)
            }
            Decision::Reopen { incident, commands }
            | Decision::OpenLinked { incident, commands, .. }
            | Decision::RootCause { incident, commands, .. } => {
                commands.iter().map(|c| (incident.clone(), c.clone())).collect()
            }
            Decision::Annotate { incident, correlate } => with(incident, &[correlate]),
            Decision::Duplicate | Decision::Recovery { .. } | Decision::Suppressed { .. } | Decision::Ignore { .. } => {
                Vec::new()
            }
        }
    }

    /// The incident this decision opens, if any.
    pub fn opened(&self) -> Option<&IncidentId> {
        match self {
            Decision::Open { incident, .. } | Decision::OpenLinked { incident, .. } => Some(incident),
            Decision::Duplicate
            | Decision::Merge { .. }
            | Decision::Reopen { .. }
            | Decision::RootCause { .. }
            | Decision::Suppressed { .. }
            | Decision::Annotate { .. }
            | Decision::Recovery { .. }
            | Decision::Ignore { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::test_support::{alert, ts};
    use crate::alert::{AlertSeverity, Correlator, GroupingPolicy};

    #[test]
    fn decisions_round_trip_through_json() {
        let mut c = Correlator::new();
        let policy = GroupingPolicy::default();
        let mut decisions = vec![
            c.correlate(&alert("1", "cpu", AlertSeverity::Minor, 0), &policy, ts(0)),
            c.correlate(&alert("2", "cpu", AlertSeverity::Critical, 60), &policy, ts(60)),
            c.correlate(&alert("2", "cpu", AlertSeverity::Critical, 60), &policy, ts(60)),
            c.correlate(&alert("3", "mem", AlertSeverity::Info, 60), &policy, ts(60)),
            c.correlate(&alert("", "cpu", AlertSeverity::Minor, 0), &policy, ts(60)),
        ];
        c.incident_resolved(
            &policy.incident_id(&policy.group_key(&alert("1", "cpu", AlertSeverity::Minor, 0)), 1, ts(0)).unwrap(),
            ts(120),
        );
        decisions.push(c.correlate(&alert("4", "cpu", AlertSeverity::Minor, 180), &policy, ts(180)));
        decisions.push(c.correlate(&alert("5", "cpu", AlertSeverity::Minor, 9000), &policy, ts(9000)));
        let names: Vec<String> = decisions
            .iter()
            .map(|d| serde_json::to_value(d).unwrap()["decision"].as_str().unwrap_or("").to_owned())
            .collect();
        assert_eq!(names, ["open", "merge", "duplicate", "ignore", "ignore", "reopen", "open_linked"]);
        for d in decisions {
            let back: Decision = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
            assert_eq!(back, d);
        }
    }
}
