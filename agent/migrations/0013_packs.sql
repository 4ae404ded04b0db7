-- Image packs (issue 19): what imported packs brought, and the keys a box trusts for them.

-- Each service's catalog entry as a pack carried it (JSON: manifest, icon, pages), the
-- newest version imported. The catalog in the image stays as it is; `apps` offers the
-- newer of the two.
CREATE TABLE pack_services (
    id TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    entry TEXT NOT NULL,
    pack TEXT NOT NULL,
    signer TEXT NOT NULL,
    imported_at INTEGER NOT NULL
);

-- Images loaded from packs, by the reference the manifests write. An image loaded from an
-- archive has no registry digest in the engine, so `name:tag@sha256:…` would not find it:
-- the agent resolves such references to the content id it checked at load.
CREATE TABLE pack_images (
    reference TEXT PRIMARY KEY,
    image_id TEXT NOT NULL,
    pack TEXT NOT NULL,
    loaded_at INTEGER NOT NULL
);

-- Public keys enrolled on this box (the image's own are files under
-- /usr/share/panier/keys/<purpose>/), each for one purpose only (`packs`, `updates`).
CREATE TABLE trusted_keys (
    key_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    public_key TEXT NOT NULL,
    name TEXT NOT NULL,
    added_by TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (key_id, purpose)
);
