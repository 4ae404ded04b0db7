-- The test image's Prosody configuration (tests/images/prosody), replacing Debian's: one
-- virtual host named by the DOMAIN environment variable, with the certificate the test
-- manifest makes in the data folder, client connections on 5222 only (TLS required, no
-- server-to-server, no registration), logs on the console (prosody -F).
local domain = ENV_DOMAIN or "localhost"

modules_enabled = { "roster"; "saslauth"; "tls"; "disco"; "ping"; "offline"; "posix" }
modules_disabled = { "s2s" }
allow_registration = false
c2s_require_encryption = true
authentication = "internal_hashed"
storage = "internal"
data_path = "/var/lib/prosody"
certificates = "/var/lib/prosody/certs"
interfaces = { "0.0.0.0" }
c2s_ports = { 5222 }
pidfile = "/run/prosody/prosody.pid"
log = { info = "*console" }

VirtualHost(domain)
