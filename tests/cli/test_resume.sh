# A run killed with SIGKILL after its k-th checkpoint and resumed ends with the same parameters as one that
# never stopped; SIGINT checkpoints and exits 130; --resume on a done version says so and exits 0.
source "$(dirname "$0")/lib.sh"
cd "$SRC"
ep=60
args=(--seed 5 --threads 2 --set train.epochs=$ep --set train.checkpoint.min_interval_s=0 --quiet)
expect_rc 0 "$DLCTL" train configs/digits.yaml --runs "$T/full" "${args[@]}" --set train.early_stopping.patience=1000 --json
full=$(json "$T/out" "j['checkpoint']")

# Kill once the k-th checkpoint exists: metrics.jsonl is rewritten with k lines at each checkpoint.
"$DLCTL" train configs/digits.yaml --runs "$T/cut" "${args[@]}" --set train.early_stopping.patience=1000 >/dev/null 2>&1 </dev/null &
pid=$!
killed=""
for _ in $(seq 2000); do
  ck=$(ls "$T"/cut/digits/1/model.h5 2>/dev/null || true)
  if [ -n "$ck" ]; then
    lines=$(wc -l <"$T/cut/digits/1/metrics.jsonl" 2>/dev/null || echo 0)
    if [ "$lines" -ge 5 ]; then kill -9 $pid; wait $pid 2>/dev/null || true; killed=$lines; break; fi
  fi
  kill -0 $pid 2>/dev/null || break
  sleep 0.01
done
[ -n "$killed" ] || fail "could not kill the run mid-way"
[ "$killed" -lt $ep ] || fail "the run finished before the kill"
[ "$(json "$T/cut/digits/1/meta.json" "j['status']")" != done ] || fail "killed run says done"
expect_rc 0 "$DLCTL" train configs/digits.yaml --runs "$T/cut" "${args[@]}" --set train.early_stopping.patience=1000 --resume --json
[ "$(json "$T/out" "j['version']")" = 1 ] || fail "resume trained a new version"
grep -q "resuming digits@1 from epoch" "$T/err" || fail "resume did not say where it continued"
"$H5SAME" "$full" "$(json "$T/out" "j['checkpoint']")" || fail "resumed run differs from the uninterrupted one"
[ "$(wc -l <"$T/cut/digits/1/metrics.jsonl")" = $ep ] || fail "metrics.jsonl of the resumed run does not have $ep lines"

# --resume of a done version: says so, exit 0; a different spec: usage error.
expect_rc 0 "$DLCTL" train configs/digits.yaml --runs "$T/cut" "${args[@]}" --set train.early_stopping.patience=1000 --resume
grep -q "already done" "$T/err" || fail "resume of a done version did not say so"

# SIGINT mid-epoch: checkpoint, exit 130, then resume to the same result.
"$DLCTL" train configs/digits.yaml --runs "$T/int" "${args[@]}" --set train.early_stopping.patience=1000 >/dev/null 2>"$T/int.err" </dev/null &
pid=$!
for _ in $(seq 2000); do [ -s "$T/int/digits/1/metrics.jsonl" ] && break; sleep 0.01; done
kill -INT $pid
rc=0; wait $pid || rc=$?
[ "$rc" = 130 ] || fail "SIGINT: exit $rc, want 130"
[ "$(json "$T/int/digits/1/meta.json" "j['status']")" = interrupted ] || fail "SIGINT: status is not interrupted"
expect_rc 2 "$DLCTL" train configs/digits.yaml --runs "$T/int" "${args[@]}" --set train.early_stopping.patience=999 --resume
grep -q "differs" "$T/err" || fail "resume with another spec was not refused"
expect_rc 0 "$DLCTL" train configs/digits.yaml --runs "$T/int" "${args[@]}" --set train.early_stopping.patience=1000 --resume --json
"$H5SAME" "$full" "$(json "$T/out" "j['checkpoint']")" || fail "run resumed after SIGINT differs"
# SIGTERM behaves as SIGINT.
"$DLCTL" train configs/digits.yaml --runs "$T/term" "${args[@]}" >/dev/null 2>&1 </dev/null &
pid=$!
for _ in $(seq 2000); do [ -s "$T/term/digits/1/metrics.jsonl" ] && break; sleep 0.01; done
kill -TERM $pid
rc=0; wait $pid || rc=$?
[ "$rc" = 130 ] || fail "SIGTERM: exit $rc, want 130"
[ -f "$T/term/digits/1/model.h5" ] || fail "SIGTERM: no checkpoint written"

# A version that died before its first checkpoint starts from the beginning, with a note, and ends the same.
mkdir -p "$T/early/digits/1"
"$DLCTL" render configs/digits.yaml --set seed=5 --set train.epochs=$ep --set train.checkpoint.min_interval_s=0 \
  --set train.early_stopping.patience=1000 >"$T/early/digits/1/spec.yaml"
