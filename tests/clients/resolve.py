"""Sends one host name's connections to a given address, as curl's --resolve does: the test
machine has no mDNS name for a service, and the name must still be the one the client asks
for (Host header, TLS server name and certificate check)."""

import socket


def resolve_to(pair):
    """pair: "HOST:IP"."""
    host, ip = pair.rsplit(":", 1)
    real = socket.getaddrinfo

    def getaddrinfo(name, *args, **kwargs):
        return real(ip if name == host else name, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
