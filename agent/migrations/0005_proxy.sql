-- Reaching services on the LAN (issue 4): fixed ports, portal texts and logo, mDNS renames.

-- The fixed port of each web name, assigned once and kept (also after an uninstall, so a
-- reinstalled service answers on the same port and printed links stay right).
CREATE TABLE proxy_ports (
    name        TEXT PRIMARY KEY,
    port        INTEGER NOT NULL UNIQUE CHECK (port BETWEEN 1 AND 65535),
    assigned_at INTEGER NOT NULL
);

-- The portal's editable texts, per language.
CREATE TABLE portal_texts (
    language TEXT PRIMARY KEY CHECK (language IN ('fr', 'en')),
    title    TEXT NOT NULL,
    intro    TEXT NOT NULL
);

-- The portal's logo (at most one).
CREATE TABLE portal_logo (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    content_type TEXT NOT NULL,
    bytes        BLOB NOT NULL
);

-- Names another device on the LAN already used: what we wanted and what we announce instead.
CREATE TABLE mdns_renames (
    wanted      TEXT PRIMARY KEY,
    announced   TEXT NOT NULL,
    detected_at INTEGER NOT NULL
);
