"""Helpers shared by tools/golden_torch.py and tools/golden_keras.py (NumPy only).

Writes and reads one case in the format of tests/golden/README.md: a directory with meta.txt
(one `key value` per line, keys in META_KEYS order) and little-endian .npy files (float32; int32
for seq_len and mask).
"""

import os
import zlib

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
GOLDEN = os.path.join(ROOT, "tests", "golden")
TOL = 1e-5

META_KEYS = ["framework", "cell", "layout", "T", "N", "I", "H", "layers", "direction", "merge",
             "reverse_order", "reverse_mode", "masked_output", "proj", "peephole", "cell_clip",
             "proj_clip", "forget_bias", "dense", "return_sequences", "chunks", "has_seq_len",
             "has_mask", "has_h0"]

INT_ARRAYS = ("seq_len", "mask")


def rng_for(name):
    """The case's own generator, seeded with crc32 of its name."""
    return np.random.RandomState(zlib.crc32(name.encode()) & 0x7FFFFFFF)


def uniform(rng, shape, lo=-0.5, hi=0.5):
    return rng.uniform(lo, hi, size=shape).astype(np.float32)


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def default_meta(framework):
    """Every meta.txt key with its default; keras defaults to whole_axis / carry."""
    m = dict(framework=framework, cell="lstm", layout="batch_major", T=0, N=0, I=0, H=0, layers=1,
             direction="forward", merge="concat", reverse_order=0,
             reverse_mode="whole_axis" if framework == "keras" else "per_row",
             masked_output="carry" if framework == "keras" else "zero", proj=0, peephole=0,
             cell_clip=0.0, proj_clip=0.0, forget_bias=0.0, dense=0, return_sequences=1, chunks=1,
             has_seq_len=0, has_mask=0, has_h0=0)
    return m


def write_case(out_root, name, meta, arrays, verify=None):
    """Writes out_root/name/ (must not exist); then calls verify(dir) if given."""
    d = os.path.join(out_root, name)
    os.makedirs(d)
    with open(os.path.join(d, "meta.txt"), "w") as f:
        for k in META_KEYS:
            v = meta[k]
            if isinstance(v, float):
                v = repr(float(v))
            f.write(f"{k} {v}\n")
    for key, arr in arrays.items():
        arr = np.asarray(arr)
        if key in INT_ARRAYS:
            arr = arr.astype("<i4")
        else:
            assert arr.dtype == np.float32, (name, key, arr.dtype)
            assert np.all(np.isfinite(arr)), (name, key)
            arr = arr.astype("<f4")
        np.save(os.path.join(d, key + ".npy"), np.ascontiguousarray(arr))
    if verify is not None:
        verify(d)


def read_case(d, float64=False):
    """Returns (meta, arrays) of a case directory; meta values are strings. Checks each file's
    dtype (int32 for seq_len/mask, float32 otherwise); float64=True converts the float32 arrays."""
    meta = {}
    with open(os.path.join(d, "meta.txt")) as f:
        for line in f:
            k, v = line.split()
            meta[k] = v
    arr = {}
    for fn in os.listdir(d):
        if fn.endswith(".npy"):
            key = fn[:-4]
            a = np.load(os.path.join(d, fn))
            want = np.int32 if key in INT_ARRAYS else np.float32
            assert a.dtype == want and a.dtype.byteorder in ("<", "="), (d, fn, a.dtype)
            if float64 and want == np.float32:
                a = a.astype(np.float64)
            arr[key] = a
    return meta, arr
