#!/usr/bin/env python3
"""Writes the seed corpora of fuzz/corpus/<target>/ (run from anywhere; the files are committed).

Text seeds come from the repository's own specs, data and sample requests; binary ones (IDX files, tar layers,
docker-archives) are made here; checkpoints from a real `dlctl train` when --dlctl is given (a tiny model, so
that the seeds stay small). Regenerate after a file format changes: `fuzz/make_seeds.py --dlctl build/dlctl`.
"""
import argparse
import glob
import gzip
import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import tarfile
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def spec_seeds():
    for path in sorted(glob.glob(os.path.join(ROOT, "configs", "*.yaml")) +
                       glob.glob(os.path.join(ROOT, "tests", "data", "*.yaml"))):
        put("spec", os.path.basename(path), open(path, "rb").read())


def head_lines(path, n):
    with open(path, "rb") as f:
        return b"".join(f.readline() for _ in range(n))


def csv_seeds():
    # byte 0: bit 0 class labels, bit 1 ';', bits 2-3 normalisation, bit 4 two targets, bit 5 one feature
    put("csv", "housing", b"\x04" + head_lines(os.path.join(ROOT, "datasets", "housing.csv"), 12))
    put("csv", "iris", b"\x01" + head_lines(os.path.join(ROOT, "datasets", "iris.csv"), 12))
    put("csv", "wine_minmax", b"\x09" + head_lines(os.path.join(ROOT, "datasets", "wine.csv"), 8))
    put("csv", "digits", b"\x01" + head_lines(os.path.join(ROOT, "datasets", "digits.csv"), 4))
    put("csv", "semicolon_two_targets", b"\x16a;b;c;y1;y2\n1;2;3;4;5\n6;7;8;9;10\n1e3;-2;+3;4.5;0\n")
    put("csv", "quoted_crlf", b"\x01\"x\",\"y\"\r\n1,\"cat\"\r\n2,dog\r\n3,cat\r\n")
    put("csv", "one_feature", b"\x20x,z,y\n1,2,3\n4,5,6\n")
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "data", "*.csv"))):
        put("csv", os.path.basename(path), b"\x00" + open(path, "rb").read())


def idx(dtype_code, dims, payload):
    return struct.pack(">BBBB", 0, 0, dtype_code, len(dims)) + b"".join(struct.pack(">I", d) for d in dims) + payload


def idx_pair(images, labels):
    return struct.pack("<H", len(images)) + images + labels


def idx_seeds():
    imgs = idx(0x08, [3, 2, 2], bytes(range(12)))
    labels = idx(0x08, [3], bytes([0, 1, 2]))
    put("idx", "uint8_2x2", idx_pair(imgs, labels))
    put("idx", "float32_1x3", idx_pair(idx(0x0D, [2, 3], struct.pack(">6f", 0, 0.5, 1, 1.5, 2, 2.5)),
                                       idx(0x08, [2], bytes([1, 0]))))
    put("idx", "gzip", idx_pair(gzip.compress(imgs, mtime=0), gzip.compress(labels, mtime=0)))
    put("idx", "mnist_like_4", idx_pair(idx(0x08, [4, 28, 28], bytes(i % 256 for i in range(4 * 784))),
                                        idx(0x08, [4], bytes([7, 2, 1, 0]))))


def request_seeds():
    # byte 0: bit 0 the image model ([2, 2]) rather than the tabular one (crim, zn, rm); bits 1-2: 0 a serve
    # body, 1 a JSON-lines file, 2 a CSV file
    bodies = {
        "rows": {"instances": [[0.1, 18, 6.5], [0.2, 0, 5.9]]},
        "objects": {"instances": [{"crim": 0.1, "zn": 18, "rm": 6.5}], "signature_name": "serving_default"},
        "named_input": {"instances": [{"input": [0.1, 18, 6.5]}]},
        "columnar": {"inputs": [[0.1, 18, 6.5]]},
        "columnar_named": {"inputs": {"input": [[1, 2, 3]]}},
    }
    for name, body in bodies.items():
        put("request", "body_" + name, b"\x00" + json.dumps(body).encode())
    put("request", "body_image_nested", b"\x01" + json.dumps({"instances": [[[1, 2], [3, 4]], [1, 2, 3, 4]]}).encode())
    put("request", "body_image_inputs", b"\x01" + json.dumps({"inputs": [[[0.5, 1e-3], [2e2, -1]]]}).encode())
    put("request", "body_numbers", b"\x00" + b'{"instances": [[1e38, -0.0, 3E+2]]}')
    put("request", "jsonl_tabular", b"\x02" + b'[0.1, 18, 6.5]\n{"crim": 1, "zn": 2, "rm": 3}\n\n{"input": [1,2,3]}\n')
    put("request", "jsonl_image", b"\x03" + b'[[1, 2], [3, 4]]\n[1, 2, 3, 4]\n')
    put("request", "csv_tabular", b"\x04" + b"rm,zn,crim,medv\n6.5,18,0.1,24\n5.9,0,0.2,21\n")
    put("request", "csv_image", b"\x05" + b"a,b,c,d\n1,2,3,4\n")


