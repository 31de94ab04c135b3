//! Backend-independent part of [`crate::Store::ingest_alerts`]: the tenant's
//! correlator, folded over a batch of alerts, its incident commands decided
//! into a [`Batch`] (the write path of `import_batch`), and the report.

use std::collections::HashSet;

use itsm_core::alert::{Alert, AlertKey, Correlator, Decision, GroupingPolicy, IgnoreReason};
use itsm_core::id::IncidentId;
use itsm_core::incident::{Incident, IncidentEvent};
use itsm_core::{Actor, DomainConfig, Timestamp};

use crate::error::{ExecError, StoreError};
use crate::model::{ImportCommand, OnReject};
use crate::plan::Batch;

/// What [`crate::Store::ingest_alerts`] did with a batch of alerts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Alerts in the batch.
    pub received: usize,
    /// Alerts already ingested (a redelivered firing, or a second recovery).
    pub duplicates: usize,
    /// Incidents opened (first of a group, or linked to an earlier one), in order.
    pub opened: Vec<IncidentId>,
    /// Alerts merged into their group's incident.
    pub merged: usize,
    /// Alerts that reopened a resolved incident.
    pub reopened: usize,
    /// Annotate-only alerts recorded on an incident.
    pub annotated: usize,
    /// Recoveries recorded (no incident command).
    pub recoveries: usize,
    /// Alerts ignored, each with its reason (invalid, nothing open, late,
    /// already recovered, unknown recovery), in order.
    pub ignored: Vec<IgnoredAlert>,
    /// Incident commands the domain refused.
    pub refused: Vec<RefusedCommand>,
    /// Events written.
    pub events: usize,
}

impl IngestReport {
    /// Adds another batch's counts to this one.
    pub fn absorb(&mut self, other: IngestReport) {
        self.received += other.received;
        self.duplicates += other.duplicates;
        self.opened.extend(other.opened);
        self.merged += other.merged;
        self.reopened += other.reopened;
        self.annotated += other.annotated;
        self.recoveries += other.recoveries;
        self.ignored.extend(other.ignored);
        self.refused.extend(other.refused);
        self.events += other.events;
    }
}

/// An alert that changed nothing, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredAlert {
    /// The alert.
    pub alert: AlertKey,
    /// Why it was ignored.
    pub reason: IgnoreReason,
}

/// An incident command of an alert's decision that the domain refused. The
/// decision's later commands are not run; when its first command was refused
/// the correlator does not record the alert at all (a redelivery decides again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedCommand {
    /// The alert.
    pub alert: AlertKey,
    /// The incident the command was for.
    pub incident: IncidentId,
    /// The command's name.
    pub command: &'static str,
    /// Why it was refused.
    pub reason: String,
}

/// One ingestion in progress (inside the backend's transaction).
pub(crate) struct Run<'a> {
    pub actor: &'a Actor,
    config: &'a DomainConfig,
    policy: &'a GroupingPolicy,
    now: Timestamp,
    pub correlator: Correlator,
    pub batch: Batch<Incident>,
    /// Aggregate id of each decided command, by index.
    pub ids: Vec<String>,
    looked_up: HashSet<String>,
    pub report: IngestReport,
}

impl<'a> Run<'a> {
    pub(crate) fn new(
        actor: &'a Actor,
        config: &'a DomainConfig,
        policy: &'a GroupingPolicy,
        now: Timestamp,
        state: Option<&str>,
    ) -> Result<Self, StoreError> {
        let correlator = match state {
            Some(text) => serde_json::from_str(text)
                .map_err(|e| StoreError::corrupt("alert correlator", actor.tenant.as_str(), e))?,
            None => Correlator::new(),
        };
        Ok(Run {
            actor,
            config,
            policy,
            now,
            correlator,
            batch: Batch::default(),
            ids: Vec::new(),
            looked_up: HashSet::new(),
            report: IngestReport::default(),
        })
    }

    /// Whether events of `incident` matter to the correlator.
    pub(crate) fn follows(&self, incident: &str) -> bool {
        IncidentId::new(incident).is_ok_and(|id| self.correlator.group_of(&id).is_some())
    }

