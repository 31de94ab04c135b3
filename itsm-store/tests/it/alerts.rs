//! Monitoring alerts into incidents through the store (`Store::ingest_alerts`):
//! a concurrent, redelivering alert storm creates exactly the incidents a
//! sequential run does; resolving an alert incident clears every grouped alert.
//! The correlation state is keyed rows: decisions equal those of the whole
//! in-memory correlator fed the same alerts and incident events (people acting
//! between batches, a database converted from the old per-tenant document),
//! seen rows expire, and a batch reads only its own rows.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use itsm_core::alert::{
    Alert, AlertError, AlertKey, AlertSeverity, Correlator, Decision, GroupingPolicy, IgnoreReason,
};
use itsm_core::id::{IncidentId, ServiceId, Text};
use itsm_core::incident::{Incident, IncidentCommand, ResolutionCode};
use itsm_core::vocabulary::{Impact, ResolvedBy, Urgency};
use itsm_core::{Actor, Aggregate, Context, DomainConfig, Timestamp};
use itsm_store::{BackendKind, IgnoredAlert, IngestReport, Request, Store};

use crate::common::{TestDb, actor, config, ts, unique};
use crate::on_both_backends;

const GROUPS: usize = 400;
const PER_GROUP: usize = 20;
const TOTAL: usize = 10_000;

/// 8,000 distinct alerts (400 groups of 20, every group's alerts fired within
/// 3 minutes, well inside the 30-minute window) and 2,000 redeliveries of
/// them, in a fixed pseudo-random order.
fn storm() -> Vec<Alert> {
    let severities = [AlertSeverity::Minor, AlertSeverity::Major, AlertSeverity::Critical];
    let mut distinct = Vec::with_capacity(GROUPS * PER_GROUP);
    for g in 0..GROUPS {
        for k in 0..PER_GROUP {
            let object = ServiceId::new(format!("svc-{g}")).unwrap();
            let at = ts((g as i64) * 600 + (k as i64) * 9);
            let severity = severities[(g * 7 + k * 3) % 3];
            distinct.push(Alert::new("prom", format!("a-{g}-{k}"), object, "cpu", severity, at));
        }
    }
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut all = distinct.clone();
    while all.len() < TOTAL {
        let i = (next() % distinct.len() as u64) as usize;
        all.push(distinct[i].clone());
    }
    // Fisher-Yates shuffle.
    for i in (1..all.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        all.swap(i, j);
    }
    all
}

/// An alert incident's group hash and number (the id's opening instant
/// depends on which alert of the group arrived first; these do not).
fn group_and_number(id: &IncidentId) -> (String, u64) {
    let parts = GroupingPolicy::default().incident_id_parts(id).unwrap_or_else(|| panic!("`{id}`: not an alert id"));
    (parts.group_hash.to_owned(), parts.seq)
}

/// Each incident of the run, by group and number, with its correlated
/// alerts and priority.
async fn incidents(
    store: &Store,
    bot: &Actor,
    opened: &[IncidentId],
) -> BTreeMap<(String, u64), (BTreeSet<AlertKey>, String)> {
    let mut out = BTreeMap::new();
    for id in opened {
        let loaded = store.load::<Incident>(bot, id.as_str()).await.unwrap();
        out.insert(group_and_number(id), (loaded.state.alerts().clone(), format!("{:?}", loaded.state.priority())));
    }
    out
}

async fn sequential(store: &Store, bot: &Actor, alerts: &[Alert], batch: usize) -> IngestReport {
    let (cfg, policy) = (config(), GroupingPolicy::default());
    let mut report = IngestReport::default();
    for chunk in alerts.chunks(batch) {
        report.absorb(store.ingest_alerts(bot, &cfg, &policy, chunk, ts(1_000_000)).await.unwrap());
    }
    report
}

