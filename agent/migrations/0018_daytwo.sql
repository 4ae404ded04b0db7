-- Day two (agent/src/notify/): where health alerts are mailed (one row, absent until an admin
-- sets it), and the critical health issues already mailed, so that each is mailed once and
-- then in a daily digest while it lasts.

CREATE TABLE notify_mail (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    -- Who receives the alerts, and the sender address (NULL: panier@<box>.local).
    to_address TEXT NOT NULL,
    from_address TEXT,
    -- The SMTP relay.
    host TEXT NOT NULL,
    port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    security TEXT NOT NULL CHECK (security IN ('starttls', 'tls', 'none')),
    username TEXT,
    -- Never shown by the API, the pages or the logs.
    password TEXT,
    -- An extra authority for the relay's certificate (PEM), for a relay with its own.
    ca_pem TEXT,
    updated_at INTEGER NOT NULL,
    -- The last send, and why it failed (NULL when it worked).
    last_sent_at INTEGER,
    last_error TEXT,
    -- The last daily digest.
    digest_at INTEGER
);

CREATE TABLE notify_issues (
    -- The health check and the message key of a critical finding.
    check_name TEXT NOT NULL,
    key TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    -- When it was mailed; NULL: not yet (the relay failed).
    mailed_at INTEGER,
    PRIMARY KEY (check_name, key)
);
