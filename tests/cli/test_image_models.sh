# Image models end to end on Fashion-MNIST (a few steps each; full-accuracy runs are `make bench`'s): eval
# reproduces train's test metrics from the checkpoint (batch_norm in inference mode, dropout off), augmented
# training is bit-identical at 1 and 2 threads, and the progress line reports throughput.
source "$(dirname "$0")/lib.sh"
cd "$SRC"
short=(--set train.epochs=2 --set train.steps_per_epoch=15)

for spec in configs/fashion-cnn.yaml configs/fashion-resnet.yaml; do
  expect_rc 0 "$DLCTL" train "$spec" --runs "$T/runs" "${short[@]}" --quiet --json
  cp "$T/out" "$T/train.json"
  name=$(json "$T/train.json" 'j["name"]')
  expect_rc 0 "$DLCTL" eval "$name@latest" --runs "$T/runs" --json
  train_acc=$(json "$T/train.json" 'repr(j["metrics"]["test_accuracy"])')
  train_loss=$(json "$T/train.json" 'repr(j["metrics"]["test_loss"])')
  eval_acc=$(json "$T/out" 'repr(j["metrics"]["accuracy"])')
  eval_loss=$(json "$T/out" 'repr(j["metrics"]["loss"])')
  [ "$train_acc" = "$eval_acc" ] || fail "$spec: eval accuracy $eval_acc differs from train's test accuracy $train_acc"
  [ "$train_loss" = "$eval_loss" ] || fail "$spec: eval loss $eval_loss differs from train's test loss $train_loss"
  # The CNN learns within 30 steps (the batch-normalised net's moving averages need longer to settle).
  if [ "$spec" = configs/fashion-cnn.yaml ]; then
    python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > 0.3 else 1)" "$train_acc" \
      || fail "$spec: test accuracy $train_acc after 30 steps: not learning"
  fi
done

# The residual net with flip augmentation and batch_norm: 1 and 2 threads give the same checkpoint, bit for bit.
for threads in 1 2; do
  expect_rc 0 "$DLCTL" train configs/fashion-resnet.yaml --runs "$T/threads$threads" "${short[@]}" --threads "$threads" --quiet --json
done
"$H5SAME" "$T/threads1/fashion-resnet/1/model.h5" "$T/threads2/fashion-resnet/1/model.h5" \
  || fail "fashion-resnet differs between 1 and 2 threads"

# Augmentation changes the run (and its seed is the run's): without it the weights differ.
expect_rc 0 "$DLCTL" train configs/fashion-resnet.yaml --runs "$T/noaug" "${short[@]}" --set data.augment.flip=none --quiet --json
if "$H5SAME" "$T/threads1/fashion-resnet/1/model.h5" "$T/noaug/fashion-resnet/1/model.h5" >/dev/null 2>&1; then
  fail "flip augmentation had no effect on the weights"
fi

# Progress lines name the throughput.
expect_rc 0 "$DLCTL" train configs/fashion-cnn.yaml --runs "$T/runs" --set train.epochs=1 --set train.steps_per_epoch=5
grep -q "samples/s" "$T/err" "$T/out" || fail "no samples/s in the progress output"
echo "image models: eval reproduces train, deterministic across threads, augmentation active"
