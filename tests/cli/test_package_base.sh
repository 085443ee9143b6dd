# dlctl package --base IMAGE_REF: a base image pulled from Debian's docker-registry on loopback (OCI, Docker
# schema 2, and an index with several platforms), dlctl's layers put on top without breaking the base (its
# usr-merge symlinks, /etc/passwd and programs survive), the config merged (Env, User, labels kept; Cmd dropped),
# reproducible digests, a blob cache, a download resumed after a dropped connection, authentication (77 without
# credentials), a missing base (66), and the --gpu variant (the CUDA plugin plus the libraries the base lacks).
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
HERE=$SRC/tests/cli
export DOCKER_CONFIG=$T/no-docker-config
export XDG_CACHE_HOME=$T/cache
unset SOURCE_DATE_EPOCH
for tool in docker-registry skopeo umoci htpasswd; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 0; }
done
source "$HERE/registry_lib.sh"
cd "$SRC"

# --- A small usr-merged base made with umoci: lib -> usr/lib, bin -> usr/bin, lib64 -> usr/lib64, a shell and
# its libraries, a passwd with its own user, Env, User, Cmd and a label; stub CUDA libraries for --gpu ---
umoci init --layout "$T/base" && umoci new --image "$T/base:1" || fail "umoci could not start the base"
umoci unpack --rootless --image "$T/base:1" "$T/base-bundle" >/dev/null 2>&1 || fail "umoci unpack of the base"
R=$T/base-bundle/rootfs
mkdir -p "$R/usr/bin" "$R/usr/lib/x86_64-linux-gnu" "$R/usr/lib64" "$R/etc" "$R/tmp" "$R/home/base" \
  "$R/usr/local/cuda/lib64"
chmod 1777 "$R/tmp"
ln -s usr/bin "$R/bin" && ln -s usr/lib "$R/lib" && ln -s usr/lib64 "$R/lib64"
cp /bin/dash "$R/usr/bin/sh"
for lib in $(ldd /bin/dash | grep -o '/[^ ]*'); do cp -L "$lib" "$R/usr$lib"; done
printf 'root:x:0:0:root:/root:/bin/sh\nbase:x:1000:1000:base:/home/base:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\nbase:x:1000:\n' >"$R/etc/group"
echo "base image" >"$R/etc/base-release"
# The base "provides" cuBLAS (files by those names): --gpu must not add them again; libcudart it lacks.
touch "$R/usr/local/cuda/lib64/libcublas.so.13" "$R/usr/local/cuda/lib64/libcublasLt.so.13"
umoci repack --image "$T/base:1" "$T/base-bundle" >/dev/null 2>&1 || fail "umoci repack of the base"
umoci config --image "$T/base:1" --config.env FOO=bar --config.env PATH=/usr/bin:/bin --config.user 1000:1000 \
  --config.cmd /bin/sh --config.label org.example.base=yes --config.label org.opencontainers.image.title=base ||
  fail "umoci config of the base"

start_registry "$T/open" ""
OPEN=$REG
skopeo copy -q --dest-tls-verify=false "oci:$T/base:1" "docker://$OPEN/base/oci:1" || fail "skopeo push of the base"
skopeo copy -q --dest-tls-verify=false --format v2s2 "oci:$T/base:1" "docker://$OPEN/base/docker:1" ||
  fail "skopeo push of the base as Docker schema 2"
base_digest=$(skopeo inspect --tls-verify=false "docker://$OPEN/base/oci:1" | $PY -c 'import json,sys; print(json.load(sys.stdin)["Digest"])')
base_layer=$(skopeo inspect --tls-verify=false "docker://$OPEN/base/oci:1" | $PY -c 'import json,sys; print(json.load(sys.stdin)["Layers"][0])')

# --- A trained, exported model ---
export DLCTL_RUNS=$T/runs
expect_rc 0 "$DLCTL" train configs/housing.yaml --threads 1 --quiet --set train.epochs=2
expect_rc 0 "$DLCTL" export housing@1 --out "$T/export" --format native
dir=$T/export/housing/1
ROW='[0.00632, 18, 2.31, 0, 0.538, 6.575, 65.2, 4.09, 1, 296, 15.3, 396.9, 4.98]'
echo "$ROW" >"$T/row.jsonl"
expect_rc 0 "$DLCTL" predict "$dir" --input "$T/row.jsonl"
WANT=$(head -1 "$T/out")

