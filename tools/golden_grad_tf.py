#!/usr/bin/env python3
"""Golden gradients for clrnn from TensorFlow 2.15: Keras 2 layers under tf.GradientTape, and TF1
cells (tf.compat.v1 graph mode, tf.gradients) through dynamic_rnn (issue 13;
tests/train/test_grad_golden.c).

Writes one directory per case into tests/golden/grad/keras/<case>/ and tests/golden/grad/tf1/<case>/
(format: the forward golden format of tests/golden/README.md plus the gradients, see
tools/golden_grad_common.py and tests/golden/grad/README.md). Both directories are wiped and
regenerated on every run; the data is deterministic (each case draws its inputs, states, weights and
output gradients with NumPy from its own seed, crc32 of the case name; weights uniform in
[-0.5, 0.5], x, h0, c0, dy, dhn, dcn uniform in [-1, 1]; drawn as float32 and saved as float32).

Every case runs twice, with the layers / cells in float64 and in float32 (the float32 values
widened), with loss = sum(dy * y) + sum(dhn * h_n) + sum(dcn * c_n); x and the initial states
(zeros when has_h0 is 0) are differentiated too. The float64 results, rounded to float32, are
saved; the float32 run must agree within 1e-5 of |a-b|/(1+|b|). Each case is then replayed by the
float64 NumPy reference of tools/golden_keras.py (forward within 1e-5 of the framework's, and a
central-difference directional derivative of the loss along a random direction per tensor equal
to the saved gradient); a failure aborts the run.

Run (the TF 2.15 virtualenv, see tools/golden_tf.py for its set-up; about a minute):

    /work/venvs/keras2/bin/python tools/golden_grad_tf.py [--part keras|keras_dropout|tf1|all] [--check]

keras_dropout (tests/golden/grad/keras_dropout; see tests/golden/grad/README.md): the Keras layers
with dropout= / recurrent_dropout= and a Dropout layer between stacked layers, training=True,
clrnn's masks (tools/golden_grad_common.py's Philox) injected where Keras draws its own.
tf1_dropout (tests/golden/grad/tf1_dropout): MultiRNNCell with DropoutWrapper(output_keep_prob)
on every cell but the last, the wrapper's dropout giving clrnn's per-step output masks.

Keras (framework keras, batch-major, Keras 2.15 = tf.keras; weights l{k}_d{d}_{w,r,b} = kernel,
recurrent_kernel, bias, names.txt has the variables' names; dense_w/dense_b = a Dense layer's
kernel [Hm, O] / bias applied to the RNN's output, at every step or to the last output):
  SimpleRNN tanh / relu, LSTM, GRU reset_after True (cell gru_lbr) and False (gru); masks with
  holes, leading masked steps and a fully masked row, passed to the layers as `mask=` (x is random
  at masked steps too: they must get dx = 0), and in two cases from a Masking(0.0) layer over x
  (zeros at masked steps; dx is the gradient of the model's input); the default CARRY policy (masked_output carry: a
  masked step repeats the last output, so its dy flows there); return_sequences true and false;
  go_backwards (direction reverse, reverse_order 1, reverse_mode whole_axis); Bidirectional with
  merge concat, sum, mul, ave (masked_output zero: Bidirectional forces zero_output_for_mask when it
  returns sequences); stacks of 2 (uni, and Bidirectional); initial_state.
TF1 (framework tf1, batch-major dynamic_rnn / bidirectional_dynamic_rnn, masked_output zero,
reverse_mode per_row; weights kernel, bias (b), peephole = concat(w_i_diag, w_f_diag, w_o_diag),
proj = projection/kernel, GRUCell gates/candidate kernels and biases):
  LSTMCell with forget_bias (1.0 default, 0.7, 0.0), use_peepholes, cell_clip (active), num_proj,
  proj_clip (active), all together; GRUCell; BasicRNNCell; MultiRNNCell of 2 LSTMCells;
  bidirectional_dynamic_rnn; sequence_length with zero-length rows (dh0 = dhn, dx = 0 there).
"""

import argparse
import os
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_common import ROOT, default_meta, rng_for, uniform  # noqa: E402
from golden_grad_common import (GRAD, RNG_STREAM_INPUT, RNG_STREAM_RECURRENT,  # noqa: E402
                                 check_philox, compare_runs, fd_check, has_dropout, masks_matter,
                                 output_mask, rng_seed, variational_mask, write_grad_case)
import golden_keras  # noqa: E402  (its float64 NumPy reference of the forward)

# Masks [N, T] (1 = compute); T <= 7.
MASKS = {
    # row 0 full, row 1 holes, row 2 leading masked steps, a hole and a masked tail,
    # row 3 a single computed step in the middle
    "holes": [[1, 1, 1, 1, 1, 1, 1],
              [1, 0, 1, 1, 0, 0, 1],
              [0, 0, 1, 0, 1, 1, 0],
              [0, 0, 0, 1, 0, 0, 0]],
    # with a fully masked row (its state is h0 throughout: dh0 = dhn there)
    "holes_empty": [[0, 1, 1, 0, 1, 1, 1],
                    [0, 0, 0, 0, 0, 0, 0],
                    [0, 0, 0, 1, 1, 0, 1]],
}


def check_name(name, cell):
    """A case's name says its cell (tf1 `gru`: GRUCell; keras `gru`: reset_after=False)."""
    words = name.split("_")
    named = ("rnn_tanh" if "tanh" in words else "rnn_relu" if "relu" in words
             else "gru_lbr" if "gru" in words and "lbr" in words else "gru" if "gru" in words
             else "lstm" if "lstm" in words else None)
    assert named == cell, (name, cell)


def mask_for(kind, N, T):
    m = np.array([row[:T] for row in MASKS[kind][:N]], np.int32)
    assert m.shape == (N, T)
    return m


