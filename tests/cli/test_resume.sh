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
echo "resume: ok (killed after $killed epochs)"
