# dlctl push against Debian's docker-registry on loopback: no auth, htpasswd and a bearer token server; chunked
# uploads, cross-repository mounts, docker-archive input, and faults injected by a proxy (a dropped connection
# mid-blob, 503s, a 429 with Retry-After) survived by the retries and resumption. Bad references exit 65, an
# unreachable registry 69, rejected credentials 77 without printing the password or a token.
source "$(dirname "$0")/lib.sh"
# Debian's python3, which has python3-jwt and python3-cryptography (a pyenv python on PATH may not).
PY=/usr/bin/python3
HERE=$SRC/tests/cli
# No docker login of the machine leaks in; one case below sets its own.
export DOCKER_CONFIG=$T/no-docker-config
for tool in docker-registry skopeo htpasswd; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 0; }
done

source "$HERE/registry_lib.sh"

# A tiny OCI image layout tagged "1": a 20-byte layer and a 200 KB incompressible one (chunked with
# --chunk-size 65536, so that resumption has chunks to resume from).
IMG=$T/img
$PY - "$IMG" <<'PY'
import gzip, hashlib, io, json, os, random, sys, tarfile
root = sys.argv[1]
os.makedirs(f"{root}/blobs/sha256")
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    open(f"{root}/blobs/sha256/{d}", "wb").write(data)
    return "sha256:" + d
def layer(name, data):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        info = tarfile.TarInfo(name); info.size = len(data); info.mtime = 0
        t.addfile(info, io.BytesIO(data))
    tar = buf.getvalue()
    gz = gzip.compress(tar, mtime=0)
    return {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": blob(gz), "size": len(gz)}, \
        "sha256:" + hashlib.sha256(tar).hexdigest()
small, small_id = layer("hello.txt", b"hello from dlctl\n")
big, big_id = layer("noise.bin", random.Random(7).randbytes(200_000))
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/hello.txt"]},
                     "rootfs": {"type": "layers", "diff_ids": [small_id, big_id]}}).encode()
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": blob(config), "size": len(config)},
                       "layers": [small, big]}).encode()
index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
         "digest": blob(manifest), "size": len(manifest),
         "annotations": {"org.opencontainers.image.ref.name": "1"}}]}
json.dump(index, open(f"{root}/index.json", "w"))
json.dump({"imageLayoutVersion": "1.0.0"}, open(f"{root}/oci-layout", "w"))
PY
DIGEST=$(json "$IMG/index.json" 'j["manifests"][0]["digest"]')
skopeo inspect "oci:$IMG:1" >/dev/null || fail "skopeo cannot read the test image"
registry_digest() { skopeo inspect --no-tags --tls-verify=false "$@" | $PY -c 'import json,sys; print(json.load(sys.stdin)["Digest"])'; }
SECONDS=0

# --- Bad references and images (65), before any socket ---
for ref in nohost:1 "127.0.0.1:99999/x:1" "127.0.0.1:5000/Upper:1" "127.0.0.1:5000/x:bad:tag" "127.0.0.1:5000/x@sha256:12"; do
  expect_rc 65 "$DLCTL" push "$IMG" "$ref" --insecure
  grep -q "invalid image reference" "$T/err" || fail "'$ref': $(cat "$T/err")"
done
echo '{}' >"$T/notanimage.json"
expect_rc 65 "$DLCTL" push "$T/notanimage.json" 127.0.0.1:5000/x:1 --insecure
expect_rc 66 "$DLCTL" push "$T/nowhere" 127.0.0.1:5000/x:1 --insecure

# --- Unreachable registry: 69, quickly ---
start=$SECONDS
expect_rc 69 "$DLCTL" push "$IMG" "127.0.0.1:$(free_port)/x:1" --insecure --retries 1
grep -q "unavailable" "$T/err" || fail "unreachable registry not explained: $(cat "$T/err")"
[ $((SECONDS - start)) -le 5 ] || fail "an unreachable registry took $((SECONDS - start)) s"

