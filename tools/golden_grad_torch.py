#!/usr/bin/env python3
"""Golden gradients for clrnn from PyTorch autograd (torch.nn.RNN / LSTM / GRU, PackedSequence,
nn.Linear), for clrnn's backward (issue 13; tests/train/test_grad_golden.c).

Writes one directory per case into tests/golden/grad/torch/<case>/ (format: the forward golden
format of tests/golden/README.md plus the gradients, see tools/golden_grad_common.py and
tests/golden/grad/README.md). The directory is wiped and regenerated on every run; the data is
deterministic (each case draws its inputs, states, weights and output gradients with NumPy from its
own seed, crc32 of the case name; weights uniform in [-0.5, 0.5], x, h0, c0, dy, dhn, dcn uniform
in [-1, 1], drawn as float32 and saved as float32).

Each case runs the module in float64 (module.double(), the float32 values widened), with
  loss = sum(dy * y) + sum(dhn * h_n) + sum(dcn * c_n)
and loss.backward(); x, h0 and c0 (zeros when has_h0 is 0) are leaves, so their gradients are
saved too. The saved expected values (y, hn, cn, dx, dh0, dc0, grad_*) are the float64 results
rounded to float32. The same case is also run in float32 and must agree within 1e-5 of
|a-b|/(1+|b|); and every case is replayed by the float64 NumPy reference of tools/golden_torch.py
(forward within 1e-5 of PyTorch's, and a central-difference directional derivative of the loss
along a random direction per tensor equal to the saved gradient): a failure aborts the run.

Run (Debian's python3-torch and python3-numpy; tested with torch 1.13.0a0, numpy 1.24.2):

    /usr/bin/python3 tools/golden_grad_torch.py            # regenerate and check
    /usr/bin/python3 tools/golden_grad_torch.py --check    # check the committed cases only
    /usr/bin/python3 tools/golden_grad_torch.py --dropout  # regenerate only torch_dropout

torch_dropout (tests/golden/grad/torch_dropout): `dropout` between stacked layers, as
nn.RNN/LSTM/GRU(dropout=p) applies it in training, with clrnn's masks (run(dropout=p)).

Conventions (framework torch, the role table in include/clrnn.h):
  l{k}_d{d}_{w,r,bw,br,proj} = weight_ih, weight_hh, bias_ih, bias_hh, weight_hr _l{k}[_reverse]
  dense_w / dense_b = the Linear head's weight [O, D*Hr] / bias [O]; names.txt has the names.
  Packed cases go through pack_padded_sequence(enforce_sorted=False, lengths unsorted and
  including T) and pad_packed_sequence(total_length=T): padded outputs are zeros (masked_output
  zero) and the dy given there reaches nothing but the head (Linear(0) = bias: its gradient
  collects dy of every step, padded ones too). hn/cn are each row's state after its own last valid
  step. return_sequences 0: y = the head over h_n of the last layer (bidirectional:
  cat(h_n[-2], h_n[-1]), a classifier's usual input), which is clrnn's last_only output.
PyTorch cannot pack zero-length rows, nor express masks with holes, other merges or reversed
output order: the reference tests and the TF cases cover those.
"""

import os
import shutil
import sys

import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_common import ROOT, rng_for, uniform  # noqa: E402
from golden_grad_common import (GRAD, check_philox, compare_runs, fd_check,  # noqa: E402
                                 masks_matter, output_mask, rng_seed, write_grad_case)
import golden_torch  # noqa: E402  (its float64 NumPy reference of the forward)

OUT = os.path.join(GRAD, "torch")
OUT_DROPOUT = os.path.join(GRAD, "torch_dropout")

CELLS = {
    "rnn_tanh": (nn.RNN, dict(nonlinearity="tanh")),
    "rnn_relu": (nn.RNN, dict(nonlinearity="relu")),
    "lstm": (nn.LSTM, {}),
    "gru_lbr": (nn.GRU, {}),
}


