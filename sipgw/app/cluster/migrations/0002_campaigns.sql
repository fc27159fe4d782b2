-- Campaigns, their contacts and the do-not-call list (sipgw.app.cluster.campaigns): the
-- SQLite store's tables (sipgw.app.campaigns.store), shared by every gateway.

CREATE TABLE campaigns (
    id BIGSERIAL PRIMARY KEY,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    concurrency INTEGER NOT NULL,
    interval DOUBLE PRECISION NOT NULL,
    next_dial_at DOUBLE PRECISION NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    updated DOUBLE PRECISION NOT NULL
);

CREATE TABLE campaign_contacts (
    id BIGSERIAL PRIMARY KEY,
    campaign BIGINT NOT NULL REFERENCES campaigns (id),
    row INTEGER NOT NULL,
    number TEXT NOT NULL,
    variables TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at DOUBLE PRECISION NOT NULL,
    last_outcome TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    call_id TEXT NOT NULL DEFAULT '',
    claimed_by TEXT,
    lease_until DOUBLE PRECISION,
    updated DOUBLE PRECISION NOT NULL,
    UNIQUE (campaign, number)
);
CREATE INDEX campaign_contacts_due ON campaign_contacts (campaign, next_at, id)
    WHERE state = 'pending';
CREATE INDEX campaign_contacts_dialing ON campaign_contacts (campaign) WHERE state = 'dialing';
CREATE INDEX campaign_contacts_rows ON campaign_contacts (campaign, row);

CREATE TABLE campaign_dnc (number TEXT PRIMARY KEY, added DOUBLE PRECISION NOT NULL);
