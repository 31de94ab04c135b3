//! The events a problem records.

use std::collections::BTreeSet;

use super::{KnownErrorRecord, ProblemClosure};
use crate::aggregate::stamped_events;
use crate::id::{ChangeId, IncidentId, ProblemId, ServiceId, TenantId, Text};
use crate::vocabulary::Priority;

stamped_events! {
    /// Events a problem records.
    pub enum ProblemEvent {
        /// Registered.
        Opened {
            /// Tenant.
            tenant: TenantId,
            /// Id.
            id: ProblemId,
            /// Service.
            service: ServiceId,
            /// Title.
            title: Text,
            /// Initial incidents.
            incidents: BTreeSet<IncidentId>,
        } => "opened",
        /// Assessed.
        Assessed {
            /// Priority.
            priority: Priority,
        } => "assessed",
        /// Analysis started.
        AnalysisStarted {} => "analysis_started",
        /// Known error recorded.
        KnownErrorRecorded {
            /// The record.
            known_error: KnownErrorRecord,
        } => "known_error_recorded",
        /// Fix started.
        FixStarted {
            /// The change.
            change: ChangeId,
        } => "fix_started",
        /// Resolved.
        Resolved {
            /// How.
            closure: ProblemClosure,
        } => "resolved",
        /// Back to analysis.
        Reanalyzed {
            /// Why.
            reason: Text,
        } => "reanalyzed",
        /// Closed.
        Closed {} => "closed",
        /// Incident linked.
        IncidentLinked {
            /// The incident.
            incident: IncidentId,
        } => "incident_linked",
    }
}
