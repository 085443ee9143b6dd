#!/usr/bin/python3
"""A fault-injecting HTTP proxy between a registry client and a registry, for tests.

    registry_proxy.py UPSTREAM_PORT PORT_FILE [FAULT=COUNT ...]
listens on a free 127.0.0.1 port (written to PORT_FILE), forwards every request to 127.0.0.1:UPSTREAM_PORT with
its Host header unchanged (so the registry's Location headers point back at the proxy), and injects faults:
  drop_patch=N   the N-th PATCH carrying a body: read half of it, start an answer, and close the connection
  drop_put=N     the N-th PUT carrying a blob (a monolithic upload): the same
  head503=N      the first N HEAD requests for blobs answer 503
  post429=N      the first N POSTs starting an upload answer 429 with Retry-After: 1
  patch416=N     the N-th PATCH is answered 416 (Requested Range Not Satisfiable) without reaching the registry
  lose_upload=N  before the N-th PATCH reaches the registry, the upload is DELETEd there: the registry itself
                 answers 404 BLOB_UPLOAD_UNKNOWN
  drop_get=N     the N-th GET of a blob: the registry's answer is cut after half its body
  fake_manifest=N      the N-th manifest PUT is answered 200 with garbage and no Docker-Content-Digest, and never
                       reaches the registry
  wrong_digest=N       the N-th manifest PUT reaches the registry, but is answered 201 with another digest
  head_lies=N          the first N HEADs of blobs answer 200 with the asked digest and Content-Length 1
  other_host=1   another host: the proxy also listens on 127.0.0.2 (same port); every Location pointing at
                 127.0.0.1:PORT is rewritten to 127.0.0.2:PORT and blob GETs are redirected (307) there. What
                 arrives on 127.0.0.2 is logged as "127.0.0.2 got METHOD PATH with[out] Authorization" and is
                 forwarded with the Authorization of $PROXY_OTHER_HOST_AUTH (a storage backend that trusts its
                 signed URLs), never with the client's
Each injected fault is logged on stderr as "injected <fault>".
"""
import http.client
import http.server
import os
import socket
import sys
import threading

upstream_port = int(sys.argv[1])
port_file = sys.argv[2]
faults = {k: int(v) for k, v in (a.split("=") for a in sys.argv[3:])}
counts = {"patch": 0, "put": 0, "head": 0, "post": 0, "get": 0, "manifest_put": 0}
lock = threading.Lock()
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te"}


