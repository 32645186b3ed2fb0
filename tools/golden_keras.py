#!/usr/bin/env python3
"""Golden data for clrnn from TensorFlow: Keras 3 layers and TF1-style (tf.compat.v1) cells.

Writes one directory per case into tests/golden/keras/<case>/ and tests/golden/tf1/<case>/ in the
format of tests/golden/README.md (meta.txt + little-endian .npy files, float32, int32 for
seq_len/mask; the writer and reader are shared with golden_torch.py in tools/golden_common.py).
Both directories are wiped and regenerated on every run; the data is deterministic
(every case draws its inputs and weights from its own fixed seed; all weights are set explicitly,
uniform in [-0.5, 0.5], inputs uniform in [-1, 1]).

Set-up (the virtualenv lives outside the repository):

    python3 -m venv /work/venv-tf
    /work/venv-tf/bin/pip install tensorflow-cpu tf-keras numpy
    # tested with tensorflow-cpu 2.21.0, keras 3.15.1, tf-keras 2.21.0, numpy 2.4

Run (from anywhere):

    /work/venv-tf/bin/python tools/golden_keras.py            # both parts
    /work/venv-tf/bin/python tools/golden_keras.py --part keras
    /work/venv-tf/bin/python tools/golden_keras.py --part tf1

Each part runs in its own Python process: the TF1 part needs TF_USE_LEGACY_KERAS=1 (set here) so
that tf.compat.v1.nn.rnn_cell.* resolve to tf_keras' legacy cells; the Keras part uses Keras 3.

After writing a case the script reads it back and replays it with a small NumPy reference of the
semantics clrnn implements (the policy options in meta.txt); a disagreement above 1e-5 aborts the
run. So every case is also a check that meta.txt describes what the framework really did.

Coverage
  keras (framework keras, batch_major; weights l{k}_d{d}_{w,r,b} = kernel, recurrent_kernel, bias as
  Keras stores them; GRU reset_after=True bias is [2, 3H]):
    SimpleRNN tanh / relu, LSTM, GRU reset_after True (gru_lbr) / False (gru);
    return_sequences False; initial_state (h0/c0); Masking(mask_value=0) with post-padding, with holes,
    leading masked steps and a fully masked row (masked_output carry); go_backwards (direction reverse,
    reverse_order 1, reverse_mode whole_axis) with and without mask and with return_sequences False;
    Bidirectional with merge concat/sum/mul/ave/None, with and without mask (masked_output zero,
    forced by Bidirectional when it returns sequences), with return_sequences False, with h0;
    stateful=True over 2 chunks; stacks of 2 LSTM and of 2 Bidirectional(LSTM, concat) layers
    (with and without mask); LSTM (and Bidirectional) followed by a Dense applied at every step.
  tf1 (framework tf1, batch-major dynamic_rnn / bidirectional_dynamic_rnn, masked_output zero,
  reverse_mode per_row):
    LSTMCell (kernel [I+Hr, 4H] gates i,j,f,o; bias; forget_bias default 1.0 and others;
    use_peepholes; cell_clip; num_proj with proj_clip), GRUCell, BasicRNNCell, MultiRNNCell of 2
    LSTMCells, bidirectional_dynamic_rnn (y = concat(fw, bw)); sequence_length, including a zero-length
    row, with and without initial states.
"""

import argparse
import os
import shutil
import subprocess
import sys

from golden_common import GOLDEN, TOL, _sig, default_meta, read_case, rng_for, uniform, write_case


