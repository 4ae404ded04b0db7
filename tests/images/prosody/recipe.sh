# shellcheck shell=bash disable=SC2034
# Prosody (XMPP) from Debian bookworm's prosody package, and openssl for the certificate the
# test manifest (tests/realapps/prosody) makes at first start. The configuration file
# (files/etc/prosody/prosody.cfg.lua) reads the domain and the certificate's folder from the
# environment, as the catalog's image reads PROSODY_*.
packages=(prosody openssl)
cmd='["prosody", "-F"]'
ports='[5222]'
