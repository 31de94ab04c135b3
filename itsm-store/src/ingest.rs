//! Backend-independent part of [`crate::Store::ingest_alerts`]: a partial
//! correlator holding the tenant's group and seen rows the batch needs,
//! folded over a batch of alerts, its incident commands decided into a
//! [`Batch`] (the write path of `import_batch`), the rows it changed, and the
//! report.

use std::collections::{BTreeSet, HashMap, HashSet};

use itsm_core::alert::{
    Alert, AlertKey, Correlator, Decision, Group, GroupStatus, GroupingPolicy, IgnoreReason, Seen, Topology,
};
use itsm_core::id::{ChangeId, IncidentId, ServiceId};
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
    /// Alerts recorded on the open incident of an item upstream of their
    /// object, their root cause (under the tenant's service model).
    pub root_caused: usize,
    /// Alerts suppressed by a maintenance window, in order (recorded in
    /// `alert_suppressed`, see [`crate::Store::suppressed_alerts`]).
    pub suppressed: Vec<SuppressedAlert>,
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
    /// Correlation state the batch read and wrote (see [`StateIo`]).
    pub state: StateIo,
}

/// The correlation state rows an ingestion read and wrote: what the cost of a
/// batch depends on besides its own alerts. Each alert reads at most its seen
/// row and one group row, whatever was ingested before; the incidents of the
/// groups a person acted on add that person's events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateIo {
    /// Seen rows read.
    pub seen_read: usize,
    /// Group rows read.
    pub groups_read: usize,
    /// Incident rows read (the groups' current and next incidents).
    pub incidents_read: usize,
    /// Incident events caught up (written by other paths since a group row
    /// last observed its incident).
    pub events_caught_up: usize,
    /// Seen rows written.
    pub seen_written: usize,
    /// Group rows written.
    pub groups_written: usize,
}

impl StateIo {
    fn absorb(&mut self, other: StateIo) {
        self.seen_read += other.seen_read;
        self.groups_read += other.groups_read;
        self.incidents_read += other.incidents_read;
        self.events_caught_up += other.events_caught_up;
        self.seen_written += other.seen_written;
        self.groups_written += other.groups_written;
    }
}

impl IngestReport {
    /// Adds another batch's counts to this one.
    pub fn absorb(&mut self, other: IngestReport) {
        self.received += other.received;
        self.duplicates += other.duplicates;
        self.opened.extend(other.opened);
        self.merged += other.merged;
        self.root_caused += other.root_caused;
        self.suppressed.extend(other.suppressed);
        self.reopened += other.reopened;
        self.annotated += other.annotated;
        self.recoveries += other.recoveries;
        self.ignored.extend(other.ignored);
        self.refused.extend(other.refused);
        self.events += other.events;
        self.state.absorb(other.state);
    }
}

/// An alert a maintenance window suppressed: recorded, with no incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuppressedAlert {
    /// The alert.
    pub alert: AlertKey,
    /// Its monitored object.
    pub object: ServiceId,
    /// When it fired.
    pub fired_at: Timestamp,
    /// The change whose maintenance window suppressed it.
    pub change: ChangeId,
    /// The instant of the ingestion that recorded it.
    pub recorded_at: Timestamp,
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

/// One ingestion in progress (inside the backend's transaction), over a
/// partial correlator holding only the rows the batch needs (see the *Keyed
/// state* section of [`itsm_core::alert`]).
pub(crate) struct Run<'a> {
    pub actor: &'a Actor,
    config: &'a DomainConfig,
    policy: &'a GroupingPolicy,
    topology: Topology<'a>,
    now: Timestamp,
    pub correlator: Correlator,
    pub batch: Batch<Incident>,
    /// Aggregate id of each decided command, by index.
    pub ids: Vec<String>,
    looked_up: HashSet<String>,
    /// Each incident's version as stored (when looked up) plus the events the
    /// batch decided for it: its version after the batch.
    versions: HashMap<String, u64>,
    /// The incident version each loaded group row has observed, by group key.
    observed: HashMap<String, u64>,
    pub report: IngestReport,
}

/// The rows an ingested batch writes back.
pub(crate) struct RowChanges {
    /// Group key, current incident, state JSON, incident version observed,
    /// and the group's service while its incident may still be open
    /// (`root_service`).
    pub groups: Vec<(String, String, String, i64, Option<String>)>,
    /// Clear key, state JSON, expiry instant.
    pub seen: Vec<(String, String, Option<Timestamp>)>,
}

/// The JSON text of a correlator row.
fn row_json<T: serde::Serialize>(row: &T, key: &str) -> Result<String, StoreError> {
    serde_json::to_string(row).map_err(|source| StoreError::Serialize {
        what: "alert correlator row",
        id: key.to_owned(),
        source,
    })
}

/// A correlator row read back from its JSON text.
pub(crate) fn parse_row<T: serde::de::DeserializeOwned>(text: &str, key: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::corrupt("alert correlator row", key, e))
}

/// A group's `root_service` column: its service while its current incident
/// may still be open (open, or resolved and so reopenable), else `None`.
pub(crate) fn root_service(group: &Group) -> Option<String> {
    match group.status {
        GroupStatus::Open | GroupStatus::Resolved { .. } => Some(group.service.as_str().to_owned()),
        GroupStatus::Closed { .. } | GroupStatus::Cancelled { .. } => None,
    }
}

/// A whole correlator as stored before the keyed rows (`alert_correlators`).
pub(crate) fn parse_document(text: &str, tenant: &str) -> Result<Correlator, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::corrupt("alert correlator", tenant, e))
}

