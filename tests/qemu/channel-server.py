#!/usr/bin/python3
"""The QEMU suite's update channel: a static HTTPS server for a folder (the index, its
signature, the bundles), as a mirror would serve them. Answers byte ranges (`Range:
bytes=N-`), which the agent asks for when it resumes a download, and logs each request with its
range to stderr.

Usage: channel-server.py DIR CERT KEY PORT_FILE  (listens on 127.0.0.1, a free port written to
PORT_FILE once listening; QEMU's user network takes 10.0.2.2 to the host's 127.0.0.1)
"""

import http.server
import os
import re
import ssl
import sys


class Handler(http.server.SimpleHTTPRequestHandler):
    def send_head(self):
        path = self.translate_path(self.path)
        ranged = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if not ranged or not os.path.isfile(path):
            return super().send_head()
        size = os.path.getsize(path)
        start = int(ranged.group(1))
        if start >= size:
            self.send_error(416)
            return None
        f = open(path, "rb")
        f.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.send_header("Content-Length", str(size - start))
        self.end_headers()
        return f

    def log_message(self, fmt, *args):
        sys.stderr.write(
            "channel: %s %s (range %s)\n"
            % (self.address_string(), fmt % args, self.headers.get("Range", "none"))
        )


def main():
    folder, cert, key, port_file = sys.argv[1:5]
    handler = lambda *a, **kw: Handler(*a, directory=folder, **kw)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