async fn concurrent(store: &Store, bot: &Actor, alerts: &[Alert], batch: usize, tasks: usize) -> IngestReport {
    let queue: Arc<Mutex<Vec<Vec<Alert>>>> = Arc::new(Mutex::new(alerts.chunks(batch).map(<[_]>::to_vec).collect()));
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (store, bot, queue) = (store.clone(), bot.clone(), queue.clone());
        handles.push(tokio::spawn(async move {
            let (cfg, policy) = (config(), GroupingPolicy::default());
            let mut report = IngestReport::default();
            loop {
                let Some(chunk) = queue.lock().unwrap().pop() else { break };
                report.absorb(store.ingest_alerts(&bot, &cfg, &policy, &chunk, ts(1_000_000)).await.unwrap());
            }
            report
        }));
    }
    let mut report = IngestReport::default();
    for h in handles {
        report.absorb(h.await.unwrap());
    }
    report
}

async fn check_storm_concurrent_equals_sequential(db: &TestDb) {
    let alerts = storm();
    let seq_bot = actor(&unique("seq"), "monitoring");
    let con_bot = actor(&unique("con"), "monitoring");
    let t0 = Instant::now();
    let seq = sequential(&db.store, &seq_bot, &alerts, 100).await;
    let seq_time = t0.elapsed();
    let t0 = Instant::now();
    let con = concurrent(&db.store, &con_bot, &alerts, 50, 8).await;
    let con_time = t0.elapsed();
    eprintln!(
        "{:?}: {TOTAL} alerts, sequential (batches of 100) {seq_time:?}, concurrent (8 tasks, batches of 50) {con_time:?}; \
         opened {}, merged {}, duplicates {}",
        db.backend(),
        con.opened.len(),
        con.merged,
        con.duplicates
    );
    for report in [&seq, &con] {
        assert_eq!(report.received, TOTAL);
        assert_eq!(report.opened.len(), GROUPS);
        assert_eq!(report.duplicates, TOTAL - GROUPS * PER_GROUP);
        assert_eq!(report.merged, GROUPS * (PER_GROUP - 1));
        assert!(report.refused.is_empty(), "{:?}", report.refused);
        assert_eq!(report.reopened + report.annotated + report.ignored.len() + report.recoveries, 0);
    }
    let ids = |r: &IngestReport| r.opened.iter().map(group_and_number).collect::<BTreeSet<_>>();
    assert_eq!(ids(&seq), ids(&con), "same incidents (group and number)");
    let seq_incidents = incidents(&db.store, &seq_bot, &seq.opened).await;
    let con_incidents = incidents(&db.store, &con_bot, &con.opened).await;
    assert_eq!(seq_incidents, con_incidents, "same alerts and priority per incident");
    assert!(seq_incidents.values().all(|(alerts, _)| alerts.len() == PER_GROUP));
    for bot in [&seq_bot, &con_bot] {
        assert!(db.store.verify_chain(&bot.tenant).await.unwrap().is_intact());
    }
    // Redelivering the whole storm changes nothing.
    let again = sequential(&db.store, &con_bot, &alerts, 1000).await;
    assert_eq!(again.duplicates, TOTAL);
    assert_eq!(again.events, 0);
}

async fn check_resolve_clears_every_grouped_alert(db: &TestDb) {
    let t = unique("clr");
    let bot = actor(&t, "monitoring");
    let agent = actor(&t, "ann");
    let (cfg, policy) = (config(), GroupingPolicy::default());
    let object = ServiceId::new("db-1").unwrap();
    let alerts: Vec<Alert> = (0..3)
        .map(|k| Alert::new("prom", format!("c-{k}"), object.clone(), "disk", AlertSeverity::Major, ts(k * 60)))
        .collect();
    let report = db.store.ingest_alerts(&bot, &cfg, &policy, &alerts, ts(600)).await.unwrap();
    assert_eq!((report.opened.len(), report.merged), (1, 2));
    let id = report.opened[0].clone();
    let resolve =
        IncidentCommand::Resolve { code: ResolutionCode::Fixed, resolved_by: ResolvedBy::L2, restored_at: None };
    db.store
        .execute::<Incident>(Request::new(Context::new(&agent, ts(1000), &cfg), id.as_str(), &resolve))
        .await
        .unwrap();
    let mut clears = BTreeSet::new();
    loop {
        let items = db.store.claim("test", Duration::from_secs(60), 100, ts(1001)).await.unwrap();
        if items.is_empty() {
            break;
        }
        for item in items {
            assert!(db.store.ack(item.id, "test", ts(1001)).await.unwrap());
            if item.tenant == t && item.topic == "alert.clear" {
                assert!(clears.insert(item.dedup_key.clone()), "one clear per alert");
            }
        }
    }
    let expected: BTreeSet<String> = alerts.iter().map(|a| a.key().clear_key()).collect();
    assert_eq!(clears, expected);
    // The correlator saw the resolution: a new alert within the reopen window reopens.
    let late = Alert::new("prom", "c-9", object, "disk", AlertSeverity::Major, ts(1200));
    let report = db.store.ingest_alerts(&bot, &cfg, &policy, &[late], ts(1300)).await.unwrap();
    assert_eq!(report.reopened, 1, "{report:?}");
    let loaded = db.store.load::<Incident>(&bot, id.as_str()).await.unwrap();
    assert_eq!(loaded.state.alerts().len(), 4);
}

