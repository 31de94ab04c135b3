//! The [`Correlator`]: a pure fold over the alert stream that decides, per
//! alert, the incident commands to run, records the decisions, observes the
//! incident events it did not cause, and reports the keyed rows it changed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    Alert, AlertError, AlertKey, Changes, Decision, Group, GroupStatus, GroupingPolicy, IgnoreReason, Needs, Seen,
    SeverityAction, SeverityRule, Topology,
};
use crate::id::{IncidentId, ServiceId, Text};
use crate::incident::{IncidentCommand, IncidentEvent, OpenIncident};
use crate::time::Timestamp;
use crate::vocabulary::DetectionSource;

/// The correlator's state: groups by key and alerts seen. A pure fold over the
/// alert stream and the incident events it is told about.
///
/// It may hold the whole state or only the rows some alerts need (see the
/// module's *Keyed state* section, [`Correlator::from_parts`]). It records
/// which rows its updates changed until [`Correlator::take_changes`]; that
/// record is not part of its JSON form nor of its equality.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Correlator {
    groups: BTreeMap<String, Group>,
    /// Current incident -> its group key (an index over `groups`).
    current: BTreeMap<IncidentId, String>,
    seen: BTreeMap<String, Seen>,
    /// Rows changed since the last `take_changes`, with their earlier value.
    #[serde(skip)]
    before: Before,
}

/// The value of each row an update touched since the last
/// [`Correlator::take_changes`], as it was before the first touch.
#[derive(Debug, Clone, Default)]
struct Before {
    groups: BTreeMap<String, Option<Group>>,
    seen: BTreeMap<String, Option<Seen>>,
}

impl PartialEq for Correlator {
    /// Equal state (groups, index, seen alerts); the change record is ignored.
    fn eq(&self, other: &Self) -> bool {
        self.groups == other.groups && self.current == other.current && self.seen == other.seen
    }
}

impl Eq for Correlator {}

impl Correlator {
    /// An empty correlator.
    pub fn new() -> Self {
        Correlator::default()
    }

    /// A correlator holding only the given rows (the rows some alerts or
    /// incident events need), with the index of current incidents rebuilt
    /// from the groups. Nothing is recorded as changed.
    ///
    /// For a batch of alerts load, for each alert, its seen row as stored and
    /// the group row [`Needs::group_for`] names for it (each when the store has
    /// it); for an incident event, the group whose [`Group::incident`] it is.
    /// Rows an earlier alert of the batch creates are then already in the
    /// correlator. Deciding, applying and observing in stream order then give
    /// the decisions and rows of the whole state.
    pub fn from_parts(
        groups: impl IntoIterator<Item = (String, Group)>,
        seen: impl IntoIterator<Item = (String, Seen)>,
    ) -> Self {
        let groups: BTreeMap<String, Group> = groups.into_iter().collect();
        let current = groups.iter().map(|(key, group)| (group.incident.clone(), key.clone())).collect();
        Correlator { groups, current, seen: seen.into_iter().collect(), before: Before::default() }
    }

    /// The groups and seen alerts (for instance to turn a whole state into
    /// rows).
    pub fn into_parts(self) -> (BTreeMap<String, Group>, BTreeMap<String, Seen>) {
        (self.groups, self.seen)
    }

    /// The rows `alert` reads and writes under `policy`: its seen row, and
    /// the group [`Needs::group_for`] names once the seen row is known. An
    /// incident event needs the group whose [`Group::incident`] it is.
    pub fn needs(alert: &Alert, policy: &GroupingPolicy) -> Needs {
        Needs { seen: alert.key().clear_key(), group: policy.group_key(alert), roots: Vec::new() }
    }

    /// [`Correlator::needs`] under `topology`: also the items whose open
    /// groups a first firing may join as its root cause ([`Needs::roots`]).
    pub fn needs_in(alert: &Alert, policy: &GroupingPolicy, topology: &Topology<'_>) -> Needs {
        let mut needs = Correlator::needs(alert, policy);
        if alert.resolved_at.is_none() {
            needs.roots = topology.upstream(&alert.object).into_iter().cloned().collect();
        }
        needs
    }

