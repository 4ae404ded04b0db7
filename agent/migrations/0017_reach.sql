-- Reaching the box from outside (issue 18): the public domain and the services' public
-- names, how certificates are obtained (ACME), the state of the public certificate, and the
-- relay the box joins.

-- One row. `challenge` is `http-01` (the box's HTTP entry answers) or `dns-01` (RFC 2136
-- updates with TSIG to `dns_server`, in `dns_zone`, default the domain itself).
CREATE TABLE reach_settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    domain TEXT,
    acme_directory TEXT NOT NULL DEFAULT 'https://acme-v02.api.letsencrypt.org/directory',
    acme_contact TEXT,
    challenge TEXT NOT NULL DEFAULT 'http-01',
    dns_server TEXT,
    dns_zone TEXT,
    tsig_name TEXT,
    tsig_algorithm TEXT NOT NULL DEFAULT 'hmac-sha256',
    tsig_secret TEXT
);
INSERT INTO reach_settings(id) VALUES (1);

-- A service's public name when the admin chose one (default `<service>.<domain>`).
CREATE TABLE reach_names (
    app TEXT PRIMARY KEY,
    host TEXT NOT NULL UNIQUE
);

-- The last attempt at the public certificate (the certificate itself is a file under
-- `<data>/tls/public/`): when, and the failure's key and reason when it failed.
CREATE TABLE reach_attempts (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    error_key TEXT,
    error TEXT
);

-- The relay: its WireGuard endpoint and public key, the box's own key and the tunnel's
-- addresses (the box's, the relay's).
CREATE TABLE reach_relay (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    endpoint TEXT NOT NULL,
    relay_public_key TEXT NOT NULL,
    box_private_key TEXT NOT NULL,
    box_public_key TEXT NOT NULL,
    box_address TEXT NOT NULL,
    relay_address TEXT NOT NULL,
    ports TEXT NOT NULL DEFAULT '80 443'
);