def draw(name, cell, T, N, I, H, layers, bidir, batch_first, lens, h0, proj, dense, last_only):
    """Every float32 value of the case, drawn in a fixed order, and the module's parameter names."""
    rng = rng_for("grad/torch/" + name)
    D = 2 if bidir else 1
    Hr = proj or H
    G = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru_lbr": 3}[cell]
    a, names = {}, {}
    for k in range(layers):
        Ik = I if k == 0 else D * Hr
        for d in range(D):
            sfx = f"_l{k}" + ("_reverse" if d else "")
            shapes = [("w", "weight_ih", (G * H, Ik)), ("r", "weight_hh", (G * H, Hr)),
                      ("bw", "bias_ih", (G * H,)), ("br", "bias_hh", (G * H,))]
            if proj:
                shapes.append(("proj", "weight_hr", (proj, H)))
            for role, pname, shape in shapes:
                a[f"l{k}_d{d}_{role}"] = uniform(rng, shape)
                names[f"l{k}_d{d}_{role}"] = pname + sfx
    if dense:
        a["dense_w"] = uniform(rng, (dense, D * Hr))
        a["dense_b"] = uniform(rng, (dense,))
        names["dense_w"], names["dense_b"] = "head.weight", "head.bias"
    a["x"] = uniform(rng, (N, T, I) if batch_first else (T, N, I), -1.0, 1.0)
    if h0:
        a["h0"] = uniform(rng, (layers * D, N, Hr), -1.0, 1.0)
        if cell == "lstm":
            a["c0"] = uniform(rng, (layers * D, N, H), -1.0, 1.0)
    if lens is not None:
        a["seq_len"] = np.asarray(lens, np.int32)
    C = dense or D * Hr
    if last_only:
        ys = (N, C)
    else:
        ys = (N, T, C) if batch_first else (T, N, C)
    a["dy"] = uniform(rng, ys, -1.0, 1.0)
    a["dhn"] = uniform(rng, (layers * D, N, Hr), -1.0, 1.0)
    if cell == "lstm":
        a["dcn"] = uniform(rng, (layers * D, N, H), -1.0, 1.0)
    return a, names