    /// The rows changed since the last call (or since [`Correlator::from_parts`]),
    /// with their new values; a row changed and changed back is not listed.
    /// Clears the record.
    pub fn take_changes(&mut self) -> Changes {
        let before = std::mem::take(&mut self.before);
        let groups = before
            .groups
            .into_iter()
            .filter_map(|(key, old)| {
                let new = self.groups.get(&key)?;
                (old.as_ref() != Some(new)).then(|| (key, new.clone()))
            })
            .collect();
        let seen = before
            .seen
            .into_iter()
            .filter_map(|(key, old)| {
                let new = self.seen.get(&key)?;
                (old.as_ref() != Some(new)).then(|| (key, new.clone()))
            })
            .collect();
        Changes { groups, seen }
    }

    /// Records the group row's value before its first change since the last
    /// `take_changes`.
    fn touch_group(&mut self, key: &str) {
        if !self.before.groups.contains_key(key) {
            let old = self.groups.get(key).cloned();
            self.before.groups.insert(key.to_owned(), old);
        }
    }

    /// Records the seen row's value before its first change since the last
    /// `take_changes`.
    fn touch_seen(&mut self, key: &str) {
        if !self.before.seen.contains_key(key) {
            let old = self.seen.get(key).cloned();
            self.before.seen.insert(key.to_owned(), old);
        }
    }

    /// The groups by key.
    pub fn groups(&self) -> &BTreeMap<String, Group> {
        &self.groups
    }

    /// The alerts seen, by [`AlertKey::clear_key`].
    pub fn seen_entries(&self) -> &BTreeMap<String, Seen> {
        &self.seen
    }

    /// The group of `incident` if it is the group's current incident.
    pub fn group_of(&self, incident: &IncidentId) -> Option<(&str, &Group)> {
        let key = self.current.get(incident)?;
        self.groups.get(key).map(|g| (key.as_str(), g))
    }

    /// The group whose current incident is `incident`, its row recorded as
    /// touched when `update` is set (`None` for an event that changes no group).
    fn current_for_update(&mut self, incident: &IncidentId, update: bool) -> Option<&mut Group> {
        if !update {
            return None;
        }
        let key = self.current.get(incident)?.clone();
        self.touch_group(&key);
        self.groups.get_mut(&key)
    }

    /// Whether [`Correlator::observe`] may change a group for `event`.
    fn may_change(event: &IncidentEvent) -> bool {
        match event {
            IncidentEvent::Resolved { .. }
            | IncidentEvent::Reopened { .. }
            | IncidentEvent::Closed { .. }
            | IncidentEvent::Cancelled { .. }
            | IncidentEvent::Reprioritized { .. } => true,
            IncidentEvent::Opened { .. }
            | IncidentEvent::Assigned { .. }
            | IncidentEvent::Acknowledged { .. }
            | IncidentEvent::ImpactRecorded { .. }
            | IncidentEvent::Started { .. }
            | IncidentEvent::Held { .. }
            | IncidentEvent::Resumed { .. }
            | IncidentEvent::TierEscalated { .. }
            | IncidentEvent::MajorProposed { .. }
            | IncidentEvent::MajorDeclined { .. }
            | IncidentEvent::MajorDeclared { .. }
            | IncidentEvent::ReviewRecorded { .. }
            | IncidentEvent::ActionCompleted { .. }
            | IncidentEvent::ProblemLinked { .. }
            | IncidentEvent::ChangeLinked { .. }
            | IncidentEvent::ParentSet { .. }
            | IncidentEvent::ChildLinked { .. }
            | IncidentEvent::NoteAdded { .. }
            | IncidentEvent::AlertCorrelated { .. } => false,
        }
    }

