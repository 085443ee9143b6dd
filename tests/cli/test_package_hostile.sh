# dlctl package with a hostile or unlucky model directory (issue 13, defects 3 and 11): a symbolic link is stored
# as a link only when it stays inside the version directory, and anything else that could pull a host file into
# the image (absolute links, links out, dangling links, FIFOs) or break the layer (a name that is not UTF-8) is
# refused with 65 naming the file; a 2.2 GB file is streamed (memory stays small); the image carries no host
# path, /home/nonroot belongs to the non-root user, and org.opencontainers.image.source is not made up.
source "$(dirname "$0")/lib.sh"
cd "$SRC"
export DLCTL_RUNS="$T/runs"
unset SOURCE_DATE_EPOCH
SECONDS=0

expect_rc 0 "$DLCTL" train configs/housing.yaml --threads 1 --quiet --set train.epochs=1
expect_rc 0 "$DLCTL" export housing@1 --out "$T/export" --format native
good=$T/export/housing/1
# fresh: a copy of the export at $M, to spoil.
fresh() { rm -rf "$T/m"; mkdir -p "$T/m/housing"; cp -r "$good" "$T/m/housing/1"; M=$T/m/housing/1; }
# model_entries IMAGE: "TYPE PATH [-> TARGET] UID" for every entry of the image's last (model) layer, and of
# its runtime layer with RUNTIME=1.
entries() {
  python3 - "$1" "${RUNTIME:-0}" <<'PY'
import json, sys, tarfile
root, runtime = sys.argv[1], sys.argv[2] == "1"
blob = lambda d: f"{root}/blobs/sha256/{d.split(':')[1]}"
index = json.load(open(f"{root}/index.json"))
manifest = json.load(open(blob(index["manifests"][0]["digest"])))
with tarfile.open(blob(manifest["layers"][0 if runtime else -1]["digest"])) as t:
    for m in t:
        print(" ".join([m.type.decode(), m.name] + (["->", m.linkname] if m.issym() else []) + [str(m.uid)]))
PY
}
# refused CASE_NAME WHAT: package of $M exits 65 naming WHAT, and leaves no image or temporary file behind.
refused() {
  expect_rc 65 timeout 60 "$DLCTL" package "$M" --tag housing:1 --out "$T/bad.oci"
  grep -qF -- "$2" "$T/err" || fail "$1: the error does not name '$2': $(cat "$T/err")"
  grep -q "internal error" "$T/err" && fail "$1: $(cat "$T/err")"
  [ ! -e "$T/bad.oci" ] || fail "$1: an image was written"
  ls -a "$T" | grep -q '\.tmp-' && fail "$1: a temporary file was left behind: $(ls -a "$T")"
  return 0
}

# --- Defect 3: links that leave the version directory (the host's /etc/passwd in the image) ---
fresh; ln -s /etc/passwd "$M/evil"
refused "absolute link" "$M/evil: a symbolic link to the absolute path /etc/passwd"
fresh; ln -s ../../../../../../../../etc/passwd "$M/evil"
refused "relative link out" "$M/evil: a symbolic link to ../../../../../../../../etc/passwd, outside the version directory"
fresh; ln -s .. "$M/up"
refused "link to the parent" "$M/up: a symbolic link to .., outside"
fresh; mkdir "$M/sub"; ln -s /etc "$M/sub/etc"
refused "directory link" "$M/sub/etc: a symbolic link to the absolute path /etc"
fresh; ln -s no-such-file "$M/dangling"
refused "dangling link" "$M/dangling: a symbolic link to no-such-file, which does not exist"
# A FIFO would block the reader forever; a socket or device has no bytes to package.
fresh; mkfifo "$M/pipe"
refused "FIFO" "$M/pipe: not a regular file, directory or symbolic link"
# --- Defect 11: a name that is not UTF-8 is a clear 65 (was exit 70), shown escaped ---
fresh; : >"$M/$(printf 'caf\xe9.bin')"
refused "Latin-1 name" 'caf\xe9.bin: its name is not UTF-8'

