"""PyTorch on the GPU, the peer of `dlctl bench --device cuda` (bench/gpu.sh). One JSON line on stdout.

  mlp   Fashion-MNIST 784-256-128-10 ReLU MLP, Adam 1e-3, batch 64: training step time, eager
  cnn   conv3x3x32-pool-conv3x3x64-pool-dense128-dense10, Adam, batch 256: eager and torch.compile
  gemm  bf16 GEMMs of a [1024, 4096] x [4096, 4096] dense layer's training step: cuBLAS' throughput for the
        GEMM-bound target's shapes

Each step ends with loss.item(), as dlctl reads the loss back every step; inputs already on the GPU (which
favours PyTorch: dlctl uploads each batch). Medians over --steps steps after a warm-up.
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn as nn


def step_times(model, batch, shape, classes, steps, warmup=30):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(batch, *shape, device="cuda")
    y = torch.randint(0, classes, (batch,), device="cuda")
    times = []
    for i in range(warmup + steps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        loss.item()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                         nn.Linear(128, 10)).cuda()


def cnn():
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(),
                         nn.Linear(128, 10)).cuda()


def gemm_tflops(m=1024, k=4096, n=4096, reps=100):
    """cuBLAS' bf16 rate for the three GEMMs of a dense layer [m, k] x [k, n] in training, timed apart:
    forward y = x w, input gradient dx = dy w^T, weight gradient dw = x^T dy (its inner size is the batch).
    The GEMM-bound model has 3 forward, 2 input-gradient and 3 weight-gradient GEMMs of these shapes; the
    peak for them is their flops over the sum of their times."""
    x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
    w = torch.randn(k, n, device="cuda", dtype=torch.bfloat16)
    dy = torch.randn(m, n, device="cuda", dtype=torch.bfloat16)
    forms = {"forward": lambda: x @ w, "input_gradient": lambda: dy @ w.t(), "weight_gradient": lambda: x.t() @ dy}
    seconds = {}
    for name, f in forms.items():
        for _ in range(20):
            f()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(reps):
            f()
        torch.cuda.synchronize()
        seconds[name] = (time.perf_counter() - t0) / reps
    flops = 2.0 * m * k * n
    model_s = 3 * seconds["forward"] + 2 * seconds["input_gradient"] + 3 * seconds["weight_gradient"]
    return {"bf16_tflops": 8 * flops / model_s / 1e12,
            "bf16_tflops_by_form": {name: flops / t / 1e12 for name, t in seconds.items()}}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["mlp", "cnn", "gemm"])
    p.add_argument("--steps", type=int, default=300)
    a = p.parse_args()
    torch.backends.cudnn.benchmark = True
    out = {"peer": "pytorch", "what": a.what, "torch": torch.__version__, "gpu": torch.cuda.get_device_name(0),
           "cuda": torch.version.cuda}
    if a.what == "mlp":
        out["batch"] = 64
        out["eager_step_ms"] = step_times(mlp(), 64, (28, 28), 10, a.steps) * 1e3
    elif a.what == "cnn":
        out["batch"] = 256
        out["eager_step_ms"] = step_times(cnn(), 256, (1, 28, 28), 10, a.steps) * 1e3
        try:
            out["compiled_step_ms"] = step_times(torch.compile(cnn()), 256, (1, 28, 28), 10, a.steps) * 1e3
        except Exception as e:  # no Triton or compiler on the machine: say so
            out["compiled_error"] = str(e).splitlines()[0][:200]
    else:
        out.update(gemm_tflops())
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
