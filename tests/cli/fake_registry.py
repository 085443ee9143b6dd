#!/usr/bin/python3
"""Hostile registries for tests: each MODE answers what a broken or malicious registry would.

    fake_registry.py MODE PORT_FILE [DIR]
listens on a free 127.0.0.1 port (written to PORT_FILE):
  garbage   every request is answered 200 with a body of garbage and no Docker-Content-Digest
  endless   every request is answered 200 with a body that never ends
  silent    connections are accepted and never answered
  busy      every request is answered 503 with Retry-After: 3600
  serve     a read-only registry of DIR: GET/HEAD /v2/REPO/manifests/REF answers DIR/manifests/REF, GET
            /v2/REPO/blobs/DIGEST answers DIR/blobs/sha256/HEX, except that a blob whose digest is listed in
            DIR/endless is sent forever. For hostile base images.
"""
import hashlib
import http.server
import json
import os
import socket
import sys
import threading
import time

mode, port_file = sys.argv[1], sys.argv[2]
root = sys.argv[3] if len(sys.argv) > 3 else None


def publish_port(port):
    with open(port_file + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(port_file + ".tmp", port_file)


if mode == "silent":
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    publish_port(listener.getsockname()[1])
    held = []
    while True:
        held.append(listener.accept()[0])  # kept open, never read from or written to


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def endless(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.end_headers()
        chunk = b"[" * 65536
        try:
            while True:
                self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        length = int(self.headers.get("Content-Length", "0") or 0)
        if length:
            self.rfile.read(length)
        if mode == "garbage":
            return self.reply(200, b"\x00garbage{{{<html>")
        if mode == "busy":
            return self.reply(503, b"busy", [("Retry-After", "3600")])
        if mode == "endless":
            if self.command == "HEAD":
                return self.reply(200)
            return self.endless()
        path = self.path.split("?")[0]
        if path == "/v2/":
            return self.reply(200, b"{}")
        if "/manifests/" in path:
            ref = path.rsplit("/", 1)[1]
            file = os.path.join(root, "manifests", ref)
            if not os.path.exists(file):
                return self.reply(404, b'{"errors": [{"code": "MANIFEST_UNKNOWN"}]}')
            body = open(file, "rb").read()
            media_type = json.loads(body).get("mediaType", "application/vnd.oci.image.manifest.v1+json")
            return self.reply(200, body, [("Content-Type", media_type),
                                          ("Docker-Content-Digest", "sha256:" + hashlib.sha256(body).hexdigest())])
        if "/blobs/sha256:" in path:
            digest = path.rsplit("/", 1)[1]
            endless = os.path.join(root, "endless")
            if os.path.exists(endless) and digest in open(endless).read().split():
                return self.endless()
            file = os.path.join(root, "blobs", "sha256", digest[7:])
            if not os.path.exists(file):
                return self.reply(404, b'{"errors": [{"code": "BLOB_UNKNOWN"}]}')
            return self.reply(200, open(file, "rb").read(), [("Docker-Content-Digest", digest)])
        return self.reply(404)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

    def log_message(self, fmt, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
publish_port(server.server_address[1])
server.serve_forever()