# --- Links that stay inside are stored as links, never as the file they point to ---
fresh; mkdir "$M/sub"; ln -s dlctl.h5 "$M/alias.h5"; ln -s ../signature.json "$M/sub/sig.json"; ln -s sub "$M/subdir"
expect_rc 0 "$DLCTL" package "$M" --tag housing:1 --out "$T/links.oci"
entries "$T/links.oci" >"$T/entries"
grep -qx "2 models/housing/1/alias.h5 -> dlctl.h5 0" "$T/entries" || fail "alias.h5 not a link: $(cat "$T/entries")"
grep -qx "2 models/housing/1/sub/sig.json -> ../signature.json 0" "$T/entries" || fail "sub/sig.json: $(cat "$T/entries")"
grep -qx "2 models/housing/1/subdir -> sub 0" "$T/entries" || fail "subdir: $(cat "$T/entries")"
grep -q '\.\.' <(grep -v -- '->' "$T/entries") && fail "an entry path with '..': $(cat "$T/entries")"
# The served model still loads through the links' targets.
echo '[0.00632, 18, 2.31, 0, 0.538, 6.575, 65.2, 4.09, 1, 296, 15.3, 396.9, 4.98]' >"$T/row.jsonl"
expect_rc 0 "$DLCTL" predict "$M" --input "$T/row.jsonl"

