# Training policies end to end: early stopping with restore_best, keep_last / keep_best checkpoints, schedules,
# concurrent trains getting distinct versions, and a diverging run exiting 1.
source "$(dirname "$0")/lib.sh"
cd "$SRC"

# Early stopping: a tiny patience stops long before the epoch budget, and says so.
expect_rc 0 "$DLCTL" train configs/iris.yaml --runs "$T/es" --json --set train.epochs=500 \
  --set "train.early_stopping={monitor: val_loss, patience: 3, restore_best: true}"
epochs=$(json "$T/out" "j['epochs']")
[ "$epochs" -lt 500 ] || fail "early stopping did not stop (ran $epochs epochs)"
grep -q "early stopping at epoch $epochs" "$T/err" || fail "early stopping was not reported"
grep -q "restored the best weights" "$T/err" || fail "restore_best was not reported"

# keep_last 2 keeps the two newest epoch checkpoints; keep_best writes best.h5.
expect_rc 0 "$DLCTL" train configs/iris.yaml --runs "$T/keep" --json --set train.epochs=6 \
  --set "train.checkpoint={min_interval_s: 0, keep_last: 2, keep_best: true, monitor: val_accuracy}"
dir=$(json "$T/out" "j['run_dir']")
[ "$(ls "$dir/checkpoints" | tr '\n' ' ')" = "epoch-00005.h5 epoch-00006.h5 " ] || fail "keep_last: $(ls "$dir/checkpoints")"
[ -f "$dir/best.h5" ] || fail "keep_best did not write best.h5"
"$H5SAME" "$dir/model.h5" "$dir/checkpoints/epoch-00006.h5" >/dev/null || fail "the last epoch checkpoint differs from model.h5"

# Schedules run and change the learning rate as logged.
expect_rc 0 "$DLCTL" train configs/housing.yaml --runs "$T/sched" --json --set train.epochs=4 \
  --set "train.schedule={type: step, step_epochs: 2, gamma: 0.5}"
dir=$(json "$T/out" "j['run_dir']")
python3 - "$dir/metrics.jsonl" <<'PY' || fail "step schedule: wrong learning rates in metrics.jsonl"
import json, sys
lr = [json.loads(l)["lr"] for l in open(sys.argv[1])]
assert abs(lr[0] - 1e-3) < 1e-12 and abs(lr[3] - 5e-4) < 1e-12, lr
PY

# Four trains of one name started at once get four distinct versions.
for i in 1 2 3 4; do
  "$DLCTL" train configs/housing.yaml --runs "$T/par" --set train.epochs=3 --json >"$T/par$i.json" 2>/dev/null </dev/null &
done
wait
versions=$(for i in 1 2 3 4; do json "$T/par$i.json" "j['version']"; done | sort -n | tr '\n' ' ')
[ "$versions" = "1 2 3 4 " ] || fail "concurrent trains got versions: $versions"

# A learning rate that makes training diverge: exit 1, status failed, a hint.
expect_rc 1 "$DLCTL" train configs/housing.yaml --runs "$T/nan" --set train.optimizer.lr=1e30 --set train.optimizer.type=sgd
grep -q "training diverged" "$T/err" || fail "divergence not explained: $(cat "$T/err")"
[ "$(json "$T/nan/housing/1/meta.json" "j['status']")" = failed ] || fail "diverged run is not marked failed"
[ "$(json "$T/nan/housing/1/meta.json" "j['error']['exit_code']")" = 1 ] || fail "diverged run has no exit code in meta.json"

# Checkpoints and exports name the training data as the spec does (relative to it), never by this machine's
# path, which would travel inside images; eval still finds the data, from any working directory.
expect_rc 0 "$DLCTL" train configs/housing.yaml --runs "$T/paths" --json --set train.epochs=2 \
  --set "train.checkpoint={min_interval_s: 0, keep_last: 1, keep_best: true}"
dir=$(json "$T/out" "j['run_dir']")
expect_rc 0 "$DLCTL" export housing@1 --runs "$T/paths" --out "$T/paths-export"
for f in "$dir"/model.h5 "$dir"/best.h5 "$dir"/checkpoints/*.h5 "$T"/paths-export/housing/1/*; do
  ! grep -qa "$SRC" "$f" || fail "$f holds the absolute path of the training data"
done
grep -qa "path: ../datasets/housing.csv" "$dir/model.h5" || fail "model.h5 does not name the data relative to the spec"
(cd / && "$DLCTL" eval housing@1 --runs "$T/paths" --json >"$T/out" 2>"$T/err") || fail "eval from / failed: $(cat "$T/err")"
echo "train policies: ok (early stopping after $epochs epochs)"
