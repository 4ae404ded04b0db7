-- The address each service runs with (`<id>-<box>.local`, its mDNS rename, or a public
-- domain): what its containers' {{app.domain}} and {{app.url}} are filled with. The
-- reconciler moves it when the wanted address changes (a follow_address job), except for
-- services whose address is fixed, which keep the one they were installed with.
CREATE TABLE app_addresses (
    app TEXT PRIMARY KEY,
    domain TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
