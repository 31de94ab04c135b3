//! Every SQL statement of the store, in one place for both backends. The few
//! fragments that differ come from the [`Dialect`]; everything else is the
//! same text on SQLite and PostgreSQL (`$N` placeholders, `ON CONFLICT`,
//! `RETURNING`, row values).

use crate::dialect::Dialect;

/// Projection columns, in [`crate::core::ProjectionRecord`] order.
pub(crate) const PROJECTION: &str = "kind, id, version, status, terminal, service, priority, assignee, assignment_group, window_start, window_end, due_at, updated_at, title, requester, opened_at, major, breach_at";

/// Event columns, in [`crate::core::EventRecord`] order.
const EVENT: &str = "position, tenant, aggregate_kind, aggregate_id, version, event_name, payload, actor, recorded_at, chain_position, hash";

/// The columns a projection write sets, in bind order.
pub(crate) const PROJECTION_WRITE: &str = "INSERT INTO aggregates (tenant, kind, id, version, state, updated_at, chain_hash, clock, due_at, due_handled, breach_at, status, terminal, service, priority, assignee, assignment_group, window_start, window_end, title, requester, opened_at, major) ";

/// The update of a projection write whose row exists.
pub(crate) const PROJECTION_UPSERT: &str = " ON CONFLICT (tenant, kind, id) DO UPDATE SET version = excluded.version, \
    status = excluded.status, terminal = excluded.terminal, service = excluded.service, priority = excluded.priority, \
    assignee = excluded.assignee, assignment_group = excluded.assignment_group, window_start = excluded.window_start, window_end = excluded.window_end, \
    state = excluded.state, updated_at = excluded.updated_at, chain_hash = excluded.chain_hash, \
    title = excluded.title, requester = excluded.requester, opened_at = excluded.opened_at, major = excluded.major, \
    clock = COALESCE(excluded.clock, aggregates.clock), \
    due_at = CASE WHEN excluded.clock IS NULL THEN aggregates.due_at ELSE excluded.due_at END, \
    breach_at = CASE WHEN excluded.clock IS NULL THEN aggregates.breach_at ELSE excluded.breach_at END, \
    due_handled = COALESCE(aggregates.due_handled, excluded.due_handled) \
    WHERE aggregates.version < excluded.version";

/// Event columns of events aliased `e`, in [`crate::rows::RawEvent`] order.
pub(crate) const EVENT_E: &str = "e.position, e.tenant, e.aggregate_kind, e.aggregate_id, e.version, e.event_name, e.payload, e.actor, e.recorded_at, e.chain_position, e.hash";

/// The columns an event write sets, in bind order.
pub(crate) const EVENT_WRITE: &str = "INSERT INTO events (tenant, aggregate_kind, aggregate_id, version, event_name, payload, actor, recorded_at, hash) ";

/// The columns a search row write sets, in bind order.
pub(crate) const SEARCH_WRITE: &str = "INSERT INTO search_rows (tenant, kind, id, part, body) ";

/// The start of a bulk state read (`id IN (...)` is appended).
pub(crate) const PRELOAD: &str = "SELECT id, version, state, chain_hash FROM aggregates WHERE tenant = ";

/// The start of a bulk clock read (`id IN (...)` is appended).
pub(crate) const CLOCKS: &str = "SELECT id, clock, due_handled FROM aggregates WHERE tenant = ";

/// The columns an incident record write sets, in bind order
/// ([`crate::metric`]).
pub(crate) const INCIDENT_RECORD_WRITE: &str = "INSERT INTO metric_incidents (tenant, id, version, kind, service, \
    category, priority, detected_by, opened_at, acknowledged_at, impact_start, restored_at, resolved_at, closed_at, \
    resolved_by, major, reopen_count, caused_by_change, problem_id, failure_class, outage, resolution, record) ";

