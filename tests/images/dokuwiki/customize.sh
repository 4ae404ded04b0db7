#!/bin/sh
# Run by build.sh on the host with the image's root in "$1". DokuWiki's mutable files all go
# under /var/lib/dokuwiki, the service's volume: Debian keeps the accounts and the ACL there
# already (links from /etc/dokuwiki); local.php (the wiki's title, written by the test
# manifest's setup step) joins them. A pristine copy of the folder stays in the image, for
# the manifest's entrypoint to seed an empty volume from (as www-data). Debian's postinst makes an account
# `admin` with a default password: it is removed, so that the image has no account at all
# until the manifest's setup step writes the administrator of the install form.
set -eu
sed -i '/^[^#]/d' "$1/var/lib/dokuwiki/acl/users.auth.php"
mv "$1/etc/dokuwiki/local.php" "$1/var/lib/dokuwiki/acl/local.php"
ln -s /var/lib/dokuwiki/acl/local.php "$1/etc/dokuwiki/local.php"
# Debian's link /var/lib/dokuwiki/inc → /usr/share/dokuwiki/inc serves nothing here (the
# code runs from /usr/share/dokuwiki), and a restore refuses links that lead out of the volume.
rm "$1/var/lib/dokuwiki/inc"
cp -a "$1/var/lib/dokuwiki" "$1/usr/share/dokuwiki-seed"
# The service runs as www-data (33), which must read all of the copy (some plugin folders
# are root's alone).
chown -R 33:33 "$1/usr/share/dokuwiki-seed"
