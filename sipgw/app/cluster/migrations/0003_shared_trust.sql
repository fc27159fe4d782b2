-- What decides who may call and stream, shared by every gateway (sipgw.app.security.trust):
-- the secrets (nonces, stream tokens) and their rotation, each digest user's guessing state,
-- and the stream tokens already taken. The SQLite store's tables, the same names.

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