/// The update of an incident record whose row exists: never to an older
/// version; the SLA verdict only when the write judged it (a `NULL` keeps
/// the stored one), or when the row holds none.
pub(crate) const INCIDENT_RECORD_UPSERT: &str = " ON CONFLICT (tenant, id) DO UPDATE SET \
    resolution = CASE WHEN metric_incidents.version <= excluded.version OR metric_incidents.resolution IS NULL \
        THEN COALESCE(excluded.resolution, metric_incidents.resolution) ELSE metric_incidents.resolution END, \
    version = CASE WHEN metric_incidents.version <= excluded.version THEN excluded.version ELSE metric_incidents.version END, \
    kind = CASE WHEN metric_incidents.version <= excluded.version THEN excluded.kind ELSE metric_incidents.kind END, \
    service = CASE WHEN metric_incidents.version <= excluded.version THEN excluded.service ELSE metric_incidents.service END, \
    category = CASE WHEN metric_incidents.version <= excluded.version THEN excluded.category ELSE metric_incidents.category END, \
    priority = CASE WHEN metric_incidents.version <= excluded.version THEN excluded.priority ELSE metric_incidents.priority END, \
    detected_by = CASE WHEN metric_incidents.version <= excluded.version THEN excluded.detected_by ELSE metric_incidents.detected_by END, \
    opened_at = CASE WHEN metric_incidents.version <= excluded.version THEN excluded.opened_at ELSE metric_incidents.opened_at END, \
    acknowledged_at = CASE WHEN metric_incidents.version <= excluded.version THEN excluded.acknowledged_at ELSE metric_incidents.acknowledged_at END, \
    impact_start = CASE WHEN metric_incidents.version <= excluded.version THEN excluded.impact_start ELSE metric_incidents.impact_start END, \
    restored_at = CASE WHEN metric_incidents.version <= excluded.version THEN excluded.restored_at ELSE metric_incidents.restored_at END, \
    resolved_at = CASE WHEN metric_incidents.version <= excluded.version THEN excluded.resolved_at ELSE metric_incidents.resolved_at END, \
    closed_at = CASE WHEN metric_incidents.version <= excluded.version THEN excluded.closed_at ELSE metric_incidents.closed_at END, \
    resolved_by = CASE WHEN metric_incidents.version <= excluded.version THEN excluded.resolved_by ELSE metric_incidents.resolved_by END, \
    major = CASE WHEN metric_incidents.version <= excluded.version THEN excluded.major ELSE metric_incidents.major END, \
    reopen_count = CASE WHEN metric_incidents.version <= excluded.version THEN excluded.reopen_count ELSE metric_incidents.reopen_count END, \
    caused_by_change = CASE WHEN metric_incidents.version <= excluded.version THEN excluded.caused_by_change ELSE metric_incidents.caused_by_change END, \
    problem_id = CASE WHEN metric_incidents.version <= excluded.version THEN excluded.problem_id ELSE metric_incidents.problem_id END, \
    failure_class = CASE WHEN metric_incidents.version <= excluded.version THEN excluded.failure_class ELSE metric_incidents.failure_class END, \
    outage = CASE WHEN metric_incidents.version <= excluded.version THEN excluded.outage ELSE metric_incidents.outage END, \
    record = CASE WHEN metric_incidents.version <= excluded.version THEN excluded.record ELSE metric_incidents.record END";

/// The columns a change record write sets, in bind order.
pub(crate) const CHANGE_RECORD_WRITE: &str = "INSERT INTO metric_changes (tenant, kind, id, version, change_type, \
    service, requested_at, planned_start, planned_end, started_at, completed_at, outcome, remediation, \
    automatic_rollback, authorized_at, record) ";

/// The update of a change record whose row exists: never to an older version.
pub(crate) const CHANGE_RECORD_UPSERT: &str = " ON CONFLICT (tenant, kind, id) DO UPDATE SET version = excluded.version, \
    change_type = excluded.change_type, service = excluded.service, requested_at = excluded.requested_at, \
    planned_start = excluded.planned_start, planned_end = excluded.planned_end, started_at = excluded.started_at, \
    completed_at = excluded.completed_at, outcome = excluded.outcome, remediation = excluded.remediation, \
    automatic_rollback = excluded.automatic_rollback, authorized_at = excluded.authorized_at, \
    record = excluded.record WHERE metric_changes.version <= excluded.version";

