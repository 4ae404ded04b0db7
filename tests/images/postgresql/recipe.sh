# shellcheck shell=bash disable=SC2034
# PostgreSQL 15 from Debian bookworm's postgresql-15 package. Debian's postinst makes a
# cluster of its own under /var/lib/postgresql/15 (removed by customize.sh); the test
# manifest (tests/realapps/postgresql) makes one in its volume at the first start from the
# POSTGRES_* environment, as the official image's entrypoint does, and runs the server as
# the user postgres, whose ids customize.sh fixes to 5432.
packages=(postgresql-15)
cmd='["/usr/lib/postgresql/15/bin/postgres", "-D", "/var/lib/postgresql/data"]'
user='5432:5432'
ports='[5432]'
