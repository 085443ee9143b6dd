"""Every config in configs/ trained on the CPU and on the GPU from the same seed, a few epochs each (bench/gpu.sh):
the GPU must give the CPU's results. One line per config, then the count; exit 1 if any differs.

  every_config.py CONFIGS_DIR FASHION_DIR RUNS_DIR -- DLCTL [ARGS...]

Stated tolerance: every loss metric (loss, val_loss, test_loss) within 2% relative (plus 1e-6), after 3 epochs
of a table, or 30 steps of an image model; float32 on both, so what differs is only the order of additions in
cuBLAS, cuDNN and Eigen. Accuracies are printed beside them: on the small tables' test sets one row is 2%.
The version trained on the GPU is then scored on the CPU (`dlctl eval`): its test loss must be the GPU's within
1e-4 relative (the same weights; only the order of additions differs).
EVERY_CONFIG_DEVICE=cpu compares the CPU with itself (a dry run of this script without a GPU).
"""
import json
import os
import subprocess
import sys


def run_json(cmd):
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    if done.returncode != 0:
        return {"error": f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def train(dlctl, spec, device, sets, runs):
    cmd = dlctl + ["train", spec, "--device", device, "--runs", runs, "--json", "--quiet"]
    for s in sets:
        cmd += ["--set", s]
    result = run_json(cmd)
    if "error" not in result:
        # The checkpoint written on that device, scored on the CPU by `dlctl eval` (the test split).
        scored = run_json(dlctl + ["eval", result["run_dir"], "--json"])
        result["metrics"]["cpu_eval_of_test_loss"] = scored.get("metrics", {}).get("loss", float("nan"))
        return result["metrics"]
    return result


def main():
    configs, fashion, runs = sys.argv[1:4]
    dlctl = sys.argv[sys.argv.index("--") + 1:]
    image_sets = [f"data.images={fashion}/train-images-idx3-ubyte.gz",
                  f"data.labels={fashion}/train-labels-idx1-ubyte.gz",
                  f"data.test_images={fashion}/t10k-images-idx3-ubyte.gz",
                  f"data.test_labels={fashion}/t10k-labels-idx1-ubyte.gz",
                  "train.epochs=1", "train.steps_per_epoch=30"]
    failed = 0
    names = sorted(f for f in os.listdir(configs) if f.endswith(".yaml"))
    for name in names:
        spec = os.path.join(configs, name)
        with open(spec) as f:
            sets = image_sets if "format: idx" in f.read() else ["train.epochs=3"]
        cpu = train(dlctl, spec, "cpu", sets, runs)
        gpu = train(dlctl, spec, os.environ.get("EVERY_CONFIG_DEVICE", "cuda"), sets, runs)
        if "error" in cpu or "error" in gpu:
            failed += 1
            print(f"{name:22} FAILED  cpu: {cpu.get('error', 'ok')}  gpu: {gpu.get('error', 'ok')}")
            continue
        # The GPU's checkpoint on the CPU must score the test rows as the GPU did.
        if "test_loss" in gpu:
            a, b = gpu["test_loss"], gpu["cpu_eval_of_test_loss"]
            checkpoint_diff = abs(a - b) / (abs(a) + 1e-6)
        else:
            checkpoint_diff = 0.0
        worst, parts = 0.0, []
        for key in sorted(cpu):
            a, b = cpu[key], gpu.get(key)
            if b is None:
                worst = float("inf")
                parts.append(f"{key} missing on the GPU")
                continue
            if "loss" in key:
                worst = max(worst, abs(a - b) / (abs(a) + 1e-6))
            parts.append(f"{key} {a:.5g}/{b:.5g}")
        ok = worst <= 0.02 and checkpoint_diff <= 1e-4
        failed += 0 if ok else 1
        print(f"{name:22} {'ok    ' if ok else 'DIFFERS'} largest loss difference {worst:.2e}; the GPU's "
              f"checkpoint on the CPU: {checkpoint_diff:.1e}  (cpu/gpu) " + ", ".join(parts))
    print(f"every config: {len(names) - failed} of {len(names)} give the CPU's losses on the GPU (within 2%), "
          "and their GPU checkpoints score the test rows on the CPU as on the GPU (within 1e-4)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