def labels_seeds():
    put("labels", "labels", b"\x00" + b'{"stable": 1, "canary": "2"}')
    put("labels", "labels_empty", b"\x00" + b"{}")
    signature = {
        "inputs": [{"name": "input", "dtype": "float32", "shape": [-1, 3]}],
        "outputs": [{"name": "prediction", "dtype": "float32", "shape": [-1, 1]}],
        "features": ["crim", "zn", "rm"], "targets": ["medv"], "metrics": {"test_loss": 21.5, "test_mae": 3.1},
        "spec_sha256": "0" * 64, "nested": {"a": [1, [2, [3, {"b": "\u00e9\\u0000"}]]]},
    }
    put("labels", "signature", b"\x01" + json.dumps(signature).encode())


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def tar_bytes(entries, fmt=tarfile.PAX_FORMAT):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as t:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 0
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                t.addfile(info)
            elif kind == "link":
                info.type = tarfile.SYMTYPE
                info.linkname = data
                t.addfile(info)
            elif kind == "hard":
                info.type = tarfile.LNKTYPE
                info.linkname = data
                t.addfile(info)
            else:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    return out.getvalue()


def tar_seeds():
    # byte 0: bit 0 a docker-archive for push; else base layers (bit 1: two, bytes 1-2 the first one's length)
    base = tar_bytes([("usr", "dir", None), ("usr/lib", "dir", None), ("lib", "link", "usr/lib"),
                      ("usr/lib/libz.so.1", "link", "libz.so.1.2.13"), ("usr/lib/libz.so.1.2.13", "file", b"ELF"),
                      ("etc/passwd", "file", b"root:x:0:0::/root:/bin/sh\n"), ("./tmp/", "dir", None),
                      ("usr/bin/sh", "hard", "usr/lib/libz.so.1.2.13")])
    upper = tar_bytes([("etc/.wh.passwd", "file", b""), ("usr/lib/.wh..wh..opq", "file", b""),
                       ("usr/lib/libc.so.6", "file", b"ELF"), ("/abs/../x", "link", "../../../../etc/shadow")],
                      fmt=tarfile.GNU_FORMAT)
    put("tar", "base_plain", b"\x00" + base)
    put("tar", "base_gzip", b"\x00" + gzip.compress(base, mtime=0))
    put("tar", "base_two_layers", b"\x02" + struct.pack("<H", len(base)) + base + upper)
    put("tar", "base_ustar", b"\x00" + tar_bytes([("a/b/c", "file", b"x"), ("a/b", "link", "/a")], fmt=tarfile.USTAR_FORMAT))
    layer = tar_bytes([("hello", "file", b"hi\n")])
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [sha(layer)]}}).encode()
    manifest = json.dumps([{"Config": "config.json", "RepoTags": ["fuzz:latest"], "Layers": ["layer.tar"]}]).encode()
    put("tar", "docker_archive", b"\x01" + tar_bytes([("manifest.json", "file", manifest), ("config.json", "file", config),
                                                       ("layer.tar", "file", layer)]))
    manifest2 = json.dumps([{"Config": "c/config.json", "RepoTags": ["a:1"], "Layers": ["l/layer.tar.gz"]},
                            {"Config": "c/config.json", "RepoTags": ["fuzz:latest"], "Layers": []}]).encode()
    put("tar", "docker_archive_two", b"\x01" + tar_bytes([("manifest.json", "file", manifest2), ("c/config.json", "file", config),
                                                           ("l/layer.tar.gz", "file", gzip.compress(layer, mtime=0))]))


