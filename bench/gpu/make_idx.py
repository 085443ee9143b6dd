"""Fashion-MNIST-shaped data for the GPU machine, which has neither Debian's dataset package nor a network:
gzip'd IDX files with 60000 training and 10000 test images (uint8 28x28) and labels 0-9. Each class is a fixed
random prototype plus noise, so a model learns it and the loss falls as it does on the real data.

    python3 make_idx.py OUT_DIR [--size S --train N --test N]   # S x S images (64: the GEMM-bound model's)
"""
import argparse
import gzip
import os
import struct

import numpy as np


def write_idx(path, array):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header + array.astype(np.uint8).tobytes())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--size", type=int, default=28)
    p.add_argument("--train", type=int, default=60000)
    p.add_argument("--test", type=int, default=10000)
    a = p.parse_args()
    out, s = a.out, a.size
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(6)
    prototypes = rng.integers(0, 256, size=(10, s, s)).astype(np.float32)
    for prefix, n in (("train", a.train), ("t10k", a.test)):
        labels = rng.integers(0, 10, size=n)
        images = 0.6 * prototypes[labels] + 0.4 * rng.integers(0, 256, size=(n, s, s))
        write_idx(os.path.join(out, f"{prefix}-images-idx3-ubyte.gz"), images.clip(0, 255))
        write_idx(os.path.join(out, f"{prefix}-labels-idx1-ubyte.gz"), labels)


if __name__ == "__main__":
    main()
