#!/usr/bin/env python3
"""Data for the tutorials' recipes that clrnn-train is checked on (README, Training).

  python3 tools/train/make_data.py OUT_DIR [--recipe NAME ...]

Writes OUT_DIR/<recipe>/{x,y,val_x,val_y}.npy (and lengths where the recipe has them). Everything
is seeded: the same files on every machine. The recipes follow the tutorials clrnn is built from:
  fashion  Fashion-MNIST rows as a sequence (T=28 rows of 28 pixels, /255), 10 classes; Debian's
           dataset-fashion-mnist (gzipped IDX files in /usr/share/datasets/fashion-mnist); a
           fixed subset (the first 6000 training and 1000 test images) keeps a run in seconds.
  series   the time-series tutorial's t*sin(t)/3 + 2*sin(5t): windows of T=20 steps, the target
           at every step the next value (a seq-linear:1 head).
  masking  the Masking tutorial's toy: integer sequences of length 5..19, consecutive (label 1) or
           random (label 0), right-padded to 19 with -1 (--mask-value -1).
  imdb     an IMDB-like sentiment set (IMDB itself is not packaged): ids in [1, 500), lengths
           10..40 right-padded with 0 (--embedding 500:16 --mask-zero); the label is whether
           "positive" ids (1..49) outnumber "negative" ones (50..99) in the sequence.
Only numpy is needed.
"""
import argparse
import gzip
import os
import struct

import numpy as np

FASHION_DIR = "/usr/share/datasets/fashion-mnist"


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def fashion(n_train=6000, n_val=1000):
    x = idx(os.path.join(FASHION_DIR, "train-images-idx3-ubyte.gz"))[:n_train].astype(np.float32) / 255.0
    y = idx(os.path.join(FASHION_DIR, "train-labels-idx1-ubyte.gz"))[:n_train].astype(np.int32)
    vx = idx(os.path.join(FASHION_DIR, "t10k-images-idx3-ubyte.gz"))[:n_val].astype(np.float32) / 255.0
    vy = idx(os.path.join(FASHION_DIR, "t10k-labels-idx1-ubyte.gz"))[:n_val].astype(np.int32)
    return dict(x=x, y=y, val_x=vx, val_y=vy)


def series(rng, n_train=2000, n_val=400, T=20):
    def window(t0):
        t = t0 + np.arange(T + 1) * 0.1
        v = t * np.sin(t) / 3 + 2 * np.sin(5 * t)
        return v[:-1, None], v[1:, None]

    def make(n):
        starts = rng.uniform(0, 30 - (T + 1) * 0.1, size=n)
        xs, ys = zip(*(window(s) for s in starts))
        return np.stack(xs).astype(np.float32), np.stack(ys).astype(np.float32)

    x, y = make(n_train)
    vx, vy = make(n_val)
    return dict(x=x, y=y, val_x=vx, val_y=vy)


def masking(rng, n_train=2000, n_val=400, T=19):
    def make(n):
        x = np.full((n, T, 1), -1.0, dtype=np.float32)
        y = np.zeros(n, dtype=np.int32)
        lengths = rng.integers(5, T + 1, size=n)
        for i in range(n):
            L = lengths[i]
            if rng.random() < 0.5:
                start = rng.integers(0, 100)
                x[i, :L, 0] = np.arange(start, start + L) / 100.0
                y[i] = 1
            else:
                x[i, :L, 0] = rng.integers(0, 100, size=L) / 100.0
        return x, y, lengths.astype(np.int32)

    x, y, l = make(n_train)
    vx, vy, vl = make(n_val)
    return dict(x=x, y=y, val_x=vx, val_y=vy, lengths=l, val_lengths=vl)


def imdb(rng, n_train=3000, n_val=500, T=40, vocab=500):
    def make(n):
        x = np.zeros((n, T), dtype=np.int32)
        y = np.zeros((n, 1), dtype=np.float32)
        for i in range(n):
            L = rng.integers(10, T + 1)
            ids = rng.integers(1, vocab, size=L)
            x[i, :L] = ids
            pos, neg = np.sum((ids >= 1) & (ids < 50)), np.sum((ids >= 50) & (ids < 100))
            y[i, 0] = 1.0 if pos > neg else 0.0
        return x, y

    x, y = make(n_train)
    vx, vy = make(n_val)
    return dict(x=x, y=y, val_x=vx, val_y=vy)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--recipe", action="append", choices=["fashion", "series", "masking", "imdb"])
    a = ap.parse_args()
    recipes = a.recipe or ["fashion", "series", "masking", "imdb"]
    for name in recipes:
        rng = np.random.default_rng(1234)
        data = fashion() if name == "fashion" else globals()[name](rng)
        d = os.path.join(a.out, name)
        os.makedirs(d, exist_ok=True)
        for k, v in data.items():
            np.save(os.path.join(d, k + ".npy"), v)
        print(name, {k: v.shape for k, v in data.items()})


if __name__ == "__main__":
    main()