impl<'a> Run<'a> {
    /// An ingestion over the partial correlator `groups` and `seen` make;
    /// `groups` carries with each row the incident version it has observed.
    pub(crate) fn new(
        actor: &'a Actor,
        config: &'a DomainConfig,
        policy: &'a GroupingPolicy,
        topology: Topology<'a>,
        now: Timestamp,
        groups: Vec<(String, Group, u64)>,
        seen: Vec<(String, Seen)>,
    ) -> Self {
        let mut observed = HashMap::with_capacity(groups.len());
        let mut rows = Vec::with_capacity(groups.len());
        for (key, group, version) in groups {
            observed.insert(key.clone(), version);
            rows.push((key, group));
        }
        Run {
            actor,
            config,
            policy,
            topology,
            now,
            correlator: Correlator::from_parts(rows, seen),
            batch: Batch::default(),
            ids: Vec::new(),
            looked_up: HashSet::new(),
            versions: HashMap::new(),
            observed,
            report: IngestReport::default(),
        }
    }

    /// The incidents whose stored state the batch may need, sorted: each
    /// needed group's current incident (whose events since the row's
    /// observed version are caught up), and the next incident of the group
    /// each alert would open (its id holds the opening alert's `fired_at`).
    /// `needed` gives each alert's group key and `fired_at`.
    pub(crate) fn candidates<'k>(&self, needed: impl IntoIterator<Item = (&'k str, Timestamp)>) -> Vec<String> {
        let mut out = BTreeSet::new();
        for (key, fired_at) in needed {
            let next = match self.correlator.groups().get(key) {
                Some(group) => {
                    out.insert(group.incident.as_str().to_owned());
                    group.seq.saturating_add(1)
                }
                None => 1,
            };
            if let Ok(id) = self.policy.incident_id(key, next, fired_at) {
                out.insert(id.as_str().to_owned());
            }
        }
        out.into_iter().collect()
    }

    /// The loaded groups whose current incident moved past the version their
    /// row observed (a person acted on it), with that version: their events
    /// after it are to be observed. `stored` gives an incident's stored version.
    pub(crate) fn behind(&self, stored: impl Fn(&str) -> Option<u64>) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        for (key, group) in self.correlator.groups() {
            let seen = self.observed.get(key).copied().unwrap_or(0);
            if stored(group.incident.as_str()).is_some_and(|v| v > seen) {
                out.push((group.incident.as_str().to_owned(), seen));
            }
        }
        out.sort();
        out
    }

    /// Feeds a stored incident event (written by another path since the
    /// group row last observed its incident) to the correlator.
    pub(crate) fn catch_up(&mut self, incident: &str, payload: &str, version: i64) -> Result<(), StoreError> {
        let Ok(id) = IncidentId::new(incident) else { return Ok(()) };
        let event: IncidentEvent = serde_json::from_str(payload)
            .map_err(|e| StoreError::corrupt("event", format!("incident {incident} version {version}"), e))?;
        self.correlator.observe(&id, &event);
        self.report.state.events_caught_up += 1;
        Ok(())
    }

    /// Decides an alert under the run's topology.
    pub(crate) fn decide(&self, alert: &Alert) -> Decision {
        self.correlator.decide_in(alert, self.policy, self.now, &self.topology)
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

    /// Records a stored incident's version (its state is read only if a
    /// decision needs it, through [`Run::preload`]).
    pub(crate) fn stored(&mut self, id: &str, version: u64) {
        self.versions.insert(id.to_owned(), version);
    }

    /// Records a stored incident's state, version and chain head (`None`:
    /// it does not exist).
    pub(crate) fn preload(&mut self, id: String, stored: Option<(Incident, u64, String)>) {
        if let Some((state, version, head)) = stored {
            self.versions.insert(id.clone(), version);
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
                    let version = self.versions.entry(id.as_str().to_owned()).or_insert(0);
                    *version = version.saturating_add(u64::try_from(events.len()).unwrap_or(u64::MAX));
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
            Decision::RootCause { .. } => r.root_caused += 1,
            Decision::Suppressed { maintenance } => r.suppressed.push(SuppressedAlert {
                alert: alert.key(),
                object: alert.object.clone(),
                fired_at: alert.fired_at,
                change: maintenance.change.clone(),
                recorded_at: self.now,
            }),
            Decision::Reopen { .. } => r.reopened += 1,
            Decision::Annotate { .. } => r.annotated += 1,
            Decision::Recovery { .. } => r.recoveries += 1,
            Decision::Ignore { reason } => r.ignored.push(IgnoredAlert { alert: alert.key(), reason: reason.clone() }),
        }
        Ok(())
    }

    /// The rows to write back: every group or seen row the batch changed,
    /// and every loaded group whose incident moved (its observed version with
    /// it), each group with the version of its current incident after the
    /// batch; each seen row with its expiry instant.
    pub(crate) fn changes(&mut self) -> Result<RowChanges, StoreError> {
        let changes = self.correlator.take_changes();
        let mut groups = Vec::new();
        for (key, group) in self.correlator.groups() {
            let before = self.observed.get(key).copied();
            let version = self.versions.get(group.incident.as_str()).copied().or(before).unwrap_or(0);
            if changes.groups.contains_key(key) || before != Some(version) {
                let version = i64::try_from(version).map_err(|_| StoreError::Overflow)?;
                groups.push((
                    key.clone(),
                    group.incident.as_str().to_owned(),
                    row_json(group, key)?,
                    version,
                    root_service(group),
                ));
            }
        }
        let mut seen = Vec::with_capacity(changes.seen.len());
        for (key, row) in changes.seen {
            let expires = self.policy.seen_expires_at(&row, self.now);
            let text = row_json(&row, &key)?;
            seen.push((key, text, expires));
        }
        Ok(RowChanges { groups, seen })
    }
}