def registry_seeds():
    # byte 0: bit 0 push rather than pull; the rest is a fake_registry.h script
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}})
    manifest = ('{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", '
                '"config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "@D2@", "size": @S2@}, '
                '"layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "@D3@", "size": @S3@}]}')
    layer = "layer bytes"
    ping = "200\n\n{}"
    oci_ct = "Content-Type: application/vnd.oci.image.manifest.v1+json\nDocker-Content-Digest: @D1@"
    put("registry", "pull", "\x00" + "\n--\n".join([ping, "200\n" + oci_ct + "\n\n" + manifest, "200\n\n" + config, "200\n\n" + layer]))
    index = ('{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": ['
             '{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "@D2@", "size": @S2@, '
             '"platform": {"architecture": "arm64", "os": "linux"}}, '
             '{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "@D2@", "size": @S2@, '
             '"platform": {"architecture": "amd64", "os": "linux"}}]}')
    manifest_shifted = manifest.replace("@D2@", "@D3@").replace("@S2@", "@S3@").replace("@D3@\", \"size\": @S3@}]", "@D4@\", \"size\": @S4@}]")
    put("registry", "pull_index", "\x00" + "\n--\n".join([
        ping, "200\nContent-Type: application/vnd.oci.image.index.v1+json\n\n" + index,
        "200\n" + oci_ct.replace("@D1@", "@D2@") + "\n\n" + manifest_shifted, "200\n\n" + config, "200\n\n" + layer]))
    challenge = "401\nWWW-Authenticate: Bearer realm=\"http://127.0.0.1:@PORT@/token\",service=\"fuzz\",scope=\"repository:fuzz/base:pull\"\n\n{}"
    put("registry", "pull_bearer", "\x00" + "\n--\n".join([
        challenge, "200\n\n{\"token\": \"t0k3n\", \"expires_in\": 300}", ping,
        "200\n" + oci_ct.replace("@D1@", "@D3@") + "\n\n" + manifest.replace("@D2@", "@D4@").replace("@S2@", "@S4@").replace("@D3@", "@D5@").replace("@S3@", "@S5@"),
        "200\n\n" + config, "200\n\n" + layer]))
    put("registry", "pull_basic_denied", "\x00" + "401\nWWW-Authenticate: Basic realm=\"x\", charset=\"UTF-8\"\n\n")
    put("registry", "pull_retry", "\x00" + "503\nRetry-After: 0\n\n--\n200\n\n{}\n--\n404\n\n{\"errors\": [{\"code\": \"MANIFEST_UNKNOWN\"}]}")
    # push (fuzz_registry.cpp's image: a config, then a 1.5 KB layer in 512-byte chunks): per blob HEAD, POST
    # (Location), PUT or PATCHes then PUT; then the manifest PUT
    loc = "202\nLocation: /v2/fuzz/base/blobs/uploads/u{}?state=s\n\n"
    put("registry", "push", "\x01" + "\n--\n".join([
        ping, "404\n\n", loc.format(1), "201\nLocation: /v2/fuzz/base/blobs/sha256:c\n\n",
        "404\n\n", loc.format(2), "202\nLocation: http://127.0.0.1:@PORT@/v2/fuzz/base/blobs/uploads/u2?s=1\nRange: 0-511\n\n",
        "202\nLocation: /v2/fuzz/base/blobs/uploads/u2?s=2\nRange: 0-1023\n\n", loc.format(2), "201\n\n",
        "201\nDocker-Content-Digest: @M@\nLocation: /v2/fuzz/base/manifests/@M@\n\n"]))
    put("registry", "push_wrong_digest", "\x01" + "\n--\n".join([
        ping, "200\n\n", "200\n\n", "201\nDocker-Content-Digest: sha256:" + "0" * 64 + "\n\n"]))
    put("registry", "push_present", "\x01" + "\n--\n".join([
        ping, "200\nDocker-Content-Digest: sha256:x\nContent-Length: 64\n\n", "200\n\n",
        "201\nLocation: /v2/fuzz/base/manifests/1\n\n"]))
    put("registry", "push_redirect", "\x01" + "\n--\n".join([
        ping, "404\n\n", "202\nLocation: http://127.0.0.2:@PORT@/upload\n\n", "201\n\n"]))
    put("registry", "push_bearer", "\x01" + "\n--\n".join([
        challenge, "200\n\n{\"access_token\": \"a\", \"expires_in\": 1}", ping,
        "401\nWWW-Authenticate: Bearer realm=\"http://127.0.0.1:@PORT@/token\",error=\"insufficient_scope\",scope=\"repository:fuzz/base:pull,push repository:other:pull\"\n\n",
        "200\n\n{\"token\": \"b\"}", "404\n\n", loc.format(1), "201\n\n"]))


