# The command line's contract: verbs, exit codes, --version --json, train --json, versions, eval and gates.
source "$(dirname "$0")/lib.sh"
cd "$SRC"

expect_rc 2 "$DLCTL" no-such-verb
expect_rc 2 "$DLCTL" train --no-such-flag configs/housing.yaml
expect_rc 2 "$DLCTL" train
expect_rc 0 "$DLCTL" --help
for verb in train eval validate render graph runs; do grep -qw "$verb" "$T/out" || fail "--help lacks $verb"; done
expect_rc 0 "$DLCTL" --version --json
for key in version git build_type cuda blas; do
  json "$T/out" "j['$key']" >/dev/null || fail "--version --json lacks $key"
done
expect_rc 66 "$DLCTL" train configs/no-such.yaml --runs "$T/runs"
expect_rc 69 "$DLCTL" train configs/housing.yaml --runs "$T/runs" --device cuda
grep -q "no CUDA device" "$T/err" || fail "--device cuda without a GPU: $(cat "$T/err")"
expect_rc 2 "$DLCTL" train configs/housing.yaml --runs "$T/runs" --device tpu

# train --json: exactly one JSON object on stdout with the documented keys; versions 1, 2.
expect_rc 0 "$DLCTL" train configs/housing.yaml --runs "$T/runs" --set train.epochs=3 --json
cp "$T/out" "$T/train1.json"
[ "$(wc -l <"$T/out")" = 1 ] || fail "train --json printed more than one line"
for key in name version run_dir checkpoint epochs seconds metrics; do json "$T/out" "j['$key']" >/dev/null || fail "train --json lacks $key"; done
for key in loss val_loss test_loss test_mae mae val_mae; do json "$T/out" "j['metrics']['$key']" >/dev/null || fail "metrics lack $key"; done
[ "$(json "$T/out" "j['version']")" = 1 ] || fail "first version is not 1"
[ "$(json "$T/out" "j['epochs']")" = 3 ] || fail "epochs is not 3"
run_dir=$(json "$T/out" "j['run_dir']")
for f in model.h5 spec.yaml metrics.jsonl meta.json; do [ -f "$run_dir/$f" ] || fail "run dir lacks $f"; done
[ "$(wc -l <"$run_dir/metrics.jsonl")" = 3 ] || fail "metrics.jsonl should have 3 lines"
[ "$(json "$run_dir/meta.json" "j['status']")" = done ] || fail "meta.json status is not done"
ls "$run_dir" | grep -q tmp- && fail "a temporary file was left behind"
expect_rc 0 "$DLCTL" train configs/housing.yaml --runs "$T/runs" --set train.epochs=2 --json
[ "$(json "$T/out" "j['version']")" = 2 ] || fail "second version is not 2"

# Without a TTY: one plain line per epoch, no carriage returns; the final table on stdout.
expect_rc 0 "$DLCTL" train configs/housing.yaml --runs "$T/runs" --set train.epochs=4
[ "$(grep -c '^Epoch [0-9]*/4' "$T/err")" = 4 ] || fail "expected 4 epoch lines on stderr"
grep -q $'\r' "$T/err" && fail "progress animation without a TTY"
grep -q "saved housing@3" "$T/out" || fail "no 'saved housing@3' line"

# eval: NAME@latest, NAME@VERSION, a run dir; --json keys; gates.
export DLCTL_RUNS="$T/runs"
expect_rc 0 "$DLCTL" eval housing@latest --json
for key in model version split samples metrics; do json "$T/out" "j['$key']" >/dev/null || fail "eval --json lacks $key"; done
[ "$(json "$T/out" "j['version']")" = 3 ] || fail "@latest is not version 3"
[ "$(json "$T/out" "j['samples']")" = 152 ] || fail "test split is not 152 rows"
json "$T/out" "j['metrics']['mae']" >/dev/null || fail "eval metrics lack mae"
test_loss=$(json "$T/train1.json" "j['metrics']['test_loss']")
expect_rc 0 "$DLCTL" eval housing@1 --json
python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); sys.exit(0 if abs(a-b)<=1e-5*max(1,abs(a)) else 1)" \
  "$test_loss" "$(json "$T/out" "j['metrics']['loss']")" || fail "eval does not reproduce train's test loss"