def run(a, names, cell, T, N, I, H, layers, bidir, batch_first, lens, proj, dense, last_only,
        dtype, dropout=None, seed=None):
    """Forward + backward in `dtype`; returns the expected arrays (float32).

    dropout None: the multi-layer module. A rate p: a stack with `dropout` p between its layers,
    as nn.RNN/LSTM/GRU(dropout=p) in training applies it (to every layer's output but the last,
    per element and step): one single-layer module per layer, and clrnn's mask (stream OUTPUT of
    layer k, call 0, scaled 1/(1-p); `seed` its dropout_seed) multiplied into layer k's padded
    output before it is packed again for layer k+1. The names (the multi-layer module's) map to
    each module's own _l0 parameters."""
    D = 2 if bidir else 1
    Hr = proj or H
    mod_cls, kw = CELLS[cell]
    if proj:
        kw = dict(kw, proj_size=proj)
    split = dropout is not None
    if split:
        mods = [mod_cls(I if k == 0 else D * Hr, H, num_layers=1, bidirectional=bidir,
                        batch_first=batch_first, **kw).to(dtype) for k in range(layers)]
    else:
        mods = [mod_cls(I, H, num_layers=layers, bidirectional=bidir, batch_first=batch_first,
                        **kw).to(dtype)]
    head = nn.Linear(D * Hr, dense).to(dtype) if dense else None
    params = {}
    for k, m in enumerate(mods):
        for pname, prm in m.named_parameters():
            params[pname.replace("_l0", f"_l{k}") if split else pname] = prm
    if head is not None:
        params["head.weight"], params["head.bias"] = head.weight, head.bias
    with torch.no_grad():
        assert sorted(names.values()) == sorted(params), (sorted(names.values()), sorted(params))
        for f, pname in names.items():
            assert tuple(params[pname].shape) == a[f].shape, (f, pname)
            params[pname].copy_(torch.from_numpy(a[f]).to(dtype))

    def leaf(v):
        return torch.from_numpy(v).to(dtype).requires_grad_(True)

    x = leaf(a["x"])
    h0 = leaf(a["h0"] if "h0" in a else np.zeros((layers * D, N, Hr), np.float32))
    c0 = leaf(a["c0"] if "c0" in a else np.zeros((layers * D, N, H), np.float32))
    lens_t = torch.from_numpy(np.asarray(lens, np.int64)) if lens is not None else None
    inp, hns, cns = x, [], []
    for k, m in enumerate(mods):
        hx, cx = (h0[k * D:(k + 1) * D], c0[k * D:(k + 1) * D]) if split else (h0, c0)
        hx = (hx, cx) if cell == "lstm" else hx
        if lens is not None:
            out_p, state = m(pack_padded_sequence(inp, lens_t, batch_first=batch_first,
                                                  enforce_sorted=False), hx)
            out, out_lens = pad_packed_sequence(out_p, batch_first=batch_first, total_length=T)
            assert np.array_equal(out_lens.numpy(), lens)
        else:
            out, state = m(inp, hx)
        hns.append(state[0] if cell == "lstm" else state)
        if cell == "lstm":
            cns.append(state[1])
        if split and k + 1 < layers:
            mask = output_mask(seed, 0, k, T, N, D * Hr, dropout)        # [T, N, D*Hr]
            if batch_first:
                mask = mask.transpose(1, 0, 2)
            out = out * torch.from_numpy(np.ascontiguousarray(mask)).to(dtype)
        inp = out
    hn = torch.cat(hns)
    cn = torch.cat(cns) if cell == "lstm" else None
    if last_only:
        y = torch.cat([hn[-2], hn[-1]], dim=1) if bidir else hn[-1]
    else:
        y = out
    if head is not None:
        y = head(y)
    t = lambda k: torch.from_numpy(a[k]).to(dtype)  # noqa: E731
    loss = (t("dy") * y).sum() + (t("dhn") * hn).sum()
    if cell == "lstm":
        loss = loss + (t("dcn") * cn).sum()
    loss.backward()
    f32 = lambda v: v.detach().numpy().astype(np.float32)  # noqa: E731
    e = {"y": f32(y), "hn": f32(hn), "dx": f32(x.grad), "dh0": f32(h0.grad)}
    if cell == "lstm":
        e["cn"], e["dc0"] = f32(cn), f32(c0.grad)
    for f, pname in names.items():
        e["grad_" + f] = f32(params[pname].grad)
    return e


def make_case(name, cell="lstm", T=6, N=3, I=4, H=5, layers=1, bidir=False, batch_first=False,
              lens=None, h0=False, proj=0, dense=0, last_only=False, dropout=0.0):
    assert T <= 7 and N <= 5 and I <= 6 and H <= 6, name
    if lens is not None:
        assert len(lens) == N and min(lens) >= 1 and max(lens) == T, name
    args = (cell, T, N, I, H, layers, bidir, batch_first, lens)
    a, names = draw(("dropout/" if dropout else "") + name, *args, h0, proj, dense, last_only)
    extra = None
    if dropout:
        assert layers >= 2, name
        seed = rng_seed(name)
        e64 = run(a, names, *args, proj, dense, last_only, torch.float64, dropout, seed)
        e32 = run(a, names, *args, proj, dense, last_only, torch.float32, dropout, seed)
        # the split stack without masks is the multi-layer module; and the masks matter
        plain = run(a, names, *args, proj, dense, last_only, torch.float64, 0.0, seed)
        whole = run(a, names, *args, proj, dense, last_only, torch.float64)
        compare_runs(name + " (split stack, no dropout)", whole, plain, tol=1e-12)
        assert masks_matter(e64, plain), name
        extra = dict(dropout=dropout, dropout_seed=seed)
    else:
        e64 = run(a, names, *args, proj, dense, last_only, torch.float64)
        e32 = run(a, names, *args, proj, dense, last_only, torch.float32)
    worst32 = compare_runs(name, e64, e32)
    meta = golden_torch.torch_meta(cell, T, N, I, H, layers, bidir, batch_first, lens, h0, proj, dense,
                                   last_only)
    d = write_grad_case(OUT_DROPOUT if dropout else OUT, name, meta, dict(a, **e64), names,
                        "float64", extra)
    return d, worst32