def http_request_seeds():
    # byte 0: bytes more per read, minus one; the rest is what the connection sends (pipelined requests too)
    body = b'{"instances": [[0.1, 18, 6.5]]}'
    reqs = {
        "get": b"GET /v1/models/housing HTTP/1.1\r\nHost: x\r\n\r\n",
        "post": b"POST /v1/models/housing:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body),
        "form": b"POST /v1/models/housing/versions/2:predict HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n%s" % (len(body), body),
        "chunked": b"POST /v1/models/h/labels/stable:predict HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"a;ext=1\r\n{\"instances\r\n15\r\n\": [[1, 2, 3]]}     \r\n0\r\nTrailer: x\r\n\r\n",
        "pipelined": b"GET /v1/models/h/metadata HTTP/1.1\r\n\r\nGET /v1/models/h%2Fx?q=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                     b"GET /monitoring/prometheus/metrics HTTP/1.1\r\nConnection: close\r\n\r\n",
        "conflicting_length": b"POST /v1/models/h:predict HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        "negative_length": b"POST /v1/models/h:predict HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        "te_and_length": b"POST /v1/models/h:predict HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "no_length": b"POST /v1/models/h:predict HTTP/1.1\r\n\r\n{}",
        "lf_only": b"GET /v1/models/h HTTP/1.1\nHost: x\n\n",
    }
    for name, data in reqs.items():
        put("http_request", name, b"\x00" + data)
    put("http_request", "post_in_pieces", b"\x06" + reqs["post"] + reqs["get"])
    put("http_request", "bytewise", b"\x00" + reqs["chunked"])


def checkpoint_seeds(dlctl):
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "data.csv"), "w") as f:
            f.write("a,b,y\n" + "".join(f"{i % 7},{i % 3},{i % 5}\n" for i in range(40)))
        with open(os.path.join(tmp, "data_cls.csv"), "w") as f:
            f.write("a,b,y\n" + "".join(f"{i % 7},{i % 3},{['x', 'y', 'z'][i % 3]}\n" for i in range(40)))
        specs = {
            "regression": "name: tiny\nseed: 1\ndata: {path: data.csv, target: y, normalize: standard}\n"
                          "model: {input: [2], layers: [{dense: {units: 2, activation: relu}}, {dense: {units: 1}}]}\n"
                          "train: {loss: mse, epochs: 1, batch_size: 8}\n",
            "classifier": "name: tinycls\nseed: 1\ndata: {path: data_cls.csv, target: y}\n"
                          "model: {input: [2], layers: [{batch_norm: {}}, {dense: {units: 3, activation: softmax}}]}\n"
                          "train: {loss: sparse_categorical_crossentropy, metrics: [accuracy], epochs: 1, batch_size: 8}\n",
        }
        for name, text in specs.items():
            path = os.path.join(tmp, name + ".yaml")
            with open(path, "w") as f:
                f.write(text)
            subprocess.run([dlctl, "train", path, "--runs", os.path.join(tmp, "runs"), "--quiet"], check=True)
        for name in ("tiny", "tinycls"):
            model = os.path.join(tmp, "runs", name, "1", "model.h5")
            put("checkpoint", name + "_model.h5", open(model, "rb").read())
            subprocess.run([dlctl, "export", os.path.join(tmp, "runs", name, "1"), "--runs", os.path.join(tmp, "runs"),
                            "--out", os.path.join(tmp, "export"), "--format", "native"], check=True,
                           cwd=tmp, stdout=subprocess.DEVNULL)
            for bundle in glob.glob(os.path.join(tmp, "export", name, "*", "dlctl.h5")):
                put("checkpoint", name + "_dlctl.h5", open(bundle, "rb").read())
            for sig in glob.glob(os.path.join(tmp, "export", name, "*", "signature.json")):
                put("labels", name + "_signature.json", b"\x01" + open(sig, "rb").read())


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dlctl", help="a dlctl binary: also (re)make the checkpoint seeds")
    args = ap.parse_args()
    spec_seeds()
    csv_seeds()
    idx_seeds()
    request_seeds()
    labels_seeds()
    tar_seeds()
    registry_seeds()
    http_request_seeds()
    if args.dlctl:
        checkpoint_seeds(os.path.abspath(args.dlctl))


if __name__ == "__main__":
    main()