# --- On the OCI base: base layer first and unchanged, then runtime and model; reproducible; cached ---
expect_rc 0 "$DLCTL" package "$dir" --tag housing:1 --base "$OPEN/base/oci:1" --insecure --out "$T/a.oci" --json -v
cp "$T/out" "$T/a.json"
[ "$(json "$T/a.json" '[l["role"] for l in j["layers"]]')" = "['base', 'runtime', 'model']" ] || fail "roles: $(cat "$T/a.json")"
[ "$(json "$T/a.json" 'j["layers"][0]["digest"]')" = "$base_layer" ] || fail "the base layer changed: $(cat "$T/a.json")"
[ "$(json "$T/a.json" 'j["base"]["digest"], j["base"]["reference"]')" = "$base_digest $OPEN/base/oci:1" ] ||
  fail "base: $(cat "$T/a.json")"
grep -q "GET http://$OPEN/v2/base/oci/blobs/$base_layer -> HTTP 200" "$T/err" || fail "the base layer was not pulled: $(cat "$T/err")"
digest=$(json "$T/a.json" 'j["digest"]')
expect_rc 0 "$DLCTL" package "$dir" --tag housing:1 --base "$OPEN/base/oci:1" --insecure --out "$T/b.oci" --json -v
[ "$(json "$T/out" 'j["digest"]')" = "$digest" ] || fail "a second package on the base gave another digest"
grep -q "$base_layer is in the cache" "$T/err" || fail "the cached base layer was downloaded again: $(cat "$T/err")"
grep -q "GET [^ ]*/blobs/$base_layer" "$T/err" && fail "the cached base layer was fetched: $(cat "$T/err")"
ls "$T/cache/dlctl/blobs/sha256/" | grep -q partial && fail "a partial download was left in the cache"
# By digest, the same image.
expect_rc 0 "$DLCTL" package "$dir" --tag housing:1 --base "$OPEN/base/oci@$base_digest" --insecure --out "$T/c.oci" --json
[ "$(json "$T/out" 'j["layers"][0]["digest"]')" = "$base_layer" ] || fail "base by digest: $(cat "$T/out")"
expect_rc 0 "$DLCTL" package "$dir" --tag housing:1 --base "$OPEN/base/oci:1" --insecure --out "$T/h.oci" --dockerfile "$T/docker"
grep -q "^size .* (base $OPEN/base/oci:1: 1 layer .*, runtime layer .*, model layer .*)$" "$T/out" || fail "human output: $(cat "$T/out")"
# The Dockerfile builds FROM the base, pinned by digest, with the same layers and settings.
grep -qx "FROM $OPEN/base/oci@$base_digest" "$T/docker/Dockerfile" || fail "Dockerfile FROM: $(cat "$T/docker/Dockerfile")"
[ "$(grep '^COPY' "$T/docker/Dockerfile" | tr '\n' ' ')" = "COPY runtime/ / COPY model/ / " ] || fail "Dockerfile COPYs: $(cat "$T/docker/Dockerfile")"
grep -qx "USER 1000:1000" "$T/docker/Dockerfile" && grep -qx "ENV FOO=bar" "$T/docker/Dockerfile" || fail "Dockerfile settings: $(cat "$T/docker/Dockerfile")"
[ -L "$T/docker/runtime/lib" ] || [ ! -e "$T/docker/runtime/lib" ] || fail "the build context has a real lib/ that would shadow the base's symlink"

# --- The config: the base's Env, User and labels kept, PATH given /usr/local/bin, Cmd dropped ---
skopeo inspect --config "oci:$T/a.oci:1" >"$T/config.json" || fail "skopeo inspect --config"
$PY - "$T/config.json" "$base_digest" <<'PY' || fail "merged config: $(cat "$T/config.json")"
import json, sys
j = json.load(open(sys.argv[1])); c = j["config"]
assert "FOO=bar" in c["Env"], c["Env"]
assert "PATH=/usr/local/bin:/usr/bin:/bin" in c["Env"], c["Env"]
assert c["User"] == "1000:1000", c["User"]
assert "Cmd" not in c or not c["Cmd"], c.get("Cmd")
assert c["Entrypoint"] == ["/usr/local/bin/dlctl", "serve", "/models/housing", "--host", "0.0.0.0", "--port", "8501"]
assert "8501/tcp" in c["ExposedPorts"]
l = c["Labels"]
assert l["org.example.base"] == "yes" and l["org.opencontainers.image.title"] == "housing", l
assert l["org.opencontainers.image.base.digest"] == sys.argv[2] and l["dlctl.model.name"] == "housing", l
assert len(j["rootfs"]["diff_ids"]) == 3 and len(j["history"]) >= 3
PY
skopeo inspect --raw "oci:$T/a.oci:1" >"$T/manifest.json" || fail "skopeo inspect --raw"
[ "$(json "$T/manifest.json" 'j["annotations"]["org.opencontainers.image.base.digest"]')" = "$base_digest" ] ||
  fail "manifest annotations: $(cat "$T/manifest.json")"