# --------------------------------------------------------------------------------------------
def reference(meta, arr):
    """golden_torch.reference, plus return_sequences 0 as built here (the head over h_n)."""
    if meta["return_sequences"] == "1":
        return golden_torch.reference(meta, arr)
    m = dict(meta, return_sequences="1", dense="0")
    _, hn, cn = golden_torch.reference(m, arr)
    D = 2 if meta["direction"] == "bidirectional" else 1
    y = np.concatenate([hn[-2], hn[-1]], axis=1) if D == 2 else hn[-1]
    if int(meta["dense"]):
        y = y @ arr["dense_w"].astype(np.float64).T + arr["dense_b"]
    return y, hn, cn


def generate():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    L4 = lambda T: [T - 2, T, 1, 3]           # noqa: E731  (unsorted, the longest = T)
    L5 = lambda T: [2, T, T - 1, 1, T - 3]    # noqa: E731
    made = []
    for cell, p in (("rnn_tanh", "rnn_tanh"), ("rnn_relu", "rnn_relu"), ("lstm", "lstm"),
                    ("gru_lbr", "gru")):
        made.append(make_case(f"{p}_uni", cell, T=5, N=3, I=4, H=5))
        made.append(make_case(f"{p}_h0", cell, T=6, N=2, I=3, H=4, h0=True))
        made.append(make_case(f"{p}_packed", cell, T=6, N=4, I=4, H=5, lens=L4(6)))
        made.append(make_case(f"{p}_packed_bi_l2_h0", cell, T=6, N=4, I=3, H=4, layers=2,
                              bidir=True, lens=L4(6), h0=True))
        made.append(make_case(f"{p}_batch_first_packed_bi", cell, T=5, N=5, I=3, H=4, bidir=True,
                              batch_first=True, lens=L5(5)))
        made.append(make_case(f"{p}_packed_dense", cell, T=6, N=4, I=4, H=5, lens=L4(6), dense=3))
    made.append(make_case("lstm_bi_l3", "lstm", T=5, N=3, I=3, H=4, layers=3, bidir=True))
    made.append(make_case("gru_packed_bi_l3_h0", "gru_lbr", T=7, N=4, I=3, H=4, layers=3,
                          bidir=True, lens=[2, 7, 5, 1], h0=True))
    made.append(make_case("rnn_tanh_batch_first_l3", "rnn_tanh", T=6, N=3, I=4, H=5, layers=3,
                          batch_first=True, h0=True))
    made.append(make_case("lstm_proj", "lstm", T=6, N=3, I=4, H=5, proj=3))
    made.append(make_case("lstm_proj_packed_bi_l2_h0", "lstm", T=6, N=4, I=3, H=5, layers=2,
                          bidir=True, proj=2, lens=L4(6), h0=True))
    made.append(make_case("lstm_proj_batch_first_packed_bi_dense", "lstm", T=5, N=5, I=4, H=6,
                          bidir=True, batch_first=True, proj=4, lens=L5(5), dense=2))
    made.append(make_case("lstm_last_packed_l2_dense", "lstm", T=7, N=4, I=4, H=5, layers=2,
                          lens=[3, 7, 1, 5], dense=3, last_only=True))
    made.append(make_case("gru_last_packed_bi_dense", "gru_lbr", T=6, N=4, I=3, H=4, bidir=True,
                          lens=L4(6), dense=2, last_only=True))
    made.append(make_case("lstm_last_bi_l2_h0", "lstm", T=5, N=3, I=3, H=4, layers=2, bidir=True,
                          h0=True, last_only=True))
    # odd sizes
    made.append(make_case("lstm_T1_bi_h0", "lstm", T=1, N=3, I=4, H=5, bidir=True, h0=True))
    made.append(make_case("gru_H1_packed_bi_l2", "gru_lbr", T=5, N=3, I=3, H=1, layers=2,
                          bidir=True, lens=[3, 5, 1]))
    made.append(make_case("rnn_tanh_I1_N1_packed", "rnn_tanh", T=6, N=1, I=1, H=4, lens=[6]))
    made.append(make_case("lstm_proj1_packed_bi", "lstm", T=5, N=3, I=3, H=4, bidir=True, proj=1,
                          lens=[5, 2, 4]))
    return made