/// The columns of an incident record row in `metric::IncidentRow` order
/// (flags as 0 or 1 on both backends; the SLA verdict apart): what a
/// verification rebuilds the row's JSON text from, to compare with its
/// `record` column.
pub(crate) const INCIDENT_RECORD_COLUMNS: &str = "id, kind, service, category, priority, detected_by, opened_at, \
    acknowledged_at, impact_start, restored_at, resolved_at, closed_at, resolved_by, CASE WHEN major THEN 1 ELSE 0 END, \
    reopen_count, caused_by_change, problem_id, failure_class, CASE WHEN outage THEN 1 ELSE 0 END";

/// The columns of a change record row in `metric::ChangeRow` order.
pub(crate) const CHANGE_RECORD_COLUMNS: &str = "kind, id, change_type, service, requested_at, planned_start, planned_end, \
    started_at, completed_at, outcome, remediation, CASE WHEN automatic_rollback THEN 1 ELSE 0 END, \
    authorized_at";

/// Statements built with one dialect's fragments (see [`Dialect::sql`]).
#[derive(Debug)]
pub(crate) struct Sql {
    pub schema_version: &'static str,
    pub idem_get: &'static str,
    pub idem_put: &'static str,
    pub state_for_write: String,
    pub config_generation: &'static str,
    pub config_rows: &'static str,
    pub config_put: &'static str,
    pub config_bump: &'static str,
    pub clocks_open: String,
    pub clock_get: String,
    pub due_put: &'static str,
    pub state_get: &'static str,
    pub exists: &'static str,
    pub outbox_put: &'static str,
    pub history: &'static str,
    pub due_before: String,
    /// `SELECT` of the projection columns of `a`, before a search's `FROM`.
    pub search_select: String,
    pub calendar: String,
    pub events_page: String,
    pub legacy_chain_page: String,
    pub legacy_head: &'static str,
    pub aggregate_heads: &'static str,
    pub claim: String,
    pub ack: &'static str,
    pub fail: &'static str,
    pub dead_letters: &'static str,
    pub correlator_init: &'static str,
    pub correlator_get: String,
    pub correlator_put: &'static str,
    pub correlator_expire: &'static str,
    pub correlator_seen_get: &'static str,
    pub correlator_seen_put: &'static str,
    pub correlator_seen_upsert: &'static str,
    pub correlator_groups_get: &'static str,
    pub correlator_groups_put: &'static str,
    pub correlator_groups_upsert: &'static str,
    pub suppressed_put: &'static str,
    pub suppressed_page: &'static str,
    pub maintenance_windows: &'static str,
    pub catch_up: &'static str,
    pub max_position: &'static str,
    pub holds_records: &'static str,
    pub marker_get: &'static str,
    pub marker_put: &'static str,
    pub marker_complete: &'static str,
    pub escalation_put: &'static str,
    /// The earliest due instant of every tenant.
    pub due_next: String,
    /// Due aggregates of every tenant, soonest first, locked for the runner.
    pub due_claim: String,
    pub tip_get: String,
    pub checkpoint_take: &'static str,
    pub checkpoint_head_put: &'static str,
    pub checkpoint_leaves: &'static str,
    pub checkpoint_put: &'static str,
    pub checkpoints: &'static str,
    pub checkpoint_heads: &'static str,
    /// A tenant's read model definition, if listed.
    /// A page of a tenant's incident records in opening order after
    /// `($2, $3)`, at most `$4`: the row count, the rows' record texts
    /// joined by newlines (`null` for a row without one) and their SLA
    /// verdicts as one JSON array, in the same order.
    pub incident_records_page: String,
    /// A page of a tenant's change records in (kind, id) order after
    /// `($2, $3)`, at most `$4`: the row count and the record texts joined
    /// by newlines.
    pub change_records_page: String,
    /// `SELECT` of incident record rows as one JSON array of
    /// `[[columns], verdict, record text]` (a `FROM` follows).
    pub incident_records_select: String,
    /// `SELECT` of change record rows as one JSON array of
    /// `[[columns], record text]` (a `FROM` follows).
    pub change_records_select: String,
    pub metric_model_get: &'static str,
    /// Lists a tenant's read model at a definition.
    pub metric_model_put: &'static str,
    pub metric_incidents_clear: &'static str,
    pub metric_changes_clear: &'static str,
    /// Incidents with a clock opened at or after an instant (their SLA
    /// verdicts may move with a configuration version effective then).
    pub clocks_since: &'static str,
    pub resolution_put: &'static str,
    /// A page of a tenant's `alert_correlated` events after position `$2`,
    /// at most `$3`, in position order (Table 3's alert receipts).
    pub alert_receipts_page: &'static str,
    /// A page of a tenant's outbox messages after id `$2`, at most `$3`, in
    /// id order (Table 16's notification records).
    pub notifications_page: &'static str,
}

