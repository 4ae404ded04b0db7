# shellcheck shell=bash disable=SC2034
# DokuWiki from Debian bookworm's dokuwiki package, served by PHP's built-in web server
# (php-cli; php-cgi satisfies the php package's web server dependency without Apache).
packages=(dokuwiki php8.2-cli php8.2-cgi)
cmd='["php", "-S", "0.0.0.0:8080", "-t", "/usr/share/dokuwiki"]'
ports='[8080]'
