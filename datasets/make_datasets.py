#!/usr/bin/python3
"""Regenerate the small CSV data sets in this folder from Debian's python3-sklearn.

Usage (from the repository root):

    /usr/bin/python3 datasets/make_datasets.py [--src DIR] [--out DIR]

Reads the raw data files that scikit-learn ships (default
/usr/lib/python3/dist-packages/sklearn/datasets/data) and writes
housing.csv, iris.csv, wine.csv and digits.csv next to this script.

Output is deterministic: ASCII, comma-delimited, one header row, '\\n' line
endings, no quoting, no index column.  Numeric values are copied verbatim
from the source text (e.g. "0.00632", "18", "3.0"), never re-formatted, so
nothing is rounded.  Each value is still checked with numpy to be a finite
number of the expected kind.

Only the Python standard library and numpy are used.
"""

import argparse
import csv
import gzip
import hashlib
import io
import os
import re
import sys

import numpy as np

DEFAULT_SRC = "/usr/lib/python3/dist-packages/sklearn/datasets/data"

# A plain decimal literal as it appears in the sklearn files (no exponent,
# no surrounding whitespace, no sign except '-').
NUMBER_RE = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
INT_RE = re.compile(r"^[0-9]+$")

WINE_FEATURES = [
    "alcohol",
    "malic_acid",
    "ash",
    "alcalinity_of_ash",
    "magnesium",
    "total_phenols",
    "flavanoids",
    "nonflavanoid_phenols",
    "proanthocyanins",
    "color_intensity",
    "hue",
    "od280/od315_of_diluted_wines",
    "proline",
]


def fail(msg):
    sys.exit("make_datasets.py: error: " + msg)


def read_text(path):
    if path.endswith(".gz"):
        with gzip.open(path, "rb") as f:
            data = f.read()
    else:
        with open(path, "rb") as f:
            data = f.read()
    text = data.decode("ascii")
    if "\r" in text:
        fail("%s: unexpected CR characters" % path)
    return text


def parse_rows(text, path):
    rows = list(csv.reader(io.StringIO(text)))
    if rows and rows[-1] == []:
        rows.pop()
    return rows


def check_numbers(rows, path, integer=False):
    """Verify every token is a plain number literal; return a float array."""
    pattern = INT_RE if integer else NUMBER_RE
    for i, row in enumerate(rows):
        for tok in row:
            if not pattern.match(tok):
                fail("%s: row %d: bad numeric token %r" % (path, i, tok))
    arr = np.array(rows, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        fail("%s: non-finite value" % path)
    return arr


def header_counts(first, path):
    try:
        return int(first[0]), int(first[1])
    except (IndexError, ValueError):
        fail("%s: first line is not '<n_samples>,<n_features>,...'" % path)


def make_housing(src):
    path = os.path.join(src, "boston_house_prices.csv")
    rows = parse_rows(read_text(path), path)
    n, p = header_counts(rows[0], path)
    header = rows[1]
    expected = ["CRIM", "ZN", "INDUS", "CHAS", "NOX", "RM", "AGE", "DIS",
                "RAD", "TAX", "PTRATIO", "B", "LSTAT", "MEDV"]
    if header != expected:
        fail("%s: unexpected header %r" % (path, header))
    body = rows[2:]
    if (n, p) != (506, 13) or len(body) != n:
        fail("%s: expected 506 rows x 13 features, got %d" % (path, len(body)))
    if any(len(r) != p + 1 for r in body):
        fail("%s: ragged rows" % path)
    check_numbers(body, path)
    return header, body


def make_classification(src, fname, n_exp, p_exp, names_exp, feature_names,
                        label_name):
    path = os.path.join(src, fname)
    rows = parse_rows(read_text(path), path)
    n, p = header_counts(rows[0], path)
    class_names = rows[0][2:]
    if (n, p) != (n_exp, p_exp) or class_names != names_exp:
        fail("%s: unexpected first line %r" % (path, rows[0]))
    body = rows[1:]
    if len(body) != n or any(len(r) != p + 1 for r in body):
        fail("%s: expected %d rows of %d fields" % (path, n, p + 1))
    check_numbers([r[:p] for r in body], path)
    labels = check_numbers([[r[p]] for r in body], path, integer=True)
    out = []
    for r, lab in zip(body, labels[:, 0]):
        k = int(lab)
        if not 0 <= k < len(class_names):
            fail("%s: label %d out of range" % (path, k))
        out.append(r[:p] + [class_names[k]])
    return feature_names + [label_name], out


def make_digits(src):
    path = os.path.join(src, "digits.csv.gz")
    rows = parse_rows(read_text(path), path)
    if len(rows) != 1797 or any(len(r) != 65 for r in rows):
        fail("%s: expected 1797 rows of 65 fields" % path)
    arr = check_numbers(rows, path, integer=True)
    if arr[:, :64].min() < 0 or arr[:, :64].max() > 16:
        fail("%s: pixel value outside 0..16" % path)
    if arr[:, 64].min() < 0 or arr[:, 64].max() > 9:
        fail("%s: label outside 0..9" % path)
    # Re-emit from the integer array so tokens are canonical ints ("0", "16").
    body = [[str(int(v)) for v in row] for row in arr.astype(np.int64)]
    header = ["p%d" % i for i in range(64)] + ["digit"]
    return header, body


def write_csv(path, header, rows):
    ncol = len(header)
    lines = [",".join(header)]
    for r in rows:
        if len(r) != ncol:
            fail("%s: row width %d != %d" % (path, len(r), ncol))
        for tok in r:
            if not tok or any(c in tok for c in ',"\r\n '):
                fail("%s: token %r would need quoting" % (path, tok))
        lines.append(",".join(r))
    data = ("\n".join(lines) + "\n").encode("ascii")
    with open(path, "wb") as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", default=DEFAULT_SRC,
                    help="sklearn data folder (default: %(default)s)")
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)),
                    help="output folder (default: this script's folder)")
    args = ap.parse_args()

    iris_features = ["sepal_length", "sepal_width", "petal_length",
                     "petal_width"]
    wine_features = [n.replace("/", "_") for n in WINE_FEATURES]

    outputs = [
        ("housing.csv", make_housing(args.src)),
        ("iris.csv", make_classification(
            args.src, "iris.csv", 150, 4,
            ["setosa", "versicolor", "virginica"], iris_features, "species")),
        ("wine.csv", make_classification(
            args.src, "wine_data.csv", 178, 13,
            ["class_0", "class_1", "class_2"], wine_features, "cultivar")),
        ("digits.csv", make_digits(args.src)),
    ]

    os.makedirs(args.out, exist_ok=True)
    for name, (header, rows) in outputs:
        digest = write_csv(os.path.join(args.out, name), header, rows)
        print("%s  %s  (%d rows x %d columns)"
              % (digest, name, len(rows), len(header)))


if __name__ == "__main__":
    main()
