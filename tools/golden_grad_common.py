"""Helpers shared by tools/golden_grad_torch.py and tools/golden_grad_tf.py (NumPy only).

A gradient case is a forward golden case (tests/golden/README.md: meta.txt, x, weights, y, hn, cn,
...) plus the gradients, in tests/golden/grad/<framework>/<case>/ (see tests/golden/grad/README.md):
  dy, dhn, dcn          the gradients given to the backward (random, uniform in [-1, 1])
  dx, dh0, dc0          expected gradients of x, h0, c0 (h0/c0 zero when has_h0 is 0)
  grad_<weight file>    expected gradient of every weight file (grad_l0_d0_w, grad_dense_b, ...)
  names.txt             `<weight file> <the framework's own parameter name>` per line
meta.txt has the forward keys (META_KEYS) and then `precision float64|float32`: what the
framework computed in. The loss whose gradients these are is
  L = sum(dy * y) + sum(dhn * hn) + sum(dcn * cn).

fd_check() replays a case with a float64 NumPy reference of the forward (the forward golden
scripts' reference(), driven only by the case's files) and compares, for every tensor, the
directional derivative of L along a random direction (central differences) with the saved
gradient: so the files are the gradients of the function meta.txt describes.
"""

import os
import zlib

import numpy as np

from golden_common import GOLDEN, read_case, write_case

GRAD = os.path.join(GOLDEN, "grad")
GRAD_TOL = 1e-5     # |got - exp| / (1 + |exp|), the bar


def write_grad_case(out_root, name, meta, arrays, names, precision):
    """write_case() + the precision line + names.txt."""
    write_case(out_root, name, meta, arrays)
    d = os.path.join(out_root, name)
    with open(os.path.join(d, "meta.txt"), "a") as f:
        f.write(f"precision {precision}\n")
    with open(os.path.join(d, "names.txt"), "w") as f:
        for k in sorted(names):
            f.write(f"{k} {names[k]}\n")
    return d


def read_grad_case(d):
    """(meta, arrays as float64 (ints stay int32), names)."""
    meta, arr = read_case(d, float64=True)
    names = {}
    with open(os.path.join(d, "names.txt")) as f:
        for line in f:
            k, v = line.split()
            names[k] = v
    return meta, arr, names


def rel_err(a, b):
    """max |a - b| / (1 + |b|)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b) / (1.0 + np.abs(b)))) if a.size else 0.0


def compare_runs(name, a, b, tol=GRAD_TOL):
    """Two runs of the same case (e.g. float64 and float32): every array within tol."""
    assert sorted(a) == sorted(b), (name, sorted(a), sorted(b))
    worst = {k: rel_err(b[k], a[k]) for k in a if a[k].dtype.kind == "f"}
    bad = {k: v for k, v in worst.items() if not v <= tol}
    if bad:
        raise SystemExit(f"{name}: float32 and float64 runs differ: {bad}")
    return max(worst.values())


def loss_of(meta, arr, y, hn, cn):
    L = np.sum(arr["dy"] * y) + np.sum(arr["dhn"] * hn)
    if "dcn" in arr:
        L += np.sum(arr["dcn"] * cn)
    return L


def fd_check(d, reference, tol=GRAD_TOL, eps=1e-6):
    """Central differences of the reference loss along one random direction per tensor, against
    the saved gradient. reference(meta, arr) -> (y, hn, cn) float64. Returns the worst error."""
    meta, arr, names = read_grad_case(d)
    lstm = meta["cell"] == "lstm"
    rng = np.random.RandomState(zlib.crc32(d.encode()) & 0x7FFFFFFF)
    base = dict(arr)
    m = dict(meta)
    L_ = int(meta["layers"])
    D = 2 if meta["direction"] == "bidirectional" else 1
    N, H = int(meta["N"]), int(meta["H"])
    Hr = int(meta["proj"]) or H
    if meta["has_h0"] != "1":          # the gradients of zero initial states are saved too
        base["h0"] = np.zeros((L_ * D, N, Hr))
        if lstm:
            base["c0"] = np.zeros((L_ * D, N, H))
        m["has_h0"] = "1"
    y, hn, cn = reference(m, base)
    for k, want in (("y", y), ("hn", hn)) + ((("cn", cn),) if lstm else ()):
        e = rel_err(want, arr[k])
        if not e <= tol:
            raise SystemExit(f"{d}: reference forward differs from the framework's {k}: {e:.3g}")
    pairs = [("x", "dx"), ("h0", "dh0")] + ([("c0", "dc0")] if lstm else [])
    pairs += [(k, "grad_" + k) for k in sorted(names)]
    worst = 0.0
    for key, gkey in pairs:
        g = arr[gkey]
        assert g.shape == base[key].shape, (d, gkey, g.shape, base[key].shape)
        v = rng.uniform(-1.0, 1.0, size=g.shape)
        plus, minus = dict(base), dict(base)
        plus[key] = base[key] + eps * v
        minus[key] = base[key] - eps * v
        fd = (loss_of(m, arr, *reference(m, plus)) - loss_of(m, arr, *reference(m, minus))) / (2 * eps)
        an = float(np.sum(g * v))
        scale = 1.0 + float(np.sum(np.abs(g * v)))
        e = abs(fd - an) / scale
        worst = max(worst, e)
        if not e <= tol:
            raise SystemExit(f"{d}: {gkey}: finite difference {fd:.8g} vs saved gradient {an:.8g}")
    return worst