# --------------------------------------------------------------------------------------------
# Keras 2 (tf.keras of TF 2.15), eager, GradientTape
# --------------------------------------------------------------------------------------------
def keras_part(dropout_cases=False):
    """The Keras cases; dropout_cases: the keras_dropout ones instead (see keras_dropout_cases)."""
    import tensorflow as tf
    keras = tf.keras
    layers = keras.layers
    out_root = os.path.join(GRAD, "keras_dropout" if dropout_cases else "keras")
    shutil.rmtree(out_root, ignore_errors=True)
    os.makedirs(out_root)
    made = []

    def make_layer(cell, H, name, dtype, **kw):
        if cell in ("rnn_tanh", "rnn_relu"):
            kw.pop("implementation", None)
            return layers.SimpleRNN(H, activation="tanh" if cell == "rnn_tanh" else "relu",
                                    name=name, dtype=dtype, **kw)
        if cell == "lstm":
            return layers.LSTM(H, name=name, dtype=dtype, **kw)
        if cell in ("gru_lbr", "gru"):
            return layers.GRU(H, reset_after=cell == "gru_lbr", name=name, dtype=dtype, **kw)
        raise ValueError(cell)

    def inject_masks(sub, li, dd, reverse, T, N, width_in, H, drop, cast):
        """Replaces the cell's DropoutRNNCellMixin getters by clrnn's masks (scaled 1/(1-p)):
        one per gate, Keras's gate order (i,f,c,o / z,r,h) being clrnn's internal one (i,f,g,o /
        z,r,n), so gate g's mask is stream INPUT+g / RECURRENT+g of (layer li, direction dd).
        Keras itself multiplies them where it does (which gate, h before or after the reset
        gate). The cell asks for its input mask first at every step (then the recurrent one), in
        eager mode once per step (the while loop runs its body as Python), after one extra call
        on the first step's input when not unrolled (backend.rnn's `output_time_zero`, for the
        output's shape): that call count is the processing position k, the time index k or
        T-1-k (go_backwards), which PER_STEP masks are keyed by (forward() checks the count).
        Returns the counter (reset it before each forward)."""
        cellobj = sub.cell
        seen = {"k": -1}

        def step_time():
            if not drop["per_step"]:
                return 0
            k = max(seen["k"] - (0 if sub.unroll else 1), 0)
            return T - 1 - k if reverse else k

        def masks(stream0, width, p, count):
            # shared (implementation 2): Keras is given a distinct mask per gate all the same,
            # gate 0's being clrnn's one shared mask, so a Keras that used the others would differ
            ms = [cast(variational_mask(drop["seed"], 0, li, dd, stream0 + g, N, width, p,
                                        step=step_time())) for g in range(count)]
            return ms if count > 1 else ms[0]

        def dp(inputs, training, count=1):
            seen["k"] += 1
            assert training is True or training == 1, training
            assert tuple(inputs.shape) == (N, width_in), inputs.shape
            if not drop["input"]:
                return None
            return masks(RNG_STREAM_INPUT, width_in, drop["input"], count)

        def rec(inputs, training, count=1):
            assert tuple(inputs.shape) == (N, H), inputs.shape
            if not drop["recurrent"]:
                return None
            return masks(RNG_STREAM_RECURRENT, H, drop["recurrent"], count)

        cellobj.get_dropout_mask_for_cell = dp
        cellobj.get_recurrent_dropout_mask_for_cell = rec
        return seen

    def run(a, cell, T, N, I, H, L, direction, merge, return_sequences, mask, dense, masking,
            dtype, drop=None):
        """Builds the model in dtype, sets a's weights, runs forward + gradients. masking: the
        mask comes from a Masking(0.0) layer over x (zeros at masked steps) and reaches the
        layers as Keras propagates it, else it is passed to each layer as mask=. drop: the
        dropout of a keras_dropout case (dict input, recurrent, per_step, seed), run with
        training=True and clrnn's masks injected into every cell."""
        D = 2 if direction == "bidirectional" else 1
        lstm = cell == "lstm"
        nst = 2 if lstm else 1
        rnns = []
        for li in range(L):
            last = li == L - 1
            kw = dict(return_sequences=return_sequences if last else True, return_state=True)
            if direction == "reverse":
                kw["go_backwards"] = True
            if drop is not None:
                # implementation 1: one mask per gate (2 multiplies every gate's input by mask
                # 0). Without recurrent_dropout, unroll: the LSTM/GRU layers' fused path (taken
                # then, if not unrolled) multiplies x by input mask 0 only. Not unrolled
                # otherwise: Keras 2.15's unrolled backend.rnn zeroes the outputs of masked steps
                # (zero_output_for_mask, which Bidirectional sets) with the mask in time order
                # but the outputs in processing order, wrong with go_backwards (backend.py,
                # `outputs = tf.where(_expand_mask(mask, outputs, fixed_dim=2), ...)`).
                unroll = drop["recurrent"] == 0
                assert not (unroll and mask is not None and D == 2), "Keras's unroll bug"
                # shared: Keras's own default, implementation 2 (x times input mask 0 for
                # every gate), clrnn's dropout_shared
                kw.update(dropout=drop["input"], recurrent_dropout=drop["recurrent"],
                          implementation=2 if drop["shared"] else 1, unroll=unroll)
            base = make_layer(cell, H, f"rnn{li}", dtype, **kw)
            if D == 2:
                rnns.append(layers.Bidirectional(base, merge_mode=merge if last else "concat",
                                                 name=f"bi{li}", dtype=dtype))
            else:
                rnns.append(base)
        head = layers.Dense(dense, name="head", dtype=dtype) if dense else None
        cast = lambda v: tf.constant(np.asarray(v, np.float64), dtype=dtype)  # noqa: E731
        # `dropout` between layers: a Keras Dropout layer on each inner layer's output sequence
        # (per element and step), its random generator giving clrnn's output mask of that layer
        betweens = []
        for li in range(L - 1 if drop is not None and drop["between"] else 0):
            lay = layers.Dropout(drop["between"], name=f"drop{li}", dtype=dtype)
            mask_nt = cast(output_mask(drop["seed"], 0, li, T, N, D * H,
                                       drop["between"]).transpose(1, 0, 2))

            def dropped(inputs, rate, noise_shape=None, mask_nt=mask_nt):
                assert tuple(inputs.shape) == tuple(mask_nt.shape), (inputs.shape, mask_nt.shape)
                return inputs * mask_nt
            lay._random_generator.dropout = dropped
            betweens.append(lay)
        counters = []
        if drop is not None:
            for li, lay in enumerate(rnns):
                subs = [lay.forward_layer, lay.backward_layer] if D == 2 else [lay]
                for dd, sub in enumerate(subs):
                    counters.append((inject_masks(sub, li, dd, bool(sub.go_backwards), T, N,
                                                  I if li == 0 else D * H, H, drop, cast), sub))
        train_kw = {"training": True} if drop is not None else {}
        x = cast(a["x"])
        zeros_h = np.zeros((L * D, N, H), np.float32)
        h0 = [cast((a["h0"] if "h0" in a else zeros_h)[i]) for i in range(L * D)]
        c0 = [cast((a["c0"] if "c0" in a else zeros_h)[i]) for i in range(L * D)] if lstm else []
        m = tf.constant(a["mask"] != 0) if "mask" in a else None

        def forward():
            for cnt, _ in counters:
                cnt["k"] = -1
            t = layers.Masking(0.0, dtype=dtype)(x) if masking else x
            finals = []
            for li, lay in enumerate(rnns):
                init = []
                for dd in range(D):
                    init += [h0[li * D + dd]] + ([c0[li * D + dd]] if lstm else [])
                res = (lay(t, initial_state=init, **train_kw) if masking
                       else lay(t, mask=m, initial_state=init, **train_kw))
                t, st = res[0], res[1:]
                assert len(st) == D * nst
                finals.append(st)
                if li < len(betweens):
                    t = betweens[li](t, training=True)
            if head is not None:
                t = head(t)
            for cnt, sub in counters:    # every cell ran once per step (+1), asking for masks
                assert cnt["k"] == T - (1 if sub.unroll else 0), (cnt["k"], T, sub.unroll)
            return t, finals

        forward()       # builds every layer
        names = {}
        for li, lay in enumerate(rnns):
            subs = [lay.forward_layer, lay.backward_layer] if D == 2 else [lay]
            for dd, sub in enumerate(subs):
                ws = sub.weights
                assert len(ws) == 3, [w.name for w in ws]
                for role, w in zip(("w", "r", "b"), ws):
                    f = f"l{li}_d{dd}_{role}"
                    assert tuple(w.shape) == a[f].shape, (f, w.shape, a[f].shape)
                    w.assign(cast(a[f]))
                    names[f] = (w.name.split(":")[0], w)
        if head is not None:
            for f, w in (("dense_w", head.kernel), ("dense_b", head.bias)):
                assert tuple(w.shape) == a[f].shape, f
                w.assign(cast(a[f]))
                names[f] = (w.name.split(":")[0], w)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([x] + h0 + c0)
            y, finals = forward()
            hn = tf.stack([st[dd * nst] for st in finals for dd in range(D)])
            loss = tf.reduce_sum(cast(a["dy"]) * y) + tf.reduce_sum(cast(a["dhn"]) * hn)
            if lstm:
                cn = tf.stack([st[dd * nst + 1] for st in finals for dd in range(D)])
                loss += tf.reduce_sum(cast(a["dcn"]) * cn)
        f32 = lambda v: np.asarray(v, np.float64).astype(np.float32)  # noqa: E731
        keys = sorted(names)
        g = tape.gradient(loss, [x] + h0 + c0 + [names[k][1] for k in keys])
        e = {"y": f32(y), "hn": f32(hn), "dx": f32(g[0]),
             "dh0": f32(np.stack(g[1:1 + L * D]))}
        if lstm:
            e["cn"] = f32(cn)
            e["dc0"] = f32(np.stack(g[1 + L * D:1 + 2 * L * D]))
        for k, gk in zip(keys, g[1 + (2 if lstm else 1) * L * D:]):
            e["grad_" + k] = f32(gk)
        return e, {k: v[0] for k, v in names.items()}

    def case(name, cell="lstm", T=6, N=3, I=4, H=5, L=1, direction="forward", merge="concat",
             return_sequences=True, mask=None, h0=False, dense=0, masking=False,
             input_dropout=0.0, recurrent_dropout=0.0, per_step=False, dropout=0.0,
             shared=False):
        assert T <= 7 and N <= 5 and I <= 6 and H <= 6, name
        assert mask or not masking, name
        assert dropout_cases == bool(input_dropout or recurrent_dropout or dropout), name
        check_name(name, cell)
        rng = rng_for(("grad/keras_dropout/" if dropout_cases else "grad/keras/") + name)
        D = 2 if direction == "bidirectional" else 1
        G = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru_lbr": 3, "gru": 3}[cell]
        lstm = cell == "lstm"
        a = {}
        for li in range(L):
            Ik = I if li == 0 else D * H        # inner layers: concat
            for dd in range(D):
                p = f"l{li}_d{dd}_"
                a[p + "w"] = uniform(rng, (Ik, G * H))
                a[p + "r"] = uniform(rng, (H, G * H))
                a[p + "b"] = uniform(rng, (2, G * H) if cell == "gru_lbr" else (G * H,))
        last_D = 1 if D == 2 and merge != "concat" else D
        Hm = last_D * H
        if dense:
            a["dense_w"] = uniform(rng, (Hm, dense))
            a["dense_b"] = uniform(rng, (dense,))
        a["x"] = uniform(rng, (N, T, I), -1.0, 1.0)
        if mask is not None:
            a["mask"] = mask_for(mask, N, T)
            if masking:
                a["x"] *= a["mask"][:, :, None].astype(np.float32)
        if h0:
            a["h0"] = uniform(rng, (L * D, N, H), -1.0, 1.0)
            if lstm:
                a["c0"] = uniform(rng, (L * D, N, H), -1.0, 1.0)
        C = dense or Hm
        a["dy"] = uniform(rng, (N, T, C) if return_sequences else (N, C), -1.0, 1.0)
        a["dhn"] = uniform(rng, (L * D, N, H), -1.0, 1.0)
        if lstm:
            a["dcn"] = uniform(rng, (L * D, N, H), -1.0, 1.0)
        args = (a, cell, T, N, I, H, L, direction, merge, return_sequences, mask, dense, masking)
        drop, extra = None, None
        if dropout_cases:
            seed = rng_seed(name)
            assert not shared or recurrent_dropout == 0, name  # Keras: implementation 1 then
            drop = dict(input=input_dropout, recurrent=recurrent_dropout, per_step=per_step,
                        seed=seed, between=dropout, shared=shared)
            assert not dropout or L > 1, name
            extra = dict(dropout=dropout, input_dropout=input_dropout,
                         recurrent_dropout=recurrent_dropout,
                         dropout_mode="per_step" if per_step else "variational",
                         dropout_seed=seed)
            if shared:
                extra["dropout_shared"] = 1
        e64, names = run(*args, tf.float64, drop=drop)
        e32, _ = run(*args, tf.float32, drop=drop)
        worst32 = compare_runs(name, e64, e32)
        if dropout_cases:   # the masks change the result (no NumPy replay of dropout here)
            plain, _ = run(*args, tf.float64)
            assert masks_matter(e64, plain), name
        meta = default_meta("keras")
        meta.update(cell=cell, T=T, N=N, I=I, H=H, layers=L, direction=direction, merge=merge,
                    reverse_order=1 if direction == "reverse" else 0, dense=dense,
                    return_sequences=int(return_sequences), has_mask=int(mask is not None),
                    has_h0=int(h0))
        meta["masked_output"] = "zero" if (D == 2 and return_sequences) else "carry"
        d = write_grad_case(out_root, name, meta, dict(a, **e64), names, "float64", extra)
        made.append((d, worst32))

    if dropout_cases:
        keras_dropout_cases(case)
        keras_shared_input_mask()
        return made

    # plain cells, initial states
    case("rnn_tanh", cell="rnn_tanh", T=5)
    case("rnn_relu_h0", cell="rnn_relu", I=3, H=4, h0=True)
    case("lstm", cell="lstm")
    case("lstm_h0_last", cell="lstm", h0=True, return_sequences=False)
    case("gru_lbr_h0", cell="gru_lbr", h0=True)
    case("gru", cell="gru", T=5, N=2, I=5, H=6)
    # masks with holes, CARRY
    case("rnn_tanh_mask_holes", cell="rnn_tanh", T=7, N=4, mask="holes")
    case("rnn_relu_mask_holes_h0", cell="rnn_relu", T=7, N=3, mask="holes_empty", h0=True)
    case("lstm_mask_holes", cell="lstm", T=7, N=4, mask="holes")
    case("lstm_mask_holes_h0", cell="lstm", T=7, N=3, mask="holes_empty", h0=True)
    case("lstm_mask_holes_last", cell="lstm", T=7, N=4, mask="holes", return_sequences=False)
    case("gru_lbr_mask_holes", cell="gru_lbr", T=7, N=4, mask="holes")
    case("gru_lbr_mask_holes_last_h0", cell="gru_lbr", T=7, N=3, mask="holes_empty",
         return_sequences=False, h0=True)
    case("gru_mask_holes_h0", cell="gru", T=7, N=3, mask="holes_empty", h0=True)
    case("gru_mask_holes_last", cell="gru", T=7, N=4, mask="holes", return_sequences=False)
    # go_backwards
    case("lstm_backwards", cell="lstm", direction="reverse")
    case("lstm_backwards_mask_holes", cell="lstm", T=7, N=4, direction="reverse", mask="holes")
    case("gru_backwards_mask_holes_last", cell="gru", T=7, N=4, direction="reverse",
         mask="holes", return_sequences=False)
    case("gru_lbr_backwards_mask_holes_h0", cell="gru_lbr", T=7, N=3, direction="reverse",
         mask="holes_empty", h0=True)
    case("rnn_tanh_backwards_mask_holes_last_h0", cell="rnn_tanh", T=7, N=3, direction="reverse",
         mask="holes_empty", return_sequences=False, h0=True)
    # Bidirectional, every merge
    for mm in ("concat", "sum", "mul", "ave"):
        case(f"bidir_lstm_{mm}_mask_holes", cell="lstm", T=7, N=4, direction="bidirectional",
             merge=mm, mask="holes")
    case("bidir_gru_lbr_sum_h0", cell="gru_lbr", direction="bidirectional", merge="sum", h0=True)
    case("bidir_gru_mul_mask_holes_h0", cell="gru", T=7, N=3, direction="bidirectional",
         merge="mul", mask="holes_empty", h0=True)
    case("bidir_rnn_tanh_ave_mask_holes_last", cell="rnn_tanh", T=7, N=4,
         direction="bidirectional", merge="ave", mask="holes", return_sequences=False)
    case("bidir_lstm_concat_mask_holes_last_h0", cell="lstm", T=7, N=3,
         direction="bidirectional", mask="holes_empty", return_sequences=False, h0=True)
    # stacks
    case("lstm_stack2_mask_holes", cell="lstm", T=7, N=4, L=2, mask="holes")
    case("bidir_lstm_stack2_mask_holes_h0", cell="lstm", T=7, N=3, L=2,
         direction="bidirectional", mask="holes_empty", h0=True)
    # the mask from a Masking layer (propagated by Keras) instead of mask=
    case("lstm_masking_layer_holes_h0", cell="lstm", T=7, N=3, mask="holes_empty", h0=True,
         masking=True)
    case("gru_stack2_masking_layer_holes", cell="gru", T=7, N=4, L=2, mask="holes",
         masking=True)
    # one step: rows 2 and 3 fully masked
    case("lstm_T1_mask_holes_h0", cell="lstm", T=1, N=4, mask="holes", h0=True)
    # a Dense head
    case("lstm_mask_holes_dense", cell="lstm", T=7, N=4, mask="holes", dense=3)
    case("gru_lbr_mask_holes_last_dense", cell="gru_lbr", T=7, N=4, mask="holes",
         return_sequences=False, dense=2)
    case("bidir_lstm_sum_mask_holes_dense", cell="lstm", T=7, N=4, direction="bidirectional",
         merge="sum", mask="holes", dense=3)
    return made


