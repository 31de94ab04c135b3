//! Classification vocabulary shared by the aggregates, the records and the metrics:
//! incident kinds, impact, urgency, priority and its matrix, detection sources,
//! support tiers, change types, outcomes and remediations.

use serde::{Deserialize, Serialize};

macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable lower-case name used in CSV, JSON and database columns.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Parses the stable name; `None` for anything else.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                $name::parse(&text).ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "unknown {} `{}`, expected one of: {}",
                        stringify!($name),
                        text,
                        [$($text),+].join(", ")
                    ))
                })
            }
        }
    };
}
pub(crate) use text_enum;

text_enum!(
    /// What kind of incident this is (maturity model section 2 and Table 5).
    IncidentKind {
        /// Affects or may affect production applications, systems, network or facilities.
        Production => "production",
        /// A software defect that does not interrupt service.
        Business => "business",
        /// Damage to confidentiality, integrity, availability or non-repudiation.
        Security => "security",
        /// A personal desktop fault.
        Desktop => "desktop",
        /// A service request rather than a fault.
        ServiceRequest => "service_request",
    }
);

text_enum!(
    /// How widely an incident affects the business; `High` is level 1 (widest).
    Impact {
        /// Level 1: a whole service or many users.
        High => "1",
        /// Level 2: a group of users.
        Medium => "2",
        /// Level 3: one user.
        Low => "3",
    }
);

text_enum!(
    /// How fast the business needs a resolution; `High` is level 1 (most urgent).
    Urgency {
        /// Level 1: work has stopped.
        High => "1",
        /// Level 2: work is degraded.
        Medium => "2",
        /// Level 3: can wait.
        Low => "3",
    }
);

text_enum!(
    /// Priority P1 (highest) to P5.
    Priority {
        /// Critical.
        P1 => "1",
        /// High.
        P2 => "2",
        /// Moderate.
        P3 => "3",
        /// Low.
        P4 => "4",
        /// Planning.
        P5 => "5",
    }
);

impl Impact {
    fn index(self) -> usize {
        match self {
            Impact::High => 0,
            Impact::Medium => 1,
            Impact::Low => 2,
        }
    }
}

impl Urgency {
    fn index(self) -> usize {
        match self {
            Urgency::High => 0,
            Urgency::Medium => 1,
            Urgency::Low => 2,
        }
    }
}

/// Impact x urgency -> priority, as data (rows: impact 1..3, columns: urgency 1..3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorityMatrix {
    /// `cells[impact][urgency]`.
    pub cells: [[Priority; 3]; 3],
}

impl Default for PriorityMatrix {
    /// The ITIL / ServiceNow default: P1 for high x high down to P5 for low x low.
    fn default() -> Self {
        use Priority::*;
        PriorityMatrix { cells: [[P1, P2, P3], [P2, P3, P4], [P3, P4, P5]] }
    }
}

impl PriorityMatrix {
    /// The priority for an impact and an urgency.
    pub fn priority(&self, impact: Impact, urgency: Urgency) -> Priority {
        self.cells[impact.index()][urgency.index()]
    }
}

text_enum!(
    /// Who or what detected the incident.
    DetectionSource {
        /// A monitoring alert.
        Monitoring => "monitoring",
        /// A user report.
        User => "user",
        /// The service desk itself.
        ServiceDesk => "service_desk",
        /// An automated check or pipeline.
        Automation => "automation",
    }
);

text_enum!(
    /// Support line (Table 6 level 2: first, second and third line).
    SupportTier {
        /// First line / service desk.
        L1 => "l1",
        /// Second line.
        L2 => "l2",
        /// Third line (engineering, vendor liaison).
        L3 => "l3",
    }
);

text_enum!(
    /// Who resolved an incident (first-line resolution rate, automated recovery share).
    ResolvedBy {
        /// First line.
        L1 => "l1",
        /// Second line.
        L2 => "l2",
        /// Third line.
        L3 => "l3",
        /// Automation (restart, fail-over, self-healing).
        Automation => "automation",
        /// A vendor.
        Vendor => "vendor",
    }
);