/// An alert fired near the end of time is refused at ingestion with its
/// reason (before, it opened an incident that could then not be resolved);
/// every ignored alert is reported with a reason.
async fn check_ignored_alerts_carry_their_reason(db: &TestDb) {
    let t = unique("ign");
    let bot = actor(&t, "monitoring");
    let (cfg, policy) = (config(), GroupingPolicy::default());
    let object = ServiceId::new("db-1").unwrap();
    let end = Timestamp::parse_rfc3339("9999-12-31T23:30:00Z").unwrap();
    let alerts = vec![
        Alert::new("prom", "far", object.clone(), "disk", AlertSeverity::Major, end),
        Alert::new("prom", "gone", object.clone(), "disk", AlertSeverity::Major, ts(0)).recovered(ts(30)),
        Alert::new("prom", "ok", object, "disk", AlertSeverity::Major, ts(60)),
    ];
    let report = db.store.ingest_alerts(&bot, &cfg, &policy, &alerts, ts(600)).await.unwrap();
    assert_eq!((report.received, report.opened.len()), (3, 1), "{report:?}");
    let key = |id: &str| AlertKey { source: "prom".to_owned(), alert_id: id.to_owned() };
    let unsupported = AlertError::UnsupportedInstant { field: "fired_at".to_owned(), at: end };
    assert_eq!(
        report.ignored,
        vec![
            IgnoredAlert { alert: key("far"), reason: IgnoreReason::Invalid { error: unsupported } },
            IgnoredAlert { alert: key("gone"), reason: IgnoreReason::UnknownRecovery },
        ]
    );
    assert!(report.refused.is_empty(), "{:?}", report.refused);
}