def keras_shared_input_mask():
    """The facts behind implementation=1 and unroll in the keras_dropout cases, checked (a
    difference from clrnn's contract, which draws one input mask per gate): Keras 2.15's LSTM and
    GRU layers with dropout= and no recurrent_dropout, on their default fused path (standard
    activations, not unrolled, eager), ask for their input masks with the whole sequence
    [N, T, I] and multiply x by mask 0 only: a new mask at every step, shared by every gate (a
    Dropout layer before the RNN). On the cell path with implementation 2 (its default, kept
    without recurrent_dropout) one [N, I] mask per sample, also shared by the gates. Only
    implementation 1 (which Keras forces when recurrent_dropout is set) gives each gate its own,
    once per sample: clrnn's VARIATIONAL input_dropout."""
    import tensorflow as tf
    layers = tf.keras.layers
    N, T, I, H = 3, 4, 5, 4
    x = tf.constant(np.random.RandomState(7).uniform(-1, 1, (N, T, I)))
    for cls, G in ((layers.LSTM, 4), (layers.GRU, 3)):
        for impl, unroll, seq_shaped in ((2, False, True), (2, True, False), (1, True, False)):
            ys = []
            for shared in (False, True):
                asked = []

                def get(inputs, training, count=1, shared=shared, asked=asked):
                    asked.append(tuple(inputs.shape))
                    r = np.random.RandomState(11)
                    ms = [r.uniform(0, 2, tuple(inputs.shape)) for _ in range(count)]
                    return [tf.constant(ms[0 if shared else g]) for g in range(count)]
                lay = cls(H, dropout=0.5, implementation=impl, unroll=unroll,
                          return_sequences=True, dtype="float64")
                lay.get_dropout_mask_for_cell = get        # the fused path asks the layer
                lay.cell.get_dropout_mask_for_cell = get   # the cell path, the cell
                lay.build((N, T, I))
                r = np.random.RandomState(5)               # the same weights for both
                for w in lay.weights:
                    w.assign(r.uniform(-0.5, 0.5, w.shape))
                ys.append(lay(x, training=True).numpy())
                assert asked and all(sh == ((N, T, I) if seq_shaped else (N, I)) for sh in asked), \
                    (cls.__name__, impl, unroll, asked)
            same = np.array_equal(ys[0], ys[1])
            assert same == (impl == 2), (cls.__name__, impl, unroll, same)


