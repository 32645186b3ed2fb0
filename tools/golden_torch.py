#!/usr/bin/env python3
"""Golden data for clrnn from PyTorch (torch.nn.RNN / LSTM / GRU, PackedSequence, nn.Linear).

Writes one directory per case into tests/golden/torch/<case>/ in the format of
tests/golden/README.md (meta.txt + little-endian .npy files written with numpy.save: float32,
int32 for seq_len; the writer and reader are shared with golden_keras.py in
tools/golden_common.py). The directory is wiped and regenerated on every run. The data is
deterministic: every case draws its inputs, initial states and weights with NumPy from its own
fixed seed (crc32 of the case name); all module parameters are overwritten with those float32
values (weights and biases uniform in [-0.5, 0.5], inputs and h0/c0 uniform in [-1, 1]); the
modules run in float32 on the CPU exactly as a user would call them.

Run (Debian's python3-torch and python3-numpy; tested with torch 1.13.0a0, numpy 1.24.2):

    /usr/bin/python3 tools/golden_torch.py

After writing every case the script reads the files back, checks their shapes, and replays each
case with a small float64 NumPy reference of the semantics clrnn implements (driven only by the
files of the case); a difference above 1e-5 aborts the run. So every case is also a check that
meta.txt and the weight files describe what PyTorch really did.

Conventions (framework torch, see the role table in include/clrnn.h)
  l{k}_d{d}_w    = weight_ih_l{k}[_reverse]  [G*H, I_k]      gate order LSTM i,f,g,o; GRU r,z,n
  l{k}_d{d}_r    = weight_hh_l{k}[_reverse]  [G*H, Hr]
  l{k}_d{d}_bw   = bias_ih_l{k}[_reverse]    [G*H]
  l{k}_d{d}_br   = bias_hh_l{k}[_reverse]    [G*H]
  l{k}_d{d}_proj = weight_hr_l{k}[_reverse]  [P, H]          (LSTM proj_size > 0)
  dense_w / dense_b = nn.Linear.weight [O, D*Hr] / .bias [O]
  x, y time-major [T, N, .] (batch_first cases: batch_major [N, T, .]); bidirectional output is
  the concatenation [fw, bw] (merge concat); h0/hn [L*D, N, Hr], c0/cn [L*D, N, H], index
  layer*D + dir. Variable lengths go through pack_padded_sequence(enforce_sorted=False) and
  pad_packed_sequence(total_length=T): padded outputs are 0 (masked_output zero), the reverse
  direction of each row starts at its own last valid step (reverse_mode per_row), h_n/c_n are each
  row's state after its own last valid step.

Coverage
  for each of rnn_tanh, rnn_relu, lstm, gru (PyTorch GRU = cell gru_lbr, linear-before-reset):
    uni 1 layer; bidirectional 2 layers; h0 (uni 1 layer) and h0 (bidirectional 2 layers);
    packed lengths uni 1 layer, bidirectional 1 layer, bidirectional 2 layers with h0;
    batch_first (bidirectional).
  lstm and gru: batch_first with packed lengths; odd sizes H=1 (bidirectional 2 layers), I=1, T=1
    (bidirectional), N=1 (one row, packed, shorter than T).
  lstm proj_size: uni 1 layer, bidirectional 2 layers, bidirectional 2 layers with packed lengths
    and h0, proj_size 1.
  gru: 3-layer bidirectional with packed lengths.
  dense: LSTM + nn.Linear at every step (uni); bidirectional LSTM with packed lengths + nn.Linear
    (padded steps give Linear(0) = bias, as a user applying Linear to the padded output gets).
  return_sequences 0: 2-layer uni LSTM with packed lengths, y = output at each row's last valid
    step = h_n[-1], [N, H].
Torch cannot express zero-length rows (pack_padded_sequence rejects them), masks with holes,
merge modes other than concat, or reversed output order, so none of those appear here.
"""

import os
import shutil

import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from golden_common import (GOLDEN, META_KEYS, ROOT, TOL, _sig, default_meta, read_case, rng_for,
                           uniform, write_case)