/// A pseudo-random sequence (xorshift), so every run sees the same stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// What a report says about decisions (the refusal reasons and the state
/// rows read and written left out).
fn decisions(r: &IngestReport) -> impl PartialEq + std::fmt::Debug + use<> {
    let refused: Vec<(AlertKey, IncidentId, &'static str)> =
        r.refused.iter().map(|c| (c.alert.clone(), c.incident.clone(), c.command)).collect();
    (
        (r.received, r.duplicates, r.opened.clone(), r.merged, r.reopened, r.annotated, r.recoveries),
        (r.ignored.clone(), refused, r.events),
    )
}

/// The whole correlator in memory with in-memory incidents: the reference a
/// store's keyed rows must decide like (as `Store::ingest_alerts` drives it).
struct Reference {
    policy: GroupingPolicy,
    config: DomainConfig,
    correlator: Correlator,
    incidents: BTreeMap<IncidentId, Incident>,
    /// Clear key -> when the ingestion that recorded its recovery ran.
    recovered_at: BTreeMap<String, Timestamp>,
}

impl Reference {
    fn new(policy: GroupingPolicy) -> Self {
        Reference {
            policy,
            config: config(),
            correlator: Correlator::new(),
            incidents: BTreeMap::new(),
            recovered_at: BTreeMap::new(),
        }
    }

    fn ingest(&mut self, bot: &Actor, alerts: &[Alert], now: Timestamp) -> IngestReport {
        let mut r = IngestReport::default();
        for alert in alerts {
            r.received += 1;
            let decision = self.correlator.decide(alert, &self.policy, now);
            let mut applies = true;
            for (i, (id, command)) in decision.commands().into_iter().enumerate() {
                let ctx = Context::new(bot, now, &self.config);
                match Incident::execute(self.incidents.get(&id).cloned(), &command, &ctx) {
                    Ok((next, events)) => {
                        self.incidents.insert(id.clone(), next);
                        r.events += events.len();
                        for event in &events {
                            self.correlator.observe(&id, event);
                        }
                    }
                    Err(e) => {
                        r.refused.push(itsm_store::RefusedCommand {
                            alert: alert.key(),
                            incident: id,
                            command: command.name(),
                            reason: e.to_string(),
                        });
                        applies = i > 0;
                        break;
                    }
                }
            }
            if !applies {
                continue;
            }
            self.correlator.apply(alert, &self.policy, &decision);
            match decision {
                Decision::Duplicate => r.duplicates += 1,
                Decision::Open { incident, .. } | Decision::OpenLinked { incident, .. } => r.opened.push(incident),
                Decision::Merge { .. } => r.merged += 1,
                Decision::Reopen { .. } => r.reopened += 1,
                Decision::Annotate { .. } => r.annotated += 1,
                Decision::RootCause { .. } | Decision::Suppressed { .. } => {
                    unreachable!("the reference decides without a topology")
                }
                Decision::Recovery { .. } => {
                    r.recoveries += 1;
                    self.recovered_at.insert(alert.key().clear_key(), now);
                }
                Decision::Ignore { reason } => {
                    if reason == IgnoreReason::UnknownRecovery {
                        self.recovered_at.insert(alert.key().clear_key(), now);
                    }
                    r.ignored.push(IgnoredAlert { alert: alert.key(), reason });
                }
            }
        }
        r
    }

    /// Whether a message about `alert` decided at `now` keeps the delivery
    /// rule (within the retention after its recovery was recorded), so that
    /// seen-row expiry cannot change its decision.
    fn within_rule(&self, alert: &Alert, now: Timestamp) -> bool {
        let retention = i64::try_from(self.policy.seen_retention_seconds()).unwrap();
        self.recovered_at.get(&alert.key().clear_key()).is_none_or(|at| now <= at.plus_seconds(retention).unwrap())
    }
}

/// A person's command: resolve, close, reopen, cancel, re-prioritise or
/// acknowledge.
fn person_command(action: usize) -> IncidentCommand {
    let reason = Text::new("by hand").unwrap();
    match action % 8 {
        0 | 1 => {
            IncidentCommand::Resolve { code: ResolutionCode::Fixed, resolved_by: ResolvedBy::L2, restored_at: None }
        }
        2 => IncidentCommand::Close,
        3 | 4 => IncidentCommand::Reopen { reason },
        5 => IncidentCommand::Cancel { reason },
        6 => IncidentCommand::Reprioritize {
            impact: [Impact::High, Impact::Medium, Impact::Low][action % 3],
            urgency: [Urgency::High, Urgency::Medium, Urgency::Low][(action / 3) % 3],
        },
        _ => IncidentCommand::Acknowledge,
    }
}

/// A stream of batches on a few objects (new firings a little in the past,
/// recoveries, redeliveries that keep the delivery rule) ingested by the
/// store and the reference, with people acting on alert incidents through
/// `Store::execute` between batches; every batch's decisions must match.
struct Scenario {
    rng: Rng,
    clock: i64,
    next_id: usize,
    fired: Vec<Alert>,
    known: Vec<Alert>,
    opened: Vec<IncidentId>,
    person_events: usize,
}

impl Scenario {
    fn new(seed: u64) -> Self {
        Scenario {
            rng: Rng(seed),
            clock: 0,
            next_id: 0,
            fired: Vec::new(),
            known: Vec::new(),
            opened: Vec::new(),
            person_events: 0,
        }
    }

    /// Runs `batches` batches; returns the store's reports summed.
    async fn run(
        &mut self,
        store: &Store,
        reference: &mut Reference,
        bot: &Actor,
        agent: &Actor,
        batches: usize,
    ) -> IngestReport {
        let severities = [AlertSeverity::Critical, AlertSeverity::Major, AlertSeverity::Minor, AlertSeverity::Warning];
        let mut total = IngestReport::default();
        for _ in 0..batches {
            self.clock += [0, 30, 120, 400, 900][self.rng.below(5)];
            let now = ts(self.clock);
            let mut batch = Vec::new();
            for _ in 0..1 + self.rng.below(12) {
                let alert = match self.rng.below(10) {
                    0..=4 => {
                        self.next_id += 1;
                        let object = ServiceId::new(format!("db-{}", self.rng.below(5))).unwrap();
                        let back = [0, 0, 60, 700][self.rng.below(4)];
                        let alert = Alert::new(
                            "prom",
                            format!("k-{}", self.next_id),
                            object,
                            ["cpu", "disk"][self.rng.below(2)],
                            severities[self.rng.below(4)],
                            ts(self.clock - back),
                        );
                        self.fired.push(alert.clone());
                        alert
                    }
                    5..=7 if !self.fired.is_empty() => {
                        let i = self.rng.below(self.fired.len());
                        self.fired[i].clone().recovered(now)
                    }
                    _ if !self.known.is_empty() => {
                        let i = self.known.len() - 1 - self.rng.below(self.known.len().min(30));
                        self.known[i].clone()
                    }
                    _ => continue,
                };
                if reference.within_rule(&alert, now) {
                    self.known.push(alert.clone());
                    batch.push(alert);
                }
            }
            let expected = reference.ingest(bot, &batch, now);
            let got = store.ingest_alerts(bot, &reference.config, &reference.policy, &batch, now).await.unwrap();
            assert_eq!(decisions(&got), decisions(&expected), "batch at {now}: {batch:?}");
            self.opened.extend(got.opened.iter().cloned());
            total.absorb(got);
            // A person acts on an alert incident, mostly a group's current one.
            if self.rng.below(2) == 0 && !self.opened.is_empty() {
                let current: Vec<IncidentId> =
                    reference.correlator.groups().values().map(|g| g.incident.clone()).collect();
                let among = if self.rng.below(4) == 0 || current.is_empty() { &self.opened } else { &current };
                let id = among[self.rng.below(among.len())].clone();
                let command = person_command(self.rng.below(64));
                let at = ts(self.clock + 1);
                let ctx = Context::new(agent, at, &reference.config);
                let mine = Incident::execute(reference.incidents.get(&id).cloned(), &command, &ctx);
                let stored = store.execute::<Incident>(Request::new(ctx, id.as_str(), &command)).await;
                assert_eq!(stored.is_ok(), mine.is_ok(), "{command:?} on {id}: {stored:?}");
                if let Ok((next, events)) = mine {
                    for event in &events {
                        reference.correlator.observe(&id, event);
                    }
                    self.person_events += events.len();
                    reference.incidents.insert(id, next);
                }
            }
        }
        total
    }

    /// Every incident the store holds equals the reference's.
    async fn check_incidents(&self, store: &Store, bot: &Actor, reference: &Reference) {
        for (id, incident) in &reference.incidents {
            let loaded = store.load::<Incident>(bot, id.as_str()).await.unwrap();
            assert_eq!(&loaded.state, incident, "incident {id}");
        }
    }
}

fn short_policy() -> GroupingPolicy {
    GroupingPolicy { window_seconds: 300, flap_seconds: 120, reopen_seconds: 600, ..GroupingPolicy::default() }
}

/// People resolve, close, reopen, cancel and re-prioritise alert incidents
/// through `Store::execute` between batches; every later batch decides
/// exactly as the whole in-memory correlator fed the same events (the rows
/// catch up on each group's incident from the version they observed).
async fn check_people_between_batches_decide_like_the_whole_correlator(db: &TestDb) {
    for (seed, policy) in [(7, GroupingPolicy::default()), (11, short_policy())] {
        let t = unique("ppl");
        let (bot, agent) = (actor(&t, "monitoring"), actor(&t, "ann"));
        let mut reference = Reference::new(policy);
        let mut scenario = Scenario::new(seed);
        let total = scenario.run(&db.store, &mut reference, &bot, &agent, 120).await;
        assert!(scenario.person_events > 20, "people acted: {}", scenario.person_events);
        assert!(total.state.events_caught_up > 0, "events caught up: {:?}", total.state);
        assert!(total.reopened > 0 && total.recoveries > 0 && total.opened.len() > 5, "{total:?}");
        scenario.check_incidents(&db.store, &bot, &reference).await;
        assert!(db.store.verify_chain(&bot.tenant).await.unwrap().is_intact());
    }
}

/// One number from the database, outside the store.
pub(crate) async fn scalar(db: &TestDb, sql: &str) -> i64 {
    use sqlx::Connection;
    match db.backend() {
        BackendKind::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&mut conn).await.unwrap();
            conn.close().await.unwrap();
            n
        }
        BackendKind::Postgres => {
            #[cfg(feature = "postgres")]
            {
                let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
                let n: i64 =
                    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&mut conn).await.unwrap();
                conn.close().await.unwrap();
                n
            }
            #[cfg(not(feature = "postgres"))]
            unreachable!()
        }
    }
}