# --------------------------------------------------------------------------------------------
# NumPy reference of clrnn's semantics, driven only by the files of a case (a self-check)
# --------------------------------------------------------------------------------------------
def _make_step(meta, arr, layer, dd):
    """Returns step(x [N,I], h, c) -> (h_new (=output), c_new) in float64."""
    import numpy as np
    fw, cell = meta["framework"], meta["cell"]
    act = np.tanh if cell != "rnn_relu" else (lambda v: np.maximum(v, 0.0))
    p = f"l{layer}_d{dd}_"
    if fw == "keras":
        W, R, B = arr[p + "w"], arr[p + "r"], arr[p + "b"]
        if cell in ("rnn_tanh", "rnn_relu"):
            return lambda x, h, c: (act(x @ W + h @ R + B), c)
        if cell == "lstm":
            def st(x, h, c):
                g = x @ W + h @ R + B
                i, f, cc, o = np.split(g, 4, axis=1)
                c2 = _sig(f) * c + _sig(i) * np.tanh(cc)
                return _sig(o) * np.tanh(c2), c2
            return st
        if cell == "gru_lbr":
            def st(x, h, c):
                xg = x @ W + B[0]
                hg = h @ R + B[1]
                xz, xr, xh = np.split(xg, 3, axis=1)
                hz, hr, hh = np.split(hg, 3, axis=1)
                z, r = _sig(xz + hz), _sig(xr + hr)
                n = np.tanh(xh + r * hh)
                return z * h + (1 - z) * n, c
            return st
        if cell == "gru":
            def st(x, h, c):
                H = h.shape[1]
                xg = x @ W + B
                xz, xr, xh = np.split(xg, 3, axis=1)
                z = _sig(xz + h @ R[:, :H])
                r = _sig(xr + h @ R[:, H:2 * H])
                n = np.tanh(xh + (r * h) @ R[:, 2 * H:])
                return z * h + (1 - z) * n, c
            return st
    if fw == "tf1":
        K, B = arr[p + "kernel"], arr[p + "b"]
        if cell == "rnn_tanh":
            return lambda x, h, c: (np.tanh(np.concatenate([x, h], 1) @ K + B), c)
        if cell == "gru":
            KC, BC = arr[p + "cand_kernel"], arr[p + "cand_bias"]

            def st(x, h, c):
                r, u = np.split(_sig(np.concatenate([x, h], 1) @ K + B), 2, axis=1)
                cand = np.tanh(np.concatenate([x, r * h], 1) @ KC + BC)
                return u * h + (1 - u) * cand, c
            return st
        if cell == "lstm":
            fb = float(meta["forget_bias"])
            cclip, pclip = float(meta["cell_clip"]), float(meta["proj_clip"])
            P = arr.get(p + "peephole")
            PR = arr.get(p + "proj")

            def st(x, h, c):
                H = c.shape[1]
                g = np.concatenate([x, h], 1) @ K + B
                i, j, f, o = np.split(g, 4, axis=1)
                if P is not None:
                    i = i + P[:H] * c
                    f = f + P[H:2 * H] * c
                c2 = _sig(f + fb) * c + _sig(i) * np.tanh(j)
                if cclip > 0:
                    c2 = np.clip(c2, -cclip, cclip)
                if P is not None:
                    o = o + P[2 * H:] * c2
                m = _sig(o) * np.tanh(c2)
                if PR is not None:
                    m = m @ PR
                    if pclip > 0:
                        m = np.clip(m, -pclip, pclip)
                return m, c2
            return st
    raise ValueError((fw, cell))


def reference(meta, arr):
    """Runs the case with clrnn's documented semantics. Returns (y, hn, cn) like the files."""
    import numpy as np
    T, N, I, H = (int(meta[k]) for k in "TNIH")
    L = int(meta["layers"])
    direction = meta["direction"]
    D = 2 if direction == "bidirectional" else 1
    Hr = int(meta["proj"]) or H
    x = arr["x"]
    if meta["layout"] == "time_major":
        x = x.transpose(1, 0, 2)
    valid = np.ones((N, T), bool)
    if meta["has_seq_len"] == "1":
        valid &= np.arange(T)[None, :] < arr["seq_len"][:, None]
    if meta["has_mask"] == "1":
        valid &= arr["mask"] != 0
    h0 = arr["h0"] if meta["has_h0"] == "1" else np.zeros((L * D, N, Hr))
    c0 = arr.get("c0", np.zeros((L * D, N, H))) if meta["has_h0"] == "1" else np.zeros((L * D, N, H))
    carry = meta["masked_output"] == "carry"
    whole_axis = meta["reverse_mode"] == "whole_axis"
    lens = arr["seq_len"] if meta["has_seq_len"] == "1" else np.full(N, T)

    def run_direction(inp, layer, dd, reverse):
        step = _make_step(meta, arr, layer, dd)
        h, c = h0[layer * D + dd].copy(), c0[layer * D + dd].copy()
        out = np.zeros((N, T, Hr))          # in place (position t)
        processed = np.zeros((N, T, Hr))    # k-th processed step at position k
        prev = np.zeros((N, Hr))
        for k in range(T):
            if not reverse:
                tt = np.full(N, k)
            elif whole_axis:
                tt = np.full(N, T - 1 - k)
            else:
                tt = lens - 1 - k       # per row; negative = no step for this row
            xt = inp[np.arange(N), np.clip(tt, 0, T - 1)]
            v = (tt >= 0) & valid[np.arange(N), np.clip(tt, 0, T - 1)]
            hn_, cn_ = step(xt, h, c)
            h = np.where(v[:, None], hn_, h)
            c = np.where(v[:, None], cn_, c)
            o = np.where(v[:, None], hn_, prev if carry else 0.0)
            prev = o
            processed[:, k] = o
            for n in range(N):
                if tt[n] >= 0:
                    out[n, tt[n]] = o[n]
        return out, processed, prev, h, c

    hn = np.zeros((L * D, N, Hr))
    cn = np.zeros((L * D, N, H))
    inp = x
    for layer in range(L):
        outs = []
        for dd in range(D):
            reverse = direction == "reverse" or dd == 1
            out, processed, last, h, c = run_direction(inp, layer, dd, reverse)
            hn[layer * D + dd], cn[layer * D + dd] = h, c
            if direction == "reverse" and meta["reverse_order"] == "1":
                out = processed
            outs.append((out, last))
        inp = np.concatenate([o for o, _ in outs], axis=2)
    last_only = meta["return_sequences"] == "0"
    seqs = [o[1] if last_only else o[0] for o in outs]
    if D == 1:
        y = seqs[0]
    else:
        a, b = seqs
        merge = meta["merge"]
        if merge == "concat":
            y = np.concatenate([a, b], axis=-1)
        elif merge == "sum":
            y = a + b
        elif merge == "mul":
            y = a * b
        elif merge == "ave":
            y = (a + b) / 2
        else:
            y = np.stack([a, b], axis=0) if last_only else np.stack([a, b], axis=2)
    if int(meta["dense"]):
        y = y @ arr["dense_w"] + arr["dense_b"]
    if meta["layout"] == "time_major" and not last_only:
        y = y.swapaxes(0, 1)
    return y, hn, cn


