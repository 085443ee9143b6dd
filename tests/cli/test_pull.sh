# dlctl pull: a model packaged and pushed to Debian's docker-registry on loopback comes back into a served
# directory as OUT/<name>/<version>/ with the exported files byte for byte (and pulled.json), predicts and is
# served (a running server picks up a version pulled under it); pulling again, or by digest, changes nothing; a
# version already there with other files is refused (2) unless --version places it elsewhere. A digest the
# registry lacks is 66, a manifest or layer whose bytes are not their digest (fake_registry.py) 65, a model
# that does not load or a layer with a link 65 naming them, and none of these leaves anything in OUT.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
HERE=$SRC/tests/cli
export DOCKER_CONFIG=$T/no-docker-config XDG_CACHE_HOME=$T/cache DLCTL_RUNS=$T/runs
unset SOURCE_DATE_EPOCH
command -v docker-registry >/dev/null || { echo "SKIP: docker-registry is not installed"; exit 0; }
source "$HERE/registry_lib.sh"
cd "$SRC"

# tree DIR: "sha256  ./path" of every file below DIR (pulled.json left out), sorted.
tree() { (cd "$1" && find . -type f ! -name pulled.json -print0 | sort -z | xargs -0 sha256sum); }
# listing DIR: every entry below DIR, dot entries included.
listing() { (cd "$1" && find . | sort); }

expect_rc 0 "$DLCTL" train configs/housing.yaml --threads 1 --quiet --set train.epochs=2
expect_rc 0 "$DLCTL" export housing@1 --out "$T/export"
EXP=$T/export/housing/1
expect_rc 0 "$DLCTL" package "$EXP" --tag housing:1 --out "$T/housing.oci"
start_registry "$T/reg" ""
expect_rc 0 "$DLCTL" push "$T/housing.oci" "$REG/models/housing:1" --insecure --json
DIGEST=$(json "$T/out" 'j["digest"]')

# --- A round trip: the exported files, byte for byte, and where they came from ---
OUT=$T/served
mkdir -p "$OUT/housing"
sh -c 'exit 0' &
dead=$!
wait "$dead"
mkdir "$OUT/housing/.tmp-9-$dead"  # left by a pull that was killed
expect_rc 0 "$DLCTL" pull "$REG/models/housing:1" --out "$OUT" --insecure --json
[ "$(json "$T/out" 'j["reference"], j["digest"], j["name"], j["version"], j["path"], j["unchanged"]')" = \
  "$REG/models/housing:1 $DIGEST housing 1 $OUT/housing/1 False" ] || fail "pull --json: $(cat "$T/out")"
[ "$(tree "$OUT/housing/1")" = "$(tree "$EXP")" ] || fail "the pulled files differ from the export"
[ "$(json "$OUT/housing/1/pulled.json" 'j["reference"], j["digest"], j["image_version"]')" = \
  "$REG/models/housing:1 $DIGEST 1" ] || fail "pulled.json: $(cat "$OUT/housing/1/pulled.json")"
[ "$(listing "$OUT/housing")" = "$(printf '%s\n' . ./1 ./1/dlctl.h5 ./1/model.h5 ./1/model.onnx ./1/pulled.json ./1/signature.json)" ] ||
  fail "OUT/housing holds more than the version (a labels.json, a dot-dir): $(listing "$OUT/housing")"

ROW='[0.00632, 18, 2.31, 0, 0.538, 6.575, 65.2, 4.09, 1, 296, 15.3, 396.9, 4.98]'
echo "$ROW" >"$T/row.jsonl"
expect_rc 0 "$DLCTL" predict "$EXP" --input "$T/row.jsonl"
WANT=$(head -1 "$T/out")
expect_rc 0 "$DLCTL" predict "$OUT/housing/1" --input "$T/row.jsonl"
[ "$(head -1 "$T/out")" = "$WANT" ] || fail "predict on the pulled version: $(cat "$T/out"), want $WANT"

# --- Pulling again, and by digest: nothing changes ---
before=$(listing "$OUT"; cat "$OUT/housing/1/pulled.json")
expect_rc 0 "$DLCTL" pull "$REG/models/housing:1" --out "$OUT" --insecure
grep -qx "$OUT/housing/1 already holds $REG/models/housing:1@$DIGEST; nothing to do" "$T/out" || fail "pull again: $(cat "$T/out")"
expect_rc 0 "$DLCTL" pull "$REG/models/housing@$DIGEST" --out "$OUT" --insecure --json
[ "$(json "$T/out" 'j["unchanged"], j["digest"]')" = "True $DIGEST" ] || fail "pull by digest again: $(cat "$T/out")"
[ "$(listing "$OUT"; cat "$OUT/housing/1/pulled.json")" = "$before" ] || fail "pulling again changed OUT"
expect_rc 0 "$DLCTL" pull "$REG/models/housing@$DIGEST" --out "$T/bydigest" --insecure
grep -qx "pulled $REG/models/housing@$DIGEST into $T/bydigest/housing/1 (housing version 1)" "$T/out" ||
  fail "pull by digest: $(cat "$T/out")"
