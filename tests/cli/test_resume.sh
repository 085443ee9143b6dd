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
echo "resume: ok (killed after $killed epochs)"