OUT = os.path.join(GOLDEN, "torch")

# cell name in meta.txt -> (torch module, extra kwargs, gates)
CELLS = {
    "rnn_tanh": (nn.RNN, dict(nonlinearity="tanh"), 1),
    "rnn_relu": (nn.RNN, dict(nonlinearity="relu"), 1),
    "lstm": (nn.LSTM, {}, 4),
    "gru_lbr": (nn.GRU, {}, 3),
}


# --------------------------------------------------------------------------------------------
# Case generation
# --------------------------------------------------------------------------------------------
def torch_meta(cell, T, N, I, H, layers, bidir, batch_first, lens, h0, proj, dense, last_only):
    """A PyTorch case's meta.txt; the rest keeps default_meta's values (merge concat, per_row,
    zero, ...). Also tools/golden_grad_torch.py's."""
    meta = default_meta("torch")
    meta.update(cell=cell, layout="batch_major" if batch_first else "time_major",
                T=T, N=N, I=I, H=H, layers=layers,
                direction="bidirectional" if bidir else "forward", proj=proj, dense=dense,
                return_sequences=0 if last_only else 1,
                has_seq_len=int(lens is not None), has_h0=int(h0))
    return meta


def make_case(name, cell="lstm", T=6, N=3, I=4, H=5, layers=1, bidir=False, batch_first=False,
              lens=None, h0=False, proj=0, dense=0, last_only=False):
    assert T <= 8 and N <= 4 and I <= 5 and H <= 6, name
    rng = rng_for(name)
    D = 2 if bidir else 1
    Hr = proj or H
    mod_cls, kw, _ = CELLS[cell]
    if proj:
        kw = dict(kw, proj_size=proj)
    rnn = mod_cls(I, H, num_layers=layers, bidirectional=bidir, batch_first=batch_first, **kw)
    arrays = {}
    with torch.no_grad():
        # Every parameter is drawn here, in a fixed order, and saved under its clrnn role.
        for k in range(layers):
            for d in range(D):
                sfx = f"_l{k}" + ("_reverse" if d else "")
                roles = [("w", "weight_ih"), ("r", "weight_hh"), ("bw", "bias_ih"), ("br", "bias_hh")]
                if proj:
                    roles.append(("proj", "weight_hr"))
                for role, pname in roles:
                    p = getattr(rnn, pname + sfx)
                    v = uniform(rng, tuple(p.shape))
                    p.copy_(torch.from_numpy(v))
                    arrays[f"l{k}_d{d}_{role}"] = v
        lin = None
        if dense:
            lin = nn.Linear(D * Hr, dense)
            w = uniform(rng, (dense, D * Hr))
            b = uniform(rng, (dense,))
            lin.weight.copy_(torch.from_numpy(w))
            lin.bias.copy_(torch.from_numpy(b))
            arrays["dense_w"], arrays["dense_b"] = w, b

        x = uniform(rng, (N, T, I) if batch_first else (T, N, I), -1.0, 1.0)
        arrays["x"] = x
        hx = None
        if h0:
            h0v = uniform(rng, (layers * D, N, Hr), -1.0, 1.0)
            arrays["h0"] = h0v
            hx = torch.from_numpy(h0v)
            if cell == "lstm":
                c0v = uniform(rng, (layers * D, N, H), -1.0, 1.0)
                arrays["c0"] = c0v
                hx = (hx, torch.from_numpy(c0v))

        xt = torch.from_numpy(x)
        if lens is not None:
            lens = np.asarray(lens, dtype=np.int32)
            assert lens.shape == (N,) and lens.min() >= 1 and lens.max() <= T, name
            arrays["seq_len"] = lens
            packed = pack_padded_sequence(xt, torch.from_numpy(lens.astype(np.int64)),
                                          batch_first=batch_first, enforce_sorted=False)
            out_p, state = rnn(packed, hx)
            out, out_lens = pad_packed_sequence(out_p, batch_first=batch_first, total_length=T)
            assert np.array_equal(out_lens.numpy(), lens), name
        else:
            out, state = rnn(xt, hx)
        if cell == "lstm":
            hn, cn = state
            arrays["cn"] = cn.numpy().copy()
        else:
            hn = state
        arrays["hn"] = hn.numpy().copy()

        if last_only:
            # Output at each row's last valid step (forward direction only here).
            assert not bidir and not dense, name
            o = out if batch_first else out.transpose(0, 1)          # [N, T, Hr]
            L_ = torch.from_numpy((lens if lens is not None else np.full(N, T)).astype(np.int64))
            y = o[torch.arange(N), L_ - 1]                            # [N, Hr]
            assert torch.equal(y, hn[-1]), name                       # = h_n of the last layer
        else:
            y = lin(out) if lin is not None else out
        arrays["y"] = y.numpy().copy()

    meta = torch_meta(cell, T, N, I, H, layers, bidir, batch_first, lens, h0, proj, dense, last_only)
    write_case(OUT, name, meta, arrays)