def log(line):
    sys.stderr.write("registry_proxy: " + line + "\n")
    sys.stderr.flush()


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    # The connection dies mid-request after the start of an answer: a bare close on a kept-alive connection
    # would be retried by libcurl on a fresh one by itself, and the client's own resumption would go untested.
    def drop(self, what, length):
        self.rfile.read(length // 2)
        log("injected " + what)
        self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 1000\r\n\r\ntruncated")
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def answer(self, status, extra=()):
        self.send_response(status)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def handle_any(self):
        method = self.command
        length = int(self.headers.get("Content-Length", "0") or 0)
        fault = None
        other_host = self.server.server_address[0] == "127.0.0.2"
        if other_host:
            seen = "with" if "Authorization" in self.headers else "without"
            log(f"127.0.0.2 got {method} {self.path.split('?')[0]} {seen} Authorization")
        elif faults.get("other_host") and method == "GET" and "/blobs/sha256:" in self.path:
            self.rfile.read(length)
            log(f"injected redirect of GET {self.path} to 127.0.0.2")
            return self.answer(307, [("Location", f"http://127.0.0.2:{port}{self.path}")])
        with lock:
            if method == "PUT" and "/manifests/" in self.path:
                counts["manifest_put"] += 1
                if counts["manifest_put"] == faults.get("fake_manifest", 0):
                    self.rfile.read(length)
                    log("injected a fake 200 for manifest PUT")
                    body = b"<html>garbage</html>"
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if counts["manifest_put"] == faults.get("wrong_digest", 0):
                    fault = "wrong_digest"
            if method == "PATCH" and length > 0:
                counts["patch"] += 1
                if counts["patch"] == faults.get("drop_patch", 0):
                    return self.drop(f"drop of PATCH #{counts['patch']}", length)
                if counts["patch"] == faults.get("patch416", 0):
                    self.rfile.read(length)
                    log(f"injected 416 for PATCH #{counts['patch']}")
                    return self.answer(416)
                if counts["patch"] == faults.get("lose_upload", 0):
                    fault = "lose_upload"
            if method == "GET" and "/blobs/sha256:" in self.path:
                counts["get"] += 1
                if counts["get"] == faults.get("drop_get", 0):
                    fault = "drop_get"
            if method == "PUT" and length > 0 and "/blobs/uploads/" in self.path:
                counts["put"] += 1
                if counts["put"] == faults.get("drop_put", 0):
                    return self.drop(f"drop of blob PUT #{counts['put']}", length)
            if method == "HEAD" and "/blobs/" in self.path:
                counts["head"] += 1
                if counts["head"] <= faults.get("head_lies", 0):
                    log(f"injected a lying HEAD #{counts['head']}")
                    self.send_response(200)
                    self.send_header("Docker-Content-Digest", self.path.rsplit("/", 1)[1])
                    self.send_header("Content-Length", "1")
                    self.end_headers()
                    return
                if counts["head"] <= faults.get("head503", 0):
                    self.rfile.read(length)
                    log(f"injected 503 for HEAD #{counts['head']}")
                    return self.answer(503)
            if method == "POST" and self.path.split("?")[0].endswith("/blobs/uploads/"):
                counts["post"] += 1
                if counts["post"] <= faults.get("post429", 0):
                    self.rfile.read(length)
                    log(f"injected 429 for POST #{counts['post']}")
                    return self.answer(429, [("Retry-After", "1")])
        body = self.rfile.read(length) if length else None
        upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        if other_host:
            headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            if os.environ.get("PROXY_OTHER_HOST_AUTH"):
                headers["Authorization"] = os.environ["PROXY_OTHER_HOST_AUTH"]
        if fault == "lose_upload":
            upstream.request("DELETE", self.path, headers={k: v for k, v in headers.items()
                                                           if k.lower() not in ("content-length", "content-range")})
            upstream.getresponse().read()
            log(f"injected loss of the upload before PATCH #{counts['patch']}")
        upstream.request(method, self.path, body=body, headers=headers)
        res = upstream.getresponse()
        data = res.read()
        if fault == "drop_get" and res.status in (200, 206) and len(data) > 1:
            log(f"injected drop of blob GET #{counts['get']} after {len(data) // 2} of {len(data)} bytes")
            self.send_response(res.status)
            for k, v in res.getheaders():
                if k.lower() not in HOP_BY_HOP:
                    self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            upstream.close()
            return
        if fault == "wrong_digest":
            log("injected a wrong digest for manifest PUT")
        self.send_response(res.status)
        for k, v in res.getheaders():
            if k.lower() in HOP_BY_HOP or (k.lower() == "content-length" and method != "HEAD"):
                continue
            if fault == "wrong_digest" and k.lower() == "docker-content-digest":
                v = "sha256:" + "0" * 64
            if faults.get("other_host") and k.lower() == "location":
                v = v.replace(f"127.0.0.1:{port}", f"127.0.0.2:{port}")
            self.send_header(k, v)
        if method != "HEAD":
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(data)
        upstream.close()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

    def log_message(self, fmt, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ProxyHandler)
port = server.server_address[1]
if faults.get("other_host"):
    other = http.server.ThreadingHTTPServer(("127.0.0.2", port), ProxyHandler)
    threading.Thread(target=other.serve_forever, daemon=True).start()
with open(port_file + ".tmp", "w") as f:
    f.write(str(port))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