expect_rc 0 "$DLCTL" eval "$run_dir" --split validation --json
[ "$(json "$T/out" "j['samples']")" = 71 ] || fail "validation split is not 71 rows"
expect_rc 0 "$DLCTL" eval housing@1 --data datasets/housing.csv --json
[ "$(json "$T/out" "j['samples']")" = 506 ] || fail "--data should evaluate all 506 rows"
expect_rc 0 "$DLCTL" eval housing@1 --gate 'loss>=0' --gate 'mae<1e9'
expect_rc 3 "$DLCTL" eval housing@1 --gate 'mae<0.001'
grep -q "gate failed: mae<0.001" "$T/err" || fail "failed gate not printed"
expect_rc 2 "$DLCTL" eval housing@1 --gate 'accuracy>=0.9'
grep -q "no metric 'accuracy'" "$T/err" || fail "unknown gate metric not explained"
expect_rc 2 "$DLCTL" eval housing@1 --gate 'mae=1'
expect_rc 66 "$DLCTL" eval housing@9
expect_rc 66 "$DLCTL" eval nosuchmodel@latest

# runs, render, validate, graph
expect_rc 0 "$DLCTL" runs housing --json
[ "$(json "$T/out" "len(j)")" = 3 ] || fail "runs should list 3 versions"
expect_rc 0 "$DLCTL" runs
grep -q "housing" "$T/out" || fail "runs table lacks housing"
expect_rc 0 "$DLCTL" render configs/housing.yaml --set train.epochs=7
grep -q "epochs: 7" "$T/out" || fail "render does not show the override"
grep -q "kernel_initializer: glorot_uniform" "$T/out" || fail "render does not fill in defaults"
expect_rc 0 "$DLCTL" validate configs/iris.yaml
grep -q "ok" "$T/out" || fail "validate does not say ok"
expect_rc 0 "$DLCTL" graph configs/housing-mlp.yaml
grep -q "fused_dense" "$T/out" || fail "graph after all passes has no fused_dense"
grep -q "memory plan:" "$T/out" || fail "graph lacks memory-plan totals"
expect_rc 0 "$DLCTL" graph configs/housing-mlp.yaml --after none
grep -q "fused_dense" "$T/out" && fail "graph before passes already fused"
expect_rc 0 "$DLCTL" graph configs/housing.yaml --dot
grep -q "^digraph" "$T/out" || fail "--dot is not Graphviz"
expect_rc 2 "$DLCTL" graph configs/housing.yaml --after no_such_pass


# On a terminal: an animated progress bar (carriage returns) and the final table. `script` gives a pseudo-TTY.
if command -v script >/dev/null 2>&1; then
  script -qec "'$DLCTL' train configs/housing.yaml --runs '$T/tty' --set train.epochs=3" /dev/null >"$T/tty.out" </dev/null
  grep -q $'\r' "$T/tty.out" || fail "no progress animation on a terminal"
  grep -q '\[=*' "$T/tty.out" || fail "no progress bar on a terminal"
  grep -q "test_loss" "$T/tty.out" || fail "no final table on a terminal"
fi
echo "cli basics (tty): ok"

# bench: per-op and per-phase times and throughputs, as JSON.
expect_rc 0 "$DLCTL" bench configs/housing-mlp.yaml --steps 5 --json
for key in train_samples_per_s inference_samples_per_s latency_batch1_ms phases_ms_per_step ops; do
  json "$T/out" "j['$key']" >/dev/null || fail "bench --json lacks $key"
done
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['train_samples_per_s'] > 0 and any(o['op'] == 'fused_dense' for o in j['ops'])" "$T/out" \
  || fail "bench: no throughput or no fused_dense kernel"
# Every kernel apart with its shapes: the first dense layer of housing-mlp is [32, 13] x [13, 64] + [64].
python3 -c "
import json, sys
j = json.load(open(sys.argv[1]))
first = next(k for k in j['kernels'] if k['op'] == 'fused_dense')
assert first['inputs'] == [[32, 13], [13, 64], [64]] and first['output'] == [32, 64], first
assert abs(sum(k['ms_per_step'] for k in j['kernels']) - sum(o['ms_per_step'] for o in j['ops'])) < 1e-6
" "$T/out" || fail "bench: kernels lack their shapes, or do not add up to the ops"
expect_rc 0 "$DLCTL" bench configs/iris.yaml --steps 3
grep -q "training:" "$T/out" || fail "bench table lacks the training line"
echo "cli basics (bench): ok"