def generate():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    lens4 = lambda T: [T, 3, 1, T - 2]  # noqa: E731  (N = 4, unsorted, the longest = T)
    short = {"rnn_tanh": "rnn_tanh", "rnn_relu": "rnn_relu", "lstm": "lstm", "gru_lbr": "gru"}
    for cell, p in short.items():
        make_case(f"{p}_uni", cell, T=6, N=3, I=4, H=5)
        make_case(f"{p}_bi_l2", cell, T=5, N=3, I=4, H=5, layers=2, bidir=True)
        make_case(f"{p}_h0", cell, T=6, N=3, I=4, H=5, h0=True)
        make_case(f"{p}_bi_l2_h0", cell, T=5, N=2, I=3, H=4, layers=2, bidir=True, h0=True)
        make_case(f"{p}_packed", cell, T=6, N=4, I=4, H=5, lens=lens4(6))
        make_case(f"{p}_packed_bi", cell, T=7, N=4, I=3, H=5, bidir=True, lens=lens4(7))
        make_case(f"{p}_packed_bi_l2_h0", cell, T=6, N=4, I=4, H=3, layers=2, bidir=True,
                  lens=lens4(6), h0=True)
        make_case(f"{p}_batch_first_bi", cell, T=5, N=3, I=4, H=5, bidir=True, batch_first=True)

    for cell, p in (("lstm", "lstm"), ("gru_lbr", "gru")):
        make_case(f"{p}_batch_first_packed_bi", cell, T=6, N=4, I=4, H=5, bidir=True,
                  batch_first=True, lens=lens4(6))
        make_case(f"{p}_H1_bi_l2", cell, T=5, N=3, I=4, H=1, layers=2, bidir=True)
        make_case(f"{p}_I1", cell, T=6, N=3, I=1, H=5)
        make_case(f"{p}_T1_bi", cell, T=1, N=3, I=4, H=5, bidir=True)
        make_case(f"{p}_N1_packed", cell, T=6, N=1, I=4, H=5, lens=[4])

    make_case("lstm_proj", "lstm", T=6, N=3, I=4, H=5, proj=3)
    make_case("lstm_proj_bi_l2", "lstm", T=5, N=3, I=4, H=6, layers=2, bidir=True, proj=4)
    make_case("lstm_proj_packed_bi_l2_h0", "lstm", T=6, N=4, I=3, H=5, layers=2, bidir=True,
              proj=2, lens=lens4(6), h0=True)
    make_case("lstm_proj1", "lstm", T=5, N=2, I=3, H=4, proj=1)

    make_case("gru_packed_bi_l3", "gru_lbr", T=7, N=4, I=3, H=4, layers=3, bidir=True,
              lens=[2, 7, 5, 1])

    make_case("lstm_dense", "lstm", T=6, N=3, I=4, H=5, dense=3)
    make_case("lstm_packed_bi_dense", "lstm", T=6, N=4, I=4, H=4, bidir=True, lens=lens4(6),
              dense=5)

    make_case("lstm_last_packed_l2", "lstm", T=7, N=4, I=4, H=5, layers=2, lens=[3, 7, 1, 5],
              last_only=True)