/// A database written before the keyed rows holds the tenant's correlator
/// as one document (`alert_correlators`) and the log position it observed:
/// the next ingestion converts it into rows in its transaction, blanks the
/// document, catches up on what people did since, and decides on exactly as
/// the whole correlator.
async fn check_old_document_is_converted_and_decides_alike(db: &TestDb) {
    let t = unique("old");
    let (bot, agent) = (actor(&t, "monitoring"), actor(&t, "ann"));
    let mut reference = Reference::new(GroupingPolicy::default());
    let mut scenario = Scenario::new(23);
    scenario.run(&db.store, &mut reference, &bot, &agent, 50).await;
    // Turn the tenant back into an old database: no rows, the document.
    let document = serde_json::to_string(&reference.correlator).unwrap().replace('\'', "''");
    let groups = reference.correlator.groups().len() as i64;
    db.raw(&[
        &format!("DELETE FROM alert_groups WHERE tenant = '{t}'"),
        &format!("DELETE FROM alert_seen WHERE tenant = '{t}'"),
        &format!(
            "UPDATE alert_correlators SET state = '{document}', \
             observed = (SELECT MAX(position) FROM events WHERE tenant = '{t}') WHERE tenant = '{t}'"
        ),
    ])
    .await
    .unwrap();
    // A person acts after the document was written.
    let id = reference.correlator.groups().values().next().unwrap().incident.clone();
    let resolve =
        IncidentCommand::Resolve { code: ResolutionCode::Fixed, resolved_by: ResolvedBy::L2, restored_at: None };
    let ctx = Context::new(&agent, ts(scenario.clock + 2), &reference.config);
    if let Ok((next, events)) = Incident::execute(reference.incidents.get(&id).cloned(), &resolve, &ctx) {
        db.store.execute::<Incident>(Request::new(ctx, id.as_str(), &resolve)).await.unwrap();
        for event in &events {
            reference.correlator.observe(&id, event);
        }
        reference.incidents.insert(id.clone(), next);
    }
    scenario.run(&db.store, &mut reference, &bot, &agent, 50).await;
    let blank =
        scalar(db, &format!("SELECT COUNT(*) FROM alert_correlators WHERE tenant = '{t}' AND state = ''")).await;
    assert_eq!(blank, 1, "the document is blanked");
    let rows = scalar(db, &format!("SELECT COUNT(*) FROM alert_groups WHERE tenant = '{t}'")).await;
    assert!(rows >= groups && rows as usize == reference.correlator.groups().len(), "{rows} group rows");
    scenario.check_incidents(&db.store, &bot, &reference).await;
}