    /// What the correlator remembers of an alert.
    pub fn seen(&self, key: &AlertKey) -> Option<&Seen> {
        self.seen.get(&key.clear_key())
    }

    /// Decides what `alert` does. Pure; `now` is the instant the commands will
    /// be executed at (an `impact_start` after it is dropped).
    pub fn decide(&self, alert: &Alert, policy: &GroupingPolicy, now: Timestamp) -> Decision {
        self.decide_in(alert, policy, now, &Topology::default())
    }

    /// Decides what `alert` does under `topology` (the service model and the
    /// maintenance windows): as [`Correlator::decide`], except that a first
    /// firing is [`Decision::Suppressed`] during maintenance that takes its
    /// object down, and joins the live open incident of an item upstream of
    /// its object ([`Decision::RootCause`]) rather than open, reopen or be
    /// ignored in its own group. Pure.
    pub fn decide_in(
        &self,
        alert: &Alert,
        policy: &GroupingPolicy,
        now: Timestamp,
        topology: &Topology<'_>,
    ) -> Decision {
        match self.try_decide(alert, policy, now, topology) {
            Ok(decision) => decision,
            Err(error) => Decision::Ignore { reason: IgnoreReason::Invalid { error } },
        }
    }

    /// Decides and applies.
    pub fn correlate(&mut self, alert: &Alert, policy: &GroupingPolicy, now: Timestamp) -> Decision {
        self.correlate_in(alert, policy, now, &Topology::default())
    }

    /// Decides under `topology` and applies.
    pub fn correlate_in(
        &mut self,
        alert: &Alert,
        policy: &GroupingPolicy,
        now: Timestamp,
        topology: &Topology<'_>,
    ) -> Decision {
        let decision = self.decide_in(alert, policy, now, topology);
        self.apply(alert, policy, &decision);
        decision
    }

