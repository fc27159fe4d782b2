-- The REST subset's calls (sipgw.app.twilio.api.registry): each call created through
-- Twilio's API, its resource as the API answers it (JSON) and the gateway carrying it, so
-- any gateway of the cluster answers for it. The SQLite store's table, the same name.

CREATE TABLE twilio_calls (
    sid TEXT PRIMARY KEY,
    account_sid TEXT NOT NULL,
    gateway TEXT NOT NULL,
    status TEXT NOT NULL,
    resource TEXT NOT NULL,
    updated DOUBLE PRECISION NOT NULL
);
CREATE INDEX twilio_calls_updated ON twilio_calls (updated);