# --- Unpacked, the base is whole and the entrypoint serves, as the base's user ---
umoci unpack --rootless --image "$T/a.oci:1" "$T/bundle" >/dev/null 2>"$T/umoci.err" || { cat "$T/umoci.err" >&2; fail "umoci unpack"; }
root=$T/bundle/rootfs
for link in lib bin lib64; do [ -L "$root/$link" ] || fail "/$link is no longer a symlink: dlctl's layer shadowed the base"; done
[ -f "$root/usr/lib/x86_64-linux-gnu/libhdf5_serial.so.103" ] || [ -L "$root/usr/lib/x86_64-linux-gnu/libhdf5_serial.so.103" ] ||
  fail "dlctl's libraries did not land under /usr/lib"
grep -q "^base:x:1000" "$root/etc/passwd" || fail "the base's /etc/passwd was replaced"
[ "$(cat "$root/etc/base-release")" = "base image" ] || fail "the base's files are gone"
[ "$(chroot "$root" /bin/sh -c 'echo base-ok')" = base-ok ] || fail "the base's shell no longer runs"
port=$(free_port)
chroot --userspec=1000:1000 "$root" /usr/local/bin/dlctl serve /models/housing --host 127.0.0.1 --port "$port" \
  >"$T/chroot.out" 2>"$T/chroot.log" </dev/null &
PIDS+=($!)
for _ in $(seq 300); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] && break
  kill -0 "${PIDS[-1]}" 2>/dev/null || { cat "$T/chroot.log" >&2; fail "the entrypoint exited at start-up"; }
  sleep 0.1
done
got=$(curl -sS -X POST "http://127.0.0.1:$port/v1/models/housing:predict" -d "{\"instances\": [$ROW]}")
$PY - "$got" "$WANT" <<'PY' || fail "prediction from the image on the base: $got, want $WANT"
import json, sys
got = json.loads(sys.argv[1])["predictions"][0]
got = got[0] if isinstance(got, list) else got
want = json.loads(sys.argv[2])["prediction"]
want = want[0] if isinstance(want, list) else want
sys.exit(0 if abs(got - want) <= 1e-5 * max(1, abs(want)) else 1)
PY

# --- A Docker schema 2 base, and an index whose first entry is another platform ---
expect_rc 0 "$DLCTL" package "$dir" --tag housing:1 --base "$OPEN/base/docker:1" --insecure --out "$T/d.oci" --json
[ "$(json "$T/out" 'sorted(set(l["media_type"] for l in j["layers"]))')" = "['application/vnd.oci.image.layer.v1.tar+gzip']" ] ||
  fail "Docker layers not given OCI media types: $(cat "$T/out")"
skopeo inspect "oci:$T/d.oci:1" >/dev/null || fail "skopeo rejects the image on a Docker base"
manifest=$(curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$OPEN/v2/base/oci/manifests/1") || fail "manifest GET"
size=$(printf '%s' "$manifest" | wc -c)
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s,%s]}' \
  "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"$base_digest\",\"size\":$size,\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\"}}" \
  "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"$base_digest\",\"size\":$size,\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}" >"$T/index.json"
curl -sf -X PUT -H 'Content-Type: application/vnd.oci.image.index.v1+json' --data-binary "@$T/index.json" \
  "http://$OPEN/v2/base/oci/manifests/multi" >/dev/null || fail "could not push the index"
expect_rc 0 "$DLCTL" package "$dir" --tag housing:1 --base "$OPEN/base/oci:multi" --insecure --out "$T/m.oci" --json -v
grep -q "GET http://$OPEN/v2/base/oci/manifests/$base_digest -> HTTP 200" "$T/err" || fail "the amd64 entry was not chosen: $(cat "$T/err")"
[ "$(json "$T/out" 'j["base"]["digest"]')" = "$base_digest" ] || fail "index base: $(cat "$T/out")"

# --- Errors: a missing base 66, an unreachable registry 69, --gpu without a base 2 ---
expect_rc 66 "$DLCTL" package "$dir" --tag housing:1 --base "$OPEN/base/nothing:1" --insecure --out "$T/x.oci"
grep -q "no such image" "$T/err" || fail "missing base: $(cat "$T/err")"
expect_rc 69 "$DLCTL" package "$dir" --tag housing:1 --base "127.0.0.1:$(free_port)/base:1" --insecure --retries 0 --out "$T/x.oci"
expect_rc 2 "$DLCTL" package "$dir" --tag housing:1 --gpu --out "$T/x.oci"
grep -q -- "--gpu needs --base" "$T/err" || fail "--gpu without a base: $(cat "$T/err")"
[ ! -e "$T/x.oci" ] || fail "a failed package left an image behind"