# --------------------------------------------------------------------------------------------
# Self-check: reload every case, check shapes, replay with a float64 NumPy reference
# --------------------------------------------------------------------------------------------
def check_shapes(meta, arr, d):
    T, N, I, H = (int(meta[k]) for k in "TNIH")
    L, P, O = int(meta["layers"]), int(meta["proj"]), int(meta["dense"])
    D = 2 if meta["direction"] == "bidirectional" else 1
    Hr = P or H
    G = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru_lbr": 3}[meta["cell"]]
    bm = meta["layout"] == "batch_major"
    assert arr["x"].shape == ((N, T, I) if bm else (T, N, I)), d
    C = O or D * Hr
    if meta["return_sequences"] == "1":
        assert arr["y"].shape == ((N, T, C) if bm else (T, N, C)), (d, arr["y"].shape)
    else:
        assert arr["y"].shape == (N, C), (d, arr["y"].shape)
    assert arr["hn"].shape == (L * D, N, Hr), d
    assert ("cn" in arr) == (meta["cell"] == "lstm"), d
    if "cn" in arr:
        assert arr["cn"].shape == (L * D, N, H), d
    assert ("h0" in arr) == (meta["has_h0"] == "1"), d
    if "h0" in arr:
        assert arr["h0"].shape == (L * D, N, Hr), d
        if meta["cell"] == "lstm":
            assert arr["c0"].shape == (L * D, N, H), d
    assert ("seq_len" in arr) == (meta["has_seq_len"] == "1"), d
    if "seq_len" in arr:
        assert arr["seq_len"].shape == (N,), d
    for k in range(L):
        Ik = I if k == 0 else D * Hr
        for dd in range(D):
            p = f"l{k}_d{dd}_"
            assert arr[p + "w"].shape == (G * H, Ik), (d, p)
            assert arr[p + "r"].shape == (G * H, Hr), (d, p)
            assert arr[p + "bw"].shape == (G * H,) and arr[p + "br"].shape == (G * H,), (d, p)
            assert (p + "proj" in arr) == (P > 0), (d, p)
            if P:
                assert arr[p + "proj"].shape == (P, H), (d, p)
    if O:
        assert arr["dense_w"].shape == (O, D * Hr) and arr["dense_b"].shape == (O,), d
    n_files = 3 + L * D * (4 + (P > 0)) + ("cn" in arr) + ("h0" in arr) + ("c0" in arr) \
        + ("seq_len" in arr) + 2 * (O > 0)
    assert len(arr) == n_files, (d, sorted(arr))


