-- Callbacks, messages, the webhook outboxes, the calls' index and the gateways' heartbeats
-- (sipgw.app.cluster). Times are epoch seconds (double precision), as in the SQLite files.

CREATE TABLE callbacks (
    id BIGSERIAL PRIMARY KEY,
    created_at TEXT NOT NULL,
    created_ts DOUBLE PRECISION,
    call_id TEXT NOT NULL,
    phone TEXT NOT NULL,
    requested_time TEXT NOT NULL,
    reason TEXT NOT NULL,
    notes TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'pending',
    due_at DOUBLE PRECISION,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DOUBLE PRECISION,
    last_outcome TEXT NOT NULL DEFAULT '',
    updated_at TEXT,
    claimed_by TEXT,
    lease_until DOUBLE PRECISION,
    requested_by TEXT NOT NULL DEFAULT ''
);
CREATE INDEX callbacks_due ON callbacks (next_attempt_at) WHERE status = 'pending';
CREATE INDEX callbacks_quota ON callbacks (created_ts);

CREATE TABLE messages (
    id BIGSERIAL PRIMARY KEY,
    created_at TEXT NOT NULL,
    created_ts DOUBLE PRECISION NOT NULL,
    call_id TEXT NOT NULL,
    for_target TEXT NOT NULL,
    from_number TEXT NOT NULL,
    caller_name TEXT NOT NULL,
    reach_at TEXT NOT NULL,
    message TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'new'
);
CREATE INDEX messages_quota ON messages (created_ts);

CREATE TABLE webhook_outbox (
    id BIGSERIAL PRIMARY KEY,
    event_id TEXT NOT NULL,
    url TEXT NOT NULL,
    line TEXT NOT NULL,
    call TEXT NOT NULL,
    type TEXT NOT NULL,
    body BYTEA NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at DOUBLE PRECISION NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    claimed_by TEXT,
    claim_until DOUBLE PRECISION
);
CREATE INDEX webhook_outbox_order ON webhook_outbox (url, call, id);

CREATE TABLE twilio_status_outbox (LIKE webhook_outbox INCLUDING ALL);

CREATE TABLE gateways (
    name TEXT PRIMARY KEY,
    admin_url TEXT NOT NULL,
    active INTEGER NOT NULL,
    capacity INTEGER,
    accepting BOOLEAN NOT NULL,
    heartbeat_at DOUBLE PRECISION NOT NULL
);

CREATE TABLE calls_index (
    gateway TEXT NOT NULL,
    id TEXT NOT NULL,
    call_id TEXT NOT NULL,
    direction TEXT NOT NULL,
    caller TEXT NOT NULL,
    called TEXT NOT NULL,
    state TEXT NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    ended_at DOUBLE PRECISION,
    record TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (gateway, id)
);
CREATE INDEX calls_index_started ON calls_index (started_at);
