#!/usr/bin/python3
"""A registry token server for tests: the Docker/OCI Bearer token flow on loopback.

    token_server.py DIR USER PASSWORD [--pull-only-first] [--expires-in SECONDS]
writes DIR/cert.pem (a self-signed certificate the registry trusts as `auth.token.rootcertbundle`), serves
GET /token?service=...&scope=... on a free 127.0.0.1 port written to DIR/port, and answers requests carrying
USER:PASSWORD as Basic credentials with an RS256 JWT granting the requested scopes. Each token issued is appended
to DIR/tokens, so a test can check that the client never prints one. With --pull-only-first the first token
grants only `pull`, so that the registry answers a push with `insufficient_scope` and the client must widen;
--expires-in (default 300) is the tokens' lifetime, the `expires_in` a client caches them for. The registry validates the signature through
the `x5c` header (the certificate chain, here the self-signed certificate itself) against the root bundle.
"""
import base64
import datetime
import http.server
import json
import os
import sys
import time
import urllib.parse
import uuid

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

ISSUER = "dlctl-test-issuer"

directory, user, password = sys.argv[1], sys.argv[2], sys.argv[3]
stingy = {"pending": "--pull-only-first" in sys.argv[4:]}
lifetime = int(sys.argv[sys.argv.index("--expires-in") + 1]) if "--expires-in" in sys.argv else 300
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dlctl test token issuer")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
with open(os.path.join(directory, "cert.pem"), "wb") as f:
    f.write(cert.public_bytes(serialization.Encoding.PEM))
x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
expected_auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class TokenHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path != "/token":
            return self.reply(404, {"error": "not found"})
        if self.headers.get("Authorization") != expected_auth:
            return self.reply(401, {"error": "bad credentials"}, [("WWW-Authenticate", 'Basic realm="token"')])
        access = []
        for scope in " ".join(query.get("scope", [])).split():
            kind, _, rest = scope.partition(":")
            repo, _, actions = rest.rpartition(":")
            granted = actions.split(",")
            if stingy["pending"]:
                granted = [a for a in granted if a == "pull"]
            access.append({"type": kind, "name": repo, "actions": granted})
        stingy["pending"] = False
        t = int(time.time())
        claims = {"iss": ISSUER, "sub": user, "aud": query.get("service", [""])[0], "exp": t + lifetime,
                  "nbf": t - 10, "iat": t, "jti": str(uuid.uuid4()), "access": access}
        token = jwt.encode(claims, key, algorithm="RS256", headers={"x5c": [x5c]})
        with open(os.path.join(directory, "tokens"), "a") as f:
            f.write(token + "\n")
        self.reply(200, {"token": token, "access_token": token, "expires_in": lifetime})

    def log_message(self, fmt, *args):
        sys.stderr.write("token_server: " + (fmt % args) + "\n")


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), TokenHandler)
with open(os.path.join(directory, "port.tmp"), "w") as f:
    f.write(str(server.server_address[1]))
os.rename(os.path.join(directory, "port.tmp"), os.path.join(directory, "port"))
server.serve_forever()
