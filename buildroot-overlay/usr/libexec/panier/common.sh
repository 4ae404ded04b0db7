# Shared by the scripts in /usr/libexec/panier (POSIX sh, sourced).

PANIER_CONFIG=/etc/panier/panier.toml

# Prints a top-level string value of the agent's configuration, or $2 when absent.
config_value() {
  value=$(sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p" "$PANIER_CONFIG" 2>/dev/null | head -n 1)
  printf '%s\n' "${value:-$2}"
}

# The agent's health endpoint, on the loopback interface.
health_url() {
  listen=$(config_value listen 0.0.0.0:80)
  printf 'http://127.0.0.1:%s/api/v1/health\n' "${listen##*:}"
}

# Prints the health JSON; fails when the agent does not answer.
health() {
  curl -fsS --max-time 5 "$(health_url)"
}

# True when the health JSON on stdin says the agent serves (ok, or diagnostic mode, which still
# serves the admin UI).
health_is_up() {
  grep -Eq '"status"[[:space:]]*:[[:space:]]*"(ok|diagnostic)"'
}