def reference(meta, arr):
    """clrnn's documented semantics for a torch case, float64. Returns (y, hn, cn)."""
    T, N, I, H = (int(meta[k]) for k in "TNIH")
    L, P = int(meta["layers"]), int(meta["proj"])
    D = 2 if meta["direction"] == "bidirectional" else 1
    Hr = P or H
    cell = meta["cell"]
    f64 = {k: v.astype(np.float64) for k, v in arr.items()}
    x = f64["x"]
    if meta["layout"] == "batch_major":
        x = x.transpose(1, 0, 2)                                   # -> [T, N, I]
    lens = arr["seq_len"] if meta["has_seq_len"] == "1" else np.full(N, T)
    h0 = f64["h0"] if "h0" in f64 else np.zeros((L * D, N, Hr))
    c0 = f64["c0"] if "c0" in f64 else np.zeros((L * D, N, H))

    def step(p, xt, h, c):
        W, R, bw, br = f64[p + "w"], f64[p + "r"], f64[p + "bw"], f64[p + "br"]
        gx, gh = W @ xt + bw, R @ h + br
        if cell == "rnn_tanh":
            return np.tanh(gx + gh), c
        if cell == "rnn_relu":
            return np.maximum(gx + gh, 0.0), c
        if cell == "lstm":
            i, f, g, o = np.split(gx + gh, 4)                      # torch order i, f, g, o
            c2 = _sig(f) * c + _sig(i) * np.tanh(g)
            m = _sig(o) * np.tanh(c2)
            if P:
                m = f64[p + "proj"] @ m
            return m, c2
        xr, xz, xn = np.split(gx, 3)                               # torch order r, z, n
        hr, hz, hn_ = np.split(gh, 3)
        r, z = _sig(xr + hr), _sig(xz + hz)
        n = np.tanh(xn + r * hn_)                                  # linear before reset
        return (1 - z) * n + z * h, c

    hn = np.zeros((L * D, N, Hr))
    cn = np.zeros((L * D, N, H))
    inp = x
    for k in range(L):
        out = np.zeros((T, N, D * Hr))                             # zeros at padded steps
        for dd in range(D):
            p = f"l{k}_d{dd}_"
            for n in range(N):
                h, c = h0[k * D + dd, n].copy(), c0[k * D + dd, n].copy()
                steps = range(lens[n]) if dd == 0 else range(lens[n] - 1, -1, -1)
                for t in steps:
                    h, c = step(p, inp[t, n], h, c)
                    out[t, n, dd * Hr:(dd + 1) * Hr] = h
                hn[k * D + dd, n], cn[k * D + dd, n] = h, c
        inp = out
    if meta["return_sequences"] == "0":
        assert D == 1
        y = np.stack([inp[lens[n] - 1, n] for n in range(N)])     # [N, Hr]
    else:
        y = inp
    if int(meta["dense"]):
        y = y @ f64["dense_w"].T + f64["dense_b"]                  # every step, padded too
    if meta["layout"] == "batch_major" and meta["return_sequences"] == "1":
        y = y.transpose(1, 0, 2)
    return y, hn, cn


def self_check():
    cases = sorted(os.listdir(OUT))
    for c in cases:
        d = os.path.join(OUT, c)
        meta, arr = read_case(d)
        assert list(meta) == META_KEYS, (c, list(meta))
        check_shapes(meta, arr, c)
        y, hn, cn = reference(meta, arr)
        errs = {"y": np.abs(y - arr["y"]).max(), "hn": np.abs(hn - arr["hn"]).max()}
        if "cn" in arr:
            errs["cn"] = np.abs(cn - arr["cn"]).max()
        bad = {k: v for k, v in errs.items() if not v <= TOL}
        if bad:
            raise SystemExit(f"reference mismatch in {c}: {bad}")
    # A few explicit spot checks of the files as a loader sees them.
    m, a = read_case(os.path.join(OUT, "lstm_proj_packed_bi_l2_h0"))
    assert a["y"].shape == (6, 4, 4) and a["hn"].shape == (4, 4, 2) and a["cn"].shape == (4, 4, 5)
    assert a["l1_d1_w"].shape == (20, 4) and a["l1_d1_r"].shape == (20, 2) and a["l0_d0_proj"].shape == (2, 5)
    assert np.all(a["y"][5:, 1:] == 0) and list(a["seq_len"]) == [6, 3, 1, 4]
    m, a = read_case(os.path.join(OUT, "gru_batch_first_packed_bi"))
    assert m["layout"] == "batch_major" and a["x"].shape == (4, 6, 4) and a["y"].shape == (4, 6, 10)
    assert np.all(a["y"][2, 1:] == 0) and a["hn"].shape == (2, 4, 5) and "cn" not in a
    m, a = read_case(os.path.join(OUT, "lstm_last_packed_l2"))
    assert m["return_sequences"] == "0" and a["y"].shape == (4, 5) and np.array_equal(a["y"], a["hn"][-1])
    m, a = read_case(os.path.join(OUT, "lstm_packed_bi_dense"))
    assert a["y"].shape == (6, 4, 5) and np.allclose(a["y"][5, 1], a["dense_b"])
    return cases


def main():
    generate()
    cases = self_check()
    print(f"{len(cases)} torch golden cases in {os.path.relpath(OUT, ROOT)} (all replayed within {TOL})")


if __name__ == "__main__":
    main()