[ "$(tree "$T/bydigest/housing/1")" = "$(tree "$EXP")" ] || fail "the files pulled by digest differ from the export"

# --- The server follows: a version pulled under a running server is served ---
start_server "$T/serve.log" "$OUT/housing" --poll-ms 100
# number JSON: the first prediction in a `predict` line or a :predict answer, rounded.
number() { $PY -c 'import json, sys
v = json.loads(sys.argv[1])
v = v["predictions"] if "predictions" in v else v["prediction"]
while isinstance(v, list): v = v[0]
print(f"{v:.4f}")' "$1"; }
got=$(curl -sS -X POST "$URL/v1/models/housing/versions/1:predict" -d "{\"instances\": [$ROW]}")
[ "$(number "$got")" = "$(number "$WANT")" ] || fail "served prediction $got, want $WANT"
expect_rc 0 "$DLCTL" pull "$REG/models/housing:1" --out "$OUT" --insecure --version 2
grep -qx "pulled $REG/models/housing:1@$DIGEST into $OUT/housing/2 (housing version 2, version 1 in the image)" "$T/out" ||
  fail "pull --version 2: $(cat "$T/out")"
for _ in $(seq 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/v1/models/housing/versions/2:predict" -d "{\"instances\": [$ROW]}")" = 200 ] && break
  sleep 0.1
done
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/v1/models/housing/versions/2:predict" -d "{\"instances\": [$ROW]}")" = 200 ] ||
  { cat "$T/serve.log" >&2; fail "the server never served the pulled version 2"; }
kill "$PID"

# --- A version already there with other files: refused (2) unless --version places it elsewhere ---
mkdir -p "$T/taken/housing"
cp -r "$EXP" "$T/taken/housing/1"
echo ' ' >>"$T/taken/housing/1/signature.json"
before=$(tree "$T/taken/housing/1")
expect_rc 2 "$DLCTL" pull "$REG/models/housing:1" --out "$T/taken" --insecure
grep -q "$T/taken/housing/1: already there with other files .* with --version N (the highest here is 1)" "$T/err" || fail "conflict: $(cat "$T/err")"
[ "$(tree "$T/taken/housing/1")" = "$before" ] || fail "a refused pull changed the version there"
[ "$(listing "$T/taken/housing")" = "$(printf '%s\n' . ./1 ./1/dlctl.h5 ./1/model.h5 ./1/model.onnx ./1/signature.json)" ] ||
  fail "a refused pull left something: $(listing "$T/taken/housing")"
expect_rc 0 "$DLCTL" pull "$REG/models/housing:1" --out "$T/taken" --insecure --version 7
[ "$(tree "$T/taken/housing/7")" = "$(tree "$EXP")" ] || fail "pull --version 7"

# --- Refusals leave OUT as it was ---
before=$(listing "$OUT")
# refused RC WHAT REF [ARGS...]: pull REF into $OUT exits RC saying WHAT, and OUT is unchanged.
refused() {
  local rc=$1 what=$2 ref=$3
  shift 3
  expect_rc "$rc" "$DLCTL" pull "$ref" --out "$OUT" --insecure --retries 0 "$@"
  grep -qF -- "$what" "$T/err" || fail "pull $ref: $(cat "$T/err"), want '$what'"
  [ "$(listing "$OUT")" = "$before" ] || fail "pull $ref left: $(listing "$OUT")"
}
other=sha256:$(printf 'other content' | sha256sum | cut -d' ' -f1)
refused 66 "no such image" "$REG/models/housing@$other"
refused 65 "invalid image reference" "$REG/models/housing@sha256:12"
refused 66 "no such image" "$REG/models/nothing:1"

# A registry that answers a digest with other bytes, or sends a layer that is not its digest (fake_registry.py
# serving the packaged layout).
MODEL_LAYER=$(json "$T/housing.oci/blobs/sha256/${DIGEST#sha256:}" 'j["layers"][-1]["digest"]')
serve_fake() {  # serve_fake DIR: fake_registry.py serving DIR; sets FAKE (host:port)
  rm -f "$1.port"
  $PY "$HERE/fake_registry.py" serve "$1.port" "$1" 2>>"$T/fake.log" &
  PIDS+=($!)
  wait_file "$1.port"
  FAKE=127.0.0.1:$(cat "$1.port")
}
mkdir -p "$T/fake/manifests" "$T/tampered/manifests"
cp -r "$T/housing.oci/blobs" "$T/fake/blobs"
cp "$T/housing.oci/blobs/sha256/${DIGEST#sha256:}" "$T/fake/manifests/$other"
serve_fake "$T/fake"
FAKE_GOOD=$FAKE
refused 65 "the registry sent a manifest hashing to $DIGEST, not $other: refused" "$FAKE/models/housing@$other"
cp -r "$T/housing.oci/blobs" "$T/tampered/blobs"
cp "$T/housing.oci/blobs/sha256/${DIGEST#sha256:}" "$T/tampered/manifests/1"
$PY - "$T/tampered/blobs/sha256/${MODEL_LAYER#sha256:}" <<'PY'
import sys
p = sys.argv[1]
data = bytearray(open(p, "rb").read())
data[len(data) // 2] ^= 0xFF  # same size, other bytes
open(p, "wb").write(data)
PY
serve_fake "$T/tampered"
export XDG_CACHE_HOME=$T/cache2  # the good layer is in the first cache
refused 65 "blob $MODEL_LAYER arrived with" "$FAKE/models/housing:1"
[ ! -e "$XDG_CACHE_HOME/dlctl/blobs/sha256/${MODEL_LAYER#sha256:}" ] || fail "the tampered layer is in the cache"

# A cached layer changed on disk after it was verified: refused and removed, then pulled again.
export XDG_CACHE_HOME=$T/cache
cached=$XDG_CACHE_HOME/dlctl/blobs/sha256/${MODEL_LAYER#sha256:}
cp "$T/tampered/blobs/sha256/${MODEL_LAYER#sha256:}" "$cached"
refused 65 "$cached: the cached layer hashes to" "$REG/models/housing:1" --version 3
[ ! -e "$cached" ] || fail "the bad cached layer was kept"
expect_rc 0 "$DLCTL" pull "$REG/models/housing:1" --out "$T/again" --insecure
[ "$(tree "$T/again/housing/1")" = "$(tree "$EXP")" ] || fail "pull after the cache was repaired"

# A model that does not load, and a layer with a link: 65 naming them, nothing left in OUT/housing.
mkdir -p "$T/bad/housing"
cp -r "$EXP" "$T/bad/housing/1"
$PY - "$T/bad/housing/1/dlctl.h5" <<'PY'
import sys
p = sys.argv[1]
data = bytearray(open(p, "rb").read())
for i in range(len(data) // 2, len(data) // 2 + 64):
    data[i] ^= 0x5A
open(p, "wb").write(data)
PY
expect_rc 0 "$DLCTL" package "$T/bad/housing/1" --tag housing:1 --out "$T/bad.oci"
expect_rc 0 "$DLCTL" push "$T/bad.oci" "$REG/models/bad:1" --insecure
refused 65 "$REG/models/bad:1: models/housing/1/dlctl.h5" "$REG/models/bad:1" --version 4
mkdir -p "$T/linked/housing"
cp -r "$EXP" "$T/linked/housing/1"
ln -s dlctl.h5 "$T/linked/housing/1/alias.h5"
expect_rc 0 "$DLCTL" package "$T/linked/housing/1" --tag housing:1 --out "$T/linked.oci"
expect_rc 0 "$DLCTL" push "$T/linked.oci" "$REG/models/linked:1" --insecure
refused 65 "entry 'models/housing/1/alias.h5' is a symbolic link" "$REG/models/linked:1" --version 5

# An image that is not a dlctl model: the packaged one without its model layer.
$PY - "$T/fake/blobs/sha256/${DIGEST#sha256:}" "$T/fake/manifests/runtime-only" <<'PY'
import json, sys
manifest = json.load(open(sys.argv[1]))
manifest["layers"] = manifest["layers"][:-1]
open(sys.argv[2], "w").write(json.dumps(manifest))
PY
refused 65 "no layer holds models/housing/1/dlctl.h5: not a model image made by \`dlctl package\`" "$FAKE_GOOD/models/housing:runtime-only"

# --- Usage ---
expect_rc 2 "$DLCTL" pull "$REG/models/housing:1" --out "$OUT" --version 0
expect_rc 2 "$DLCTL" pull
echo "test_pull: ok"