    /// Feeds a stored incident event (written by another path since the last
    /// ingestion) to the correlator.
    pub(crate) fn catch_up(&mut self, incident: &str, payload: &str, position: i64) -> Result<(), StoreError> {
        let Ok(id) = IncidentId::new(incident) else { return Ok(()) };
        let event: IncidentEvent =
            serde_json::from_str(payload).map_err(|e| StoreError::corrupt("event", position, e))?;
        self.correlator.observe(&id, &event);
        Ok(())
    }

    /// Whether the correlator follows no incident (nothing to catch up on).
    pub(crate) fn follows_nothing(&self) -> bool {
        self.correlator.groups().is_empty()
    }

    /// Decides an alert.
    pub(crate) fn decide(&self, alert: &Alert) -> Decision {
        self.correlator.decide(alert, self.policy, self.now)
    }

    /// Incidents of the decision whose stored state has not been read yet.
    pub(crate) fn unloaded(&self, decision: &Decision) -> Vec<String> {
        let tenant = self.actor.tenant.as_str();
        let mut out: Vec<String> = Vec::new();
        for (id, _) in decision.commands() {
            let id = id.as_str();
            if !self.looked_up.contains(id) && !self.batch.has_state(tenant, id) && !out.iter().any(|o| o == id) {
                out.push(id.to_owned());
            }
        }
        out
    }

    /// Records a stored incident's state, version and chain head (`None`:
    /// it does not exist).
    pub(crate) fn preload(&mut self, id: String, stored: Option<(Incident, u64, String)>) {
        if let Some((state, version, head)) = stored {
            self.batch.preload(self.actor.tenant.as_str(), id.clone(), state, version, head);
        }
        self.looked_up.insert(id);
    }

    /// Runs the decision's commands into the batch (each event observed by
    /// the correlator), then applies the decision, as the core's reference
    /// driver does.
    pub(crate) fn run(&mut self, alert: &Alert, decision: &Decision) -> Result<(), StoreError> {
        self.report.received += 1;
        let mut applies = true;
        for (i, (id, command)) in decision.commands().into_iter().enumerate() {
            let index = self.ids.len();
            self.ids.push(id.as_str().to_owned());
            let name = command.name();
            let c = ImportCommand { actor: self.actor, now: self.now, aggregate_id: id.as_str(), command };
            let decided = self.batch.decide(index, &c, self.config, OnReject::Skip).map_err(ExecError::into_store)?;
            match decided {
                Some(events) => {
                    self.report.events += events.len();
                    for event in &events {
                        self.correlator.observe(&id, event);
                    }
                }
                None => {
                    let reason = self.batch.last_rejection().map(ToString::to_string).unwrap_or_default();
                    self.report.refused.push(RefusedCommand {
                        alert: alert.key(),
                        incident: id,
                        command: name,
                        reason,
                    });
                    applies = i > 0;
                    break;
                }
            }
        }
        if !applies {
            return Ok(());
        }
        self.correlator.apply(alert, self.policy, decision);
        let r = &mut self.report;
        match decision {
            Decision::Duplicate => r.duplicates += 1,
            Decision::Open { incident, .. } | Decision::OpenLinked { incident, .. } => r.opened.push(incident.clone()),
            Decision::Merge { .. } => r.merged += 1,
            Decision::Reopen { .. } => r.reopened += 1,
            Decision::Annotate { .. } => r.annotated += 1,
            Decision::Recovery { .. } => r.recoveries += 1,
            Decision::Ignore { reason } => r.ignored.push(IgnoredAlert { alert: alert.key(), reason: reason.clone() }),
        }
        Ok(())
    }

    /// The correlator's state as JSON.
    pub(crate) fn state_json(&self) -> Result<String, StoreError> {
        serde_json::to_string(&self.correlator).map_err(|source| StoreError::Serialize {
            what: "alert correlator",
            id: self.actor.tenant.as_str().to_owned(),
            source,
        })
    }
}