def keras_dropout_cases(case):
    """tests/golden/grad/keras_dropout: `dropout=` / `recurrent_dropout=` (clrnn's input_dropout /
    recurrent_dropout, VARIATIONAL: one mask per sample, per gate), with masks, go_backwards,
    Bidirectional and stacks; and PER_STEP masks (a new mask at every step: not a Keras option,
    but the same injection keyed by the step's time index)."""
    # each cell, both dropouts (Keras forces implementation 1 when recurrent_dropout is set)
    case("lstm_drop", cell="lstm", input_dropout=0.25, recurrent_dropout=0.375)
    case("gru_lbr_drop_h0", cell="gru_lbr", h0=True, input_dropout=0.375, recurrent_dropout=0.25)
    case("gru_drop_h0", cell="gru", h0=True, input_dropout=0.375, recurrent_dropout=0.25)
    case("rnn_tanh_drop", cell="rnn_tanh", input_dropout=0.25, recurrent_dropout=0.5)
    # one of the two
    case("lstm_drop_input_only", cell="lstm", input_dropout=0.5)
    case("gru_drop_recurrent_only", cell="gru", recurrent_dropout=0.5)
    case("gru_lbr_drop_recurrent_only", cell="gru_lbr", recurrent_dropout=0.5)
    # masks with holes (CARRY), last output, go_backwards, a Dense head
    case("lstm_drop_mask_holes_h0", cell="lstm", T=7, N=3, mask="holes_empty", h0=True,
         input_dropout=0.25, recurrent_dropout=0.25)
    case("gru_drop_mask_holes_last", cell="gru", T=7, N=4, mask="holes", return_sequences=False,
         input_dropout=0.25, recurrent_dropout=0.375)
    case("gru_lbr_drop_backwards_mask_holes_h0", cell="gru_lbr", T=7, N=3, direction="reverse",
         mask="holes_empty", h0=True, input_dropout=0.25, recurrent_dropout=0.375)
    case("lstm_drop_backwards_masking_layer_holes_dense", cell="lstm", T=7, N=4,
         direction="reverse", mask="holes", masking=True, dense=3, input_dropout=0.375,
         recurrent_dropout=0.25)
    # Bidirectional, stacks of 2
    case("bidir_lstm_concat_drop_mask_holes", cell="lstm", T=7, N=4, direction="bidirectional",
         mask="holes", input_dropout=0.25, recurrent_dropout=0.375)
    case("bidir_gru_sum_drop_h0", cell="gru", direction="bidirectional", merge="sum", h0=True,
         input_dropout=0.375, recurrent_dropout=0.25)
    case("lstm_stack2_drop_mask_holes", cell="lstm", T=7, N=4, L=2, mask="holes",
         input_dropout=0.25, recurrent_dropout=0.25)
    case("bidir_gru_lbr_stack2_drop_mask_holes_h0", cell="gru_lbr", T=7, N=3, L=2,
         direction="bidirectional", mask="holes_empty", h0=True, input_dropout=0.25,
         recurrent_dropout=0.375)
    # `dropout` between the layers (a Keras Dropout layer), alone and with the other two
    case("rnn_tanh_stack2_drop_between_masking_layer_holes", cell="rnn_tanh", T=7, N=4, L=2,
         mask="holes", masking=True, dropout=0.5)
    case("lstm_stack2_drop_all_mask_holes_last", cell="lstm", T=7, N=4, L=2, mask="holes",
         return_sequences=False, dropout=0.5, input_dropout=0.25, recurrent_dropout=0.375)
    case("bidir_gru_stack2_drop_all_h0", cell="gru", L=2, direction="bidirectional", h0=True,
         dropout=0.25, input_dropout=0.375, recurrent_dropout=0.25)
    # PER_STEP
    case("lstm_drop_per_step_mask_holes", cell="lstm", T=7, N=4, mask="holes",
         input_dropout=0.25, recurrent_dropout=0.375, per_step=True)
    case("gru_drop_per_step_backwards", cell="gru", direction="reverse", input_dropout=0.375,
         recurrent_dropout=0.25, per_step=True)
    case("bidir_rnn_tanh_ave_drop_per_step_h0", cell="rnn_tanh", direction="bidirectional",
         merge="ave", h0=True, input_dropout=0.25, recurrent_dropout=0.25, per_step=True)
    case("bidir_gru_lbr_stack2_drop_all_per_step", cell="gru_lbr", T=5, L=2,
         direction="bidirectional", dropout=0.375, input_dropout=0.25, recurrent_dropout=0.375,
         per_step=True)
    # Keras's default cells without recurrent_dropout (implementation 2): one input mask shared
    # by the gates, clrnn's dropout_shared
    case("lstm_drop_shared", cell="lstm", input_dropout=0.375, shared=True)
    case("gru_drop_shared_backwards_h0", cell="gru", direction="reverse", h0=True,
         input_dropout=0.375, shared=True)
    case("gru_lbr_stack2_drop_shared_mask_holes", cell="gru_lbr", T=7, N=4, L=2, mask="holes",
         input_dropout=0.25, shared=True)
    case("lstm_drop_shared_per_step", cell="lstm", input_dropout=0.375, per_step=True,
         shared=True)


