-- The timeliness metrics (Tables 3 and 16) page through a tenant's alert
-- receipts (`alert_correlated` events, by position) and its outbox messages
-- (by id): an index for each, so a page reads its own rows instead of
-- sorting all of the tenant's events or messages.
CREATE INDEX events_alert_receipts ON events (tenant, position) WHERE event_name = 'alert_correlated';
CREATE INDEX outbox_tenant_id ON outbox (tenant, id);
