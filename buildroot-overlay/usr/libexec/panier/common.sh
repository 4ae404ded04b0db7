# Shared by the scripts in /usr/libexec/panier (POSIX sh, sourced).

PANIER_CONFIG=/etc/panier/panier.toml

# Prints a top-level string value of the agent's configuration, or $2 when absent.
config_value() {
  value=$(sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p" "$PANIER_CONFIG" 2>/dev/null | head -n 1)
  printf '%s\n' "${value:-$2}"
}

# The agent's health endpoint, on the loopback interface. With an HTTP entry (`http_listen`,
# the box's configuration) `listen` is the HTTPS entry, where the API lives; the plain-HTTP
# entry only redirects /api there.
health_url() {
  listen=$(config_value listen 0.0.0.0:443)
  if [ -n "$(config_value http_listen '')" ]; then
    printf 'https://127.0.0.1:%s/api/v1/health\n' "${listen##*:}"
  else
    printf 'http://127.0.0.1:%s/api/v1/health\n' "${listen##*:}"
  fi
}

# Prints the health JSON; fails when the agent does not answer. The certificate is the box's
# own (its CA is in the data partition), and this is the loopback interface: not checked.
health() {
  curl -fsS --insecure --max-time 5 "$(health_url)"
}

# True when the health JSON on stdin says the agent serves (ok, or diagnostic mode, which still
# serves the admin UI).
health_is_up() {
  grep -Eq '"status"[[:space:]]*:[[:space:]]*"(ok|diagnostic)"'
}