    /// The group a first firing of `alert` joins as its root cause, if any:
    /// of the open groups (other than its own) on items upstream of its
    /// object whose window or flapping period still covers it, one on an
    /// item no other candidate's item is upstream of (the furthest upstream),
    /// the earliest opened (least incident id) among those. Without items
    /// upstream nothing else is computed.
    fn root_for<'s>(
        &'s self,
        alert: &Alert,
        policy: &GroupingPolicy,
        topology: &Topology<'_>,
    ) -> Option<(&'s str, &'s Group)> {
        let upstream = topology.upstream(&alert.object);
        if upstream.is_empty() {
            return None;
        }
        let own = policy.group_key(alert);
        let candidates: Vec<(&str, &Group)> = self
            .groups
            .iter()
            .filter(|(key, g)| {
                **key != own
                    && g.status == GroupStatus::Open
                    && upstream.contains(&g.service)
                    && g.live_for(alert.fired_at, policy)
            })
            .map(|(k, g)| (k.as_str(), g))
            .collect();
        candidates
            .iter()
            .filter(|(_, c)| {
                let above = topology.upstream(&c.service);
                !candidates.iter().any(|(_, o)| o.service != c.service && above.contains(&o.service))
            })
            .min_by(|a, b| a.1.incident.cmp(&b.1.incident))
            .copied()
    }

    fn try_decide(
        &self,
        alert: &Alert,
        policy: &GroupingPolicy,
        now: Timestamp,
        topology: &Topology<'_>,
    ) -> Result<Decision, AlertError> {
        alert.validate()?;
        let key = alert.key().clear_key();
        let seen = self.seen.get(&key);
        if alert.resolved_at.is_some() {
            return Ok(match seen {
                Some(s) if s.recovered => Decision::Duplicate,
                Some(s) => {
                    let group = self.groups.get(&s.group);
                    let all_clear = group.is_some_and(|g| g.firing.contains(&key) && g.firing.len() == 1);
                    Decision::Recovery { incident: s.incident.clone(), all_clear }
                }
                None => Decision::Ignore { reason: IgnoreReason::UnknownRecovery },
            });
        }
        match seen {
            Some(s) if s.recovered && s.incident.is_none() && s.suppressed_by.is_none() => {
                return Ok(Decision::Ignore { reason: IgnoreReason::AlreadyRecovered });
            }
            Some(_) => return Ok(Decision::Duplicate),
            None => {}
        }
        if let Some(window) = topology.suppressing(&alert.object, alert.fired_at) {
            return Ok(Decision::Suppressed { maintenance: window.clone() });
        }
        let own = self.decide_own(alert, policy, now)?;
        let routable = matches!(
            own,
            Decision::Open { .. }
                | Decision::OpenLinked { .. }
                | Decision::Reopen { .. }
                | Decision::Ignore { reason: IgnoreReason::NothingOpen { .. } }
        );
        if !routable {
            return Ok(own);
        }
        let Some((root_key, root)) = self.root_for(alert, policy, topology) else { return Ok(own) };
        let rule = policy.severities.rule(alert.severity);
        let mut commands = vec![IncidentCommand::CorrelateAlert { alert: alert.to_ref(policy) }];
        if rule.action == SeverityAction::Open {
            commands.extend(raise(root, rule));
        }
        Ok(Decision::RootCause {
            incident: root.incident.clone(),
            group: root_key.to_owned(),
            root: root.service.clone(),
            commands,
        })
    }

    /// The decision for a first firing of `alert` by its own group alone.
    fn decide_own(&self, alert: &Alert, policy: &GroupingPolicy, now: Timestamp) -> Result<Decision, AlertError> {
        let group_key = policy.group_key(alert);
        let rule = policy.severities.rule(alert.severity);
        let opens = match rule.action {
            SeverityAction::Open => true,
            SeverityAction::Annotate => false,
        };
        let correlate = IncidentCommand::CorrelateAlert { alert: alert.to_ref(policy) };
        let nothing_open = Decision::Ignore { reason: IgnoreReason::NothingOpen { severity: alert.severity } };
        let Some(group) = self.groups.get(&group_key) else {
            if !opens {
                return Ok(nothing_open);
            }
            let incident = policy.incident_id(&group_key, 1, alert.fired_at)?;
            let open = open_command(&incident, alert, policy, now, policy.category_of(alert), alert.object.clone())?;
            return Ok(Decision::Open { incident, open, correlate });
        };
        let t = alert.fired_at;
        let next_linked = |earlier: &IncidentId, note: String| -> Result<Decision, AlertError> {
            let incident = policy.incident_id(&group_key, group.seq.saturating_add(1), alert.fired_at)?;
            let open = open_command(&incident, alert, policy, now, group.category.clone(), group.service.clone())?;
            let note = IncidentCommand::AddNote { text: text(note)?, public: false };
            Ok(Decision::OpenLinked {
                incident,
                earlier: earlier.clone(),
                commands: vec![open, note, correlate.clone()],
            })
        };
        let incident = group.incident.clone();
        match group.status {
            GroupStatus::Open => {
                if !opens {
                    return Ok(Decision::Annotate { incident, correlate });
                }
                if group.live_for(t, policy) {
                    let reprioritize = raise(group, rule);
                    return Ok(Decision::Merge { incident, correlate, reprioritize });
                }
                next_linked(
                    &incident,
                    format!(
                        "Alert {} follows alert incident {incident} (still open) after its alert group ended",
                        alert.key()
                    ),
                )
            }
            GroupStatus::Resolved { at } => {
                if t <= at {
                    return Ok(if opens {
                        Decision::Merge { incident, correlate, reprioritize: None }
                    } else {
                        Decision::Annotate { incident, correlate }
                    });
                }
                if !opens {
                    return Ok(nothing_open);
                }
                let elapsed = i128::from(t.unix_micros()) - i128::from(at.unix_micros());
                if elapsed < i128::from(policy.reopen_seconds) * 1_000_000 {
                    let reason = text(format!("Alert {} fired within the reopen window", alert.key()))?;
                    let mut commands = vec![IncidentCommand::Reopen { reason }, correlate];
                    commands.extend(raise(group, rule));
                    return Ok(Decision::Reopen { incident, commands });
                }
                next_linked(&incident, format!("Repeat of alert incident {incident}, resolved at {at}"))
            }
            GroupStatus::Closed { resolved_at, .. } => {
                if t <= resolved_at {
                    return Ok(Decision::Ignore { reason: IgnoreReason::Late { incident } });
                }
                if !opens {
                    return Ok(nothing_open);
                }
                next_linked(&incident, format!("Repeat of alert incident {incident}, resolved at {resolved_at}"))
            }
            GroupStatus::Cancelled { .. } => {
                if !opens {
                    return Ok(nothing_open);
                }
                let incident = policy.incident_id(&group_key, group.seq.saturating_add(1), alert.fired_at)?;
                let open =
                    open_command(&incident, alert, policy, now, policy.category_of(alert), alert.object.clone())?;
                Ok(Decision::Open { incident, open, correlate })
            }
        }
    }

    /// Records a decision made by [`Correlator::decide`] for `alert` under
    /// `policy` (after its commands succeeded). Holds no rule.
    pub fn apply(&mut self, alert: &Alert, policy: &GroupingPolicy, decision: &Decision) {
        let key = alert.key().clear_key();
        let rule = policy.severities.rule(alert.severity);
        let group_key = policy.group_key(alert);
        let seen = |incident: Option<&IncidentId>| Seen {
            group: group_key.clone(),
            incident: incident.cloned(),
            recovered: false,
            suppressed_by: None,
        };
        match decision {
            Decision::Duplicate => {}
            Decision::Ignore { reason } => match reason {
                IgnoreReason::UnknownRecovery => {
                    self.touch_seen(&key);
                    self.seen.insert(
                        key,
                        Seen { group: group_key.clone(), incident: None, recovered: true, suppressed_by: None },
                    );
                }
                IgnoreReason::Invalid { .. }
                | IgnoreReason::NothingOpen { .. }
                | IgnoreReason::AlreadyRecovered
                | IgnoreReason::Late { .. } => {}
            },
            Decision::Open { incident, .. } | Decision::OpenLinked { incident, .. } => {
                let linked = matches!(decision, Decision::OpenLinked { .. });
                let (seq, service, category) = match self.groups.get(&group_key) {
                    Some(g) if linked => (g.seq.saturating_add(1), g.service.clone(), g.category.clone()),
                    Some(g) => (g.seq.saturating_add(1), alert.object.clone(), policy.category_of(alert)),
                    None => (1, alert.object.clone(), policy.category_of(alert)),
                };
                if let Some(earlier) = self.groups.get(&group_key) {
                    self.current.remove(&earlier.incident);
                }
                self.touch_group(&group_key);
                self.touch_seen(&key);
                self.current.insert(incident.clone(), group_key.clone());
                self.groups.insert(
                    group_key.clone(),
                    Group {
                        incident: incident.clone(),
                        seq,
                        status: GroupStatus::Open,
                        service,
                        category,
                        impact: rule.impact,
                        urgency: rule.urgency,
                        last_fired_at: alert.fired_at,
                        last_clear_at: None,
                        firing: [key.clone()].into_iter().collect(),
                    },
                );
                self.seen.insert(key, seen(Some(incident)));
            }
            Decision::Merge { incident, .. } => {
                self.join(&group_key, &key, alert, rule);
                self.seen.insert(key, seen(Some(incident)));
            }
            Decision::RootCause { incident, group, .. } => {
                if rule.action == SeverityAction::Open {
                    self.join(group, &key, alert, rule);
                }
                self.touch_seen(&key);
                self.seen.insert(
                    key,
                    Seen {
                        group: group.clone(),
                        incident: Some(incident.clone()),
                        recovered: false,
                        suppressed_by: None,
                    },
                );
            }
            Decision::Suppressed { maintenance } => {
                self.touch_seen(&key);
                self.seen.insert(
                    key,
                    Seen {
                        group: group_key.clone(),
                        incident: None,
                        recovered: false,
                        suppressed_by: Some(maintenance.change.clone()),
                    },
                );
            }
            Decision::Reopen { incident, .. } => {
                self.touch_group(&group_key);
                self.touch_seen(&key);
                if let Some(g) = self.groups.get_mut(&group_key) {
                    g.status = GroupStatus::Open;
                    g.last_fired_at = g.last_fired_at.max(alert.fired_at);
                    g.last_clear_at = None;
                    g.firing = [key.clone()].into_iter().collect();
                    g.impact = g.impact.min(rule.impact);
                    g.urgency = g.urgency.min(rule.urgency);
                }
                self.seen.insert(key, seen(Some(incident)));
            }
            Decision::Annotate { incident, .. } => {
                self.touch_seen(&key);
                self.seen.insert(key, seen(Some(incident)));
            }
            Decision::Recovery { .. } => {
                let resolved_at = alert.resolved_at.unwrap_or(alert.fired_at);
                let Some(group) = self.seen.get(&key).map(|s| s.group.clone()) else { return };
                self.touch_seen(&key);
                if self.groups.get(&group).is_some_and(|g| g.firing.contains(&key)) {
                    self.touch_group(&group);
                }
                if let Some(s) = self.seen.get_mut(&key) {
                    s.recovered = true;
                    if let Some(g) = self.groups.get_mut(&s.group)
                        && g.firing.remove(&key)
                    {
                        g.last_clear_at = Some(g.last_clear_at.map_or(resolved_at, |c| c.max(resolved_at)));
                    }
                }
            }
        }
    }

    /// Records an opening alert joining the open group `group_key` (its
    /// latest firing, the alert among those firing, impact and urgency the
    /// most severe seen); a group that is not open only has the alert's seen
    /// row touched.
    fn join(&mut self, group_key: &str, key: &str, alert: &Alert, rule: &SeverityRule) {
        if self.groups.get(group_key).is_some_and(|g| g.status == GroupStatus::Open) {
            self.touch_group(group_key);
        }
        self.touch_seen(key);
        if let Some(g) = self.groups.get_mut(group_key)
            && g.status == GroupStatus::Open
        {
            g.last_fired_at = g.last_fired_at.max(alert.fired_at);
            g.firing.insert(key.to_owned());
            g.impact = g.impact.min(rule.impact);
            g.urgency = g.urgency.min(rule.urgency);
        }
    }

    /// Tells the correlator about an event of `incident` (resolved, reopened,
    /// closed, cancelled, re-prioritised by anyone). Events of an incident that
    /// is not its group's current one change nothing; repeating an event
    /// changes nothing more.
    pub fn observe(&mut self, incident: &IncidentId, event: &IncidentEvent) {
        let Some(group) = self.current_for_update(incident, Self::may_change(event)) else {
            return;
        };
        match event {
            IncidentEvent::Resolved { at, .. } => group.status = GroupStatus::Resolved { at: *at },
            IncidentEvent::Reopened { at, .. } => {
                if group.status != GroupStatus::Open {
                    group.status = GroupStatus::Open;
                    group.last_fired_at = group.last_fired_at.max(*at);
                    group.last_clear_at = None;
                    group.firing.clear();
                }
            }
            IncidentEvent::Closed { at, .. } => {
                let resolved_at = match group.status {
                    GroupStatus::Resolved { at: resolved } | GroupStatus::Closed { resolved_at: resolved, .. } => {
                        resolved
                    }
                    GroupStatus::Open | GroupStatus::Cancelled { .. } => *at,
                };
                group.status = GroupStatus::Closed { resolved_at, at: *at };
            }
            IncidentEvent::Cancelled { at, .. } => group.status = GroupStatus::Cancelled { at: *at },
            IncidentEvent::Reprioritized { impact, urgency, .. } => {
                group.impact = *impact;
                group.urgency = *urgency;
            }
            IncidentEvent::Opened { .. }
            | IncidentEvent::Assigned { .. }
            | IncidentEvent::Acknowledged { .. }
            | IncidentEvent::ImpactRecorded { .. }
            | IncidentEvent::Started { .. }
            | IncidentEvent::Held { .. }
            | IncidentEvent::Resumed { .. }
            | IncidentEvent::TierEscalated { .. }
            | IncidentEvent::MajorProposed { .. }
            | IncidentEvent::MajorDeclined { .. }
            | IncidentEvent::MajorDeclared { .. }
            | IncidentEvent::ReviewRecorded { .. }
            | IncidentEvent::ActionCompleted { .. }
            | IncidentEvent::ProblemLinked { .. }
            | IncidentEvent::ChangeLinked { .. }
            | IncidentEvent::ParentSet { .. }
            | IncidentEvent::ChildLinked { .. }
            | IncidentEvent::NoteAdded { .. }
            | IncidentEvent::AlertCorrelated { .. } => {}
        }
    }

    /// The incident was resolved at `at` (by anyone).
    pub fn incident_resolved(&mut self, incident: &IncidentId, at: Timestamp) {
        if let Some(group) = self.current_for_update(incident, true) {
            group.status = GroupStatus::Resolved { at };
        }
    }

    /// The incident was closed at `at`.
    pub fn incident_closed(&mut self, incident: &IncidentId, at: Timestamp) {
        if let Some(group) = self.current_for_update(incident, true) {
            let resolved_at = match group.status {
                GroupStatus::Resolved { at: resolved } | GroupStatus::Closed { resolved_at: resolved, .. } => resolved,
                GroupStatus::Open | GroupStatus::Cancelled { .. } => at,
            };
            group.status = GroupStatus::Closed { resolved_at, at };
        }
    }
}