# --- No authentication ---
start_registry "$T/open" ""
OPEN=$REG
expect_rc 0 "$DLCTL" push "$IMG" "$OPEN/models/tiny:1" --insecure --json
[ "$(json "$T/out" 'j["digest"]')" = "$DIGEST" ] || fail "pushed digest: $(cat "$T/out")"
[ "$(json "$T/out" 'len(j["pushed"]), len(j["skipped"]), j["reference"]')" = "3 0 $OPEN/models/tiny:1" ] ||
  fail "first push: $(cat "$T/out")"
[ "$(registry_digest "docker://$OPEN/models/tiny:1")" = "$DIGEST" ] || fail "skopeo sees another digest"
expect_rc 0 "$DLCTL" push "$IMG" "$OPEN/models/tiny:1" --insecure --json
[ "$(json "$T/out" 'len(j["pushed"]), len(j["skipped"])')" = "0 3" ] || fail "second push: $(cat "$T/out")"
expect_rc 0 "$DLCTL" push "$IMG" "$OPEN/models/tiny:again" --insecure
grep -qx "pushed $OPEN/models/tiny:again@$DIGEST (0 blobs pushed, 3 skipped)" "$T/out" || fail "human output: $(cat "$T/out")"
# By digest: the manifest is PUT under its digest, which must be the image's.
expect_rc 0 "$DLCTL" push "$IMG" "$OPEN/models/bydigest@$DIGEST" --insecure
[ "$(registry_digest "docker://$OPEN/models/bydigest@$DIGEST")" = "$DIGEST" ] || fail "push by digest"
expect_rc 65 "$DLCTL" push "$IMG" "$OPEN/models/bydigest@sha256:$(printf '%064d' 0)" --insecure
skopeo copy -q --src-tls-verify=false "docker://$OPEN/models/tiny:1" "oci:$T/back:1" || fail "skopeo copy back failed"
[ "$(skopeo inspect "oci:$T/back:1" --format '{{.Digest}}')" = "$DIGEST" ] || fail "the copy back has another digest"

# Chunked upload (every PATCH a 64 KiB chunk), logged with -v.
expect_rc 0 "$DLCTL" push "$IMG" "$OPEN/models/chunked:1" --insecure --chunk-size 65536 -v
[ "$(grep -c '^dlctl: PATCH .* -> HTTP 202$' "$T/err")" -ge 4 ] || fail "no chunked upload: $(cat "$T/err")"
[ "$(registry_digest "docker://$OPEN/models/chunked:1")" = "$DIGEST" ] || fail "chunked push: wrong digest"

# Cross-repository mount: nothing uploaded again, and reported as mounted, not pushed.
expect_rc 0 "$DLCTL" push "$IMG" "$OPEN/models/mounted:1" --insecure --from models/tiny --json -v
[ "$(json "$T/out" 'len(j["pushed"]), len(j["mounted"])')" = "0 3" ] || fail "mount push: $(cat "$T/out")"
[ "$(grep -c 'POST .*mount=sha256:.*from=models/tiny -> HTTP 201' "$T/err")" = 3 ] || fail "no mounts: $(cat "$T/err")"
grep -q 'PUT .*/blobs/uploads/' "$T/err" && fail "a mounted blob was uploaded: $(cat "$T/err")"
expect_rc 0 "$DLCTL" push "$IMG" "$OPEN/models/mounted2:1" --insecure --from models/tiny
grep -qx "pushed $OPEN/models/mounted2:1@$DIGEST (0 blobs pushed, 3 mounted, 0 skipped)" "$T/out" ||
  fail "mounts reported as: $(cat "$T/out")"

# A docker-archive (written by skopeo) is pushed as an OCI manifest with gzip'd layers.
skopeo copy -q "oci:$IMG:1" "docker-archive:$T/img.tar:tiny:1" || fail "skopeo could not write a docker-archive"
expect_rc 0 "$DLCTL" push "$T/img.tar" "$OPEN/models/archive:1" --insecure --json
archive_digest=$(json "$T/out" 'j["digest"]')
[ "$(registry_digest "docker://$OPEN/models/archive:1")" = "$archive_digest" ] || fail "docker-archive push: wrong digest"
skopeo copy -q --src-tls-verify=false "docker://$OPEN/models/archive:1" "oci:$T/back2:1" || fail "copy of the archive push"
# A docker-archive whose manifest.json names files outside it (a host file as the config): refused, 65.
$PY - "$T/escape.tar" <<'PY'
import io, json, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    data = json.dumps([{"Config": "../../../../../../etc/hostname", "RepoTags": ["x:1"], "Layers": []}]).encode()
    info = tarfile.TarInfo("manifest.json"); info.size = len(data)
    t.addfile(info, io.BytesIO(data))
PY
expect_rc 65 "$DLCTL" push "$T/escape.tar" "$OPEN/models/escape:1" --insecure
grep -q "manifest.json names '../../../../../../etc/hostname', outside the archive" "$T/err" || fail "archive escape: $(cat "$T/err")"

# --- A packaged model: the registry reports `dlctl package`'s digest; a new version pushes only its model layer ---
quick=(--runs "$T/runs" --threads 1 --quiet --set train.epochs=1)
expect_rc 0 "$DLCTL" train "$SRC/configs/housing.yaml" "${quick[@]}"
expect_rc 0 "$DLCTL" train "$SRC/configs/housing.yaml" "${quick[@]}" --seed 2
for v in 1 2; do expect_rc 0 "$DLCTL" export "housing@$v" --runs "$T/runs" --out "$T/export" --format native; done
expect_rc 0 "$DLCTL" package "$T/export/housing/1" --tag housing:1 --out "$T/housing1" --json
packaged=$(json "$T/out" 'j["digest"]')
t0=$(date +%s.%N)
expect_rc 0 "$DLCTL" push "$T/housing1" "$OPEN/models/housing:1" --insecure --json
t1=$(date +%s.%N)
[ "$(json "$T/out" 'j["digest"], len(j["pushed"])')" = "$packaged 3" ] || fail "housing push: $(cat "$T/out")"
[ "$(registry_digest "docker://$OPEN/models/housing:1")" = "$packaged" ] || fail "housing: skopeo sees another digest"
# A new version: only its config and model layer go up, the runtime layer is already there.
expect_rc 0 "$DLCTL" package "$T/export/housing/2" --tag housing:2 --out "$T/housing2" --json
packaged2=$(json "$T/out" 'j["digest"]')
t2=$(date +%s.%N)
expect_rc 0 "$DLCTL" push "$T/housing2" "$OPEN/models/housing:2" --insecure --json
t3=$(date +%s.%N)
[ "$(json "$T/out" 'j["digest"], len(j["pushed"]), len(j["skipped"])')" = "$packaged2 2 1" ] ||
  fail "new version push: $(cat "$T/out")"
echo "housing image ($(du -sb "$T/housing1/blobs" | cut -f1) bytes of blobs) pushed in $(echo "$t1 - $t0" | bc) s;" \
  "a new version (runtime layer skipped) in $(echo "$t3 - $t2" | bc) s"
# An export directory given as IMAGE is packaged on the fly, reproducibly: the same digest, nothing to upload.
expect_rc 0 "$DLCTL" push "$T/export/housing/2" "$OPEN/models/housing:2" --insecure --json
[ "$(json "$T/out" 'j["digest"], len(j["pushed"])')" = "$packaged2 0" ] || fail "push of an export dir: $(cat "$T/out")"
# `dlctl package --format docker-archive` pushes too.
expect_rc 0 "$DLCTL" package "$T/export/housing/1" --tag housing:1 --out "$T/housing1.tar" --format docker-archive
expect_rc 0 "$DLCTL" push "$T/housing1.tar" "$OPEN/models/housing:archive" --insecure --json
[ "$(registry_digest "docker://$OPEN/models/housing:archive")" = "$(json "$T/out" 'j["digest"]')" ] ||
  fail "push of dlctl's docker-archive: wrong digest"
expect_rc 65 "$DLCTL" push "$T/runs" "$OPEN/models/housing:3" --insecure
# A MODEL is exported (every format) and packaged on the way.
expect_rc 0 "$DLCTL" push housing@1 "$OPEN/models/housing:model" --runs "$T/runs" --insecure --json
grep -q "exported housing@1 to package it" "$T/err" || fail "push of a MODEL: $(cat "$T/err")"
[ "$(json "$T/out" 'len(j["pushed"]), len(j["skipped"])')" = "2 1" ] || fail "push of a MODEL: $(cat "$T/out")"
skopeo inspect --tls-verify=false "docker://$OPEN/models/housing:model" >"$T/inspect.json" || fail "skopeo inspect of the MODEL push"
[ "$(json "$T/inspect.json" 'j["Labels"]["dlctl.model.version"]')" = 1 ] || fail "MODEL push labels: $(cat "$T/inspect.json")"
expect_rc 66 "$DLCTL" push housing@9 "$OPEN/models/housing:9" --runs "$T/runs" --insecure

# --- Faults between dlctl and the registry ---
start_proxy "$OPEN" drop_patch=2 head503=2 post429=1
start=$SECONDS
expect_rc 0 "$DLCTL" push "$IMG" "$PROXY/faults/chunked:1" --insecure --chunk-size 65536 -v --json
for f in "drop of PATCH #2" "503 for HEAD #2" "429 for POST #1"; do grep -q "injected $f" "$T/proxy.log" || fail "fault '$f' not injected"; done
grep -q "resuming sha256:.* at byte 65536 of" "$T/err" || fail "the chunked upload did not resume: $(cat "$T/err")"
grep -q "in 1000 ms (HTTP 429" "$T/err" || fail "Retry-After not honoured: $(grep retrying "$T/err")"
[ "$(json "$T/out" 'j["digest"]')" = "$DIGEST" ] || fail "faulty push: $(cat "$T/out")"
[ "$(registry_digest "docker://$OPEN/faults/chunked:1")" = "$DIGEST" ] || fail "faulty chunked push: wrong digest"
echo "faults survived (chunked) in $((SECONDS - start)) s"
start_proxy "$OPEN" drop_put=2
expect_rc 0 "$DLCTL" push "$IMG" "$PROXY/faults/monolithic:1" --insecure -v
grep -q "injected drop of blob PUT #2" "$T/proxy.log" || fail "monolithic drop not injected"
[ "$(registry_digest "docker://$OPEN/faults/monolithic:1")" = "$DIGEST" ] || fail "faulty monolithic push: wrong digest"
# Retries spent: 503 on every HEAD is "unavailable".
start_proxy "$OPEN" head503=100
expect_rc 69 "$DLCTL" push "$IMG" "$PROXY/faults/never:1" --insecure --retries 2
grep -q "after 3 attempts: HTTP 503" "$T/err" || fail "503s not explained: $(cat "$T/err")"
# A 416 for a chunk: dlctl asks the registry where the upload stands and goes on from there. Retries and
# resumptions are reported on stderr even without -v.
start_proxy "$OPEN" patch416=2
expect_rc 0 "$DLCTL" push "$IMG" "$PROXY/faults/range:1" --insecure --chunk-size 65536
grep -q "injected 416 for PATCH #2" "$T/proxy.log" || fail "416 not injected"
grep -q "^dlctl: retrying PATCH .*(HTTP 416" "$T/err" || fail "the 416 retry was silent: $(cat "$T/err")"
grep -q "^dlctl: resuming sha256:.* at byte 65536 of" "$T/err" || fail "416: not resumed at the registry's offset: $(cat "$T/err")"
[ "$(registry_digest "docker://$OPEN/faults/range:1")" = "$DIGEST" ] || fail "push after a 416: wrong digest"
# An upload the registry lost (404 BLOB_UPLOAD_UNKNOWN) starts over from byte 0.
start_proxy "$OPEN" lose_upload=2
expect_rc 0 "$DLCTL" push "$IMG" "$PROXY/faults/lost:1" --insecure --chunk-size 65536
grep -q "injected loss of the upload before PATCH #2" "$T/proxy.log" || fail "upload loss not injected"
grep -q "^dlctl: the registry lost the upload of sha256:.*: starting it over" "$T/err" || fail "lost upload: $(cat "$T/err")"
[ "$(registry_digest "docker://$OPEN/faults/lost:1")" = "$DIGEST" ] || fail "push after a lost upload: wrong digest"
# A mount the registry cannot make (the source lacks the blobs) answers 202 with an upload, which is used as is.
expect_rc 0 "$DLCTL" push "$IMG" "$OPEN/models/nomount:1" --insecure --from models/nothing --json -v
[ "$(grep -c 'POST .*mount=sha256:.*from=models/nothing -> HTTP 202' "$T/err")" = 3 ] || fail "no declined mounts: $(cat "$T/err")"
grep -q 'POST [^ ]*/blobs/uploads/ -> ' "$T/err" && fail "a declined mount's upload was not used: $(cat "$T/err")"
[ "$(json "$T/out" 'len(j["pushed"])')" = 3 ] || fail "declined mount push: $(cat "$T/out")"
[ "$(registry_digest "docker://$OPEN/models/nomount:1")" = "$DIGEST" ] || fail "declined mount push: wrong digest"

# --- Registries that misbehave (issue 13, defects 5 and 11): a push counts only what the registry confirms;
# anything else is 69 (a service that is not usable), quickly, never a success ---
# start_fake MODE [DIR]: tests/cli/fake_registry.py on a free port; sets FAKE (host:port).
start_fake() {
  rm -f "$T/fake.port"
  $PY "$HERE/fake_registry.py" "$1" "$T/fake.port" ${2:+"$2"} 2>>"$T/fake.log" &
  PIDS+=($!)
  wait_file "$T/fake.port"
  FAKE=127.0.0.1:$(cat "$T/fake.port")
}
start_fake garbage
expect_rc 69 "$DLCTL" push "$IMG" "$FAKE/models/x:1" --insecure --retries 1
grep -q "skipped" "$T/out" && fail "a garbage registry 'skipped' blobs: $(cat "$T/out")"
grep -q "registry $FAKE: starting the upload of sha256:.* answered HTTP 200" "$T/err" || fail "garbage: $(cat "$T/err")"
start_fake endless
start=$SECONDS
expect_rc 69 timeout 60 "$DLCTL" push "$IMG" "$FAKE/models/x:1" --insecure --retries 1
grep -q "a body over 4 MiB" "$T/err" || fail "an endless body: $(cat "$T/err")"
[ $((SECONDS - start)) -le 10 ] || fail "an endless body took $((SECONDS - start)) s"
# A registry that accepts connections and never answers: given up on after about 2 x --timeout.
start_fake silent
start=$SECONDS
expect_rc 69 timeout 60 "$DLCTL" push "$IMG" "$FAKE/models/x:1" --insecure --timeout 2
grep -q "unavailable: GET https\?://$FAKE/v2/ failed after 2 attempts: .*timed out" "$T/err" ||
  fail "a silent registry: $(cat "$T/err")"
echo "a registry that never answers: 69 after $((SECONDS - start)) s with --timeout 2"
[ $((SECONDS - start)) -le 8 ] || fail "a silent registry took $((SECONDS - start)) s with --timeout 2"
# A registry that asks for an hour's wait: given up on at once, never a sleep past --timeout (was 60 s, the
# fuzzer's "registry" target's 30 timeouts).
start_fake busy
start=$SECONDS
expect_rc 69 timeout 60 "$DLCTL" push "$IMG" "$FAKE/models/x:1" --insecure --timeout 2
grep -q "asks to retry after 3600 s, beyond --timeout 2 s: giving up" "$T/err" || fail "Retry-After 3600: $(cat "$T/err")"
[ $((SECONDS - start)) -le 8 ] || fail "a registry asking for Retry-After 3600 took $((SECONDS - start)) s"
# A manifest PUT answered 200 with garbage and no Docker-Content-Digest (never stored): the HEAD that checks
# finds nothing.
start_proxy "$OPEN" fake_manifest=1
expect_rc 69 "$DLCTL" push "$IMG" "$PROXY/fake/manifest:1" --insecure
grep -q "injected a fake 200 for manifest PUT" "$T/proxy.log" || fail "fake manifest answer not injected"
grep -q "nothing confirms that the image was stored" "$T/err" || fail "fake manifest answer: $(cat "$T/err")"
# A 201 with another digest.
start_proxy "$OPEN" wrong_digest=1
expect_rc 69 "$DLCTL" push "$IMG" "$PROXY/fake/digest:1" --insecure
grep -q "misbehaves: it stored the manifest as sha256:0000" "$T/err" || fail "wrong manifest digest: $(cat "$T/err")"
# HEADs that name the digest but not the size do not make a blob present: all three are uploaded.
start_proxy "$OPEN" head_lies=3
expect_rc 0 "$DLCTL" push "$IMG" "$PROXY/fake/lies:1" --insecure --json
[ "$(json "$T/out" 'len(j["pushed"]), len(j["skipped"])')" = "3 0" ] || fail "lying HEADs: $(cat "$T/out")"
[ "$(registry_digest "docker://$OPEN/fake/lies:1")" = "$DIGEST" ] || fail "lying HEADs: wrong digest"
# Plain HTTP without --insecure: a hint, at once (no retries of a TLS handshake that cannot succeed).
start=$SECONDS
expect_rc 69 "$DLCTL" push "$IMG" "$OPEN/models/tiny:1"
grep -q "the registry speaks plain HTTP; use --insecure" "$T/err" || fail "plain HTTP: $(cat "$T/err")"
grep -q "retrying" "$T/err" && fail "plain HTTP was retried: $(cat "$T/err")"
[ $((SECONDS - start)) -le 3 ] || fail "plain HTTP took $((SECONDS - start)) s"

# --- TLS: verified by default (a private CA through $CURL_CA_BUNDLE), --insecure skips verification ---
mkdir -p "$T/tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$T/tls/key.pem" -out "$T/tls/cert.pem" 2>/dev/null || fail "openssl could not make a certificate"
start_registry "$T/tls" "" "tls: {certificate: $T/tls/cert.pem, key: $T/tls/key.pem}"
TLS=$REG
expect_rc 69 "$DLCTL" push "$IMG" "$TLS/models/tiny:1"
grep -q "TLS certificate does not verify" "$T/err" || fail "unverified TLS not explained: $(cat "$T/err")"
CURL_CA_BUNDLE=$T/tls/cert.pem expect_rc 0 "$DLCTL" push "$IMG" "$TLS/models/tiny:1" -v
grep -q "^dlctl: PUT https://$TLS/v2/models/tiny/manifests/1 -> HTTP 201" "$T/err" || fail "TLS push: $(cat "$T/err")"
expect_rc 0 "$DLCTL" push "$IMG" "$TLS/models/tiny:2" --insecure --json
[ "$(json "$T/out" 'len(j["skipped"])')" = 3 ] || fail "TLS --insecure push: $(cat "$T/out")"

# --- htpasswd (Basic) ---
PASS=Zq7-s3cret-Kx
mkdir -p "$T/basic"
htpasswd -Bbn dl "$PASS" >"$T/basic/htpasswd"
start_registry "$T/basic" "auth: {htpasswd: {realm: test, path: $T/basic/htpasswd}}"
BASIC=$REG
expect_rc 77 "$DLCTL" push "$IMG" "$BASIC/models/tiny:1" --insecure
grep -q "registry $BASIC requires authentication" "$T/err" || fail "anonymous push: $(cat "$T/err")"
echo Wr0ng-Pw-Qv9 >"$T/wrong"
expect_rc 77 bash -c '"$0" push "$1" "$2" --insecure --username dl --password-stdin -v <"$3"' "$DLCTL" "$IMG" \
  "$BASIC/models/tiny:1" "$T/wrong"
grep -q "registry $BASIC denied access for user 'dl'" "$T/err" || fail "wrong password: $(cat "$T/err")"
grep -qF Wr0ng-Pw-Qv9 "$T/err" "$T/out" && fail "the wrong password was printed"
echo "$PASS" >"$T/right"
expect_rc 0 bash -c '"$0" push "$1" "$2" --insecure --username dl --password-stdin -v --json <"$3"' "$DLCTL" "$IMG" \
  "$BASIC/models/tiny:1" "$T/right"
b64=$(printf 'dl:%s' "$PASS" | base64)
grep -qF -e "$PASS" -e "$b64" "$T/err" "$T/out" && fail "the password was printed with -v"
[ "$(registry_digest --creds "dl:$PASS" "docker://$BASIC/models/tiny:1")" = "$DIGEST" ] || fail "basic push: wrong digest"
# Credentials from $DOCKER_CONFIG/config.json.
mkdir -p "$T/docker"
echo "{\"auths\": {\"$BASIC\": {\"auth\": \"$b64\"}}}" >"$T/docker/config.json"
DOCKER_CONFIG=$T/docker expect_rc 0 "$DLCTL" push "$IMG" "$BASIC/models/tiny:1" --insecure --json
[ "$(json "$T/out" 'len(j["pushed"])')" = 0 ] || fail "docker-config push: $(cat "$T/out")"

# --- Credentials stay with the registry's host (issue 13, defect 4): upload Locations and blob redirects to
# another host (127.0.0.2, which forwards with its own credentials, as a storage backend trusting signed URLs
# would) get no Authorization header ---
PROXY_OTHER_HOST_AUTH="Basic $b64" start_proxy "$BASIC" other_host=1
expect_rc 0 bash -c '"$0" push "$1" "$2" --insecure --username dl --password-stdin -v --json --chunk-size 65536 <"$3"' \
  "$DLCTL" "$IMG" "$PROXY/models/elsewhere:1" "$T/right"
grep -q "127.0.0.2 got PATCH /v2/models/elsewhere/blobs/uploads/.* without Authorization" "$T/proxy.log" ||
  fail "no upload went to the other host: $(cat "$T/proxy.log")"
grep -q "127.0.0.2 got .* with Authorization" "$T/proxy.log" && fail "credentials went to another host: $(grep 127.0.0.2 "$T/proxy.log")"
[ "$(registry_digest --creds "dl:$PASS" "docker://$BASIC/models/elsewhere:1")" = "$DIGEST" ] || fail "elsewhere push: wrong digest"
# Pulling a base through the same proxy: libcurl follows the blob redirects without the credentials.
XDG_CACHE_HOME=$T/cache-elsewhere expect_rc 0 bash -c \
  '"$0" package "$1" --tag housing:1 --base "$2" --out "$3" --insecure --username dl --password-stdin <"$4"' \
  "$DLCTL" "$T/export/housing/1" "$PROXY/models/elsewhere:1" "$T/elsewhere.oci" "$T/right"
grep -q "127.0.0.2 got GET /v2/models/elsewhere/blobs/sha256:.* without Authorization" "$T/proxy.log" ||
  fail "no blob was redirected to the other host: $(cat "$T/proxy.log")"
grep -q "127.0.0.2 got .* with Authorization" "$T/proxy.log" && fail "credentials followed a redirect: $(grep 127.0.0.2 "$T/proxy.log")"

# --- Bearer tokens from our own token server ---
mkdir -p "$T/token"
# Tokens live 2 s: dlctl renews them a little early, so any request a second after a token came gets a new one.
$PY "$HERE/token_server.py" "$T/token" dl "$PASS" --pull-only-first --expires-in 2 2>"$T/token/log" &
PIDS+=($!)
wait_file "$T/token/port"
start_registry "$T/bearer" "auth: {token: {realm: 'http://127.0.0.1:$(cat "$T/token/port")/token', service: dlctl-test,
  issuer: dlctl-test-issuer, rootcertbundle: $T/token/cert.pem}}"
BEARER=$REG
expect_rc 77 bash -c '"$0" push "$1" "$2" --insecure --username dl --password-stdin <"$3"' "$DLCTL" "$IMG" \
  "$BEARER/models/tiny:1" "$T/wrong"
grep -q "registry $BEARER denied access for user 'dl'" "$T/err" || fail "bearer, wrong password: $(cat "$T/err")"
grep -qF Wr0ng-Pw-Qv9 "$T/err" && fail "the wrong password was printed"
expect_rc 0 bash -c '"$0" push "$1" "$2" --insecure --username dl --password-stdin -v --json --chunk-size 65536 <"$3"' \
  "$DLCTL" "$IMG" "$BEARER/models/tiny:1" "$T/right"
[ "$(json "$T/out" 'j["digest"], len(j["pushed"])')" = "$DIGEST 3" ] || fail "bearer push: $(cat "$T/out")"
# The first token granted only pull: the registry's insufficient_scope made dlctl fetch a wider one, once.
grep -q 'POST .*/blobs/uploads/ -> HTTP 401' "$T/err" || fail "no insufficient_scope: $(cat "$T/err")"
[ "$(grep -c 'GET http://127.0.0.1:[0-9]*/token?service=dlctl-test&scope=repository%3Amodels%2Ftiny%3Apull%2Cpush -> HTTP 200' "$T/err")" = 2 ] ||
  fail "the token was not fetched exactly twice: $(grep token "$T/err")"
[ -s "$T/token/tokens" ] || fail "no token was issued"
while read -r token; do grep -qF "$token" "$T/err" "$T/out" && fail "a token was printed with -v"; done <"$T/token/tokens"
grep -qF "$PASS" "$T/err" && fail "the password was printed with -v"
[ "$(registry_digest --creds "dl:$PASS" "docker://$BEARER/models/tiny:1")" = "$DIGEST" ] || fail "bearer push: wrong digest"
expect_rc 0 bash -c '"$0" push "$1" "$2" --insecure --username dl --password-stdin --json --from models/tiny <"$3"' \
  "$DLCTL" "$IMG" "$BEARER/models/other:1" "$T/right"
[ "$(json "$T/out" 'len(j["mounted"])')" = 3 ] || fail "bearer mount push: $(cat "$T/out")"
expect_rc 0 bash -c '"$0" push "$1" "$2" --insecure --username dl --password-stdin --json <"$3"' \
  "$DLCTL" "$IMG" "$BEARER/models/tiny:1" "$T/right"
[ "$(json "$T/out" 'len(j["pushed"]), len(j["skipped"])')" = "0 3" ] || fail "bearer second push: $(cat "$T/out")"

# An expired token is renewed before it is used: the 429's Retry-After outlives the token.
start_proxy "$BEARER" post429=1
expect_rc 0 bash -c '"$0" push "$1" "$2" --insecure --username dl --password-stdin -v <"$3"' \
  "$DLCTL" "$IMG" "$PROXY/models/expiry:1" "$T/right"
[ "$(grep -c 'GET http://127.0.0.1:[0-9]*/token?.* -> HTTP 200' "$T/err")" -ge 2 ] ||
  fail "the token was not renewed after it expired: $(cat "$T/err")"

echo "push ok in $SECONDS s: references, no auth, digest refs, chunked, mount, declined mount, docker-archive, packaged model, faults (drops, 503, 429, 416, lost upload), TLS, htpasswd, docker config, bearer"