impl Sql {
    pub(crate) fn new<D: Dialect>() -> Sql {
        let open = D::OPEN;
        Sql {
            schema_version: "SELECT MAX(version) FROM _sqlx_migrations WHERE success",
            idem_get: "SELECT request_hash, aggregate_kind, aggregate_id, result FROM idempotency WHERE tenant = $1 AND key = $2",
            idem_put: "INSERT INTO idempotency (tenant, key, request_hash, aggregate_kind, aggregate_id, result, created_at) \
                VALUES ($1, $2, $3, $4, $5, $6, $7)",
            state_for_write: format!(
                "SELECT version, state, chain_hash, clock, due_handled FROM aggregates \
                 WHERE tenant = $1 AND kind = $2 AND id = $3{}",
                D::LOCK_ROW
            ),
            config_generation: "SELECT generation FROM config_heads WHERE tenant = $1",
            config_rows: "SELECT config, version, effective_from, value FROM config_versions WHERE tenant = $1 \
                ORDER BY config, version",
            config_put: "INSERT INTO config_versions (tenant, config, version, effective_from, value, recorded_at) \
                VALUES ($1, $2, $3, $4, $5, $6)",
            config_bump: "INSERT INTO config_heads (tenant, generation) VALUES ($1, 1) \
                ON CONFLICT (tenant) DO UPDATE SET generation = config_heads.generation + 1 RETURNING generation",
            clocks_open: format!(
                "SELECT kind, id, clock, due_handled FROM aggregates WHERE tenant = $1 AND clock IS NOT NULL AND {open} \
                 ORDER BY kind, id{}",
                D::LOCK_ROW
            ),
            clock_get: format!(
                "SELECT clock, due_handled FROM aggregates WHERE tenant = $1 AND kind = $2 AND id = $3{}",
                D::LOCK_ROW
            ),
            due_put: "UPDATE aggregates SET due_at = $4, due_handled = $5, breach_at = $6 \
                WHERE tenant = $1 AND kind = $2 AND id = $3",
            state_get: "SELECT version, state, updated_at FROM aggregates WHERE tenant = $1 AND kind = $2 AND id = $3",
            exists: "SELECT count(*) FROM aggregates WHERE tenant = $1 AND kind = $2 AND id = $3",
            outbox_put: "INSERT INTO outbox (tenant, topic, dedup_key, payload, created_at, stream) \
                VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant, topic, dedup_key) DO NOTHING",
            history: "SELECT position, version, payload, actor, recorded_at FROM events \
                WHERE tenant = $1 AND aggregate_kind = $2 AND aggregate_id = $3 AND version <= $4 ORDER BY version",
            search_select: format!(
                "SELECT {}",
                PROJECTION.split(", ").map(|c| format!("a.{c}")).collect::<Vec<_>>().join(", ")
            ),
            due_before: format!(
                "SELECT {PROJECTION} FROM aggregates WHERE tenant = $1 AND {open} AND due_at IS NOT NULL AND due_at < $2 \
                 ORDER BY due_at, kind, id LIMIT $3"
            ),
            calendar: format!(
                "SELECT {PROJECTION} FROM aggregates WHERE tenant = $1 AND service = $2 AND window_start IS NOT NULL \
                 AND window_start < $4 AND window_end > $3 ORDER BY window_start, kind, id"
            ),
            events_page: format!(
                "SELECT {EVENT} FROM events WHERE tenant = $1 AND aggregate_kind = $2 AND (aggregate_id, version) > ($3, $4) \
                 ORDER BY aggregate_id, version LIMIT $5"
            ),
            legacy_chain_page: format!(
                "SELECT {EVENT} FROM events WHERE tenant = $1 AND chain_position > $2 ORDER BY chain_position LIMIT $3"
            ),
            legacy_head: "SELECT position, hash FROM chain_heads WHERE tenant = $1",
            aggregate_heads: "SELECT id, version, chain_hash FROM aggregates WHERE tenant = $1 AND kind = $2 ORDER BY id",
            // Pending (neither delivered nor dead), lease free, retry instant
            // reached, and the first pending message of its stream: a stream's
            // messages go out one at a time in id order. Dead letters leave
            // the order (they no longer block their stream).
            claim: format!(
                "UPDATE outbox SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
                 WHERE id IN (SELECT o.id FROM outbox o WHERE o.delivered_at IS NULL AND o.dead_at IS NULL \
                 AND (o.lease_until IS NULL OR o.lease_until <= $3) \
                 AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= $3) \
                 AND (o.stream IS NULL OR NOT EXISTS (SELECT 1 FROM outbox e WHERE e.tenant = o.tenant \
                 AND e.stream = o.stream AND e.id < o.id AND e.delivered_at IS NULL AND e.dead_at IS NULL)) \
                 ORDER BY o.id LIMIT $4{}) \
                 RETURNING id, tenant, topic, dedup_key, payload, created_at, CAST(attempts AS BIGINT) AS attempts, \
                 lease_until, stream",
                D::SKIP_LOCKED
            ),
            ack: "UPDATE outbox SET delivered_at = $3 WHERE id = $1 AND lease_owner = $2 AND delivered_at IS NULL AND lease_until > $3 \
                RETURNING id",
            // A failed attempt by the lease holder: the lease is released, and
            // either a retry instant ($5) or the dead-letter instant ($6) is set.
            fail: "UPDATE outbox SET lease_until = NULL, last_error = $4, next_attempt_at = $5, dead_at = $6 \
                WHERE id = $1 AND lease_owner = $2 AND delivered_at IS NULL AND dead_at IS NULL AND lease_until > $3 \
                RETURNING id",
            dead_letters: "SELECT id, tenant, topic, dedup_key, payload, CAST(attempts AS BIGINT) AS attempts, last_error, \
                dead_at, stream FROM outbox WHERE tenant = $1 AND dead_at IS NOT NULL ORDER BY id LIMIT $2",
            // The tenant's `alert_correlators` row is its ingestion lock
            // (PostgreSQL); its document is read once, to convert it into
            // rows (store design 2), and blanked.
            correlator_init: "INSERT INTO alert_correlators (tenant, state, version, observed, updated_at) \
                VALUES ($1, '', 0, 0, $2) ON CONFLICT (tenant) DO NOTHING",
            correlator_get: format!(
                "SELECT CASE WHEN state = '' THEN NULL ELSE state END, observed FROM alert_correlators WHERE tenant = $1{}",
                D::LOCK_ROW
            ),
            correlator_put: "UPDATE alert_correlators SET state = '', version = version + 1, updated_at = $2 WHERE tenant = $1",
            correlator_expire: "DELETE FROM alert_seen WHERE tenant = $1 AND expires_at IS NOT NULL AND expires_at < $2",
            correlator_seen_get: "SELECT alert_key, state FROM alert_seen WHERE tenant = ",
            correlator_seen_put: "INSERT INTO alert_seen (tenant, alert_key, state, expires_at) ",
            correlator_seen_upsert: " ON CONFLICT (tenant, alert_key) DO UPDATE SET state = excluded.state, \
                expires_at = excluded.expires_at",
            correlator_groups_get: "SELECT group_key, state, incident_version FROM alert_groups WHERE tenant = ",
            correlator_groups_put: "INSERT INTO alert_groups \
                (tenant, group_key, incident, state, incident_version, updated_at, root_service) ",
            correlator_groups_upsert: " ON CONFLICT (tenant, group_key) DO UPDATE SET incident = excluded.incident, \
                state = excluded.state, incident_version = excluded.incident_version, updated_at = excluded.updated_at, \
                root_service = excluded.root_service",
            suppressed_put: "INSERT INTO alert_suppressed \
                (tenant, alert_key, source, alert_id, object, fired_at, change_id, recorded_at) ",
            suppressed_page: "SELECT source, alert_id, object, fired_at, change_id, recorded_at FROM alert_suppressed \
                WHERE tenant = $1 AND fired_at >= $2 AND fired_at < $3 ORDER BY fired_at, alert_key LIMIT $4",
            // Windows of changes not cancelled or rejected that have not ended by
            // $2 and started by $3 (found by their end: most have ended long ago).
            maintenance_windows: "SELECT id, service, window_start, window_end FROM aggregates \
                WHERE tenant = $1 AND window_end IS NOT NULL AND window_end > $2 AND window_start <= $3 \
                AND service IS NOT NULL AND status NOT IN ('cancelled', 'rejected') ORDER BY window_start, id",
            // Events of a few incidents, each after its own version: the
            // start (tenant, kind, then `(aggregate_id = .. AND version > ..) OR ..`).
            catch_up: "SELECT aggregate_id, version, payload FROM events WHERE tenant = ",
            // A document's incidents at the log position it had observed.
            max_position: "SELECT aggregate_id, MAX(version) FROM events WHERE tenant = $1 AND aggregate_kind = $2 \
                AND position <= $3 GROUP BY aggregate_id",
            holds_records: "SELECT EXISTS (SELECT 1 FROM events) OR EXISTS (SELECT 1 FROM aggregates) \
                OR EXISTS (SELECT 1 FROM chain_heads) OR EXISTS (SELECT 1 FROM idempotency) OR EXISTS (SELECT 1 FROM outbox) \
                OR EXISTS (SELECT 1 FROM executed_escalations) OR EXISTS (SELECT 1 FROM alert_correlators) \
                OR EXISTS (SELECT 1 FROM alert_groups) OR EXISTS (SELECT 1 FROM alert_seen) \
                OR EXISTS (SELECT 1 FROM alert_suppressed) OR EXISTS (SELECT 1 FROM fill_markers) OR EXISTS (SELECT 1 FROM checkpoints) \
                OR EXISTS (SELECT 1 FROM config_versions)",
            marker_get: "SELECT started_at, completed_at FROM fill_markers WHERE name = $1",
            marker_put: "INSERT INTO fill_markers (name, started_at) VALUES ($1, $2)",
            marker_complete: "UPDATE fill_markers SET completed_at = $2 WHERE name = $1 AND completed_at IS NULL",
            escalation_put: "INSERT INTO executed_escalations (tenant, escalation_id, payload, executed_at) \
                VALUES ($1, $2, $3, $4) ON CONFLICT (tenant, escalation_id) DO NOTHING RETURNING escalation_id",
            due_next: format!("SELECT MIN(due_at) FROM aggregates WHERE {open} AND due_at IS NOT NULL"),
            due_claim: format!(
                "SELECT tenant, kind, id, clock, due_handled FROM aggregates \
                 WHERE {open} AND due_at IS NOT NULL AND due_at <= $1 ORDER BY due_at LIMIT $2{}",
                D::SKIP_LOCKED
            ),
            tip_get: format!(
                "SELECT seq, hash FROM checkpoints WHERE tenant = $1 ORDER BY seq DESC LIMIT 1{}",
                D::LOCK_ROW
            ),
            checkpoint_take: "UPDATE aggregates SET checkpointed_version = version, checkpointed_hash = chain_hash \
                WHERE tenant = $1 AND version > checkpointed_version RETURNING kind, id, version, chain_hash",
            checkpoint_head_put: "INSERT INTO checkpoint_heads (tenant, seq, kind, id, version, hash) VALUES ($1, $2, $3, $4, $5, $6)",
            checkpoint_leaves: "SELECT kind, id, checkpointed_version, checkpointed_hash FROM aggregates \
                WHERE tenant = $1 AND checkpointed_version > 0 ORDER BY kind, id",
            checkpoint_put: "INSERT INTO checkpoints (tenant, seq, taken_at, aggregates, events, root, prev_hash, hash) \
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            checkpoints: "SELECT seq, taken_at, aggregates, events, root, prev_hash, hash FROM checkpoints \
                WHERE tenant = $1 ORDER BY seq",
            checkpoint_heads: "SELECT seq, kind, id, version, hash FROM checkpoint_heads WHERE tenant = $1 ORDER BY seq, kind, id",
            incident_records_page: format!(
                "SELECT count(*), CAST({text_agg}(COALESCE(record, 'null'), '\n'{order}) AS TEXT), \
                 CAST({agg}(resolution{order}) AS TEXT) FROM (SELECT record, resolution, opened_at, id \
                 FROM metric_incidents WHERE tenant = $1 AND (opened_at, id) > ($2, $3) ORDER BY opened_at, id LIMIT $4) \
                 AS page",
                text_agg = D::TEXT_AGG,
                agg = D::JSON_AGG,
                order = if D::JSON_AGG_ORDERED { " ORDER BY opened_at, id" } else { "" }
            ),
            change_records_page: format!(
                "SELECT count(*), CAST({text_agg}(COALESCE(record, 'null'), '\n'{order}) AS TEXT) FROM (SELECT record, kind, id \
                 FROM metric_changes WHERE tenant = $1 AND (kind, id) > ($2, $3) ORDER BY kind, id LIMIT $4) AS page",
                text_agg = D::TEXT_AGG,
                order = if D::JSON_AGG_ORDERED { " ORDER BY kind, id" } else { "" }
            ),
            incident_records_select: format!(
                "SELECT CAST({agg}({arr}({arr}({INCIDENT_RECORD_COLUMNS}), resolution, record)) AS TEXT) ",
                agg = D::JSON_AGG,
                arr = D::JSON_ARRAY,
            ),
            change_records_select: format!(
                "SELECT CAST({agg}({arr}({arr}({CHANGE_RECORD_COLUMNS}), record)) AS TEXT) ",
                agg = D::JSON_AGG,
                arr = D::JSON_ARRAY,
            ),
            metric_model_get: "SELECT definition FROM metric_models WHERE tenant = $1",
            metric_model_put: "INSERT INTO metric_models (tenant, definition, built_at) VALUES ($1, $2, $3) \
                ON CONFLICT (tenant) DO UPDATE SET definition = excluded.definition, built_at = excluded.built_at",
            metric_incidents_clear: "DELETE FROM metric_incidents WHERE tenant = $1",
            metric_changes_clear: "DELETE FROM metric_changes WHERE tenant = $1",
            clocks_since: "SELECT id, clock FROM aggregates WHERE tenant = $1 AND kind = 'incident' \
                AND clock IS NOT NULL AND opened_at >= $2 ORDER BY id",
            resolution_put: "UPDATE metric_incidents SET resolution = $3 WHERE tenant = $1 AND id = $2",
            alert_receipts_page: "SELECT position, payload, recorded_at FROM events \
                WHERE tenant = $1 AND aggregate_kind = 'incident' AND event_name = 'alert_correlated' AND position > $2 \
                ORDER BY position LIMIT $3",
            notifications_page: "SELECT id, topic, dedup_key, created_at, delivered_at, dead_at FROM outbox \
                WHERE tenant = $1 AND id > $2 ORDER BY id LIMIT $3",
        }
    }
}