/// The impact and urgency re-prioritisation an opening alert calls for: the
/// component-wise most severe of the group's and the rule's, when that differs.
fn raise(group: &Group, rule: &SeverityRule) -> Option<IncidentCommand> {
    let impact = group.impact.min(rule.impact);
    let urgency = group.urgency.min(rule.urgency);
    (impact != group.impact || urgency != group.urgency).then_some(IncidentCommand::Reprioritize { impact, urgency })
}

fn text(s: String) -> Result<Text, AlertError> {
    Text::new(s).map_err(|e| AlertError::Field { field: "text".to_owned(), reason: e.to_string() })
}

fn open_command(
    incident: &IncidentId,
    alert: &Alert,
    policy: &GroupingPolicy,
    now: Timestamp,
    category: Option<Text>,
    service: ServiceId,
) -> Result<IncidentCommand, AlertError> {
    let rule = policy.severities.rule(alert.severity);
    let title = text(format!("[{}] {} on {} ({})", alert.severity, alert.check, alert.object, alert.source))?;
    let mut open = OpenIncident::new(
        incident.clone(),
        rule.kind,
        service,
        title,
        rule.impact,
        rule.urgency,
        DetectionSource::Monitoring,
    );
    open.category = category;
    open.impact_start = (alert.fired_at <= now).then_some(alert.fired_at);
    Ok(IncidentCommand::Open(open))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::AlertSeverity;
    use crate::alert::test_support::{alert, ts};

    #[test]
    fn invalid_alerts_are_ignored_with_the_reason() {
        let c = Correlator::new();
        let policy = GroupingPolicy::default();
        let bad = alert("", "cpu", AlertSeverity::Critical, 0);
        assert!(matches!(
            c.decide(&bad, &policy, ts(0)),
            Decision::Ignore { reason: IgnoreReason::Invalid { error: AlertError::Field { .. } } }
        ));
        let backwards = alert("1", "cpu", AlertSeverity::Critical, 10).recovered(ts(5));
        assert!(matches!(
            c.decide(&backwards, &policy, ts(10)),
            Decision::Ignore { reason: IgnoreReason::Invalid { error: AlertError::RecoveredBeforeFired { .. } } }
        ));
        let control = alert("1", "cpu", AlertSeverity::Critical, 0).with_label("team", "a\nb");
        assert!(control.validate().is_err());
    }

    #[test]
    fn instants_outside_the_supported_range_are_ignored_at_ingestion_with_the_reason() {
        let c = Correlator::new();
        let policy = GroupingPolicy::default();
        let late = Timestamp::parse_rfc3339("9999-12-31T23:30:00Z").unwrap();
        let object = ServiceId::new("db-1").unwrap();
        let fired = Alert::new("prom", "1", object.clone(), "cpu", AlertSeverity::Critical, late);
        let decision = c.decide(&fired, &policy, late);
        let expected = AlertError::UnsupportedInstant { field: "fired_at".to_owned(), at: late };
        assert_eq!(decision, Decision::Ignore { reason: IgnoreReason::Invalid { error: expected } });
        let Decision::Ignore { reason } = decision else { unreachable!() };
        assert_eq!(reason.name(), "invalid");
        assert_eq!(
            reason.to_string(),
            "invalid: alert fired_at 9999-12-31T23:30:00.000000Z is outside the supported range \
             1000-01-01T00:00:00.000000Z to 9000-01-01T00:00:00.000000Z"
        );
        let recovered = alert("2", "cpu", AlertSeverity::Critical, 0).recovered(late);
        assert!(matches!(
            c.decide(&recovered, &policy, ts(0)),
            Decision::Ignore { reason: IgnoreReason::Invalid { error: AlertError::UnsupportedInstant { .. } } }
        ));
        // The last supported instant opens as usual.
        let edge = Alert::new("prom", "3", object, "cpu", AlertSeverity::Critical, Timestamp::MAX);
        assert!(matches!(c.decide(&edge, &policy, Timestamp::MAX), Decision::Open { .. }));
    }

    #[test]
    fn an_alert_from_the_future_opens_without_an_impact_start() {
        let c = Correlator::new();
        let policy = GroupingPolicy::default();
        let Decision::Open { open: IncidentCommand::Open(open), .. } =
            c.decide(&alert("1", "cpu", AlertSeverity::Critical, 60), &policy, ts(0))
        else {
            panic!("expected open");
        };
        assert_eq!(open.impact_start, None);
        assert_eq!(open.source, DetectionSource::Monitoring);
        assert_eq!(open.category.as_ref().map(Text::as_str), Some("cpu"));
        assert_eq!(open.title.as_str(), "[critical] cpu on db-1 (prom)");
    }

    #[test]
    fn the_correlator_state_round_trips_through_json() {
        let mut c = Correlator::new();
        let policy = GroupingPolicy::default();
        c.correlate(&alert("1", "cpu", AlertSeverity::Minor, 0), &policy, ts(0));
        c.correlate(&alert("1", "cpu", AlertSeverity::Minor, 0).recovered(ts(30)), &policy, ts(30));
        c.correlate(&alert("2", "cpu", AlertSeverity::Minor, 7200), &policy, ts(7200));
        let back: Correlator = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        // The index follows the group's current incident only.
        let key = policy.group_key(&alert("x", "cpu", AlertSeverity::Minor, 0));
        let (first, second) =
            (policy.incident_id(&key, 1, ts(0)).unwrap(), policy.incident_id(&key, 2, ts(7200)).unwrap());
        assert!(c.group_of(&first).is_none());
        assert_eq!(c.group_of(&second).map(|(k, g)| (k, g.seq)), Some((key.as_str(), 2)));
    }
}