echo '{"name": "digits", "version": 1, "status": "running"}' >"$T/early/digits/1/meta.json"
expect_rc 0 "$DLCTL" train configs/digits.yaml --runs "$T/early" "${args[@]}" --set train.early_stopping.patience=1000 --resume --json
grep -q "has no checkpoint yet; starting it from the beginning" "$T/err" || fail "no note for a version without checkpoint"
[ "$(json "$T/out" "j['version']")" = 1 ] || fail "resume without checkpoint trained a new version"
"$H5SAME" "$full" "$(json "$T/out" "j['checkpoint']")" || fail "restarted version differs from the uninterrupted one"

# A corrupted checkpoint is refused on load (exit 65), never trained on or evaluated.
cp "$full" "$T/corrupt.h5"
python3 - "$T/corrupt.h5" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
# flip a byte in the middle of the file (parameter data): HDF5 still opens it, the checksum catches it
data[len(data) // 2] ^= 0xFF
open(sys.argv[1], "wb").write(bytes(data))
PY
mkdir -p "$T/corrupt-run" && cp "$(dirname "$full")"/{spec.yaml,meta.json} "$T/corrupt-run/" && cp "$T/corrupt.h5" "$T/corrupt-run/model.h5"
expect_rc 65 "$DLCTL" eval "$T/corrupt-run"
grep -q "checksum mismatch" "$T/err" || fail "corrupt checkpoint not explained: $(cat "$T/err")"

# --- Checkpoints under checkpoints/ (keep_last): a run whose model.h5 is gone resumes from the newest valid
# epoch checkpoint, skipping a corrupt one with a warning; it never restarts and rewrites metrics.jsonl.
hep=12
hargs=(--threads 1 --quiet --set train.epochs=$hep --set train.checkpoint.min_interval_s=0 --set train.checkpoint.keep_last=3)
expect_rc 0 "$DLCTL" train configs/housing.yaml --runs "$T/hfull" "${hargs[@]}" --json
hfull=$(json "$T/out" "j['checkpoint']")
# Writes: spec.yaml, meta.json, metrics.jsonl, then per epoch model.h5, metrics.jsonl, meta.json, epoch-N.h5.
# The 36th is epoch 9's model.h5: SIGKILL halfway through it (Note [fault injection]).
rc=0; DLCTL_FAULT_WRITE=36:kill "$DLCTL" train configs/housing.yaml --runs "$T/hcut" "${hargs[@]}" >/dev/null 2>&1 </dev/null || rc=$?
[ "$rc" = 137 ] || fail "fault injection: exit $rc, want 137 (SIGKILL)"
hdir=$T/hcut/housing/1
[ -f "$hdir/checkpoints/epoch-00008.h5" ] && [ -f "$hdir/checkpoints/epoch-00007.h5" ] || fail "no epoch checkpoints: $(ls -R "$hdir")"
ls "$hdir"/model.h5.tmp-* >/dev/null 2>&1 || fail "the kill did not leave the half-written model.h5 behind"
rm "$hdir/model.h5"
python3 - "$hdir/checkpoints/epoch-00008.h5" <<'PY'
import sys
p = sys.argv[1]; data = bytearray(open(p, "rb").read()); data[len(data) * 2 // 3] ^= 0x10; open(p, "wb").write(bytes(data))
PY
expect_rc 0 "$DLCTL" train configs/housing.yaml --runs "$T/hcut" "${hargs[@]}" --resume --json
grep -q "warning: cannot resume from $hdir/checkpoints/epoch-00008.h5: checksum mismatch" "$T/err" || fail "no warning for the corrupt checkpoint: $(cat "$T/err")"
grep -q "resuming housing@1 from epoch 7, step .* (.*epoch-00007.h5)" "$T/err" || fail "did not resume from epoch 7: $(cat "$T/err")"
! grep -q "starting it from the beginning" "$T/err" || fail "restarted from scratch"
"$H5SAME" "$hfull" "$hdir/model.h5" >/dev/null || fail "resumed from an epoch checkpoint: differs from the uninterrupted run"
[ "$(wc -l <"$hdir/metrics.jsonl")" = $hep ] || fail "metrics.jsonl: $(wc -l <"$hdir/metrics.jsonl") lines, want $hep"
[ -z "$(find "$hdir" -name '*.tmp-*')" ] || fail "the resumed run left temporary files: $(find "$hdir" -name '*.tmp-*')"

# --- A run that ends with an error is marked failed, with the reason, in meta.json and in `runs`; it resumes.
rc=0; DLCTL_FAULT_WRITE=20:fail "$DLCTL" train configs/housing.yaml --runs "$T/hfail" "${hargs[@]}" >/dev/null 2>"$T/err" </dev/null || rc=$?
[ "$rc" = 74 ] || fail "injected write failure: exit $rc, want 74: $(cat "$T/err")"
fdir=$T/hfail/housing/1
[ "$(json "$fdir/meta.json" "j['status']")" = failed ] || fail "a run that exited 74 is not marked failed"
[ "$(json "$fdir/meta.json" "j['error']['exit_code']")" = 74 ] || fail "meta.json has no exit code"
json "$fdir/meta.json" "j['error']['message']" | grep -q "write failed" || fail "meta.json has no reason"
expect_rc 0 "$DLCTL" runs --runs "$T/hfail" --json
[ "$(json "$T/out" "j[0]['status'] + ' ' + str(j[0]['error']['exit_code'])")" = "failed 74" ] || fail "runs --json: $(cat "$T/out")"
expect_rc 0 "$DLCTL" runs --runs "$T/hfail"
grep -q "failed .*error (exit 74): .*write failed" "$T/out" || fail "runs does not show the failure: $(cat "$T/out")"
expect_rc 0 "$DLCTL" train configs/housing.yaml --runs "$T/hfail" "${hargs[@]}" --resume --json
"$H5SAME" "$hfull" "$fdir/model.h5" >/dev/null || fail "resumed after a failed write: differs"
[ "$(json "$fdir/meta.json" "j['status'] + str('error' in j)")" = doneFalse ] || fail "the finished run still carries its old error"
# Every checkpoint corrupt: refused (65) and marked failed, never restarted.
for f in "$fdir"/model.h5 "$fdir"/checkpoints/*.h5; do printf 'garbage' | dd of="$f" bs=1 seek=600 conv=notrunc status=none; done
python3 - "$fdir/meta.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1])); m["status"] = "running"; json.dump(m, open(sys.argv[1], "w"))
PY
expect_rc 65 "$DLCTL" train configs/housing.yaml --runs "$T/hfail" "${hargs[@]}" --resume
grep -q "none of its 4 checkpoints can be loaded" "$T/err" || fail "all-corrupt resume: $(cat "$T/err")"
[ "$(json "$fdir/meta.json" "j['status'] + ' ' + str(j['error']['exit_code'])")" = "failed 65" ] || fail "refused resume not marked failed"

# --- Crash loop: SIGKILL at >= 30 moments (random times, and halfway through randomly chosen file writes:
# checkpoints, epoch checkpoints, metrics, meta), resuming each time; the end is bit-identical to the run that
# never stopped, metrics.jsonl has one line per epoch and no temporary file is left.
cdir=$T/crash/housing/1
seed=${DLCTL_CRASH_SEED:-$((RANDOM * 32768 + RANDOM))}
RANDOM=$seed
t0=$(date +%s%N)
kills=0; in_writes=0; torn=0; tries=0
while [ $kills -lt 36 ] && [ $tries -lt 200 ]; do
  tries=$((tries + 1))
  if [ $((tries % 3)) = 0 ]; then   # every third: halfway through one of the next writes
    rc=0; DLCTL_FAULT_WRITE=$((RANDOM % 12 + 1)):kill "$DLCTL" train configs/housing.yaml --runs "$T/crash" "${hargs[@]}" --resume >/dev/null 2>>"$T/crash.err" </dev/null || rc=$?
    [ "$rc" = 137 ] && { kills=$((kills + 1)); in_writes=$((in_writes + 1)); }
  else
    "$DLCTL" train configs/housing.yaml --runs "$T/crash" "${hargs[@]}" --resume >/dev/null 2>>"$T/crash.err" </dev/null &
    pid=$!
    sleep "0.$(printf '%03d' $((RANDOM % 300)))"
    kill -9 $pid 2>/dev/null && kills=$((kills + 1))
    rc=0; wait $pid 2>/dev/null || rc=$?
  fi
  case $rc in 0|137) ;; *) fail "crash loop (seed $seed): a resume exited $rc: $(tail -5 "$T/crash.err")" ;; esac
  [ -n "$(find "$T/crash" -name '*.tmp-*' 2>/dev/null)" ] && torn=$((torn + 1))
  if [ -f "$cdir/meta.json" ] && [ "$(json "$cdir/meta.json" "j['status']")" = done ]; then
    rm -rf "$T/crash"   # finished between kills: start over, the kills so far still count
  fi
done
[ $kills -ge 30 ] || fail "crash loop (seed $seed): only $kills kills in $tries tries"
expect_rc 0 "$DLCTL" train configs/housing.yaml --runs "$T/crash" "${hargs[@]}" --resume --json
"$H5SAME" "$hfull" "$cdir/model.h5" >/dev/null || fail "crash loop (seed $seed): the result differs from the uninterrupted run"
[ "$(wc -l <"$cdir/metrics.jsonl")" = $hep ] || fail "crash loop (seed $seed): metrics.jsonl has $(wc -l <"$cdir/metrics.jsonl") lines"
[ -z "$(find "$cdir" -name '*.tmp-*')" ] || fail "crash loop: temporary files left: $(find "$cdir" -name '*.tmp-*')"
echo "crash loop: $kills SIGKILLs ($in_writes halfway through a write; $torn left a temporary file behind) in $(( ($(date +%s%N) - t0) / 1000000 )) ms, seed $seed"
echo "resume: ok (killed after $killed epochs)"
