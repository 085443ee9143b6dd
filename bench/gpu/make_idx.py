"""Fashion-MNIST-shaped data for the GPU machine, which has neither Debian's dataset package nor a network:
gzip'd IDX files with 60000 training and 10000 test images (uint8 28x28) and labels 0-9. Each class is a fixed
random prototype plus noise, so a model learns it and the loss falls as it does on the real data.

    python3 make_idx.py OUT_DIR
"""
import gzip
import os
import struct
import sys

import numpy as np


def write_idx(path, array):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header + array.astype(np.uint8).tobytes())


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(6)
    prototypes = rng.integers(0, 256, size=(10, 28, 28)).astype(np.float32)
    for prefix, n in (("train", 60000), ("t10k", 10000)):
        labels = rng.integers(0, 10, size=n)
        images = 0.6 * prototypes[labels] + 0.4 * rng.integers(0, 256, size=(n, 28, 28))
        write_idx(os.path.join(out, f"{prefix}-images-idx3-ubyte.gz"), images.clip(0, 255))
        write_idx(os.path.join(out, f"{prefix}-labels-idx1-ubyte.gz"), labels)


if __name__ == "__main__":
    main()
