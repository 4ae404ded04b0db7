-- OS updates (agent/src/update/): the channel as this box last saw it (one row), and each
-- installation of a new system.

CREATE TABLE os_update_channel (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    -- The channel's index address set from the Update page; NULL: the configuration's.
    url TEXT,
    -- The last index accepted (signed, current, not older than one seen before), as JSON.
    index_json TEXT,
    -- The highest index serial ever accepted: an older index is refused (rollback guard).
    seen_serial INTEGER,
    -- The last check, whatever its outcome; the last one that gave a valid index.
    checked_at INTEGER,
    accepted_at INTEGER,
    -- Why the last check failed (stable key, English, French); NULL when it worked.
    error_key TEXT,
    error_en TEXT,
    error_fr TEXT,
    -- The hour (0-23, the box's time) chosen for restarting into a new system; NULL: at once.
    reboot_hour INTEGER CHECK (reboot_hour BETWEEN 0 AND 23)
);
INSERT INTO os_update_channel(id) VALUES (1);

CREATE TABLE os_update_attempts (
    id INTEGER PRIMARY KEY,
    version TEXT NOT NULL,
    from_version TEXT NOT NULL,
    -- 'channel' (downloaded) or 'usb' (copied from a stick).
    source TEXT NOT NULL CHECK (source IN ('channel', 'usb')),
    -- The bundle's HTTPS address, or its path on the stick.
    bundle TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    notes_fr TEXT NOT NULL DEFAULT '',
    notes_en TEXT NOT NULL DEFAULT '',
    actor TEXT NOT NULL,
    -- downloading | installing | installed (waiting for the restart) | restarting |
    -- confirming (the new system booted, not yet marked good) | succeeded | failed |
    -- rolled_back (the new system failed its boots and the box came back to the old one)
    state TEXT NOT NULL,
    job_id INTEGER REFERENCES jobs(id),
    -- The slot the new system went into (A or B).
    target_slot TEXT,
    -- When the restart is planned (Unix seconds); NULL: not planned yet.
    reboot_at INTEGER,
    -- The kernel's boot id when the bundle was installed: a later boot id with the old slot
    -- booted means the new system was tried and given up.
    installed_boot TEXT,
    started_at INTEGER NOT NULL,
    installed_at INTEGER,
    finished_at INTEGER,
    error_key TEXT,
    error_en TEXT,
    error_fr TEXT,
    -- What the failed boots of the new system logged (rolled back).
    boot_log TEXT
);
CREATE INDEX os_update_attempts_state ON os_update_attempts(state);