/// Recovered alerts' seen rows are deleted once the policy's retention has
/// passed since the ingestion that recorded the recovery; the others stay.
async fn check_seen_rows_expire(db: &TestDb) {
    let t = unique("exp");
    let bot = actor(&t, "monitoring");
    let (cfg, policy) = (config(), GroupingPolicy::default());
    let retention = policy.seen_retention_seconds() as i64;
    let object = ServiceId::new("db-1").unwrap();
    // Every 10 minutes: 5 new alerts fire, last round's recover, and one of
    // them never does.
    let mut previous: Vec<Alert> = Vec::new();
    let mut recoveries_at: Vec<i64> = Vec::new();
    let rounds = 60;
    for round in 0..rounds {
        let at = round * 600;
        let mut batch: Vec<Alert> = (0..5)
            .map(|k| Alert::new("prom", format!("e-{round}-{k}"), object.clone(), "cpu", AlertSeverity::Minor, ts(at)))
            .collect();
        for alert in previous.iter().skip(1) {
            batch.push(alert.clone().recovered(ts(at)));
            recoveries_at.push(at);
        }
        previous = batch[..5].to_vec();
        db.store.ingest_alerts(&bot, &cfg, &policy, &batch, ts(at)).await.unwrap();
    }
    let last = (rounds - 1) * 600;
    let kept_recovered = recoveries_at.iter().filter(|&&r| r + retention >= last).count() as i64;
    let never = rounds; // one alert of each round never recovers
    let recovered =
        scalar(db, &format!("SELECT COUNT(*) FROM alert_seen WHERE tenant = '{t}' AND expires_at IS NOT NULL")).await;
    let firing =
        scalar(db, &format!("SELECT COUNT(*) FROM alert_seen WHERE tenant = '{t}' AND expires_at IS NULL")).await;
    assert_eq!(recovered, kept_recovered, "recovered rows within the retention only");
    assert_eq!(firing, never + 4, "unrecovered rows stay (and the last round's)");
    assert!((recovered as usize) < recoveries_at.len() / 4, "bounded: {recovered} of {}", recoveries_at.len());
}