def verify_case(d):
    import numpy as np
    meta, arr = read_case(d, float64=True)
    if int(meta["chunks"]) > 1:
        # Keras stateful: run the chunks one after the other, carrying the state.
        k = int(meta["chunks"])
        T = int(meta["T"])
        Tc = T // k
        ys = []
        a = dict(arr)
        m = dict(meta, T=str(Tc), chunks="1")
        for j in range(k):
            a["x"] = arr["x"][:, j * Tc:(j + 1) * Tc]
            y, hn, cn = reference(m, a)
            ys.append(y)
            a["h0"], a["c0"] = hn, cn
            m["has_h0"] = "1"
        y = np.concatenate(ys, axis=1)
    else:
        y, hn, cn = reference(meta, arr)
    errs = {"y": np.abs(y - arr["y"]).max(), "hn": np.abs(hn - arr["hn"]).max()}
    if "cn" in arr:
        errs["cn"] = np.abs(cn - arr["cn"]).max()
    assert y.shape == arr["y"].shape, (d, y.shape, arr["y"].shape)
    bad = {k: v for k, v in errs.items() if not v <= TOL}
    if bad:
        raise SystemExit(f"reference mismatch in {d}: {bad}")


# --------------------------------------------------------------------------------------------
# Keras 3
# --------------------------------------------------------------------------------------------
def keras_part():
    import numpy as np
    import keras
    from keras import layers

    keras.utils.set_random_seed(1234)
    out_root = os.path.join(GOLDEN, "keras")
    shutil.rmtree(out_root, ignore_errors=True)
    os.makedirs(out_root)
    made = []

    def make_layer(cell, H, **kw):
        if cell in ("rnn_tanh", "rnn_relu"):
            return layers.SimpleRNN(H, activation="tanh" if cell == "rnn_tanh" else "relu", **kw)
        if cell == "lstm":
            return layers.LSTM(H, use_cudnn=False, **kw)
        if cell == "gru_lbr":
            return layers.GRU(H, reset_after=True, use_cudnn=False, **kw)
        if cell == "gru":
            return layers.GRU(H, reset_after=False, use_cudnn=False, **kw)
        raise ValueError(cell)

    def keras_mask_of(t):
        from keras.src.backend import get_keras_mask
        m = get_keras_mask(t)
        assert m is not None
        return m

    def make_mask(rng, kind, N, T):
        m = np.ones((N, T), np.int32)
        if kind == "post":
            lens = [T, T - 2, 3, 1][:N]
            for n, ln in enumerate(lens):
                m[n, ln:] = 0
        elif kind == "holes":
            # row 0 full, row 1 holes in the middle, row 2 leading masked steps + a hole + tail,
            # row 3 single valid step in the middle
            pats = [[1] * T,
                    [1, 0, 1, 1, 0, 0, 1, 1][:T],
                    [0, 0, 1, 0, 1, 1, 0, 0][:T],
                    [0, 0, 0, 1, 0, 0, 0, 0][:T]]
            m[:] = np.array(pats[:N], np.int32)
        elif kind == "holes_empty":
            pats = [[0, 1, 1, 0, 1, 1, 1, 0][:T],
                    [0] * T,                       # fully masked row
                    [0, 0, 0, 1, 1, 0, 1, 1][:T]]
            m[:] = np.array(pats[:N], np.int32)
        else:
            raise ValueError(kind)
        return m

    def case(name, cell="lstm", T=6, N=3, I=4, H=5, layers_=1, direction="forward", merge="concat",
             return_sequences=True, mask=None, h0=False, stateful_chunks=1, dense=0):
        rng = rng_for("keras/" + name)
        D = 2 if direction == "bidirectional" else 1
        x = uniform(rng, (N, T, I), -1.0, 1.0)
        mask_arr = None
        if mask is not None:
            mask_arr = make_mask(rng, mask, N, T)
            x = x * mask_arr[:, :, None].astype(np.float32)   # Masking(0) sees all-zero steps
        lstm = cell == "lstm"
        h0_arr = uniform(rng, (layers_ * D, N, H), -1.0, 1.0) if h0 else None
        c0_arr = uniform(rng, (layers_ * D, N, H), -1.0, 1.0) if (h0 and lstm) else None

        chunks = stateful_chunks
        Tc = T // chunks
        if chunks > 1:
            inp = keras.Input(batch_shape=(N, Tc, I))
        else:
            inp = keras.Input(shape=(T, I))
        inputs = [inp]
        t = layers.Masking(mask_value=0.0)(inp) if mask is not None else inp
        state_inputs = []
        if h0:
            for li in range(layers_ * D):
                hi = keras.Input(shape=(H,))
                state_inputs.append([hi])
                inputs.append(hi)
                if lstm:
                    ci = keras.Input(shape=(H,))
                    state_inputs[-1].append(ci)
                    inputs.append(ci)
        rnn_layers = []
        states_out = []
        for li in range(layers_):
            last = li == layers_ - 1
            rs = return_sequences if last else True
            kw = dict(return_sequences=rs, return_state=True)
            if chunks > 1:
                kw["stateful"] = True
            if direction == "reverse":
                kw["go_backwards"] = True
            base = make_layer(cell, H, **kw)
            if direction == "bidirectional":
                lay = layers.Bidirectional(base, merge_mode=merge if last else "concat")
            else:
                lay = base
            init = None
            if h0:
                init = []
                for dd in range(D):
                    init += state_inputs[li * D + dd]
            call_kw = {}
            if init is not None:
                call_kw["initial_state"] = init
                if mask is not None:
                    # Keras 3 fills `mask` from the input's mask only when the call has exactly
                    # one tensor argument: with initial_state tensors it would silently run
                    # unmasked, so the mask is passed explicitly.
                    call_kw["mask"] = keras_mask_of(t)
            res = lay(t, **call_kw)
            nst = 2 if lstm else 1
            if direction == "bidirectional" and (merge if last else "concat") is None:
                y_parts, st = res[:2], res[2:]
                t = y_parts
            else:
                t, st = res[0], res[1:]
            # st: fw states (h[, c]) then bw states
            for dd in range(D):
                states_out.append(list(st[dd * nst:(dd + 1) * nst]))
            rnn_layers.append(lay)
        if direction == "bidirectional" and merge is None:
            t = layers.Lambda(lambda ab: keras.ops.stack(ab, axis=(2 if return_sequences else 0)))(t)
        dense_layer = None
        if dense:
            dense_layer = layers.Dense(dense)
            t = dense_layer(t)
        outputs = [t] + [s for sts in states_out for s in sts]
        model = keras.Model(inputs, outputs)

        # set every weight explicitly
        arrays = {}
        for li, lay in enumerate(rnn_layers):
            subs = [lay.forward_layer, lay.backward_layer] if direction == "bidirectional" else [lay]
            for dd, sub in enumerate(subs):
                ws = [uniform(rng, w.shape) for w in sub.get_weights()]
                sub.set_weights(ws)
                kern, rec, bias = sub.get_weights()
                for w, got in zip(ws, (kern, rec, bias)):
                    assert np.array_equal(w, got)
                arrays[f"l{li}_d{dd}_w"] = kern
                arrays[f"l{li}_d{dd}_r"] = rec
                arrays[f"l{li}_d{dd}_b"] = bias
        if dense_layer is not None:
            dw = [uniform(rng, w.shape) for w in dense_layer.get_weights()]
            dense_layer.set_weights(dw)
            arrays["dense_w"], arrays["dense_b"] = dense_layer.get_weights()

        feeds = []
        if h0:
            for li in range(layers_ * D):
                feeds.append(h0_arr[li])
                if lstm:
                    feeds.append(c0_arr[li])
        if chunks > 1:
            ys, fin = [], None
            for j in range(chunks):
                res = model([x[:, j * Tc:(j + 1) * Tc]] + feeds)
                res = [np.asarray(r) for r in res]
                ys.append(res[0])
                fin = res[1:]
            y = np.concatenate(ys, axis=1)
            # the state variables of a stateful layer must hold the final state too
            st_vars = [np.asarray(v.value) for v in rnn_layers[0].states]
            for a, b in zip(fin, st_vars):
                assert np.array_equal(a, b)
            # and a stateful run over chunks must equal one run over the whole sequence
            ref_in = keras.Input(shape=(T, I))
            ref_l = make_layer(cell, H, return_sequences=True, return_state=True)
            ref_m = keras.Model(ref_in, ref_l(ref_in))
            ref_l.set_weights(rnn_layers[0].get_weights())
            ref = [np.asarray(r) for r in ref_m(x)]
            assert np.abs(ref[0] - y).max() < 1e-6 and np.abs(ref[1] - fin[0]).max() < 1e-6
        else:
            res = model([x] + feeds)
            res = [np.asarray(r) for r in res]
            y, fin = res[0], res[1:]
        nst = 2 if lstm else 1
        hn = np.stack([fin[k * nst] for k in range(layers_ * D)])
        arrays["x"] = x
        arrays["y"] = y.astype(np.float32)
        arrays["hn"] = hn.astype(np.float32)
        if lstm:
            arrays["cn"] = np.stack([fin[k * nst + 1] for k in range(layers_ * D)]).astype(np.float32)
        if mask is not None:
            km = np.asarray(layers.Masking(mask_value=0.0).compute_mask(x)).astype(np.int32)
            assert np.array_equal(km, mask_arr)
            arrays["mask"] = km
        if h0:
            arrays["h0"] = h0_arr
            if lstm:
                arrays["c0"] = c0_arr

        meta = default_meta("keras")
        meta.update(cell=cell, T=T, N=N, I=I, H=H, layers=layers_, direction=direction,
                    merge="none" if merge is None else merge,
                    reverse_order=1 if direction == "reverse" else 0,
                    dense=dense, return_sequences=int(return_sequences), chunks=chunks,
                    has_mask=int(mask is not None), has_h0=int(h0))
        # Bidirectional forces zero_output_for_mask = return_sequences on both of its layers
        zero = direction == "bidirectional" and return_sequences
        meta["masked_output"] = "zero" if zero else "carry"
        write_case(out_root, name, meta, arrays, verify=verify_case)
        made.append(name)
        return arrays

    # plain cells
    case("rnn_tanh", cell="rnn_tanh")
    case("rnn_relu", cell="rnn_relu", I=3, H=4)
    case("lstm", cell="lstm")
    case("gru_lbr", cell="gru_lbr")
    case("gru", cell="gru", T=5, N=2, I=5, H=6)
    # last output only
    case("lstm_last", cell="lstm", return_sequences=False)
    case("gru_lbr_last", cell="gru_lbr", return_sequences=False)
    case("rnn_tanh_last", cell="rnn_tanh", return_sequences=False)
    # initial states
    case("lstm_h0", cell="lstm", h0=True)
    case("gru_lbr_h0", cell="gru_lbr", h0=True)
    case("gru_h0", cell="gru", h0=True)
    case("rnn_tanh_h0", cell="rnn_tanh", h0=True)
    # masks
    case("lstm_mask_post", cell="lstm", T=6, N=4, mask="post")
    case("lstm_mask_holes", cell="lstm", T=8, N=4, mask="holes")
    case("lstm_mask_holes_h0", cell="lstm", T=8, N=3, mask="holes_empty", h0=True)
    case("gru_lbr_mask_holes", cell="gru_lbr", T=8, N=4, mask="holes")
    case("gru_mask_holes_h0", cell="gru", T=8, N=3, mask="holes_empty", h0=True)
    case("rnn_tanh_mask_holes", cell="rnn_tanh", T=8, N=4, mask="holes")
    case("rnn_relu_mask_post", cell="rnn_relu", T=6, N=4, mask="post")
    case("lstm_mask_holes_last", cell="lstm", T=8, N=4, mask="holes", return_sequences=False)
    case("gru_lbr_mask_holes_last_h0", cell="gru_lbr", T=8, N=3, mask="holes_empty",
         return_sequences=False, h0=True)
    # go_backwards
    case("lstm_backwards", cell="lstm", direction="reverse")
    case("gru_lbr_backwards_h0", cell="gru_lbr", direction="reverse", h0=True)
    case("lstm_backwards_mask_post", cell="lstm", T=6, N=4, direction="reverse", mask="post")
    case("lstm_backwards_mask_holes", cell="lstm", T=8, N=4, direction="reverse", mask="holes")
    case("rnn_tanh_backwards_mask_holes_h0", cell="rnn_tanh", T=8, N=3, direction="reverse",
         mask="holes_empty", h0=True)
    case("gru_backwards_last", cell="gru", direction="reverse", return_sequences=False)
    case("lstm_backwards_mask_holes_last", cell="lstm", T=8, N=4, direction="reverse", mask="holes",
         return_sequences=False)
    # Bidirectional, every merge mode, with and without mask
    for mm in ("concat", "sum", "mul", "ave", None):
        tag = "none" if mm is None else mm
        case(f"bidir_lstm_{tag}", cell="lstm", direction="bidirectional", merge=mm)
        case(f"bidir_lstm_{tag}_mask", cell="lstm", T=8, N=4, direction="bidirectional", merge=mm,
             mask="holes")
    case("bidir_gru_lbr_concat_mask_post", cell="gru_lbr", T=6, N=4, direction="bidirectional",
         mask="post")
    case("bidir_rnn_tanh_sum_h0", cell="rnn_tanh", direction="bidirectional", merge="sum", h0=True)
    case("bidir_lstm_concat_mask_h0", cell="lstm", T=8, N=3, direction="bidirectional",
         mask="holes_empty", h0=True)
    case("bidir_lstm_concat_last", cell="lstm", direction="bidirectional", return_sequences=False)
    case("bidir_gru_concat_last_mask", cell="gru", T=8, N=4, direction="bidirectional",
         return_sequences=False, mask="holes")
    case("bidir_lstm_none_last", cell="lstm", direction="bidirectional", merge=None,
         return_sequences=False)
    # stateful over 2 chunks
    case("lstm_stateful", cell="lstm", T=8, N=3, stateful_chunks=2)
    case("gru_lbr_stateful", cell="gru_lbr", T=8, N=2, stateful_chunks=2)
    # stacks
    case("lstm_stack2", cell="lstm", layers_=2)
    case("lstm_stack2_mask", cell="lstm", T=8, N=4, layers_=2, mask="holes")
    case("bidir_lstm_stack2", cell="lstm", layers_=2, direction="bidirectional")
    case("bidir_lstm_stack2_mask_h0", cell="lstm", T=8, N=3, layers_=2, direction="bidirectional",
         mask="holes_empty", h0=True)
    # dense at every step
    case("lstm_dense", cell="lstm", dense=3)
    case("lstm_dense_mask", cell="lstm", T=8, N=4, dense=2, mask="holes")
    case("bidir_lstm_concat_dense", cell="lstm", direction="bidirectional", dense=3)
    case("lstm_dense_last", cell="lstm", dense=3, return_sequences=False)
    print(f"keras: {len(made)} cases -> {out_root}")


