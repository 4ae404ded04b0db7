# shellcheck shell=bash disable=SC2034
# Radicale (CalDAV/CardDAV) from Debian bookworm's radicale package, with python3-bcrypt for
# bcrypt htpasswd accounts. The test manifest (tests/realapps/radicale) gives the command:
# as the catalog's image, this one has no authentication of its own.
packages=(radicale python3-bcrypt)
cmd='["radicale"]'
ports='[5232]'