/// The state rows a batch reads depend on its own alerts only: the same
/// probe batch reads the same rows after 20 batches and after 200.
async fn check_batch_reads_do_not_grow_with_history(db: &TestDb) {
    let t = unique("flat");
    let bot = actor(&t, "monitoring");
    let (cfg, policy) = (config(), GroupingPolicy::default());
    let objects: Vec<ServiceId> = (0..20).map(|i| ServiceId::new(format!("svc-{i}")).unwrap()).collect();
    let mut clock = 0i64;
    let mut id = 0usize;
    let mut last: Vec<Alert> = Vec::new();
    let mut batch_of = |clock: i64, last: &[Alert]| {
        let mut batch = Vec::new();
        for object in &objects {
            id += 1;
            batch.push(Alert::new("prom", format!("f-{id}"), object.clone(), "cpu", AlertSeverity::Major, ts(clock)));
        }
        // Last batch's alerts: half recover, half are redelivered.
        for (i, alert) in last.iter().enumerate() {
            batch.push(if i % 2 == 0 { alert.clone().recovered(ts(clock)) } else { alert.clone() });
        }
        batch
    };
    let mut probes = Vec::new();
    for round in 0..220 {
        clock += 60;
        let batch = batch_of(clock, &last);
        let report = db.store.ingest_alerts(&bot, &cfg, &policy, &batch, ts(clock)).await.unwrap();
        if round == 20 || round == 219 {
            let seen = scalar(db, &format!("SELECT COUNT(*) FROM alert_seen WHERE tenant = '{t}'")).await;
            probes.push((report.state, seen, batch.len()));
        }
        last = batch[..objects.len()].to_vec();
    }
    let (early, late) = (probes[0], probes[1]);
    assert!(late.1 > 5 * early.1, "history grew: {} -> {} seen rows", early.1, late.1);
    assert_eq!(early.0, late.0, "the same rows read and written");
    assert!(early.0.seen_read <= early.2 && early.0.groups_read <= objects.len(), "{:?}", early.0);
    assert!(early.0.incidents_read <= 2 * objects.len(), "{:?}", early.0);
}

on_both_backends!(
    check_storm_concurrent_equals_sequential,
    check_resolve_clears_every_grouped_alert,
    check_ignored_alerts_carry_their_reason,
    check_people_between_batches_decide_like_the_whole_correlator,
    check_old_document_is_converted_and_decides_alike,
    check_seen_rows_expire,
    check_batch_reads_do_not_grow_with_history
);
