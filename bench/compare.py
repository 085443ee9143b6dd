"""make bench: dlctl against PyTorch on the same machine, models, batch sizes, threads and data, in one run.
Ratios only (never absolute figures from another day): whole-process wall time for the same epochs (what a user
waits for), steady-state training samples/s, peak RSS, batch-1 inference latency, and test accuracy on the same
recipe. Runs of the two alternate so that a noisy neighbour hurts both. Writes bench/results/latest.json.

  /usr/bin/python3 bench/compare.py BIN PEERS_DIR OMP_DIR [--quick]
Environment: THREADS (2), REPEATS (3: runs per short case), CNN_EPOCHS (5), RESNET (1: train fashion-resnet for
its 10 epochs and check the 92% target), CASES (housing,mlp,cnn,latency,resnet: which to run).
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

BIN, PEERS, OMP_DIR = sys.argv[1], sys.argv[2], sys.argv[3]
QUICK = "--quick" in sys.argv
THREADS = int(os.environ.get("THREADS", "2"))
REPEATS = int(os.environ.get("REPEATS", "1" if QUICK else "3"))
CNN_EPOCHS = int(os.environ.get("CNN_EPOCHS", "1" if QUICK else "5"))
RESNET = os.environ.get("RESNET", "0" if QUICK else "1") == "1"
CASES = os.environ.get("CASES", "housing,mlp,cnn,latency,resnet").split(",")
HERE = os.path.dirname(os.path.abspath(__file__))
TMP = tempfile.mkdtemp(prefix="dlctl-bench-")
TORCH_ENV = dict(os.environ, LD_LIBRARY_PATH=OMP_DIR, OMP_NUM_THREADS=str(THREADS))


def timed(cmd, env=None):
    """Runs cmd; returns (wall seconds, peak RSS KiB, stdout)."""
    rss_file = os.path.join(TMP, "rss")
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file] + cmd, env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        sys.exit(f"bench: {' '.join(cmd)} failed ({p.returncode})")
    return wall, int(open(rss_file).read().split()[-1]), p.stdout


def dlctl_train(config, sets):
    cmd = [BIN, "train", config, "--runs", os.path.join(TMP, "runs"), "--threads", str(THREADS), "--quiet", "--json"]
    for s in sets:
        cmd += ["--set", s]
    wall, rss, out = timed(cmd)
    res = json.loads(out)
    lines = [json.loads(l) for l in open(os.path.join(res["run_dir"], "metrics.jsonl")) if l.strip()]
    steady = [l["samples_per_s"] for l in (lines[1:] or lines)]
    return {"wall_s": wall, "rss_kib": rss, "steady_samples_per_s": statistics.median(steady), "metrics": res["metrics"]}


def torch_run(script, args):
    wall, rss, out = timed(["/usr/bin/python3", os.path.join(PEERS, script)] + args, TORCH_ENV)
    j = json.loads(out.strip().splitlines()[-1])
    return {"wall_s": wall, "rss_kib": rss, "steady_samples_per_s": j.get("steady_samples_per_s"), "peer": j}


def median_of(runs, key):
    return statistics.median(r[key] for r in runs)


def compare(name, dl_runs, pt_runs, targets, quality=None):
    row = {"dlctl": {k: median_of(dl_runs, k) for k in ("wall_s", "rss_kib", "steady_samples_per_s")},
           "pytorch": {k: median_of(pt_runs, k) for k in ("wall_s", "rss_kib", "steady_samples_per_s")},
           "runs": len(dl_runs)}
    row["ratios"] = {
        "wall_pytorch_over_dlctl": row["pytorch"]["wall_s"] / row["dlctl"]["wall_s"],
        "steady_dlctl_over_pytorch": row["dlctl"]["steady_samples_per_s"] / row["pytorch"]["steady_samples_per_s"],
        "peak_rss_dlctl_over_pytorch": row["dlctl"]["rss_kib"] / row["pytorch"]["rss_kib"],
    }
    row["targets"] = targets
    if quality:
        row.update(quality)
    row["pytorch"]["torch"] = pt_runs[-1]["peer"].get("torch")
    row["pytorch"]["blas"] = pt_runs[-1]["peer"].get("blas")
    results[name] = row
    r = row["ratios"]
    print(f"{name:8} wall {row['dlctl']['wall_s']:7.2f} s vs {row['pytorch']['wall_s']:7.2f} s = "
          f"{r['wall_pytorch_over_dlctl']:5.2f}x (target >= {targets['speed']})   steady "
          f"{row['dlctl']['steady_samples_per_s']:9.0f} vs {row['pytorch']['steady_samples_per_s']:8.0f} samples/s = "
          f"{r['steady_dlctl_over_pytorch']:5.2f}x   peak RSS {row['dlctl']['rss_kib'] / 1024:6.0f} vs "
          f"{row['pytorch']['rss_kib'] / 1024:6.0f} MiB = {r['peak_rss_dlctl_over_pytorch']:.2f} (target <= 1)", flush=True)
    if quality:
        print(f"{'':8} {quality['quality_text']}", flush=True)


results = {"threads": THREADS, "repeats": REPEATS, "quick": QUICK}
print(f"bench: dlctl {BIN} vs PyTorch ({PEERS}), {THREADS} threads, runs alternate", flush=True)

# The seed example: Dense(1) on the housing table.
if "housing" in CASES:
    dl_runs, pt_runs = [], []
    for _ in range(max(REPEATS, 3)):
        dl_runs.append(dlctl_train("configs/housing.yaml", []))
        pt_runs.append(torch_run("torch_linreg.py", ["--scale", "--threads", str(THREADS)]))
    compare("housing", dl_runs, pt_runs, {"speed": 20},
            {"dlctl_test_mse": dl_runs[-1]["metrics"]["test_loss"], "pytorch_test_mse": pt_runs[-1]["peer"]["test_mse"],
             "quality_text": f"test MSE {dl_runs[-1]['metrics']['test_loss']:.2f} vs "
                             f"{pt_runs[-1]['peer']['test_mse']:.2f}"})


def accuracy(dl, pt):
    d, p = dl[-1]["metrics"]["test_accuracy"], pt[-1]["peer"]["test_accuracy"]
    return {"dlctl_test_accuracy": d, "pytorch_test_accuracy": p, "accuracy_points_behind": round(100 * (p - d), 2),
            "quality_text": f"test accuracy {100 * d:.2f}% vs {100 * p:.2f}% (target: within 0.5 points)"}


# Fashion-MNIST MLP, the full recipe (5 epochs), preloaded tensors on PyTorch's side.
if "mlp" in CASES:
    mlp_epochs = 3 if QUICK else 5
    dl_runs, pt_runs = [], []
    for _ in range(REPEATS):
        dl_runs.append(dlctl_train("configs/fashion-mlp.yaml", [f"train.epochs={mlp_epochs}"]))
        pt_runs.append(torch_run("torch_mlp.py", ["--epochs", str(mlp_epochs), "--loader", "tensor", "--threads",
                                                  str(THREADS)]))
    compare("mlp", dl_runs, pt_runs, {"speed": 2.5}, accuracy(dl_runs, pt_runs))

# Fashion-MNIST CNN.
if "cnn" in CASES:
    dl_runs = [dlctl_train("configs/fashion-cnn.yaml", [f"train.epochs={CNN_EPOCHS}"])]
    pt_runs = [torch_run("torch_cnn.py", ["--epochs", str(CNN_EPOCHS), "--loader", "tensor", "--threads",
                                          str(THREADS)])]
    compare("cnn", dl_runs, pt_runs, {"speed": 1.5}, accuracy(dl_runs, pt_runs))

# Batch-1 inference latency (dlctl bench vs the same networks in PyTorch, eval mode, no_grad): each side is
# measured three times, alternating, and the median of the three medians kept (this shared machine has
# minute-long slow spells that would otherwise decide the ratio).
if "latency" in CASES:
    latency = {}
    for model, config in (("mlp", "configs/fashion-mlp.yaml"), ("cnn", "configs/fashion-cnn.yaml")):
        ds, ps = [], []
        for _ in range(3):
            _, _, out = timed([BIN, "bench", config, "--steps", "20", "--threads", str(THREADS), "--json"])
            ds.append(json.loads(out)["latency_batch1_ms"])
            _, _, out = timed(["/usr/bin/python3", os.path.join(HERE, "torch_latency.py"), "--model", model,
                               "--threads", str(THREADS)], TORCH_ENV)
            ps.append(json.loads(out.strip().splitlines()[-1])["latency_batch1_ms"])
        d, p = statistics.median(ds), statistics.median(ps)
        latency[model] = {"dlctl_ms": d, "pytorch_ms": p, "dlctl_over_pytorch": d / p, "dlctl_runs_ms": ds,
                          "pytorch_runs_ms": ps}
        print(f"latency  {model}: batch 1 {d * 1000:7.1f} us vs {p * 1000:7.1f} us = {d / p:.3f} of PyTorch's "
              f"(target <= 0.333)", flush=True)
    results["latency_batch1"] = latency

if RESNET and "resnet" in CASES:
    run = dlctl_train("configs/fashion-resnet.yaml", [])
    acc = run["metrics"]["test_accuracy"]
    results["resnet"] = {"wall_s": run["wall_s"], "rss_kib": run["rss_kib"],
                         "steady_samples_per_s": run["steady_samples_per_s"], "test_accuracy": acc, "target": 0.92}
    print(f"resnet   10 epochs {run['wall_s']:.0f} s, {run['steady_samples_per_s']:.0f} samples/s, "
          f"test accuracy {100 * acc:.2f}% (target >= 92%)", flush=True)

os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
out = os.path.join(HERE, "results", "latest.json")
with open(out + ".tmp", "w") as f:
    json.dump(results, f, indent=2)
os.replace(out + ".tmp", out)
print(f"written to {out}")