# --- No host path in the image; /home/nonroot is the non-root user's; no made-up source label ---
expect_rc 0 "$DLCTL" package "$good" --tag housing:1 --out "$T/good.oci"
# What package itself writes (index, manifest, config, the layers' entry names and link targets) names no host
# path; the model files' own bytes are the export's business.
for f in "$T/good.oci/index.json" "$T"/good.oci/blobs/sha256/*; do
  if gzip -t "$f" 2>/dev/null; then tar -tvzf "$f"; else cat "$f"; fi
done | grep -aqF "$T" && fail "a host path ($T) is inside the image"
RUNTIME=1 entries "$T/good.oci" >"$T/runtime-entries"
grep -qx "5 home/nonroot 65532" "$T/runtime-entries" ||
  fail "/home/nonroot is not owned by 65532: $(grep home "$T/runtime-entries")"
config=$(json "$T/good.oci/index.json" 'j["manifests"][0]["digest"].split(":")[1]')
config=$(json "$T/good.oci/blobs/sha256/$config" 'j["config"]["digest"].split(":")[1]')
json "$T/good.oci/blobs/sha256/$config" 'j["config"]["Labels"]' >"$T/labels"
python3 - "$T/good.oci/blobs/sha256/$config" <<'PY' || fail "org.opencontainers.image.source is not a URL: $(cat "$T/labels")"
import json, sys, urllib.parse
source = json.load(open(sys.argv[1]))["config"]["Labels"].get("org.opencontainers.image.source")
sys.exit(0 if source is None or urllib.parse.urlparse(source).scheme in ("http", "https") else 1)
PY

# --- Defect 11: a 2.2 GB (sparse) file is streamed, never held in memory ---
fresh; truncate -s 2200M "$M/big.bin"
start=$SECONDS
python3 - "$DLCTL" "$M" "$T/big.oci" >"$T/rss" <<'PY' || fail "package of a 2.2 GB file: $(cat "$T/rss")"
import resource, subprocess, sys
rc = subprocess.run([sys.argv[1], "package", sys.argv[2], "--tag", "housing:1", "--out", sys.argv[3]],
                    stdout=subprocess.DEVNULL).returncode
print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)  # MiB
sys.exit(rc)
PY
read -r rc rss <"$T/rss"
echo "a 2.2 GB model file packaged in $((SECONDS - start)) s at $rss MiB RSS"
# The bound holds for the product; under AddressSanitizer (DLCTL_SANITIZED) shadow memory and the allocator's
# quarantine add their own (311 MiB measured), so there the bound is only that the file is never held whole.
limit=200
[ -z "${DLCTL_SANITIZED:-}" ] || limit=1024
[ "$rss" -lt "$limit" ] || fail "packaging a 2.2 GB file took $rss MiB of memory"
size=$(python3 -c "
import json, sys
root = sys.argv[1]; b = lambda d: f'{root}/blobs/sha256/' + d.split(':')[1]
m = json.load(open(b(json.load(open(root + '/index.json'))['manifests'][0]['digest'])))
print(m['layers'][-1]['size'])" "$T/big.oci")
[ "$size" -gt 1000 ] || fail "the model layer is $size bytes"
rm -rf "$T/m" "$T/big.oci"

# --- Hostile base images (--base): a registry's tar entries never reach outside the image ---
PIDS=()
trap 'for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done' EXIT
# base_image DIR TAG ENTRIES...: an image in DIR (fake_registry.py's layout) whose one layer holds ENTRIES, each
# "file:PATH", "dir:PATH" or "link:PATH:TARGET"; with CONFIG_SIZE or LAYER_SIZE set, the manifest claims that
# size for the config or the layer.
base_image() {
  python3 - "$@" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
root, tag, entries = sys.argv[1], sys.argv[2], sys.argv[3:]
os.makedirs(f"{root}/blobs/sha256", exist_ok=True); os.makedirs(f"{root}/manifests", exist_ok=True)
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    open(f"{root}/blobs/sha256/{d}", "wb").write(data)
    return "sha256:" + d
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
    for e in entries:
        kind, path, *rest = e.split(":")
        info = tarfile.TarInfo(path)
        if kind == "dir": info.type = tarfile.DIRTYPE
        if kind == "link": info.type, info.linkname = tarfile.SYMTYPE, rest[0]
        t.addfile(info, io.BytesIO(b"") if kind == "file" else None)
tar = buf.getvalue(); gz = gzip.compress(tar, mtime=0)
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                     "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]}}).encode()
layer = blob(gz)
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blob(config),
                       "size": int(os.environ.get("CONFIG_SIZE", len(config)))},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer,
                        "size": int(os.environ.get("LAYER_SIZE", len(gz)))}]}
open(f"{root}/manifests/{tag}", "w").write(json.dumps(manifest))
print(layer)
PY
}
mkdir -p "$T/reg"
rm -f "$T/fake.port"
python3 "$SRC/tests/cli/fake_registry.py" serve "$T/fake.port" "$T/reg" &
PIDS+=($!)
for _ in $(seq 200); do [ -s "$T/fake.port" ] && break; sleep 0.05; done
REG=127.0.0.1:$(cat "$T/fake.port")
export XDG_CACHE_HOME=$T/cache
base() { expect_rc "$1" timeout 60 "$DLCTL" package "$good" --tag housing:1 --base "$REG/base:$2" --insecure --retries 0 \
  --out "$T/based.oci" "${@:3}"; }
# An entry with '..': refused, naming the layer and the entry.
layer=$(base_image "$T/reg" dotdot "dir:etc" "file:etc/../../../../tmp/dlctl-escape")
base 65 dotdot
grep -qF "base layer $layer: entry 'etc/../../../../tmp/dlctl-escape' has a '..' component" "$T/err" || fail "'..' entry: $(cat "$T/err")"
# Absolute paths are read inside the image's root, and links (absolute or climbing) never lead out of it: the
# --dockerfile context, built from where dlctl's files land, stays inside its directory.
base_image "$T/reg" links "dir:/usr" "link:usr/local:$T/escape" "link:lib:../../../../../../$T/escape2" "file:/etc/passwd" >/dev/null
base 0 links --dockerfile "$T/ctx"
[ ! -e "$T/escape" ] && [ ! -e "$T/escape2" ] || fail "a base's symlink led dlctl's files out of the image"
find "$T/ctx" -type f -name dlctl | grep -q . || fail "no dlctl in the --dockerfile context"
# A config that claims to be huge is not fetched; a layer sent forever is cut at its size and refused.
CONFIG_SIZE=$((1 << 40)) base_image "$T/reg" bigconfig "file:a" >/dev/null
base 65 bigconfig
grep -q "a config of 1099511627776 bytes" "$T/err" || fail "huge config: $(cat "$T/err")"
LAYER_SIZE=$((1 << 40)) base_image "$T/reg" biglayer "file:a" >/dev/null
base 65 biglayer
grep -q "its layers claim more than the 64 GiB an image may have" "$T/err" || fail "huge layer: $(cat "$T/err")"
layer=$(base_image "$T/reg" endless "file:b")
echo "$layer" >"$T/reg/endless"
base 69 endless
grep -q "misbehaves: it sent blob $layer with more than the" "$T/err" || fail "endless layer: $(cat "$T/err")"
ls "$T/cache/dlctl/blobs/sha256/" | grep -q partial && fail "a partial blob was left in the cache"

echo "package of hostile model directories and base images ok in $SECONDS s"