# --------------------------------------------------------------------------------------------
# TF1 cells (tf.compat.v1 graph mode)
# --------------------------------------------------------------------------------------------
def tf1_part(dropout_cases=False):
    """The TF1 cases; dropout_cases: the tf1_dropout ones instead (DropoutWrapper
    output_keep_prob between the cells of a MultiRNNCell, clrnn's `dropout`)."""
    import tensorflow as tf
    tf.get_logger().setLevel("ERROR")
    v1 = tf.compat.v1
    out_root = os.path.join(GRAD, "tf1_dropout" if dropout_cases else "tf1")
    shutil.rmtree(out_root, ignore_errors=True)
    os.makedirs(out_root)
    made = []

    class TimeFed(v1.nn.rnn_cell.RNNCell):
        """Runs `inner` on x_t of the input pair (x_t, t), first telling `holder` the step's time
        index t (dynamic_rnn's loop does not say it): what the patched DropoutWrapper draws
        clrnn's PER-step output mask of."""
        def __init__(self, inner, holder):
            super().__init__()
            self._inner, self._holder = inner, holder

        @property
        def state_size(self):
            return self._inner.state_size

        @property
        def output_size(self):
            return self._inner.output_size

        def __call__(self, inputs, state, scope=None):
            x_t, t_t = inputs
            self._holder["t"] = tf.cast(t_t[0, 0], tf.int32)
            return self._inner(x_t, state, scope=scope)

    def wrap_dropout(c, li, T, N, width, p, seed, holder, dtype):
        """DropoutWrapper(c, output_keep_prob=1-p) whose dropout of the output is clrnn's mask of
        layer li at the current step (stream OUTPUT, c1 = t), scaled 1/(1-p): TF decides what
        it drops (the cell's output: the next cell's input, not the state)."""
        w = v1.nn.rnn_cell.DropoutWrapper(c, output_keep_prob=1.0 - p)
        masks = tf.constant(output_mask(seed, 0, li, T, N, width, p), dtype=dtype)   # [T, N, W]

        def dropped(values, salt_prefix, recurrent_noise, keep_prob,
                    shallow_filtered_substructure=None):
            assert salt_prefix == "output", salt_prefix
            return values * tf.gather(masks, holder["t"])
        w._dropout = dropped
        return w

    def run(a, cell, T, N, I, H, L, bidir, seq_len, peephole, cell_clip, proj, proj_clip,
            forget_bias, dtype, drop=None):
        D = 2 if bidir else 1
        lstm = cell == "lstm"
        Hr = proj if (lstm and proj) else H
        g = tf.Graph()
        with g.as_default():
            xp = v1.placeholder(dtype, (N, T, I))
            slp = v1.placeholder(tf.int32, (N,)) if seq_len is not None else None
            holder = {}
            made_cells = []

            def mk():
                c = golden_keras.tf1_cell(v1, cell, H, peephole, cell_clip, proj, proj_clip, forget_bias)
                li = len(made_cells)
                made_cells.append(c)
                if drop and li < L - 1:
                    c = wrap_dropout(c, li, T, N, Hr, drop["dropout"], drop["seed"], holder, dtype)
                return c

            hps = [v1.placeholder(dtype, (N, Hr)) for _ in range(L * D)]
            cps = [v1.placeholder(dtype, (N, H)) for _ in range(L * D)] if lstm else []

            def state(i):
                return v1.nn.rnn_cell.LSTMStateTuple(cps[i], hps[i]) if lstm else hps[i]

            if bidir:
                (yf, yb), (sf, sb) = v1.nn.bidirectional_dynamic_rnn(
                    mk(), mk(), xp, sequence_length=slp, initial_state_fw=state(0),
                    initial_state_bw=state(1), dtype=dtype)
                y_t = tf.concat([yf, yb], axis=-1)
                finals = [sf, sb]
                scopes = ["bidirectional_rnn/fw/", "bidirectional_rnn/bw/"]
            else:
                c = v1.nn.rnn_cell.MultiRNNCell([mk() for _ in range(L)]) if L > 1 else mk()
                st = tuple(state(i) for i in range(L))
                inp = xp
                if drop:    # the time index rides along as a second input
                    c = TimeFed(c, holder)
                    tix = np.broadcast_to(np.arange(T, dtype=np.float64)[None, :, None], (N, T, 1))
                    inp = (xp, tf.constant(tix, dtype=dtype))
                y_t, s = v1.nn.dynamic_rnn(c, inp, sequence_length=slp,
                                           initial_state=st if L > 1 else st[0], dtype=dtype)
                finals = list(s) if L > 1 else [s]
                scopes = ([f"rnn/multi_rnn_cell/cell_{i}/" for i in range(L)] if L > 1
                          else ["rnn/"])
            hn_t = tf.stack([f.h if lstm else f for f in finals])
            cn_t = tf.stack([f.c for f in finals]) if lstm else None
            cst = lambda k: tf.constant(np.asarray(a[k], np.float64), dtype=dtype)  # noqa: E731
            loss = tf.reduce_sum(cst("dy") * y_t) + tf.reduce_sum(cst("dhn") * hn_t)
            if lstm:
                loss += tf.reduce_sum(cst("dcn") * cn_t)
            variables = {v.op.name: v for v in v1.global_variables()}
            # file -> [variables whose concatenation it is]
            files = {}
            for k, sc in enumerate(scopes):
                li, dd = (0, k) if bidir else (k, 0)
                p = f"l{li}_d{dd}_"
                if lstm:
                    roles = {"kernel": ["lstm_cell/kernel"], "b": ["lstm_cell/bias"]}
                    if proj:
                        roles["proj"] = ["lstm_cell/projection/kernel"]
                    if peephole:
                        roles["peephole"] = ["lstm_cell/w_i_diag", "lstm_cell/w_f_diag",
                                             "lstm_cell/w_o_diag"]
                elif cell == "gru":
                    roles = {"kernel": ["gru_cell/gates/kernel"], "b": ["gru_cell/gates/bias"],
                             "cand_kernel": ["gru_cell/candidate/kernel"],
                             "cand_bias": ["gru_cell/candidate/bias"]}
                else:
                    roles = {"kernel": ["basic_rnn_cell/kernel"], "b": ["basic_rnn_cell/bias"]}
                for role, vns in roles.items():
                    files[p + role] = [variables[sc + vn] for vn in vns]
            used = {v.op.name for vs in files.values() for v in vs}
            assert used == set(variables), (set(variables) - used)
            keys = sorted(files)
            flat = [v for k in keys for v in files[k]]
            grads = v1.gradients(loss, [xp] + hps + cps + flat)
            with v1.Session(graph=g) as sess:
                sess.run(v1.global_variables_initializer())
                for k in keys:
                    val, off = a[k], 0
                    for v in files[k]:
                        n = int(np.prod(v.shape))
                        part = val[off:off + n] if len(files[k]) > 1 else val
                        assert tuple(v.shape) == part.shape, (k, v.shape, part.shape)
                        v.load(np.asarray(part, np.float64).astype(dtype.as_numpy_dtype), sess)
                        off += n
                zeros = lambda s: np.zeros(s, np.float32)  # noqa: E731
                h0 = a.get("h0", zeros((L * D, N, Hr)))
                c0 = a.get("c0", zeros((L * D, N, H)))
                feed = {xp: a["x"]}
                if slp is not None:
                    feed[slp] = a["seq_len"]
                for i in range(L * D):
                    feed[hps[i]] = h0[i]
                    if lstm:
                        feed[cps[i]] = c0[i]
                outs = [y_t, hn_t] + ([cn_t] if lstm else [])
                res = sess.run(outs + grads, feed)
        f32 = lambda v: np.asarray(v, np.float64).astype(np.float32)  # noqa: E731
        e = {"y": f32(res[0]), "hn": f32(res[1])}
        r = res[2:]
        if lstm:
            e["cn"], r = f32(res[2]), res[3:]
        e["dx"] = f32(r[0])
        e["dh0"] = f32(np.stack(r[1:1 + L * D]))
        r = r[1 + L * D:]
        if lstm:
            e["dc0"] = f32(np.stack(r[:L * D]))
            r = r[L * D:]
        for k in keys:
            parts = [r.pop(0) for _ in files[k]]
            e["grad_" + k] = f32(np.concatenate(parts) if len(parts) > 1 else parts[0])
        names = {k: "+".join(v.op.name for v in files[k]) for k in keys}
        return e, names

    def case(name, cell="lstm", T=6, N=3, I=4, H=5, L=1, bidir=False, seq_len=None, h0=False,
             peephole=False, cell_clip=0.0, proj=0, proj_clip=0.0, forget_bias=1.0, dropout=0.0):
        assert T <= 7 and N <= 5 and I <= 6 and H <= 6, name
        assert dropout_cases == bool(dropout) and (not dropout or (L > 1 and not bidir)), name
        check_name(name, cell)
        rng = rng_for(("grad/tf1_dropout/" if dropout_cases else "grad/tf1/") + name)
        D = 2 if bidir else 1
        lstm = cell == "lstm"
        Hr = proj if (lstm and proj) else H
        a = {}
        for k in range(L * D if bidir else L):
            li, dd = (0, k) if bidir else (k, 0)
            Ik = I if li == 0 else Hr
            p = f"l{li}_d{dd}_"
            if lstm:
                a[p + "kernel"] = uniform(rng, (Ik + Hr, 4 * H))
                a[p + "b"] = uniform(rng, (4 * H,))
                if peephole:
                    a[p + "peephole"] = uniform(rng, (3 * H,))
                if proj:
                    a[p + "proj"] = uniform(rng, (H, proj))
            elif cell == "gru":
                a[p + "kernel"] = uniform(rng, (Ik + H, 2 * H))
                a[p + "b"] = uniform(rng, (2 * H,))
                a[p + "cand_kernel"] = uniform(rng, (Ik + H, H))
                a[p + "cand_bias"] = uniform(rng, (H,))
            else:
                a[p + "kernel"] = uniform(rng, (Ik + H, H))
                a[p + "b"] = uniform(rng, (H,))
        a["x"] = uniform(rng, (N, T, I), -1.0, 1.0)
        if seq_len is not None:
            a["seq_len"] = np.asarray(seq_len, np.int32)
        if h0:
            a["h0"] = uniform(rng, (L * D, N, Hr), -1.0, 1.0)
            if lstm:
                a["c0"] = uniform(rng, (L * D, N, H), -1.0, 1.0)
        a["dy"] = uniform(rng, (N, T, D * Hr), -1.0, 1.0)
        a["dhn"] = uniform(rng, (L * D, N, Hr), -1.0, 1.0)
        if lstm:
            a["dcn"] = uniform(rng, (L * D, N, H), -1.0, 1.0)
        args = (a, cell, T, N, I, H, L, bidir, seq_len, peephole, cell_clip, proj, proj_clip,
                forget_bias)
        drop, extra = None, None
        if dropout_cases:
            drop = dict(dropout=dropout, seed=rng_seed(name))
            extra = dict(dropout=dropout, dropout_mode="per_step", dropout_seed=drop["seed"])
        e64, names = run(*args, tf.float64, drop)
        e32, _ = run(*args, tf.float32, drop)
        worst32 = compare_runs(name, e64, e32)
        if dropout_cases:   # the masks change the result (no NumPy replay of dropout here)
            plain, _ = run(*args, tf.float64)
            assert masks_matter(e64, plain), name
        meta = default_meta("tf1")
        meta.update(cell=cell, T=T, N=N, I=I, H=H, layers=L,
                    direction="bidirectional" if bidir else "forward",
                    proj=proj if lstm else 0, peephole=int(peephole and lstm),
                    cell_clip=float(cell_clip), proj_clip=float(proj_clip),
                    forget_bias=float(forget_bias) if lstm else 0.0,
                    has_seq_len=int(seq_len is not None), has_h0=int(h0))
        d = write_grad_case(out_root, name, meta, dict(a, **e64), names, "float64", extra)
        made.append((d, worst32))
        return a, e64

    if dropout_cases:
        # DropoutWrapper(output_keep_prob) on every cell of a MultiRNNCell but the last
        case("lstm_multi2_drop_seqlen_h0", L=2, T=6, N=4, seq_len=[6, 2, 0, 5], h0=True,
             dropout=0.5)
        case("lstm_multi3_drop_peephole_proj", L=3, peephole=True, proj=3, H=5, dropout=0.25)
        case("gru_multi2_drop_seqlen", cell="gru", L=2, T=6, N=4, seq_len=[3, 6, 1, 0],
             dropout=0.375)
        case("rnn_tanh_multi2_drop_h0", cell="rnn_tanh", L=2, h0=True, dropout=0.25)
        return made

    case("lstm")                                           # forget_bias 1.0 (the default)
    case("lstm_fb07_h0", forget_bias=0.7, h0=True)
    case("lstm_fb0_seqlen", forget_bias=0.0, T=6, N=4, seq_len=[6, 4, 1, 2])
    case("lstm_peephole", peephole=True)
    _, e = case("lstm_cell_clip", cell_clip=0.25, T=7, I=5, H=4)
    assert np.isclose(np.abs(e["cn"]), 0.25).any(), "cell_clip never active at the end"
    _, e = case("lstm_proj_clip", proj=3, proj_clip=0.1, H=6)
    assert np.isclose(np.abs(e["y"]), 0.1).any(), "proj_clip never active"
    case("lstm_peephole_clip_proj_seqlen_h0", peephole=True, cell_clip=0.3, proj=2, proj_clip=0.2,
         forget_bias=0.5, T=7, N=4, H=4, seq_len=[7, 3, 0, 5], h0=True)
    case("lstm_seqlen_zero_h0", T=5, N=3, seq_len=[5, 0, 2], h0=True)
    case("gru", cell="gru")
    case("gru_seqlen_h0", cell="gru", T=6, N=4, seq_len=[6, 0, 3, 5], h0=True)
    case("rnn_tanh", cell="rnn_tanh")
    case("rnn_tanh_seqlen_h0", cell="rnn_tanh", T=6, N=4, seq_len=[2, 6, 0, 4], h0=True)
    case("lstm_multi2_seqlen_h0", L=2, T=6, N=4, seq_len=[6, 2, 0, 5], h0=True)
    case("lstm_multi2_peephole_proj", L=2, peephole=True, proj=3, H=5)
    case("bidir_lstm_seqlen", bidir=True, T=6, N=4, seq_len=[6, 3, 0, 1])
    case("bidir_lstm_peephole_proj_clip_seqlen_h0", bidir=True, peephole=True, cell_clip=0.4,
         proj=2, H=4, T=5, N=3, seq_len=[2, 5, 0], h0=True)
    case("bidir_gru_seqlen_h0", cell="gru", bidir=True, T=6, N=3, seq_len=[4, 6, 1], h0=True)
    case("bidir_rnn_tanh_h0", cell="rnn_tanh", bidir=True, h0=True)
    return made


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=["keras", "keras_dropout", "tf1", "tf1_dropout", "all"],
                    default="all")
    ap.add_argument("--check", action="store_true",
                    help="only replay the committed cases with the reference (no TF run)")
    args = ap.parse_args()
    import warnings
    warnings.filterwarnings("ignore")   # deprecation notices of the TF1 API
    import tensorflow as tf
    assert tf.__version__.startswith("2.15"), tf.__version__
    check_philox()      # the masks' generator against Random123's known answers
    for part, fn in (("keras", keras_part), ("keras_dropout", lambda: keras_part(True)),
                     ("tf1", tf1_part), ("tf1_dropout", lambda: tf1_part(True))):
        if args.part not in (part, "all"):
            continue
        if args.check:      # replay the committed cases only, write nothing
            root = os.path.join(GRAD, part)
            made = [(os.path.join(root, c), 0.0) for c in sorted(os.listdir(root))]
        else:
            made = fn()
        # the NumPy reference has no dropout: the dropout cases are replayed by the C test's
        # float64 reference (tests/ref) instead
        plain = [d for d, _ in made if not has_dropout(d)]
        worst_fd = max([fd_check(d, golden_keras.reference) for d in plain] or [0.0])
        worst32 = max(w for _, w in made)
        print(f"{len(made)} {part} gradient cases in "
              f"{os.path.relpath(os.path.join(GRAD, part), ROOT)}: float32 vs float64 worst "
              f"{worst32:.2g}, finite differences of the reference worst {worst_fd:.2g}"
              + (f" ({len(plain)} cases without dropout)" if len(plain) < len(made) else ""))


if __name__ == "__main__":
    main()
