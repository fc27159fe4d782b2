-- What decides who may call and stream, shared by every gateway (sipgw.app.security.trust):
-- the secrets (nonces, stream tokens) and their rotation, each digest user's guessing state,
-- the stream tokens already taken, and the admin login throttle's buckets. The SQLite store's tables, the same names.

CREATE TABLE trust_secrets (
    name TEXT NOT NULL,
    secret TEXT NOT NULL,
    active_from DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (name, active_from)
);

CREATE TABLE digest_guessing (
    username TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    updated DOUBLE PRECISION NOT NULL
);

CREATE TABLE stream_tokens_taken (
    call_sid TEXT PRIMARY KEY,
    expires DOUBLE PRECISION NOT NULL
);
CREATE INDEX stream_tokens_taken_expires ON stream_tokens_taken (expires);

CREATE TABLE admin_throttle (
    bucket TEXT PRIMARY KEY,
    tries DOUBLE PRECISION NOT NULL,
    stamp DOUBLE PRECISION NOT NULL
);