def generate_dropout():
    """tests/golden/grad/torch_dropout: `dropout` between stacked layers (see run)."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    shutil.rmtree(OUT_DROPOUT, ignore_errors=True)
    os.makedirs(OUT_DROPOUT)
    L4 = lambda T: [T - 2, T, 1, 3]           # noqa: E731
    return [
        make_case("lstm_l2_drop", "lstm", T=5, N=3, I=4, H=5, layers=2, dropout=0.25),
        make_case("gru_l3_drop_packed_bi_h0", "gru_lbr", T=6, N=4, I=3, H=4, layers=3, bidir=True,
                  lens=L4(6), h0=True, dropout=0.375),
        make_case("rnn_tanh_l2_drop_batch_first_packed", "rnn_tanh", T=6, N=4, I=4, H=5,
                  layers=2, batch_first=True, lens=L4(6), dropout=0.5),
        make_case("rnn_relu_l2_drop_bi_h0", "rnn_relu", T=5, N=3, I=3, H=4, layers=2, bidir=True,
                  h0=True, dropout=0.25),
        make_case("lstm_proj_l2_drop_packed_bi", "lstm", T=6, N=4, I=3, H=5, layers=2, bidir=True,
                  proj=3, lens=L4(6), dropout=0.25),
        make_case("lstm_last_l2_drop_packed_dense", "lstm", T=7, N=4, I=4, H=5, layers=2,
                  lens=[3, 7, 1, 5], dense=3, last_only=True, dropout=0.375),
        make_case("gru_l2_drop_batch_first_bi_dense", "gru_lbr", T=5, N=3, I=4, H=4, layers=2,
                  bidir=True, batch_first=True, dense=2, dropout=0.5),
    ]


def main():
    check_philox()      # the masks' generator against Random123's known answers
    for out, gen, dropout in ((OUT, generate, False), (OUT_DROPOUT, generate_dropout, True)):
        if sys.argv[1:] == ["--dropout"] and not dropout:
            continue
        if sys.argv[1:] in (["--check"], ["--check-dropout"]):  # replay only, write nothing
            if sys.argv[1:] == ["--check-dropout"] and not dropout:
                continue
            made = [(os.path.join(out, c), 0.0) for c in sorted(os.listdir(out))]
            if dropout:     # nothing to replay them with here: tests/ref does it (the C test)
                print(f"{len(made)} torch dropout cases in {os.path.relpath(out, ROOT)} "
                      f"(replayed by test_grad_golden's float64 reference)")
                continue
        else:
            made = gen()
        # the NumPy reference has no dropout: test_grad_golden's float64 reference replays those
        worst_fd = 0.0 if dropout else max(fd_check(d, reference) for d, _ in made)
        worst32 = max(w for _, w in made)
        print(f"{len(made)} torch gradient cases in {os.path.relpath(out, ROOT)}: float32 vs "
              f"float64 worst {worst32:.2g}"
              + ("" if dropout else f", finite differences of the reference worst {worst_fd:.2g}"))


if __name__ == "__main__":
    main()
