-- Firewall: the admin's choices. The ruleset itself is generated from these at every start.
-- One row: the LAN override (NULL = detected), SSH, and the policy to go back to while a
-- change made over the network waits for confirmation (NULL = nothing pending).
CREATE TABLE firewall_policy (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    lan_override     TEXT,
    ssh_enabled      INTEGER NOT NULL DEFAULT 0,
    pending_previous TEXT,
    pending_until    INTEGER
) STRICT;
INSERT INTO firewall_policy(id) VALUES (1);

-- Who may reach each service; an app without a row is on the LAN (the default).
CREATE TABLE firewall_exposure (
    app      TEXT PRIMARY KEY,
    exposure TEXT NOT NULL CHECK (exposure IN ('closed', 'lan', 'outside'))
) STRICT;
