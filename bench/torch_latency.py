"""PyTorch's batch-1 inference latency for the Fashion-MNIST MLP and CNN (the peer of `dlctl bench`'s
latency_batch1_ms): eval mode, no_grad, one 28x28 image per call, median over --calls calls after a warm-up.
Prints one JSON line. Run with Debian's /usr/bin/python3 (python3-torch), OpenBLAS-openmp as for the other peers.

  /usr/bin/python3 bench/torch_latency.py --model mlp|cnn [--threads 2] [--calls 2000]
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn


def build(model):
    if model == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                             nn.Linear(128, 10)), (1, 1, 28, 28)
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10)), (1, 1, 28, 28)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", choices=["mlp", "cnn"], required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--calls", type=int, default=2000)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    net, shape = build(a.model)
    net.eval()
    x = torch.rand(shape)
    times = []
    with torch.no_grad():
        for _ in range(200):
            net(x)
        for _ in range(a.calls):
            t0 = time.perf_counter()
            net(x).argmax(1)
            times.append(time.perf_counter() - t0)
    print(json.dumps({"model": a.model, "threads": torch.get_num_threads(), "torch": torch.__version__,
                      "latency_batch1_ms": statistics.median(times) * 1e3}))


if __name__ == "__main__":
    main()
