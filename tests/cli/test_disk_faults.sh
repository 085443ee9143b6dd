# A full disk and a read-only folder: train and export exit 74 cleanly at whichever write fails (never 139,
# whatever HDF5 had open), every earlier version stays byte-identical, a failed train is marked failed, and
# temporary files a killed process left are removed at the model's next run (those of a version another
# process is training are not touched).
source "$(dirname "$0")/lib.sh"
cd "$SRC"
args=(--threads 1 --quiet --set train.epochs=3 --set train.checkpoint.min_interval_s=0 --set train.checkpoint.keep_last=2)
expect_rc 0 "$DLCTL" train configs/housing.yaml --runs "$T/runs" "${args[@]}"
expect_rc 0 "$DLCTL" export housing@1 --runs "$T/runs" --out "$T/export"
snapshot() { (cd "$1" && find . -type f ! -name .lock -print0 | sort -z | xargs -0 sha256sum); }
runs_before=$(snapshot "$T/runs/housing/1")
export_before=$(snapshot "$T/export/housing/1")
intact() {
  [ "$(snapshot "$T/runs/housing/1")" = "$runs_before" ] || fail "$1: version 1 changed"
  [ "$(snapshot "$T/export/housing/1")" = "$export_before" ] || fail "$1: export version 1 changed"
  [ -z "$(find "$T/runs" "$T/export" -name '*.tmp-*')" ] || fail "$1: temporary files left: $(find "$T/runs" "$T/export" -name '*.tmp-*')"
}
newest_failed() {  # the newest version, when it could record anything, says failed with exit code 74
  local dir; dir=$(ls -d "$T"/runs/housing/*/ | sort -t/ -k1 -V | tail -1)
  [ -f "$dir/meta.json" ] || return 0
  [ "$(json "$dir/meta.json" "j['status'] + ' ' + str(j.get('error', {}).get('exit_code'))")" = "failed 74" ] ||
    fail "$1: $dir/meta.json: $(cat "$dir/meta.json")"
}

# Every write of a train and of an export fails in turn, as on a full disk (Note [fault injection]).
# train: spec.yaml, meta.json, metrics.jsonl, then per epoch model.h5, metrics.jsonl, meta.json, epoch-N.h5.
failures=0
for n in $(seq 1 15); do
  rc=0; DLCTL_FAULT_WRITE=$n:fail "$DLCTL" train configs/housing.yaml --runs "$T/runs" "${args[@]}" >/dev/null 2>"$T/err" </dev/null || rc=$?
  [ "$rc" = 74 ] || fail "train, write $n fails: exit $rc, want 74: $(cat "$T/err")"
  grep -q "No space left on device" "$T/err" || fail "train, write $n: $(cat "$T/err")"
  newest_failed "train, write $n"
  intact "train, write $n"
  failures=$((failures + 1))
done
# export: signature.json, dlctl.h5, model.onnx, model.h5 (Keras); re-exporting version 1 over itself.
for n in 1 2 3 4; do
  rc=0; DLCTL_FAULT_WRITE=$n:fail "$DLCTL" export housing@1 --runs "$T/runs" --out "$T/export" >/dev/null 2>"$T/err" </dev/null || rc=$?
  [ "$rc" = 74 ] || fail "export, write $n fails: exit $rc, want 74: $(cat "$T/err")"
  intact "export, write $n"
  failures=$((failures + 1))
done

# A real EFBIG: no file may grow past N KiB (SIGXFSZ ignored, so write(2) fails as on a full disk); N from
# 1 KiB to just under the largest file each command writes.
largest_kib() { echo $(( $(find "$1" -type f -printf '%s\n' | sort -n | tail -1) / 1024 )); }
train_max=$(largest_kib "$T/runs/housing/1")
export_max=$(largest_kib "$T/export/housing/1")
for kib in 1 2 4 $((train_max / 2)) "$train_max"; do
  rc=0; (trap '' XFSZ; ulimit -f "$kib"; exec "$DLCTL" train configs/housing.yaml --runs "$T/runs" "${args[@]}") >/dev/null 2>"$T/err" </dev/null || rc=$?
  [ "$rc" = 74 ] || fail "train under ulimit -f $kib: exit $rc, want 74: $(cat "$T/err")"
  grep -q "File too large" "$T/err" || fail "train under ulimit -f $kib: $(cat "$T/err")"
  newest_failed "train under ulimit -f $kib"
  intact "train under ulimit -f $kib"
  failures=$((failures + 1))
done
for kib in 1 2 4 $((export_max / 2)) "$export_max"; do
  rc=0; (trap '' XFSZ; ulimit -f "$kib"; exec "$DLCTL" export housing@1 --runs "$T/runs" --out "$T/export") >/dev/null 2>"$T/err" </dev/null || rc=$?
  [ "$rc" = 74 ] || fail "export under ulimit -f $kib: exit $rc, want 74: $(cat "$T/err")"
  grep -q "File too large" "$T/err" || fail "export under ulimit -f $kib: $(cat "$T/err")"
  intact "export under ulimit -f $kib"
  failures=$((failures + 1))
done

# A read-only runs folder: 74 naming it. Root ignores file modes, so as root the check runs as nobody when
# that user can run the binary, and is skipped otherwise.
mkdir -p "$T/ro"
expect_rc 0 "$DLCTL" train configs/housing.yaml --runs "$T/ro" "${args[@]}"
chmod -R a-w "$T/ro/housing"
as_user=()
if [ "$(id -u)" = 0 ]; then
  if command -v setpriv >/dev/null && setpriv --reuid=65534 --regid=65534 --clear-groups "$DLCTL" --version >/dev/null 2>&1 &&
     setpriv --reuid=65534 --regid=65534 --clear-groups test -r configs/housing.yaml -a -r datasets/housing.csv; then
    as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  else
    as_user=(skip)
  fi
fi
if [ "${as_user[0]:-}" != skip ]; then
  chmod -R a+rX "$T/ro"
  chmod -R a-w "$T/ro/housing"
  expect_rc 74 "${as_user[@]}" "$DLCTL" train configs/housing.yaml --runs "$T/ro" "${args[@]}"
  grep -q "$T/ro/housing" "$T/err" || fail "read-only: the message does not name the folder: $(cat "$T/err")"
  chmod -R u+w "$T/ro/housing/1"
  chmod a-w "$T/ro/housing/1"   # the version itself read-only: resuming it cannot write
  python3 - "$T/ro/housing/1/meta.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1])); m["status"] = "running"; open(sys.argv[1], "w").write(json.dumps(m))
PY
  expect_rc 74 "${as_user[@]}" "$DLCTL" train configs/housing.yaml --runs "$T/ro" "${args[@]}" --resume
  ro=checked
else
  echo "read-only folder: skipped (root, and user nobody cannot run $DLCTL here)"
  ro=skipped
fi
chmod -R u+w "$T/ro"

# Temporary files left by killed processes go at the model's next run; a version being trained keeps its own.
touch "$T/runs/housing/1/model.h5.tmp-abc123" "$T/runs/housing/1/checkpoints/epoch-00003.h5.tmp-xyz789"
dead=999999; while [ -e /proc/$dead ]; do dead=$((dead - 1)); done
mkdir -p "$T/export/housing/.tmp-1-$dead" && touch "$T/export/housing/.tmp-1-$dead/dlctl.h5.tmp-aaaaaa"
"$DLCTL" train configs/housing.yaml --runs "$T/runs" --threads 1 --quiet --set train.epochs=100000 >/dev/null 2>&1 </dev/null &
busy=$!
busy_dir=""
for _ in $(seq 500); do
  busy_dir=$( (grep -l '"status": "running"' "$T"/runs/housing/*/meta.json 2>/dev/null || true) | head -1 | xargs -r dirname)
  [ -n "$busy_dir" ] && break
  sleep 0.02
done
[ -n "$busy_dir" ] || fail "the long run did not start"
touch "$busy_dir/model.h5.tmp-inflight"
expect_rc 0 "$DLCTL" train configs/housing.yaml --runs "$T/runs" "${args[@]}"
[ ! -e "$T/runs/housing/1/model.h5.tmp-abc123" ] && [ ! -e "$T/runs/housing/1/checkpoints/epoch-00003.h5.tmp-xyz789" ] ||
  fail "stale temporary files were not removed"
[ -e "$busy_dir/model.h5.tmp-inflight" ] || fail "the temporary file of a version being trained was removed"
kill -TERM $busy; rc=0; wait $busy || rc=$?
[ "$rc" = 130 ] || fail "the long run exited $rc on SIGTERM"
expect_rc 0 "$DLCTL" export housing@1 --runs "$T/runs" --out "$T/export"
[ ! -e "$T/export/housing/.tmp-1-$dead" ] || fail "the stale export directory of a dead process was not removed"
echo "disk faults: $failures failed writes, each exit 74 with earlier versions intact; read-only: $ro"
