# dlctl package: an exported version as a reproducible OCI image that real tools accept. Two runs give the same
# digest; skopeo reads both formats and reports our digest; umoci unpacks the layout; the unpacked root file
# system serves predictions under chroot as the image's non-root user; a second model version shares the runtime
# layer; --dockerfile writes a matching build context; bad input exits 65/66 and a bad tag 2. Where podman is
# installed it runs the layout, loads the docker-archive, and builds and runs the --dockerfile context.
source "$(dirname "$0")/lib.sh"
cd "$SRC"
export DLCTL_RUNS="$T/runs"
unset SOURCE_DATE_EPOCH

# Every server started here is killed however the test ends.
PIDS=()
stop_all() { for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done; }
trap stop_all EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# wait_ready URL PID LOG: until /readyz answers 200 (PID empty for a container: no liveness check).
wait_ready() {
  for _ in $(seq 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1/readyz")" = 200 ] && return 0
    [ -z "$2" ] || kill -0 "$2" 2>/dev/null || { cat "$3" >&2; fail "the server exited at start-up"; }
    sleep 0.1
  done
  cat "$3" >&2; fail "$1/readyz never became 200"
}
ROW='[0.00632, 18, 2.31, 0, 0.538, 6.575, 65.2, 4.09, 1, 296, 15.3, 396.9, 4.98]'
# expect_prediction URL: a :predict answer for housing, equal to `dlctl predict` on the export.
expect_prediction() {
  local got
  got=$(curl -sS -X POST "$1/v1/models/housing:predict" -d "{\"instances\": [$ROW]}")
  python3 - "$got" "$WANT" <<'PY' || fail "prediction from the image: $got, want $WANT"
import json, sys
got = json.loads(sys.argv[1])["predictions"][0]
got = got[0] if isinstance(got, list) else got
want = json.loads(sys.argv[2])["prediction"]
want = want[0] if isinstance(want, list) else want
sys.exit(0 if abs(got - want) <= 1e-5 * max(1, abs(want)) else 1)
PY
}

expect_rc 0 "$DLCTL" train configs/housing.yaml --threads 1 --quiet --set train.epochs=3
expect_rc 0 "$DLCTL" export housing@1 --out "$T/export"
dir=$T/export/housing/1
echo "$ROW" >"$T/row.jsonl"
expect_rc 0 "$DLCTL" predict "$dir" --input "$T/row.jsonl"
WANT=$(head -1 "$T/out")

