#!/bin/sh
# Run by build.sh on the host with the image's root in "$1". The user postgres gets fixed
# ids (5432:5432), which the test manifest's volumes are owned by (adduser picked whatever
# system id was free). Debian's default cluster goes: the server's data is the volume's.
set -eu
old_uid=$(awk -F: '$1 == "postgres" { print $3 }' "$1/etc/passwd")
old_gid=$(awk -F: '$1 == "postgres" { print $3 }' "$1/etc/group")
sed -i "s/^postgres:x:$old_uid:$old_gid:/postgres:x:5432:5432:/" "$1/etc/passwd"
sed -i "s/^postgres:x:$old_gid:/postgres:x:5432:/" "$1/etc/group"
find "$1" -xdev -uid "$old_uid" -exec chown -h 5432 {} +
find "$1" -xdev -gid "$old_gid" -exec chgrp -h 5432 {} +
rm -rf "$1/var/lib/postgresql/15" "$1/etc/postgresql/15"