impl From<SupportTier> for ResolvedBy {
    fn from(tier: SupportTier) -> Self {
        match tier {
            SupportTier::L1 => ResolvedBy::L1,
            SupportTier::L2 => ResolvedBy::L2,
            SupportTier::L3 => ResolvedBy::L3,
        }
    }
}

text_enum!(
    /// Table 15's MTTR failure classes.
    FailureClass {
        /// A continuous-integration pipeline failure.
        Ci => "ci",
        /// A continuous-delivery pipeline failure.
        Cd => "cd",
        /// A failure of the DevOps platform itself.
        Platform => "platform",
        /// Anything else.
        Other => "other",
    }
);

text_enum!(
    /// The three change types, each with its own state machine.
    ChangeType {
        /// Pre-approved template, no approval step.
        Standard => "standard",
        /// The maturity model's "planned" change (Table 8).
        Normal => "normal",
        /// Urgent change for a fault (Table 9).
        Emergency => "emergency",
    }
);

text_enum!(
    /// The result of a change's first implementation attempt.
    ChangeOutcome {
        /// Reached its intended result.
        Successful => "successful",
        /// Reached its intended result with issues.
        SuccessfulWithIssues => "successful_with_issues",
        /// Did not reach its intended result.
        Failed => "failed",
    }
);

text_enum!(
    /// What was done after the first attempt; anything but `None` makes the first attempt a failure.
    Remediation {
        /// Nothing was needed.
        None => "none",
        /// Rolled back, and the rollback restored the prior state.
        RolledBack => "rolled_back",
        /// A rollback was attempted and failed to restore the prior state.
        RollbackFailed => "rollback_failed",
        /// Fixed by a further change instead of a rollback.
        FixedForward => "fixed_forward",
    }
);

text_enum!(
    /// How a change is rolled out (Table 8 levels 3-4).
    StrategyKind {
        /// Everything at once.
        BigBang => "big_bang",
        /// Phased or canary ("gray") in stages.
        Phased => "phased",
        /// Rolling over instances.
        Rolling => "rolling",
        /// Blue-green switch.
        BlueGreen => "blue_green",
    }
);

text_enum!(
    /// Risk class of a change, input to the approval policy.
    Risk {
        /// Low risk.
        Low => "low",
        /// Moderate risk.
        Moderate => "moderate",
        /// High risk.
        High => "high",
    }
);

text_enum!(
    /// Why an incident is on hold. Whether a reason pauses the SLA clock is the
    /// SLA policy's decision (by default caller, vendor and evidence pause;
    /// change and problem do not).
    HoldReason {
        /// Waiting for the caller to answer.
        AwaitingCaller => "awaiting_caller",
        /// Waiting for a vendor.
        AwaitingVendor => "awaiting_vendor",
        /// Waiting for a problem to be fixed.
        AwaitingProblem => "awaiting_problem",
        /// Waiting for a change to be implemented.
        AwaitingChange => "awaiting_change",
        /// Waiting for evidence.
        AwaitingEvidence => "awaiting_evidence",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_matrix_is_the_itil_three_by_three() {
        let m = PriorityMatrix::default();
        assert_eq!(m.priority(Impact::High, Urgency::High), Priority::P1);
        assert_eq!(m.priority(Impact::High, Urgency::Low), Priority::P3);
        assert_eq!(m.priority(Impact::Medium, Urgency::Medium), Priority::P3);
        assert_eq!(m.priority(Impact::Low, Urgency::Low), Priority::P5);
    }

    #[test]
    fn names_round_trip() {
        for k in IncidentKind::ALL {
            assert_eq!(IncidentKind::parse(k.as_str()), Some(*k));
        }
        for r in Remediation::ALL {
            assert_eq!(Remediation::parse(r.as_str()), Some(*r));
        }
        assert_eq!(Priority::parse("6"), None);
        assert_eq!(serde_json::to_string(&ChangeOutcome::SuccessfulWithIssues).unwrap(), "\"successful_with_issues\"");
    }
}