# --- Reproducible: the same digest and byte-identical blobs twice, and again over an existing layout ---
expect_rc 0 "$DLCTL" package "$dir" --tag housing:1 --out "$T/a.oci" --json
cp "$T/out" "$T/a.json"
digest=$(json "$T/a.json" 'j["digest"]')
[[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || fail "digest: $(cat "$T/a.json")"
[ "$(json "$T/a.json" 'j["path"]')" = "$T/a.oci" ] || fail "path: $(cat "$T/a.json")"
[ "$(json "$T/a.json" 'j["tag"]')" = housing:1 ] || fail "tag: $(cat "$T/a.json")"
[ "$(json "$T/a.json" '[l["media_type"] for l in j["layers"]]')" = \
  "['application/vnd.oci.image.layer.v1.tar+gzip', 'application/vnd.oci.image.layer.v1.tar+gzip']" ] ||
  fail "layers: $(cat "$T/a.json")"
runtime_layer=$(json "$T/a.json" 'j["layers"][0]["digest"]')
expect_rc 0 "$DLCTL" package "$dir" --tag housing:1 --out "$T/b.oci" --json
[ "$(json "$T/out" 'j["digest"]')" = "$digest" ] || fail "a second package gave another digest"
diff -r "$T/a.oci" "$T/b.oci" >/dev/null || fail "two package runs wrote different files"
expect_rc 0 "$DLCTL" package "$dir" --tag housing:1 --out "$T/b.oci"
grep -q "^digest $digest\$" "$T/out" || fail "package over an existing layout: $(cat "$T/out")"
ls -a "$T" | grep -q '\.tmp-' && fail "a temporary file or directory was left behind"
[ "$(json "$T/a.oci/index.json" 'j["manifests"][0]["digest"]')" = "$digest" ] || fail "index.json digest"
[ "$(json "$T/a.oci/index.json" 'j["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]')" = 1 ] ||
  fail "index.json ref.name: $(cat "$T/a.oci/index.json")"
[ "$(json "$T/a.oci/oci-layout" 'j["imageLayoutVersion"]')" = 1.0.0 ] || fail "oci-layout"
# Every blob is named by its sha256.
for blob in "$T"/a.oci/blobs/sha256/*; do
  [ "$(sha256sum "$blob" | cut -d' ' -f1)" = "$(basename "$blob")" ] || fail "blob $blob: wrong digest"
done
# The default output name, in the working directory.
mkdir "$T/cwd"
(cd "$T/cwd" && "$DLCTL" package "$dir" --tag housing:1 >/dev/null) || fail "package without --out"
[ -f "$T/cwd/housing-1.oci/index.json" ] || fail "no default output housing-1.oci"

# --- skopeo reads the layout and reports our digest and config ---
skopeo inspect "oci:$T/a.oci:1" >"$T/inspect.json" || fail "skopeo inspect oci:"
[ "$(json "$T/inspect.json" 'j["Digest"]')" = "$digest" ] || fail "skopeo's digest differs: $(cat "$T/inspect.json")"
skopeo inspect --config "oci:$T/a.oci:1" >"$T/config.json" || fail "skopeo inspect --config"
[ "$(json "$T/config.json" 'j["config"]["Entrypoint"]')" = \
  "['/usr/local/bin/dlctl', 'serve', '/models/housing', '--host', '0.0.0.0', '--port', '8501']" ] ||
  fail "Entrypoint: $(cat "$T/config.json")"
[ "$(json "$T/config.json" 'j["config"]["User"]')" = 65532:65532 ] || fail "User"
[ "$(json "$T/config.json" 'list(j["config"]["ExposedPorts"])')" = "['8501/tcp']" ] || fail "ExposedPorts"
[ "$(json "$T/config.json" 'j["architecture"] + "/" + j["os"]')" = amd64/linux ] || fail "platform"
sig=$dir/signature.json
[ "$(json "$T/config.json" 'j["config"]["Labels"]["dlctl.model.spec_sha256"]')" = "$(json "$sig" 'j["spec_sha256"]')" ] ||
  fail "label dlctl.model.spec_sha256"
[ "$(json "$T/config.json" 'json.loads(j["config"]["Labels"]["dlctl.model.metrics"])')" = "$(json "$sig" 'j["metrics"]')" ] ||
  fail "label dlctl.model.metrics"
[ "$(json "$T/config.json" 'j["config"]["Labels"]["org.opencontainers.image.created"] == j["created"]')" = True ] ||
  fail "label created"
# created comes from SOURCE_DATE_EPOCH when set, never from the clock; --label adds or overrides.
SOURCE_DATE_EPOCH=1700000000 expect_rc 0 "$DLCTL" package "$dir" --tag housing:1 --out "$T/c.oci" --label team=ml \
  --label org.opencontainers.image.source=https://example.com/housing
skopeo inspect --config "oci:$T/c.oci:1" >"$T/config.json" || fail "skopeo inspect --config c.oci"
[ "$(json "$T/config.json" 'j["created"]')" = 2023-11-14T22:13:20Z ] || fail "SOURCE_DATE_EPOCH: $(cat "$T/config.json")"
[ "$(json "$T/config.json" 'j["config"]["Labels"]["team"]')" = ml ] || fail "--label team=ml"
[ "$(json "$T/config.json" 'j["config"]["Labels"]["org.opencontainers.image.source"]')" = https://example.com/housing ] ||
  fail "--label overriding a default"

# --- umoci unpacks it; the root file system holds the binary, its libraries and the model ---
umoci unpack --rootless --image "$T/a.oci:1" "$T/bundle" >/dev/null 2>"$T/umoci.err" || { cat "$T/umoci.err" >&2; fail "umoci unpack"; }
root=$T/bundle/rootfs
[ -x "$root/usr/local/bin/dlctl" ] || fail "no /usr/local/bin/dlctl in the image"
[ -f "$root/models/housing/1/dlctl.h5" ] && [ -f "$root/models/housing/1/signature.json" ] || fail "no model files"
[ "$(json "$root/models/housing/labels.json" 'j')" = "{'stable': 1}" ] || fail "labels.json"
[ -e "$root/lib64/ld-linux-x86-64.so.2" ] || fail "no dynamic loader in the image"
grep -q '^nonroot:x:65532:65532:' "$root/etc/passwd" || fail "no non-root user in /etc/passwd"
! ls "$root"/lib/x86_64-linux-gnu/ | grep -q -e '^libarchive' -e '^libxml2' -e '^libicu' ||
  fail "the runtime carries libarchive's closure: $(ls "$root/lib/x86_64-linux-gnu/")"

# --- The entrypoint answers :predict under chroot, as the image's user, on a free loopback port ---
port=$(free_port)
chroot --userspec=65532:65532 "$root" /usr/local/bin/dlctl serve /models/housing --host 127.0.0.1 --port "$port" \
  >"$T/chroot.out" 2>"$T/chroot.log" </dev/null &
PIDS+=($!)
wait_ready "http://127.0.0.1:$port" "${PIDS[-1]}" "$T/chroot.log"
expect_prediction "http://127.0.0.1:$port"
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

# --- docker-archive: skopeo reads it (and copies it into a layout that umoci unpacks) ---
expect_rc 0 "$DLCTL" package "$dir" --tag housing:1 --format docker-archive --out "$T/img.tar" --json
[ "$(json "$T/out" 'j["digest"]')" = "$digest" ] || fail "docker-archive: another image than the layout"
tar -xOf "$T/img.tar" manifest.json >"$T/docker-manifest.json" || fail "no manifest.json in the docker-archive"
[ "$(json "$T/docker-manifest.json" 'j[0]["RepoTags"]')" = "['housing:1']" ] || fail "RepoTags"
skopeo inspect "docker-archive:$T/img.tar" >/dev/null 2>"$T/skopeo.err" || { cat "$T/skopeo.err" >&2; fail "skopeo inspect docker-archive:"; }
skopeo copy -q "docker-archive:$T/img.tar" "oci:$T/from-archive:1" 2>"$T/skopeo.err" ||
  { cat "$T/skopeo.err" >&2; fail "skopeo copy docker-archive: oci:"; }
umoci unpack --rootless --image "$T/from-archive:1" "$T/bundle2" >/dev/null 2>"$T/umoci.err" ||
  { cat "$T/umoci.err" >&2; fail "umoci unpack of the copied docker-archive"; }
cmp -s "$T/bundle2/rootfs/models/housing/1/dlctl.h5" "$dir/dlctl.h5" || fail "docker-archive: model differs"
cmp -s "$T/bundle2/rootfs/usr/local/bin/dlctl" "$root/usr/local/bin/dlctl" || fail "docker-archive: binary differs"

# --- A second model version: the same runtime layer, another model layer ---
expect_rc 0 "$DLCTL" train configs/housing.yaml --threads 1 --quiet --set train.epochs=3 --seed 2
expect_rc 0 "$DLCTL" export housing@2 --out "$T/export"
expect_rc 0 "$DLCTL" package "$T/export/housing/2" --tag housing:2 --out "$T/v2.oci" --json
[ "$(json "$T/out" 'j["layers"][0]["digest"]')" = "$runtime_layer" ] || fail "version 2 has another runtime layer"
[ "$(json "$T/out" 'j["layers"][1]["digest"]')" != "$(json "$T/a.json" 'j["layers"][1]["digest"]')" ] ||
  fail "version 2 has version 1's model layer"
echo "housing image: $(json "$T/a.json" 'j["size"]') bytes compressed; runtime layer" \
  "$(json "$T/a.json" 'j["layers"][0]["size"]'), model layer $(json "$T/a.json" 'j["layers"][1]["size"]')"
# (Not for a sanitizer build, whose serving binary and libasan make the runtime layer larger.)
[ -n "${DLCTL_SANITIZED:-}" ] || [ "$(json "$T/a.json" 'j["size"]')" -lt $((30 * 1024 * 1024)) ] ||
    fail "the image is over 30 MB compressed"

# --- --dockerfile: a Dockerfile FROM scratch and its context, with the same files and settings ---
expect_rc 0 "$DLCTL" package "$dir" --tag housing:1 --out "$T/d.oci" --dockerfile "$T/docker"
grep -qx 'FROM scratch' "$T/docker/Dockerfile" || fail "Dockerfile: $(cat "$T/docker/Dockerfile")"
grep -qxF 'ENTRYPOINT ["/usr/local/bin/dlctl","serve","/models/housing","--host","0.0.0.0","--port","8501"]' \
  "$T/docker/Dockerfile" || fail "Dockerfile ENTRYPOINT: $(cat "$T/docker/Dockerfile")"
grep -qx 'USER 65532:65532' "$T/docker/Dockerfile" || fail "Dockerfile USER"
cmp -s "$T/docker/runtime/usr/local/bin/dlctl" "$root/usr/local/bin/dlctl" || fail "context: binary differs"
cmp -s "$T/docker/model/models/housing/1/dlctl.h5" "$dir/dlctl.h5" || fail "context: model differs"

# --- Bad input ---
expect_rc 66 "$DLCTL" package "$T/no-such-dir" --tag housing:1 --out "$T/x.oci"
grep -q "no such directory" "$T/err" || fail "missing dir message: $(cat "$T/err")"
mkdir "$T/not-an-export"
expect_rc 65 "$DLCTL" package "$T/not-an-export" --tag housing:1 --out "$T/x.oci"
grep -q "not an export version directory" "$T/err" || fail "not-an-export message: $(cat "$T/err")"
expect_rc 2 "$DLCTL" package "$dir" --tag housing --out "$T/x.oci"
expect_rc 2 "$DLCTL" package "$dir" --tag Housing:1 --out "$T/x.oci"
expect_rc 2 "$DLCTL" package "$dir" --tag 'housing:a b' --out "$T/x.oci"
expect_rc 2 "$DLCTL" package "$dir" --tag housing:1 --format zip --out "$T/x.oci"
expect_rc 2 "$DLCTL" package "$dir" --tag housing:1 --platform linux/arm64 --out "$T/x.oci"
DLCTL_SERVE_BINARY=$T/no-dlctl-serve expect_rc 66 "$DLCTL" package "$dir" --tag housing:1 --out "$T/x.oci"
grep -q "the serving binary is missing (build the dlctl-serve target" "$T/err" || fail "no serving binary: $(cat "$T/err")"
[ ! -e "$T/x.oci" ] || fail "a failed package left $T/x.oci behind"

# --- podman runs the image from the layout (where podman is installed) ---
if ! command -v podman >/dev/null; then
  echo "SKIP podman: not installed"
  exit 0
fi
# podman refuses a run root over 50 characters: a short one under /tmp, removed at the end.
podrun=$(mktemp -d /tmp/dlctl-pod.XXXXXX)
pod=(podman --storage-driver vfs --root "$T/pod" --runroot "$podrun" --cgroup-manager cgroupfs
     --events-backend file --runtime runc)
# podman 4.3 names an image pulled from oci:PATH after PATH and refuses capitals in it (a scratch folder made
# by mktemp may have some): it is given the layout through a lower-case symlink.
layout=/tmp/dlctl-oci-$$
ln -sfn "$T/a.oci" "$layout"
stop_podman() {
  "${pod[@]}" rm -f -t 0 dlctl-test dlctl-test-df >/dev/null 2>&1 || true
  rm -rf "$podrun" "$layout"
  stop_all
}
trap stop_podman EXIT
port=$(free_port)
"${pod[@]}" run -d --name dlctl-test --network host --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
  --entrypoint /usr/local/bin/dlctl "oci:$layout:1" serve /models/housing --host 127.0.0.1 --port "$port" >"$T/podman.out" 2>"$T/podman.err" ||
  { cat "$T/podman.err" >&2; fail "podman run"; }
wait_ready "http://127.0.0.1:$port" "" "$T/podman.err"
expect_prediction "http://127.0.0.1:$port"
echo "podman served a prediction from the image"
# podman load takes the docker-archive.
"${pod[@]}" load -i "$T/img.tar" >"$T/load.out" 2>&1 || { cat "$T/load.out" >&2; fail "podman load of the docker-archive"; }
grep -q 'Loaded image.*housing:1' "$T/load.out" || fail "podman load: $(cat "$T/load.out")"
# The --dockerfile context builds (podman build, FROM scratch: no network) into an image that serves too.
"${pod[@]}" build --isolation chroot -t localhost/housing:dockerfile "$T/docker" >"$T/build.out" 2>&1 ||
  { tail -20 "$T/build.out" >&2; fail "podman build of the --dockerfile context"; }
port=$(free_port)
"${pod[@]}" run -d --name dlctl-test-df --network host --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
  --entrypoint /usr/local/bin/dlctl localhost/housing:dockerfile serve /models/housing --host 127.0.0.1 \
  --port "$port" >"$T/podman.out" 2>"$T/podman.err" || { cat "$T/podman.err" >&2; fail "podman run (Dockerfile)"; }
wait_ready "http://127.0.0.1:$port" "" "$T/podman.err"
expect_prediction "http://127.0.0.1:$port"
echo "podman served a prediction from the image built from the --dockerfile context"
