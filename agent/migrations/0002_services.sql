-- Services: the wanted state of installed services, their generated secrets, the images the
-- agent pulled, and named jobs with their results.
CREATE TABLE apps (
    id           TEXT PRIMARY KEY,
    version      TEXT NOT NULL,
    -- installing | installed | updating | removing: anything but `installed` means a job was
    -- under way; after a crash the agent completes or rolls it back.
    phase        TEXT NOT NULL,
    -- running | stopped
    wanted       TEXT NOT NULL,
    settings     TEXT NOT NULL,
    -- The manifest (JSON) this version was installed from: the catalog on disk may move on
    -- with a system update, but a service only changes version through an update job.
    manifest     TEXT NOT NULL,
    -- The version to go back to if an update fails (NULL outside updates).
    previous     TEXT,
    -- 1 if this install created the data directory (a failed install then removes it).
    fresh_data   INTEGER NOT NULL DEFAULT 0,
    installed_at INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;

-- Kept when a service is uninstalled with its data (a reinstall finds its database password);
-- deleted with the data.
CREATE TABLE app_secrets (
    app   TEXT NOT NULL,
    name  TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (app, name)
) STRICT;

-- Images pulled for services, so unused ones can be pruned (images are never labelled).
CREATE TABLE app_images (
    image TEXT PRIMARY KEY,
    first_used INTEGER NOT NULL
) STRICT;

CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY,
    app         TEXT NOT NULL,
    kind        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    -- running | succeeded | failed | interrupted
    state       TEXT NOT NULL,
    step        TEXT NOT NULL DEFAULT '',
    percent     INTEGER NOT NULL DEFAULT 0,
    message     TEXT NOT NULL DEFAULT '',
    started_at  INTEGER NOT NULL,
    finished_at INTEGER
) STRICT;
CREATE INDEX jobs_app ON jobs(app, id);