# --- A dropped download resumes where it stopped (an empty cache, a proxy that cuts the first blob GET) ---
start_proxy "$OPEN" drop_get=1
XDG_CACHE_HOME=$T/cache2 expect_rc 0 "$DLCTL" package "$dir" --tag housing:1 --base "$PROXY/base/oci:1" --insecure --out "$T/p.oci" --json
grep -q "injected drop of blob GET #1" "$T/proxy.log" || fail "the download drop was not injected"
grep -q "^dlctl: resuming the download of sha256:.* at byte [1-9]" "$T/err" || fail "the download did not resume: $(cat "$T/err")"
[ "$(json "$T/out" 'j["layers"][0]["digest"]')" = "$base_layer" ] || fail "resumed pull: $(cat "$T/out")"

# --- A base behind htpasswd: 77 without credentials, pulled with them ---
PASS=B4se-s3cret
mkdir -p "$T/basic"
htpasswd -Bbn dl "$PASS" >"$T/basic/htpasswd"
start_registry "$T/basic" "auth: {htpasswd: {realm: test, path: $T/basic/htpasswd}}"
BASIC=$REG
skopeo copy -q --dest-tls-verify=false --dest-creds "dl:$PASS" "oci:$T/base:1" "docker://$BASIC/base/oci:1" ||
  fail "skopeo push of the base to the htpasswd registry"
expect_rc 77 "$DLCTL" package "$dir" --tag housing:1 --base "$BASIC/base/oci:1" --insecure --out "$T/x.oci"
grep -q "requires authentication" "$T/err" || fail "anonymous pull: $(cat "$T/err")"
echo "$PASS" >"$T/pass"
expect_rc 0 bash -c '"$0" package "$1" --tag housing:1 --base "$2" --insecure --username dl --password-stdin --out "$3" --json <"$4"' \
  "$DLCTL" "$dir" "$BASIC/base/oci:1" "$T/auth.oci" "$T/pass"
[ "$(json "$T/out" 'j["base"]["digest"], j["layers"][0]["digest"]')" = "$base_digest $base_layer" ] ||
  fail "the base through auth: $(cat "$T/out")"

# --- Pushed where the base lives: the base layer is mounted, not uploaded ---
expect_rc 0 "$DLCTL" push "$T/a.oci" "$OPEN/models/housing:1" --insecure --from base/oci --json -v
grep -q "POST .*mount=$base_layer&from=base/oci -> HTTP 201" "$T/err" || fail "the base layer was not mounted: $(cat "$T/err")"
[ "$(json "$T/out" 'j["digest"]')" = "$digest" ] || fail "push of the image on a base: $(cat "$T/out")"

# --- --gpu: a cuda layer with the plugin and libcudart, not the cuBLAS the base has ---
if [ ! -f "$(dirname "$DLCTL")/libdlctl_cuda.so" ]; then
  echo "SKIP (--gpu): this build has no CUDA plugin (DLCTL_CUDA=OFF or no nvcc)"
else
  expect_rc 0 "$DLCTL" package "$dir" --tag housing:gpu --gpu --base "$OPEN/base/oci:1" --insecure --out "$T/g.oci" --json
  [ "$(json "$T/out" '[l["role"] for l in j["layers"]]')" = "['base', 'runtime', 'cuda', 'model']" ] || fail "gpu roles: $(cat "$T/out")"
  [ "$(json "$T/out" 'j["layers"][1]["digest"]')" = "$(json "$T/a.json" 'j["layers"][1]["digest"]')" ] ||
    fail "the gpu variant's runtime layer differs from the CPU one's"
  umoci unpack --rootless --image "$T/g.oci:gpu" "$T/gbundle" >/dev/null 2>&1 || fail "umoci unpack of the gpu variant"
  g=$T/gbundle/rootfs
  [ -f "$g/usr/local/bin/libdlctl_cuda.so" ] || fail "no CUDA plugin beside the binary"
  cudart=$(ldd "$(dirname "$DLCTL")/libdlctl_cuda.so" | awk '/libcudart/ {print $3}')
  [ -e "$g$cudart" ] || [ -e "$g/usr$cudart" ] || fail "libcudart ($cudart) was not added"
  find "$g" -name 'libcublas*' -size +1k | grep -q . && fail "cuBLAS was added though the base has it"
  skopeo inspect --config "oci:$T/g.oci:gpu" >"$T/gconfig.json"
  $PY - "$T/gconfig.json" "$(dirname "$cudart")" <<'PY' || fail "gpu config: $(cat "$T/gconfig.json")"
import json, sys
env = dict(e.split("=", 1) for e in json.load(open(sys.argv[1]))["config"]["Env"])
assert sys.argv[2] in env["LD_LIBRARY_PATH"].split(":"), env
assert env["NVIDIA_VISIBLE_DEVICES"] == "all" and env["FOO"] == "bar", env
PY
  echo "gpu variant: $(du -sh "$T/g.oci/blobs" | cut -f1) of blobs"
fi
echo "package --base ok in $SECONDS s"
