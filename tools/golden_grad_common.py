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


# Optional meta.txt keys of the dropout cases (after META_KEYS, before `precision`); absent = off.
DROPOUT_KEYS = ["dropout", "input_dropout", "recurrent_dropout", "dropout_mode", "dropout_seed",
                "dropout_shared"]


def write_grad_case(out_root, name, meta, arrays, names, precision, dropout=None):
    """write_case() + the dropout keys given (a dict of DROPOUT_KEYS) + the precision line +
    names.txt."""
    write_case(out_root, name, meta, arrays)
    d = os.path.join(out_root, name)
    with open(os.path.join(d, "meta.txt"), "a") as f:
        for k in DROPOUT_KEYS:
            if dropout and k in dropout:
                v = dropout[k]
                f.write(f"{k} {repr(float(v)) if isinstance(v, float) else v}\n")
        assert not dropout or set(dropout) <= set(DROPOUT_KEYS), dropout
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


def has_dropout(d):
    """Whether a case directory's meta.txt sets a dropout rate."""
    meta, _ = read_case(d)
    return any(float(meta.get(k, 0)) > 0 for k in ("dropout", "input_dropout", "recurrent_dropout"))


def rng_seed(name):
    """A case's dropout_seed: 64 bits from its name (both key words of Philox in use)."""
    return (zlib.crc32(("seed/hi/" + name).encode()) << 32) | zlib.crc32(("seed/lo/" + name).encode())


def masks_matter(e, plain, tol=1e-3):
    """A run with dropout differs from the run without it (y and a weight gradient)."""
    return rel_err(e["y"], plain["y"]) > tol and any(
        rel_err(e[k], plain[k]) > tol for k in e if k.startswith("grad_"))


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


# --------------------------------------------------------------------------------------------
# clrnn's dropout masks (cl/train/rng.h): Philox4x32-10 and clrnn_dropout_keep, vectorised
# --------------------------------------------------------------------------------------------
RNG_STREAM_OUTPUT = 0       # `dropout` on a layer's output
RNG_STREAM_INPUT = 1        # `input_dropout`, + gate (clrnn's internal gate order)
RNG_STREAM_RECURRENT = 8    # `recurrent_dropout`, + gate
_M32 = np.uint64(0xFFFFFFFF)


def philox4x32(c, k0, k1):
    """Philox4x32-10 blocks: c = 4 uint32 arrays (the counter words, broadcast together), key
    (k0, k1) uint32 scalars or arrays; returns the 4 output words (uint32 arrays). The rounds of
    clrnn_philox4x32: mulhi/mullo of words 0 and 2, the key bumped by the Weyl constants."""
    c0, c1, c2, c3 = np.broadcast_arrays(*[np.asarray(w, np.uint32) for w in c])
    k0 = np.asarray(k0, np.uint64) & _M32
    k1 = np.asarray(k1, np.uint64) & _M32
    c0, c1, c2, c3 = (w.astype(np.uint64) for w in (c0, c1, c2, c3))
    for _ in range(10):
        p0 = np.uint64(0xD2511F53) * c0           # < 2^64: exact in uint64
        p1 = np.uint64(0xCD9E8D57) * c2
        hi0, lo0 = p0 >> np.uint64(32), p0 & _M32
        hi1, lo1 = p1 >> np.uint64(32), p1 & _M32
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0 = (k0 + np.uint64(0x9E3779B9)) & _M32
        k1 = (k1 + np.uint64(0xBB67AE85)) & _M32
    return tuple(w.astype(np.uint32) for w in (c0, c1, c2, c3))


# Random123's known answers for philox4x32 10 (kat_vectors; the three of tests/unit/test_rng.c):
# counter[4], key[2], expected[4].
PHILOX_KAT = [
    ([0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]),
    ([0xffffffff] * 4, [0xffffffff] * 2, [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]),
    ([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0],
     [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]),
]


def check_philox():
    """philox4x32 against Random123's known answers (also as one vectorised call)."""
    for ctr, key, want in PHILOX_KAT:
        got = [int(w) for w in philox4x32(ctr, key[0], key[1])]
        assert got == want, ([hex(w) for w in got], [hex(w) for w in want])
    cs = np.array([v[0] for v in PHILOX_KAT], np.uint32).T
    ks = np.array([v[1] for v in PHILOX_KAT], np.uint32).T
    got = np.stack(philox4x32(cs, ks[0], ks[1]))
    assert np.array_equal(got, np.array([v[2] for v in PHILOX_KAT], np.uint32).T)


def dropout_keep(seed, call, layer, direction, stream, c0, c1, p):
    """clrnn_dropout_keep as a bool array: element (c0, c1) (arrays, broadcast) of `stream` of
    layer/direction kept in forward_train call `call` of an rnn with dropout_seed `seed` (uint64),
    at rate p (compared as clrnn does: a 24-bit uniform >= p as float32)."""
    c2 = np.uint32((layer << 16) | (direction << 8) | stream)
    bits = philox4x32([c0, c1, c2, call], seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF)[0]
    return (bits >> np.uint32(8)).astype(np.float64) * 2.0 ** -24 >= float(np.float32(p))


def dropout_scale(keep, p):
    """Kept elements scaled by 1/(1-p) (p as the float32 clrnn stores, widened), dropped ones 0."""
    return np.where(keep, 1.0 / (1.0 - float(np.float32(p))), 0.0)


def variational_mask(seed, call, layer, direction, stream, N, width, p, step=0):
    """[N, width] scales of one input (width I_l) or recurrent (width Hr) mask for one gate:
    c0 = n * width + unit, c1 = 0 (VARIATIONAL) or the step's time index (PER_STEP)."""
    c0 = np.arange(N * width, dtype=np.uint32).reshape(N, width)
    return dropout_scale(dropout_keep(seed, call, layer, direction, stream, c0, np.uint32(step), p), p)


def output_mask(seed, call, layer, T, N, width, p):
    """[T, N, width] scales of `dropout` on layer `layer`'s output (width D*Hr; direction 0):
    c0 = n * width + unit, c1 = t."""
    c0 = np.arange(N * width, dtype=np.uint32).reshape(1, N, width)
    c1 = np.arange(T, dtype=np.uint32).reshape(T, 1, 1)
    return dropout_scale(dropout_keep(seed, call, layer, 0, RNG_STREAM_OUTPUT, c0, c1, p), p)