# --------------------------------------------------------------------------------------------
# TF1 (tf.compat.v1 graph mode)
# --------------------------------------------------------------------------------------------
def tf1_cell(v1, cell, H, peephole, cell_clip, proj, proj_clip, forget_bias):
    """A fresh TF1 cell (tf.compat.v1 as v1) of a tf1 case; also tools/golden_grad_tf.py's."""
    if cell == "lstm":
        kw = dict(use_peepholes=peephole, forget_bias=forget_bias)
        if cell_clip:
            kw["cell_clip"] = cell_clip
        if proj:
            kw["num_proj"] = proj
            if proj_clip:
                kw["proj_clip"] = proj_clip
        return v1.nn.rnn_cell.LSTMCell(H, **kw)
    if cell == "gru":
        return v1.nn.rnn_cell.GRUCell(H)
    if cell == "rnn_tanh":
        return v1.nn.rnn_cell.BasicRNNCell(H)
    raise ValueError(cell)


def tf1_part():
    import numpy as np
    import tensorflow as tf
    tf.get_logger().setLevel("ERROR")
    v1 = tf.compat.v1

    out_root = os.path.join(GOLDEN, "tf1")
    shutil.rmtree(out_root, ignore_errors=True)
    os.makedirs(out_root)
    made = []

    def case(name, cell="lstm", T=6, N=3, I=4, H=5, layers_=1, bidir=False, seq_len=None, h0=False,
             peephole=False, cell_clip=0.0, proj=0, proj_clip=0.0, forget_bias=1.0):
        rng = rng_for("tf1/" + name)
        D = 2 if bidir else 1
        lstm = cell == "lstm"
        Hr = proj if (lstm and proj) else H
        x = uniform(rng, (N, T, I), -1.0, 1.0)
        g = tf.Graph()
        with g.as_default():
            v1.set_random_seed(0)
            xp = v1.placeholder(tf.float32, (N, T, I))
            slp = v1.placeholder(tf.int32, (N,)) if seq_len is not None else None

            def mk():
                return tf1_cell(v1, cell, H, peephole, cell_clip, proj, proj_clip, forget_bias)

            init_ph = []

            def init_state(idx):
                hp = v1.placeholder(tf.float32, (N, Hr))
                if lstm:
                    cp = v1.placeholder(tf.float32, (N, H))
                    init_ph.append((idx, hp, cp))
                    return v1.nn.rnn_cell.LSTMStateTuple(cp, hp)
                init_ph.append((idx, hp, None))
                return hp

            if bidir:
                cf, cb = mk(), mk()
                kw = {}
                if h0:
                    kw = dict(initial_state_fw=init_state(0), initial_state_bw=init_state(1))
                (yf, yb), (sf, sb) = v1.nn.bidirectional_dynamic_rnn(
                    cf, cb, xp, sequence_length=slp, dtype=tf.float32, **kw)
                y_t = tf.concat([yf, yb], axis=-1)
                finals = [sf, sb]
                scopes = ["bidirectional_rnn/fw/", "bidirectional_rnn/bw/"]
            else:
                if layers_ > 1:
                    cells = [mk() for _ in range(layers_)]
                    c = v1.nn.rnn_cell.MultiRNNCell(cells)
                else:
                    c = mk()
                kw = {}
                if h0:
                    st = tuple(init_state(i) for i in range(layers_))
                    kw["initial_state"] = st if layers_ > 1 else st[0]
                y_t, s = v1.nn.dynamic_rnn(c, xp, sequence_length=slp, dtype=tf.float32, **kw)
                finals = list(s) if layers_ > 1 else [s]
                scopes = ([f"rnn/multi_rnn_cell/cell_{i}/" for i in range(layers_)] if layers_ > 1
                          else ["rnn/"])
            variables = v1.global_variables()
            arrays = {}
            with v1.Session(graph=g) as sess:
                sess.run(v1.global_variables_initializer())
                written = []

                def assign(var, val):
                    sess.run(v1.assign(var, val))
                    written.append((var, val))

                names = {}
                for var in variables:
                    names[var.op.name] = var
                used = set()
                for k, sc in enumerate(scopes):
                    li, dd = (0, k) if bidir else (k, 0)
                    p = f"l{li}_d{dd}_"
                    mine = {n[len(sc):]: v for n, v in names.items() if n.startswith(sc)}
                    roles = {}
                    if lstm:
                        roles = {"kernel": "lstm_cell/kernel", "b": "lstm_cell/bias"}
                        if proj:
                            roles["proj"] = "lstm_cell/projection/kernel"
                    elif cell == "gru":
                        roles = {"kernel": "gru_cell/gates/kernel", "b": "gru_cell/gates/bias",
                                 "cand_kernel": "gru_cell/candidate/kernel",
                                 "cand_bias": "gru_cell/candidate/bias"}
                    else:
                        roles = {"kernel": "basic_rnn_cell/kernel", "b": "basic_rnn_cell/bias"}
                    for role, vn in roles.items():
                        var = mine[vn]
                        val = uniform(rng, tuple(var.shape))
                        assign(var, val)
                        arrays[p + role] = val
                        used.add(var.op.name)
                    if lstm and peephole:
                        diag = []
                        for dn in ("w_i_diag", "w_f_diag", "w_o_diag"):
                            var = mine["lstm_cell/" + dn]
                            val = uniform(rng, tuple(var.shape))
                            assign(var, val)
                            diag.append(val)
                            used.add(var.op.name)
                        arrays[p + "peephole"] = np.concatenate(diag)
                left = set(names) - used
                assert not left, f"{name}: weights not set: {left}"
                feed = {xp: x}
                sl = None
                if seq_len is not None:
                    sl = np.array(seq_len, np.int32)
                    feed[slp] = sl
                h0_arr = c0_arr = None
                if h0:
                    h0_arr = uniform(rng, (layers_ * D, N, Hr), -1.0, 1.0)
                    c0_arr = uniform(rng, (layers_ * D, N, H), -1.0, 1.0) if lstm else None
                    for idx, hp, cp in init_ph:
                        feed[hp] = h0_arr[idx]
                        if cp is not None:
                            feed[cp] = c0_arr[idx]
                y, fin = sess.run([y_t, finals], feed)
                # every variable still holds exactly what was written
                for var, val in written:
                    assert np.array_equal(sess.run(var), val), var.op.name
        hn = np.stack([f.h if lstm else f for f in fin]).astype(np.float32)
        arrays["x"] = x
        arrays["y"] = np.asarray(y, np.float32)
        arrays["hn"] = hn
        if lstm:
            arrays["cn"] = np.stack([f.c for f in fin]).astype(np.float32)
        if sl is not None:
            arrays["seq_len"] = sl
        if h0:
            arrays["h0"] = h0_arr
            if lstm:
                arrays["c0"] = c0_arr
        meta = default_meta("tf1")
        meta.update(cell=cell, T=T, N=N, I=I, H=H, layers=layers_,
                    direction="bidirectional" if bidir else "forward",
                    proj=proj if lstm else 0, peephole=int(peephole and lstm),
                    cell_clip=float(cell_clip), proj_clip=float(proj_clip),
                    forget_bias=float(forget_bias) if lstm else 0.0,
                    has_seq_len=int(seq_len is not None), has_h0=int(h0))
        write_case(out_root, name, meta, arrays, verify=verify_case)
        made.append(name)
        return arrays, meta

    case("lstm")                                         # forget_bias 1.0 (TF1 default)
    case("lstm_fb0", forget_bias=0.0)
    case("lstm_fb07_h0", forget_bias=0.7, h0=True)
    case("lstm_peephole", peephole=True)
    a, _ = case("lstm_cell_clip", cell_clip=0.25, T=8, I=5, H=4)
    assert np.isclose(np.abs(a["cn"]), 0.25).any(), "cell_clip never active"
    a, _ = case("lstm_proj", proj=3, H=6)
    a, _ = case("lstm_proj_clip", proj=3, proj_clip=0.1, H=6)
    assert np.isclose(np.abs(a["y"]), 0.1).any(), "proj_clip never active"
    case("lstm_peephole_clip_proj_seqlen_h0", peephole=True, cell_clip=0.3, proj=2, proj_clip=0.2,
         forget_bias=0.5, T=7, N=4, H=4, seq_len=[7, 3, 0, 5], h0=True)
    case("lstm_seqlen", T=6, N=4, seq_len=[6, 4, 1, 2])
    a, _ = case("lstm_seqlen_zero_h0", T=5, N=3, seq_len=[5, 0, 2], h0=True)
    assert np.array_equal(a["hn"][0, 1], a["h0"][0, 1]) and np.array_equal(a["cn"][0, 1], a["c0"][0, 1])
    assert not a["y"][1].any()
    case("gru", cell="gru")
    case("gru_seqlen_h0", cell="gru", T=6, N=4, seq_len=[6, 0, 3, 5], h0=True)
    case("rnn_tanh", cell="rnn_tanh")
    case("rnn_tanh_seqlen", cell="rnn_tanh", T=6, N=4, seq_len=[2, 6, 0, 4])
    case("lstm_multi2", layers_=2)
    case("lstm_multi2_seqlen_h0", layers_=2, T=6, N=4, seq_len=[6, 2, 0, 5], h0=True)
    case("lstm_multi2_peephole_proj", layers_=2, peephole=True, proj=3, H=5)
    case("bidir_lstm", bidir=True)
    case("bidir_lstm_seqlen", bidir=True, T=6, N=4, seq_len=[6, 3, 0, 1])
    case("bidir_lstm_proj_seqlen_h0", bidir=True, proj=2, H=4, T=5, N=3, seq_len=[2, 5, 0], h0=True)
    case("bidir_gru_seqlen", cell="gru", bidir=True, T=6, N=3, seq_len=[4, 6, 1])
    case("bidir_rnn_tanh_h0", cell="rnn_tanh", bidir=True, h0=True)
    print(f"tf1: {len(made)} cases -> {out_root}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=["keras", "tf1", "all"], default="all")
    args = ap.parse_args()
    if args.part == "all":
        for part in ("keras", "tf1"):
            env = dict(os.environ)
            env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
            env["TF_ENABLE_ONEDNN_OPTS"] = "0"
            if part == "tf1":
                env["TF_USE_LEGACY_KERAS"] = "1"
            else:
                env.pop("TF_USE_LEGACY_KERAS", None)
            subprocess.run([sys.executable, os.path.abspath(__file__), "--part", part], env=env,
                           check=True)
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import warnings
    warnings.filterwarnings("ignore")   # deprecation notices of the TF1 API, Lambda mask notice
    if args.part == "tf1":
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        tf1_part()
    else:
        keras_part()


if __name__ == "__main__":
    main()
