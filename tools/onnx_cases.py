#!/usr/bin/env python3
"""Generates clrnn's own ONNX test cases (tests/onnx/cases/) for what the ONNX backend suite does not
cover: unequal sequence_lens (with zero-length rows and initial states), clip, input_forget,
linear_before_reset = 1, layout = 1, custom activations with and without alpha/beta, optional
inputs/outputs left out, weights as initializers, and the glue operators at old opsets.

Each case is written in the layout of the ONNX backend node tests (model.onnx,
test_data_set_0/input_<i>.pb, output_<i>.pb) so tests/onnx/test_onnx_backend.c runs them like the suite.

Expected outputs come from onnxruntime. Every RNN case is also computed by an independent float64
implementation of the ONNX spec in this file (`spec_rnn`), and by the ONNX reference
implementation (onnx.reference) when the case uses only what it implements (it ignores
sequence_lens, clip, input_forget and custom activations); all oracles that apply must agree within
1e-5 or the script stops. The few cases whose semantics onnxruntime does not follow (defaults of
alpha/beta that the ONNX spec gives and onnxruntime replaces by 0) take the spec implementation's
values and say so in MANIFEST.txt.

Run with a Python that has numpy, onnx (>= 1.13, for onnx.reference) and onnxruntime, e.g.
  python3 -m venv /work/venv-ort && /work/venv-ort/bin/pip install onnx onnxruntime
  /work/venv-ort/bin/python tools/onnx_cases.py [OUT_DIR]      (default: tests/onnx/cases)
"""
import os
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

try:
    import onnxruntime as ort
except ImportError:  # pragma: no cover
    sys.exit("onnxruntime is required (pip install onnxruntime)")
try:
    from onnx.reference import ReferenceEvaluator
except ImportError:  # pragma: no cover
    sys.exit("onnx >= 1.13 is required for onnx.reference")

TOL = 1e-5
IR_VERSION = 8  # readable by every runtime involved

# ---------------------------------------------------------------------------------------------
# Independent float64 implementation of ONNX RNN / GRU / LSTM (onnx/defs/rnn/defs.cc)
# ---------------------------------------------------------------------------------------------
# (takes alpha, takes beta, default alpha, default beta): the ONNX operators' defaults
ACTS = {
    "relu": (0, 0, 0, 0), "tanh": (0, 0, 0, 0), "sigmoid": (0, 0, 0, 0),
    "affine": (1, 1, 1.0, 0.0), "leakyrelu": (1, 0, 0.01, 0), "thresholdedrelu": (1, 0, 1.0, 0),
    "scaledtanh": (1, 1, 1.0, 1.0), "hardsigmoid": (1, 1, 0.2, 0.5), "elu": (1, 0, 1.0, 0),
    "softsign": (0, 0, 0, 0), "softplus": (0, 0, 0, 0),
}


def apply_act(name, x, a, b):
    n = name.lower()
    if n == "relu": return np.maximum(x, 0)
    if n == "tanh": return np.tanh(x)
    if n == "sigmoid": return 1 / (1 + np.exp(-x))
    if n == "affine": return a * x + b
    if n == "leakyrelu": return np.where(x < 0, a * x, x)
    if n == "thresholdedrelu": return np.where(x > a, x, 0)
    if n == "scaledtanh": return a * np.tanh(b * x)
    if n == "hardsigmoid": return np.clip(a * x + b, 0, 1)
    if n == "elu": return np.where(x < 0, a * (np.exp(x) - 1), x)
    if n == "softsign": return x / (1 + np.abs(x))
    if n == "softplus": return np.logaddexp(0, x)  # log(1+e^x) without overflow, as the kernels compute it
    raise ValueError(name)


def resolve_acts(names, alphas, betas):
    """alpha/beta values are consumed in order by the functions that take them."""
    out, ia, ib = [], 0, 0
    for nm in names:
        ta, tb, da, db = ACTS[nm.lower()]
        a, b = da, db
        if ta and ia < len(alphas): a, ia = alphas[ia], ia + 1
        if tb and ib < len(betas): b, ib = betas[ib], ib + 1
        out.append((nm, a, b))
    return out


def spec_rnn(cell, attrs, X, W, R, B=None, lens=None, h0=None, c0=None, P=None, clip_h_input=True):
    """Y, Y_h, Y_c (float64) of one ONNX RNN/GRU/LSTM node. Rows with sequence_lens = 0 get zero
    Y_h / Y_c (onnxruntime's rule). clip applies to the input of every activation, including the
    c_t that LSTM's h() reads (the spec's wording, and clrnn's semantics); clip_h_input=False gives
    onnxruntime's behaviour, which applies h() to the unclipped c_t."""
    direction = attrs.get("direction", "forward")
    D = 2 if direction == "bidirectional" else 1
    layout = attrs.get("layout", 0)
    clip = attrs.get("clip", None)
    H = R.shape[-1]
    G = {"LSTM": 4, "GRU": 3, "RNN": 1}[cell]
    slots = {"LSTM": 3, "GRU": 2, "RNN": 1}[cell]
    defaults = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}[cell] * D
    acts = resolve_acts(attrs.get("activations", defaults), attrs.get("activation_alpha", []),
                        attrs.get("activation_beta", []))
    X = X.astype(np.float64)
    if layout:
        X = X.transpose(1, 0, 2)
        h0 = None if h0 is None else h0.transpose(1, 0, 2)
        c0 = None if c0 is None else c0.transpose(1, 0, 2)
    T, N, _ = X.shape
    B = np.zeros((D, 2 * G * H)) if B is None else B.astype(np.float64)
    P = np.zeros((D, 3 * H)) if P is None else P.astype(np.float64)
    lens = np.full(N, T) if lens is None else lens
    cl = (lambda v: np.clip(v, -clip, clip)) if clip else (lambda v: v)
    Y = np.zeros((T, D, N, H))
    Yh = np.zeros((D, N, H))
    Yc = np.zeros((D, N, H))
    for d in range(D):
        f = acts[d * slots]
        g = acts[d * slots + 1] if slots > 1 else None
        hf = acts[d * slots + 2] if slots > 2 else None
        act = lambda spec, v: apply_act(spec[0], cl(v), spec[1], spec[2])
        rev = direction == "reverse" or d == 1
        Wd, Rd = W[d].astype(np.float64), R[d].astype(np.float64)
        Wb, Rb = B[d, :G * H], B[d, G * H:]
        for n in range(N):
            L = int(lens[n])
            h = np.zeros(H) if h0 is None else h0[d, n].astype(np.float64)
            c = np.zeros(H) if c0 is None else c0[d, n].astype(np.float64)
            for t in (range(L - 1, -1, -1) if rev else range(L)):
                x = X[t, n]
                if cell == "LSTM":
                    z = Wd @ x + Rd @ h + Wb + Rb
                    zi, zo, zf, zc = np.split(z, 4)
                    pi, po, pf = np.split(P[d], 3)
                    i = act(f, zi + pi * c)
                    fg = 1 - i if attrs.get("input_forget", 0) else act(f, zf + pf * c)
                    c = fg * c + i * act(g, zc)
                    o = act(f, zo + po * c)
                    h = o * (act(hf, c) if clip_h_input else apply_act(hf[0], c, hf[1], hf[2]))
                elif cell == "GRU":
                    xw = Wd @ x + Wb
                    zz = act(f, xw[:H] + Rd[:H] @ h + Rb[:H])
                    rr = act(f, xw[H:2 * H] + Rd[H:2 * H] @ h + Rb[H:2 * H])
                    if attrs.get("linear_before_reset", 0):
                        hh = act(g, xw[2 * H:] + rr * (Rd[2 * H:] @ h + Rb[2 * H:]))
                    else:
                        hh = act(g, xw[2 * H:] + Rd[2 * H:] @ (rr * h) + Rb[2 * H:])
                    h = (1 - zz) * hh + zz * h
                else:
                    h = act(f, Wd @ x + Rd @ h + Wb + Rb)
                Y[t, d, n] = h
            if L > 0:
                Yh[d, n], Yc[d, n] = h, c
    if layout:
        return Y.transpose(2, 0, 1, 3), Yh.transpose(1, 0, 2), Yc.transpose(1, 0, 2)
    return Y, Yh, Yc


# ---------------------------------------------------------------------------------------------
# Case construction
# ---------------------------------------------------------------------------------------------
MANIFEST = []


def save_case(out_dir, name, model, feeds, expected, oracles, note=""):
    onnx.checker.check_model(model)
    d = os.path.join(out_dir, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    onnx.save(model, os.path.join(d, "model.onnx"))
    inits = {i.name for i in model.graph.initializer}
    inputs = [i.name for i in model.graph.input if i.name not in inits]
    for k, nm in enumerate(inputs):
        t = numpy_helper.from_array(feeds[nm], nm)
        with open(os.path.join(d, "test_data_set_0", f"input_{k}.pb"), "wb") as fh:
            fh.write(t.SerializeToString())
    for k, o in enumerate(model.graph.output):
        t = numpy_helper.from_array(np.ascontiguousarray(expected[k]), o.name)
        with open(os.path.join(d, "test_data_set_0", f"output_{k}.pb"), "wb") as fh:
            fh.write(t.SerializeToString())
    MANIFEST.append(f"{name}: expected from {oracles}{'; ' + note if note else ''}")


def run_ort(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    return sess.run(None, {k: feeds[k] for k in names})


def run_reference(model, feeds):
    ev = ReferenceEvaluator(model)
    names = [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    return ev.run(None, {k: feeds[k] for k in names})


def check_close(a, b, what):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise SystemExit(f"{what}: shapes {a.shape} vs {b.shape}")
    err = np.max(np.abs(a - b)) if a.size else 0.0
    if err > TOL:
        raise SystemExit(f"{what}: oracles disagree by {err:.3g}")


def rnn_case(out_dir, name, cell, T=5, N=4, I=3, H=4, attrs=None, seed=0, lens=None, with_B=True, with_h0=False,
             with_c0=False, with_P=False, weights_as_inputs=False, outputs=None, opset=14,
             x_scale=1.0, w_scale=0.6, lens_dtype=np.int32, ort_ok=True, note="", typed_fields=False):
    attrs = dict(attrs or {})
    if outputs is None:
        outputs = ("Y", "Y_h", "Y_c") if cell == "LSTM" else ("Y", "Y_h")
    rng = np.random.default_rng(seed)
    D = 2 if attrs.get("direction") == "bidirectional" else 1
    G = {"LSTM": 4, "GRU": 3, "RNN": 1}[cell]
    layout = attrs.get("layout", 0)
    f32 = np.float32
    X = (rng.uniform(-1, 1, (N, T, I) if layout else (T, N, I)) * x_scale).astype(f32)
    W = rng.uniform(-w_scale, w_scale, (D, G * H, I)).astype(f32)
    R = rng.uniform(-w_scale, w_scale, (D, G * H, H)).astype(f32)
    B = rng.uniform(-0.5, 0.5, (D, 2 * G * H)).astype(f32) if with_B else None
    st_shape = (N, D, H) if layout else (D, N, H)
    h0 = rng.uniform(-0.8, 0.8, st_shape).astype(f32) if with_h0 else None
    c0 = rng.uniform(-0.8, 0.8, st_shape).astype(f32) if with_c0 else None
    P = rng.uniform(-0.5, 0.5, (D, 3 * H)).astype(f32) if with_P else None
    L = None if lens is None else np.array(lens, lens_dtype)

    out_names = [o if o else "" for o in outputs]

    def make(node_attrs, arrs):
        """The single-node model and its feeds (weights as initializers unless weights_as_inputs)."""
        feeds, inits, in_names, vinfo = {}, [], [], []
        for nm in ("X", "W", "R", "B", "sequence_lens", "initial_h") + (("initial_c", "P") if cell == "LSTM" else ()):
            arr = arrs[nm]
            if arr is None:
                in_names.append("")
                continue
            in_names.append(nm)
            if weights_as_inputs or nm in ("X", "initial_h", "initial_c") or (nm == "sequence_lens" and not typed_fields):
                feeds[nm] = arr
                et = TensorProto.INT32 if arr.dtype == np.int32 else TensorProto.FLOAT
                vinfo.append(helper.make_tensor_value_info(nm, et, list(arr.shape)))
            elif typed_fields:  # float_data / int32_data instead of raw_data
                et = TensorProto.INT32 if arr.dtype == np.int32 else TensorProto.FLOAT
                inits.append(helper.make_tensor(nm, et, list(arr.shape), arr.flatten().tolist(), raw=False))
            else:
                inits.append(numpy_helper.from_array(arr, nm))
        while in_names and in_names[-1] == "":
            in_names.pop()
        lay = node_attrs.get("layout", 0)
        st = [N, D, H] if lay else [D, N, H]
        shapes = {"Y": [N, T, D, H] if lay else [T, D, N, H], "Y_h": st, "Y_c": st}
        node = helper.make_node(cell, in_names, out_names, hidden_size=H, **node_attrs)
        outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, shapes[o]) for o in out_names if o]
        graph = helper.make_graph([node], name, vinfo, outs, initializer=inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                  producer_name="clrnn onnx_cases.py")
        model.ir_version = IR_VERSION
        return model, feeds, {i.name: numpy_helper.to_array(i) for i in inits}

    arrs = {"X": X, "W": W, "R": R, "B": B, "sequence_lens": L, "initial_h": h0, "initial_c": c0, "P": P}
    model, feeds, init_vals = make(attrs, arrs)

    spec = spec_rnn(cell, attrs, X, W, R, B, L, h0, c0, P)
    want = [spec[("Y", "Y_h", "Y_c").index(o)] for o in out_names if o]
    oracles = ["spec"]
    expected = [w.astype(np.float32) for w in want]
    if ort_ok:
        if layout:
            # onnxruntime runs only layout 0: run the time-major twin and transpose its results back
            sw = lambda a: None if a is None else np.ascontiguousarray(a.transpose(1, 0, 2))
            twin, tfeeds, tinit = make({k: v for k, v in attrs.items() if k != "layout"},
                                       {**arrs, "X": sw(X), "initial_h": sw(h0), "initial_c": sw(c0)})
            got = run_ort(twin, {**tfeeds, **tinit})
            got = [g.transpose(2, 0, 1, 3) if g.ndim == 4 else g.transpose(1, 0, 2) for g in got]
            oracles_ort = "onnxruntime (layout-0 twin)"
        else:
            got = run_ort(model, {**feeds, **init_vals})
            oracles_ort = "onnxruntime"
        want_ort = want
        if cell == "LSTM" and "clip" in attrs:
            spec_ort = spec_rnn(cell, attrs, X, W, R, B, L, h0, c0, P, clip_h_input=False)
            want_ort = [spec_ort[("Y", "Y_h", "Y_c").index(o)] for o in out_names if o]
        for k, (g, w) in enumerate(zip(got, want_ort)):
            check_close(g, w, f"{name} output {k}: onnxruntime vs spec")
        gap = max(float(np.max(np.abs(a - b))) for a, b in zip(want, want_ort))
        if gap <= TOL:
            expected = [np.ascontiguousarray(g) for g in got]
            oracles.insert(0, oracles_ort)
        else:
            oracles.append(oracles_ort + " (agrees with the spec computed on an unclipped c_t for h())")
            note = (note + "; " if note else "") + (
                f"|c_t| exceeds clip: onnxruntime applies h() to the unclipped c_t and differs by {gap:.3g}; "
                "expected values clip h()'s input like every activation input (ONNX spec wording, clrnn)")
    ref_ok = L is None and "clip" not in attrs and not attrs.get("input_forget") and "activations" not in attrs
    if ref_ok:
        got = run_reference(model, feeds)
        for k, (g, w) in enumerate(zip(got, want)):
            check_close(g, w, f"{name} output {k}: onnx.reference vs spec")
        oracles.append("onnx.reference")
    save_case(out_dir, name, model, feeds, expected, " = ".join(oracles), note)


def glue_case(out_dir, name, nodes, inputs, outputs, feeds, opset, numpy_fn, inits=(), reference=False):
    """Expected from onnxruntime, checked against numpy_fn(feeds) (onnx.reference gets the opset < 13
    Softmax wrong: it normalizes over one axis instead of flattening at `axis`). reference: from
    onnx.reference instead, for what onnxruntime does not implement (Where on bool)."""
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="clrnn onnx_cases.py")
    model.ir_version = IR_VERSION
    got = run_reference(model, feeds) if reference else run_ort(model, feeds)
    oracle = "onnx.reference" if reference else "onnxruntime"
    for k, (a, b) in enumerate(zip(got, numpy_fn(feeds))):
        check_close(a, b, f"{name} output {k}: {oracle} vs numpy")
    save_case(out_dir, name, model, feeds, got, f"{oracle} = numpy")


def softmax_2d(x, axis):
    """Softmax before opset 13: flatten to 2-D at axis, normalize the rows."""
    f = x.reshape(int(np.prod(x.shape[:axis])), -1).astype(np.float64)
    e = np.exp(f - f.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).reshape(x.shape)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "onnx", "cases")
    out_dir = os.path.abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    for entry in os.listdir(out_dir):
        p = os.path.join(out_dir, entry)
        if os.path.isdir(p):
            shutil.rmtree(p)
    bi, rev = {"direction": "bidirectional"}, {"direction": "reverse"}
    lens5 = [5, 2, 0, 3]  # unequal, with a zero-length row

    # --- sequence_lens (unequal, zero-length rows with initial states: Y_h/Y_c must be zero) ---
    rnn_case(out_dir, "lstm_seq_lens_forward", "LSTM", lens=lens5, with_h0=True, with_c0=True, seed=1)
    rnn_case(out_dir, "lstm_seq_lens_reverse", "LSTM", attrs=rev, lens=lens5, with_h0=True, with_c0=True, seed=2)
    rnn_case(out_dir, "lstm_seq_lens_bidirectional", "LSTM", attrs=bi, lens=lens5, with_h0=True, with_c0=True, seed=3)
    rnn_case(out_dir, "gru_seq_lens_bidirectional", "GRU", attrs=bi, lens=lens5, with_h0=True, seed=4)
    rnn_case(out_dir, "rnn_seq_lens_bidirectional", "RNN", attrs=bi, lens=lens5, with_h0=True, seed=5)
    rnn_case(out_dir, "gru_seq_lens_reverse_no_bias", "GRU", attrs=rev, lens=[1, 5, 4, 2], with_B=False, seed=6)
    # --- clip (inputs scaled so that many pre-activations exceed it) ---
    rnn_case(out_dir, "lstm_clip_bidirectional", "LSTM", attrs={**bi, "clip": 3.0}, x_scale=3, w_scale=1.5,
             with_h0=True, with_c0=True, seed=7, note="gate inputs exceed clip, |c_t| stays below it")
    rnn_case(out_dir, "lstm_clip_cell_beyond_clip", "LSTM", attrs={"clip": 0.4}, x_scale=3, w_scale=1.0,
             with_h0=True, with_c0=True, seed=32)
    rnn_case(out_dir, "gru_clip", "GRU", attrs={"clip": 0.3}, x_scale=3, w_scale=1.0, with_h0=True, seed=8)
    rnn_case(out_dir, "rnn_clip_seq_lens", "RNN", attrs={"clip": 0.25}, x_scale=3, w_scale=1.0, lens=lens5, seed=9)
    # --- input_forget (CIFG), with peepholes ---
    rnn_case(out_dir, "lstm_input_forget", "LSTM", attrs={"input_forget": 1}, with_h0=True, with_c0=True, seed=10)
    rnn_case(out_dir, "lstm_input_forget_peepholes_bidirectional", "LSTM", attrs={**bi, "input_forget": 1},
             with_P=True, lens=lens5, with_h0=True, with_c0=True, seed=11)
    rnn_case(out_dir, "lstm_peepholes_reverse_seq_lens", "LSTM", attrs=rev, with_P=True, lens=[3, 5, 1, 4], seed=12)
    # --- linear_before_reset = 1 (PyTorch's GRU) ---
    rnn_case(out_dir, "gru_linear_before_reset", "GRU", attrs={"linear_before_reset": 1}, with_h0=True, seed=13)
    rnn_case(out_dir, "gru_linear_before_reset_bidirectional_seq_lens", "GRU",
             attrs={**bi, "linear_before_reset": 1}, lens=lens5, with_h0=True, seed=14)
    # --- layout = 1 (batch-major), transposed initial and final states ---
    rnn_case(out_dir, "lstm_layout1_bidirectional_seq_lens", "LSTM", attrs={**bi, "layout": 1}, lens=lens5,
             with_h0=True, with_c0=True, seed=15)
    rnn_case(out_dir, "gru_layout1_bidirectional_lbr", "GRU", attrs={**bi, "layout": 1, "linear_before_reset": 1},
             with_h0=True, seed=16)
    rnn_case(out_dir, "rnn_layout1_reverse", "RNN", attrs={**rev, "layout": 1}, with_h0=True, seed=17)
    # --- custom activations, alpha/beta consumed in order by the functions that take them ---
    rnn_case(out_dir, "rnn_relu", "RNN", attrs={"activations": ["Relu"]}, seed=18)
    rnn_case(out_dir, "rnn_leakyrelu_scaledtanh_bidirectional", "RNN",
             attrs={**bi, "activations": ["LeakyRelu", "ScaledTanh"], "activation_alpha": [0.2, 0.9],
                    "activation_beta": [1.3]}, x_scale=2, seed=19)
    rnn_case(out_dir, "gru_hardsigmoid_elu", "GRU",
             attrs={"activations": ["HardSigmoid", "Elu"], "activation_alpha": [0.3, 0.7], "activation_beta": [0.4]},
             x_scale=2, with_h0=True, seed=20)
    rnn_case(out_dir, "lstm_custom_activations_bidirectional", "LSTM",
             attrs={**bi, "activations": ["HardSigmoid", "Softsign", "Softplus", "Sigmoid", "Affine", "ScaledTanh"],
                    "activation_alpha": [0.25, 0.8, 1.1], "activation_beta": [0.45, 0.1, 0.7]},
             lens=[5, 3, 4, 1], with_h0=True, with_c0=True, seed=21)
    rnn_case(out_dir, "lstm_thresholdedrelu_leakyrelu", "LSTM",
             attrs={"activations": ["Sigmoid", "ThresholdedRelu", "LeakyRelu"], "activation_alpha": [0.1, 0.3]},
             x_scale=2, seed=22)
    rnn_case(out_dir, "gru_default_alphas_hardsigmoid_leakyrelu", "GRU",
             attrs={"activations": ["HardSigmoid", "LeakyRelu"]}, x_scale=2, seed=23,
             note="no alpha/beta: HardSigmoid 0.2/0.5 and LeakyRelu 0.01 (spec defaults, onnxruntime agrees)")
    rnn_case(out_dir, "lstm_default_alpha_elu", "LSTM", attrs={"activations": ["Sigmoid", "Elu", "Tanh"]},
             x_scale=2, seed=24, note="no alpha: Elu 1.0 (spec default, onnxruntime agrees)")
    rnn_case(out_dir, "rnn_spec_defaults_affine_thresholdedrelu", "RNN",
             attrs={**bi, "activations": ["Affine", "ThresholdedRelu"]}, x_scale=2, seed=25, ort_ok=False,
             note="no alpha/beta: Affine 1/0 and ThresholdedRelu 1 are the ONNX defaults; onnxruntime uses 0 instead, "
                  "so only the spec implementation applies")
    rnn_case(out_dir, "lstm_spec_default_scaledtanh", "LSTM",
             attrs={"activations": ["Sigmoid", "ScaledTanh", "Tanh"]}, seed=26, ort_ok=False,
             note="no alpha/beta: ScaledTanh 1/1 (ONNX default); onnxruntime uses 0/0, spec implementation only")
    # --- optional inputs/outputs left out, weights as graph inputs, opset 7 and 22 ---
    rnn_case(out_dir, "lstm_only_y_h_no_bias_with_p", "LSTM", outputs=("", "Y_h"), with_B=False, with_P=True,
             with_h0=True, seed=27, note="B omitted ('' input) but P given; Y and Y_c omitted")
    rnn_case(out_dir, "gru_only_y", "GRU", outputs=("Y",), attrs=rev, seed=28)
    rnn_case(out_dir, "lstm_weights_as_inputs_bidirectional", "LSTM", attrs=bi, weights_as_inputs=True,
             with_P=True, lens=[2, 5, 5, 3], with_h0=True, with_c0=True, seed=29)
    rnn_case(out_dir, "lstm_typed_field_initializers", "LSTM", attrs=bi, with_P=True, lens=[4, 5, 0, 2],
             with_h0=True, typed_fields=True, seed=33,
             note="W, R, B, P in float_data and sequence_lens in int32_data instead of raw_data")
    rnn_case(out_dir, "rnn_opset7", "RNN", attrs=bi, with_h0=True, opset=7, seed=30)
    rnn_case(out_dir, "lstm_opset22_layout1", "LSTM", attrs={"layout": 1}, with_h0=True, with_c0=True, opset=22,
             lens=[4, 5, 1, 2], seed=31)

    # --- glue operators at old opsets (the suite has their newest forms) ---
    rng = np.random.default_rng(100)
    x = rng.uniform(-2, 2, (3, 4, 5)).astype(np.float32)
    glue_case(out_dir, "glue_opset9_slice_unsqueeze_squeeze_softmax", [
        helper.make_node("Slice", ["x"], ["s"], starts=[0, 1], ends=[2, 1000], axes=[0, 2]),
        helper.make_node("Unsqueeze", ["s"], ["u"], axes=[0, 3]),
        helper.make_node("Squeeze", ["u"], ["q"], axes=[0]),
        helper.make_node("Softmax", ["q"], ["y"], axis=1),
        helper.make_node("Squeeze", ["q"], ["z"]),
    ], [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4, 1, 4]),
         helper.make_tensor_value_info("z", TensorProto.FLOAT, [2, 4, 4])], {"x": x}, opset=9,
        numpy_fn=lambda f: [softmax_2d(f["x"][0:2, :, 1:][:, :, None, :], 1), f["x"][0:2, :, 1:]])
    ids = rng.integers(0, 6, (2, 3)).astype(np.int64)
    emb = rng.uniform(-1, 1, (6, 4)).astype(np.float32)
    gw = rng.uniform(-1, 1, (3, 12)).astype(np.float32)
    gb = rng.uniform(-1, 1, (3,)).astype(np.float32)
    glue_case(out_dir, "glue_opset11_embedding_gemm_softmax", [
        helper.make_node("Gather", ["emb", "ids"], ["e"]),
        helper.make_node("Shape", ["e"], ["sh"]),
        helper.make_node("Gather", ["sh", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n"], ["n1"], axes=[0]),
        helper.make_node("Concat", ["n1", "minus1"], ["newshape"], axis=0),
        helper.make_node("Reshape", ["e", "newshape"], ["flat"]),
        helper.make_node("Gemm", ["flat", "w", "b"], ["logits"], alpha=0.5, beta=2.0, transB=1),
        helper.make_node("Softmax", ["logits"], ["y"]),
        helper.make_node("Cast", ["n"], ["nf"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["logits", "nf"], ["scaled"]),
    ], [helper.make_tensor_value_info("ids", TensorProto.INT64, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("scaled", TensorProto.FLOAT, [2, 3])], {"ids": ids}, opset=11,
        numpy_fn=lambda f: (lambda lg: [softmax_2d(lg, 1), lg / 2.0])(
            0.5 * emb[f["ids"]].reshape(2, -1).astype(np.float64) @ gw.T.astype(np.float64) + 2.0 * gb),
        inits=[numpy_helper.from_array(emb, "emb"), numpy_helper.from_array(np.array(0, np.int64), "zero"),
               helper.make_tensor("minus1", TensorProto.INT64, [1], [-1], raw=False),  # int64_data
               numpy_helper.from_array(gw, "w"), numpy_helper.from_array(gb, "b")])

    op_cases(out_dir)
    invalid_models(os.path.join(os.path.dirname(out_dir), "invalid"))
    with open(os.path.join(out_dir, "MANIFEST.txt"), "w") as fh:
        fh.write("# Generated by tools/onnx_cases.py: case -> where its expected outputs come from\n")
        fh.write("\n".join(MANIFEST) + "\n")
    print(f"{len(MANIFEST)} cases written to {out_dir}")


def op_cases(out_dir):
    """The operators exporters emit around RNNs (issue 11) in the forms the ONNX suite lacks: the
    ones whose suite cases are all below opset 7, the attribute forms of old opsets, the input forms
    of opsets 18/19, and the integer / bool / broadcasting variants (names start with ops_)."""
    rng = np.random.default_rng(300)
    F, I32, I64, B = TensorProto.FLOAT, TensorProto.INT32, TensorProto.INT64, TensorProto.BOOL
    vi = helper.make_tensor_value_info

    def one(name, op, feeds, types, out_type, opset, fn, n_out=1, inits=(), reference=False, **attrs):
        """One node over graph inputs `feeds` (name -> array; types in the same order)."""
        names = list(feeds)
        outs = [f"y{k}" for k in range(n_out)]
        node = helper.make_node(op, names + [i.name for i in inits], outs, name=name, **attrs)
        ot = out_type if isinstance(out_type, (list, tuple)) else [out_type] * n_out
        shapes = [list(np.shape(e)) for e in fn(feeds)]
        glue_case(out_dir, name, [node], [vi(k, t, list(feeds[k].shape)) for k, t in zip(names, types)],
                  [vi(o, t, sh) for o, t, sh in zip(outs, ot, shapes)], feeds, opset, fn, inits=inits,
                  reference=reference)

    x = rng.uniform(-4, 4, (3, 4, 5)).astype(np.float32)
    x.flat[[3, 17, 40]] = [np.nan, 80.0, -80.0]  # NaN propagates; the stable forms do not overflow
    f = {"x": x}
    # activations and Not: every suite case of theirs is below opset 7
    one("ops_elu_opset13", "Elu", f, [F], F, 13, lambda d: [np.where(d["x"] < 0, 0.7 * np.expm1(d["x"]), d["x"])],
        alpha=0.7)
    one("ops_hardsigmoid_opset13", "HardSigmoid", f, [F], F, 13,
        lambda d: [np.clip(0.3 * d["x"] + 0.4, 0, 1)], alpha=0.3, beta=0.4)
    def softplus(d):
        with np.errstate(invalid="ignore"):  # the NaN element
            return [np.logaddexp(0, d["x"].astype(np.float64))]
    one("ops_softplus_opset13", "Softplus", f, [F], F, 13, softplus)
    one("ops_softsign_opset13", "Softsign", f, [F], F, 13, lambda d: [d["x"] / (1 + np.abs(d["x"]))])
    one("ops_leakyrelu_default_opset16", "LeakyRelu", f, [F], F, 16, lambda d: [np.where(d["x"] < 0, 0.01 * d["x"], d["x"])])
    one("ops_selu_opset13", "Selu", f, [F], F, 13,
        lambda d: [1.1 * np.where(d["x"] > 0, d["x"], 1.6 * np.expm1(d["x"]))], alpha=1.6, gamma=1.1)
    one("ops_selu_default_opset13", "Selu", f, [F], F, 13,
        lambda d: [1.0507009873554805 * np.where(d["x"] > 0, d["x"], 1.6732632423543772 * np.expm1(d["x"]))])
    bm = rng.integers(0, 2, (2, 3, 4)).astype(bool)
    one("ops_not_opset13", "Not", {"b": bm}, [B], B, 13, lambda d: [np.logical_not(d["b"])])
    # comparisons: float with broadcasting and NaN, integers, bools (Equal)
    a = rng.integers(-3, 3, (3, 1, 5)).astype(np.float32)
    a.flat[2] = np.nan
    c = rng.integers(-3, 3, (4, 1)).astype(np.float32)
    for op, fn in (("Less", np.less), ("Greater", np.greater), ("LessOrEqual", np.less_equal),
                   ("GreaterOrEqual", np.greater_equal), ("Equal", np.equal)):
        one(f"ops_{op.lower()}_float_bcast_nan", op, {"a": a, "c": c}, [F, F], B, 13,
            lambda d, fn=fn: [fn(d["a"], d["c"])])
    ia = rng.integers(-3, 3, (2, 3, 4)).astype(np.int64)
    ic = rng.integers(-3, 3, (3, 1)).astype(np.int64)
    one("ops_greaterorequal_int64_bcast", "GreaterOrEqual", {"a": ia, "c": ic}, [I64, I64], B, 16,
        lambda d: [d["a"] >= d["c"]])
    one("ops_less_int32", "Less", {"a": ia.astype(np.int32), "c": ic.astype(np.int32)}, [I32, I32], B, 13,
        lambda d: [d["a"] < d["c"]])
    one("ops_equal_bool_bcast", "Equal", {"a": bm, "c": bm[0, 0]}, [B, B], B, 13, lambda d: [d["a"] == d["c"]])
    # Where: float on the device with a 3-way broadcast, int64 and bool on the host
    cond = rng.integers(0, 2, (3, 1, 5)).astype(bool)
    wx = rng.uniform(-1, 1, (4, 1)).astype(np.float32)
    wy = rng.uniform(-1, 1, (1, 5)).astype(np.float32)
    one("ops_where_float_bcast3", "Where", {"c": cond, "x": wx, "y": wy}, [B, F, F], F, 16,
        lambda d: [np.where(d["c"], d["x"], d["y"])])
    one("ops_where_int64", "Where", {"c": cond, "x": ia[:1, :1, :1].reshape(1, 1), "y": ic[:1, :1]}, [B, I64, I64], I64, 9,
        lambda d: [np.where(d["c"], d["x"], d["y"])])
    one("ops_where_bool", "Where", {"c": cond, "x": bm[0, :1, :1], "y": np.logical_not(bm[0, :1, :1])}, [B, B, B], B, 16,
        lambda d: [np.where(d["c"], d["x"], d["y"])], reference=True)
    # variadic: three inputs broadcast, float (device) and int32 (host)
    v1 = rng.uniform(-2, 2, (2, 1, 4)).astype(np.float32)
    v2 = rng.uniform(-2, 2, (3, 1)).astype(np.float32)
    v3 = rng.uniform(-2, 2, (4,)).astype(np.float32)
    vf = {"p": v1, "q": v2, "r": v3}
    one("ops_max_float_3_bcast", "Max", vf, [F, F, F], F, 13, lambda d: [np.maximum(np.maximum(d["p"], d["q"]), d["r"])])
    one("ops_min_float_3_bcast", "Min", vf, [F, F, F], F, 13, lambda d: [np.minimum(np.minimum(d["p"], d["q"]), d["r"])])
    one("ops_sum_float_3_bcast", "Sum", vf, [F, F, F], F, 13, lambda d: [d["p"] + d["q"] + d["r"]])
    one("ops_mean_float_3_bcast", "Mean", vf, [F, F, F], F, 13, lambda d: [(d["p"] + d["q"] + d["r"]) / 3])
    vi32 = {k: (v * 10).astype(np.int32) for k, v in vf.items()}
    one("ops_max_int32_3_bcast", "Max", vi32, [I32] * 3, I32, 13, lambda d: [np.maximum(np.maximum(d["p"], d["q"]), d["r"])])
    one("ops_min_int64_2", "Min", {"p": ia, "q": ic}, [I64, I64], I64, 12, lambda d: [np.minimum(d["p"], d["q"])])
    # unary on integers, Clip in every form
    one("ops_neg_int32", "Neg", {"a": ia.astype(np.int32)}, [I32], I32, 13, lambda d: [-d["a"]])
    one("ops_abs_int64", "Abs", {"a": ia}, [I64], I64, 13, lambda d: [np.abs(d["a"])])
    xc = rng.uniform(-3, 3, (3, 4)).astype(np.float32)
    one("ops_clip_attributes_opset9", "Clip", {"x": xc}, [F], F, 9, lambda d: [np.clip(d["x"], -0.5, 1.25)], min=-0.5, max=1.25)
    one("ops_clip_attribute_min_only_opset7", "Clip", {"x": xc}, [F], F, 7, lambda d: [np.maximum(d["x"], 0.25)], min=0.25)
    one("ops_clip_int32_inputs_opset13", "Clip", {"x": ia.astype(np.int32)}, [I32], I32, 13,
        lambda d: [np.clip(d["x"], -1, 2)],
        inits=[numpy_helper.from_array(np.array(-1, np.int32), "lo"), numpy_helper.from_array(np.array(2, np.int32), "hi")])
    glue_case(out_dir, "ops_clip_max_only_opset11", [helper.make_node("Clip", ["x", "", "hi"], ["y0"])],
              [vi("x", F, [3, 4])], [vi("y0", F, [3, 4])], {"x": xc}, 11, lambda d: [np.minimum(d["x"], 0.5)],
              inits=[numpy_helper.from_array(np.array(0.5, np.float32), "hi")])
    # Pow: float ^ int64 exponent (host), int64 ^ int64
    one("ops_pow_int64", "Pow", {"a": ia, "e": np.abs(ic)}, [I64, I64], I64, 15, lambda d: [np.power(d["a"], d["e"])])
    # reductions: attribute axes (opset 11), input axes (opset 18), noop, integers, LogSum at 13
    xr = rng.uniform(0.5, 2, (2, 3, 4)).astype(np.float32)
    r = {"x": xr}
    one("ops_reduce_sum_attr_opset11", "ReduceSum", r, [F], F, 11, lambda d: [d["x"].sum(axis=(0, 2))], axes=[0, 2],
        keepdims=0)
    ax = lambda v: [numpy_helper.from_array(np.array(v, np.int64), "axes")]
    one("ops_reduce_max_axes_input_opset18", "ReduceMax", r, [F], F, 18, lambda d: [d["x"].max(axis=1)],
        inits=ax([-2]), keepdims=0)
    one("ops_reduce_min_axes_input_opset18", "ReduceMin", r, [F], F, 18, lambda d: [d["x"].min(axis=(0, 2), keepdims=True)],
        inits=ax([0, 2]))
    one("ops_reduce_mean_noop_opset18", "ReduceMean", r, [F], F, 18, lambda d: [d["x"]], noop_with_empty_axes=1)
    one("ops_reduce_mean_all_opset18", "ReduceMean", r, [F], F, 18, lambda d: [d["x"].mean(keepdims=True)])
    one("ops_reduce_log_sum_opset13", "ReduceLogSum", r, [F], F, 13, lambda d: [np.log(d["x"].sum(axis=1, keepdims=True))],
        axes=[1])
    one("ops_reduce_sum_int64_opset13", "ReduceSum", {"x": ia}, [I64], I64, 13, lambda d: [d["x"].sum(axis=2)],
        inits=ax([2]), keepdims=0)
    one("ops_reduce_max_int32_opset13", "ReduceMax", {"x": ia.astype(np.int32)}, [I32], I32, 13,
        lambda d: [d["x"].max(axis=0, keepdims=True)], axes=[0])
    # Split: attribute sizes (opset 11), num_outputs with a short last part (opset 18), int64 data
    xs = rng.uniform(-1, 1, (7, 3)).astype(np.float32)
    one("ops_split_attr_opset11", "Split", {"x": xs}, [F], F, 11, lambda d: [d["x"][:2], d["x"][2:]], n_out=2, split=[2, 5])
    one("ops_split_num_outputs_opset18", "Split", {"x": xs}, [F], F, 18,
        lambda d: [d["x"][:3], d["x"][3:6], d["x"][6:]], n_out=3, num_outputs=3, axis=0)
    one("ops_split_int64_axis1_opset13", "Split", {"x": ia}, [I64], I64, 13,
        lambda d: [d["x"][:, :1], d["x"][:, 1:]], n_out=2, axis=1, inits=[numpy_helper.from_array(np.array([1, 2], np.int64), "split")])
    one("ops_flatten_int64_axis0", "Flatten", {"x": ia}, [I64], I64, 13, lambda d: [d["x"].reshape(1, -1)], axis=0)
    # Pad: attribute form (opset 10, reflect), axes + constant_value inputs (opset 18), wrap (19), int64 edge
    xp = rng.uniform(-1, 1, (3, 4)).astype(np.float32)
    one("ops_pad_reflect_attr_opset10", "Pad", {"x": xp}, [F], F, 10,
        lambda d: [np.pad(d["x"], ((2, 1), (1, 3)), mode="reflect")], mode="reflect", pads=[2, 1, 1, 3])
    one("ops_pad_constant_attr_crop_opset9", "Pad", {"x": xp}, [F], F, 9,
        lambda d: [np.pad(d["x"], ((1, 0), (0, 2)), constant_values=1.5)[:, 1:]], pads=[1, -1, 0, 2], value=1.5)
    one("ops_pad_axes_input_opset18", "Pad", {"x": xp}, [F], F, 18,
        lambda d: [np.pad(d["x"], ((0, 0), (2, 1)), constant_values=-2.0)],
        inits=[numpy_helper.from_array(np.array([2, 1], np.int64), "pads"),
               numpy_helper.from_array(np.array(-2.0, np.float32), "cv"),
               numpy_helper.from_array(np.array([-1], np.int64), "axes")])
    one("ops_pad_wrap_opset19", "Pad", {"x": xp}, [F], F, 19, lambda d: [np.pad(d["x"], ((1, 2), (3, 1)), mode="wrap")],
        mode="wrap", inits=[numpy_helper.from_array(np.array([1, 3, 2, 1], np.int64), "pads")])
    one("ops_pad_edge_int64_opset13", "Pad", {"x": ia[0]}, [I64], I64, 13,
        lambda d: [np.pad(d["x"], ((1, 1), (2, 0)), mode="edge")], mode="edge",
        inits=[numpy_helper.from_array(np.array([1, 2, 1, 0], np.int64), "pads")])
    # Tile on bool and float, ReverseSequence batch-major on int64, GatherElements on int64, Range int64
    one("ops_tile_bool", "Tile", {"b": bm}, [B], B, 13, lambda d: [np.tile(d["b"], (2, 1, 3))],
        inits=[numpy_helper.from_array(np.array([2, 1, 3], np.int64), "rep")])
    one("ops_tile_float_rank1", "Tile", {"x": v3}, [F], F, 13, lambda d: [np.tile(d["x"], 3)],
        inits=[numpy_helper.from_array(np.array([3], np.int64), "rep")])
    xq = rng.integers(-9, 9, (3, 5, 2)).astype(np.int64)
    lens = np.array([5, 0, 3], np.int64)
    def revseq(d):
        o = d["x"].copy()
        for b, l in enumerate(lens):
            o[b, :l] = d["x"][b, :l][::-1]
        return [o]
    one("ops_reversesequence_batch_major_int64", "ReverseSequence", {"x": xq}, [I64], I64, 10, revseq, batch_axis=0,
        time_axis=1, inits=[numpy_helper.from_array(lens, "lens")])
    gi = rng.integers(-5, 5, (3, 2, 2)).astype(np.int64)
    one("ops_gather_elements_int64_axis1", "GatherElements", {"x": xq}, [I64], I64, 13,
        lambda d: [np.take_along_axis(d["x"], np.where(gi < 0, gi + 5, gi), axis=1)], axis=1,
        inits=[numpy_helper.from_array(gi, "idx")])
    one("ops_range_int64", "Range", {"s": np.array(10, np.int64), "l": np.array(-7, np.int64), "d": np.array(-3, np.int64)},
        [I64] * 3, I64, 11, lambda d: [np.arange(10, -7, -3, dtype=np.int64)])
    # TopK: attribute k (opset 9), smallest with ties on int64 (opset 11); ArgMin / ArgMax variants
    xt = rng.uniform(-1, 1, (3, 6)).astype(np.float32)
    one("ops_topk_attr_k_opset9", "TopK", {"x": xt}, [F], [F, I64], 9,
        lambda d: [np.sort(d["x"], axis=1)[:, ::-1][:, :2], np.argsort(-d["x"], axis=1, kind="stable")[:, :2]], n_out=2, k=2)
    ti = rng.integers(0, 3, (2, 7)).astype(np.int64)
    one("ops_topk_smallest_ties_int64", "TopK", {"x": ti}, [I64], [I64, I64], 11,
        lambda d: [np.sort(d["x"], axis=1, kind="stable")[:, :4], np.argsort(d["x"], axis=1, kind="stable")[:, :4]],
        n_out=2, largest=0, inits=[numpy_helper.from_array(np.array([4], np.int64), "k")])
    one("ops_argmin_last_index_int32", "ArgMin", {"x": ti.astype(np.int32)}, [I32], I64, 13,
        lambda d: [d["x"].shape[1] - 1 - np.argmin(d["x"][:, ::-1], axis=1)], axis=1, keepdims=0, select_last_index=1)
    one("ops_argmax_float_axis0", "ArgMax", {"x": xt}, [F], I64, 11, lambda d: [np.argmax(d["x"], axis=0)[None]], axis=0)
    # ScatterND max (opset 18) and on int64 indices into float data
    data = rng.uniform(-1, 1, (4, 3)).astype(np.float32)
    upd = rng.uniform(-1, 1, (2, 3)).astype(np.float32)
    sidx = np.array([[2], [0]], np.int64)
    def scat_max(d):
        o = d["x"].copy()
        for j, (i,) in enumerate(sidx):
            o[i] = np.maximum(o[i], upd[j])
        return [o]
    # a Keras-style mask chain across the device (float) and the host (bool): Abs -> Greater -> Not ->
    # Cast -> Mul -> ReduceSum, and Where over a device-computed Neg
    xm = rng.uniform(-1, 1, (3, 5, 2)).astype(np.float32)
    glue_case(out_dir, "ops_mask_chain_device_host", [
        helper.make_node("Abs", ["x"], ["ax"]),
        helper.make_node("Greater", ["ax", "half"], ["keep"]),
        helper.make_node("Not", ["keep"], ["drop"]),
        helper.make_node("Cast", ["keep"], ["keepf"], to=F),
        helper.make_node("Mul", ["x", "keepf"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["y0"], keepdims=0),
        helper.make_node("Neg", ["x"], ["nx"]),
        helper.make_node("Where", ["drop", "nx", "x"], ["y1"]),
    ], [vi("x", F, [3, 5, 2])], [vi("y0", F, [3, 2]), vi("y1", F, [3, 5, 2])], {"x": xm}, 13,
        lambda d: [(d["x"] * (np.abs(d["x"]) > 0.5)).sum(axis=1), np.where(np.abs(d["x"]) > 0.5, d["x"], -d["x"])],
        inits=[numpy_helper.from_array(np.array(0.5, np.float32), "half"),
               numpy_helper.from_array(np.array([1], np.int64), "axis1")])
    # ScatterElements: PyTorch's pad_packed_sequence(enforce_sorted=False); add (opset 16) and min (18)
    se_idx = np.array([[1, 0, 3], [2, 2, -1]], np.int64)
    se_upd = rng.uniform(-1, 1, (2, 3)).astype(np.float32)
    def scat_el(d, op, upd=se_upd):
        o = d["x"].copy()
        for i in range(2):
            for j in range(3):
                k = se_idx[i, j] % 4
                o[k, j] = op(o[k, j], upd[i, j])
        return [o]
    one("ops_scatter_elements_add_opset16", "ScatterElements", {"x": data}, [F], F, 16,
        lambda d: scat_el(d, lambda a, b: a + b), reduction="add", axis=0,
        inits=[numpy_helper.from_array(se_idx, "idx"), numpy_helper.from_array(se_upd, "upd")])
    one("ops_scatter_elements_min_int64_int32_indices_opset18", "ScatterElements", {"x": (data * 10).astype(np.int64)}, [I64], I64, 18,
        lambda d: scat_el(d, min, (se_upd * 10).astype(np.int64)), reduction="min", axis=0,
        inits=[numpy_helper.from_array(se_idx.astype(np.int32), "idx"), numpy_helper.from_array((se_upd * 10).astype(np.int64), "upd")])
    one("ops_scatternd_max_opset18", "ScatterND", {"x": data}, [F], F, 18, scat_max, reduction="max",
        inits=[numpy_helper.from_array(sidx, "idx"), numpy_helper.from_array(upd, "upd")])


def invalid_models(out_dir):
    """Models clrnn must refuse (at load) or fail on (at run) with a message naming the node, for the
    error tests of tests/onnx/test_onnx_api.c and tests/onnx/test_onnx_cli.c."""
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(200)
    I, H = 3, 4
    W = numpy_helper.from_array(rng.uniform(-1, 1, (1, 4 * H, I)).astype(np.float32), "W")
    R = numpy_helper.from_array(rng.uniform(-1, 1, (1, 4 * H, H)).astype(np.float32), "R")
    x_any = helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "N", "I"])
    lens = helper.make_tensor_value_info("lens", TensorProto.INT32, ["N"])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)

    def write(name, nodes, inputs, inits, outputs=(y,), opset=14):
        g = helper.make_graph(nodes, name, list(inputs), list(outputs), initializer=list(inits))
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="clrnn onnx_cases.py")
        m.ir_version = IR_VERSION
        onnx.save(m, os.path.join(out_dir, name + ".onnx"))

    lstm = lambda **kw: helper.make_node("LSTM", ["X", "W", "R", "", "lens"], ["Y"], name="lstm_node", hidden_size=H, **kw)
    # refused at load
    write("unsupported_op", [helper.make_node("Det", ["X"], ["Y"], name="det_node")], [x_any], [])
    write("unsupported_attribute", [lstm(output_sequence=1)], [x_any, lens], [W, R])
    write("unknown_activation", [lstm(activations=["Sigmoid", "Tanh", "Swish"])], [x_any, lens], [W, R])
    write("leftover_alpha", [lstm(activations=["Sigmoid", "LeakyRelu", "Tanh"], activation_alpha=[0.0, 0.1, 0.0])],
          [x_any, lens], [W, R])
    write("bad_weight_shape", [lstm()], [x_any, lens],
          [W, numpy_helper.from_array(rng.uniform(-1, 1, (1, 4 * H, H + 1)).astype(np.float32), "R")])
    ext = onnx.TensorProto()
    ext.CopyFrom(W)
    ext.ClearField("raw_data")
    ext.data_location = onnx.TensorProto.EXTERNAL
    entry = ext.external_data.add()
    entry.key, entry.value = "location", "weights.bin"
    write("external_data", [lstm()], [x_any, lens], [ext, R])
    write("opset_too_old", [helper.make_node("Relu", ["X"], ["Y"], name="relu_node")], [x_any], [], opset=6)
    # corrupt files the fuzzer turned up: an initializer whose shape claims far more data than the file
    # holds (must fail before allocating), and a required input given as "" (optional-input syntax)
    huge = onnx.TensorProto()
    huge.CopyFrom(W)
    huge.ClearField("raw_data")
    huge.ClearField("dims")
    huge.dims.extend([1, 1 << 38, I])
    write("huge_dims_no_data", [lstm()], [x_any, lens], [huge, R])
    write("empty_required_input", [helper.make_node("Relu", [""], ["Y"], name="relu_node")], [x_any], [])
    # graph-structure and typing errors
    write("no_outputs", [helper.make_node("Relu", ["X"], ["Y"], name="relu_node")], [x_any], [], outputs=())
    write("cyclic_nodes", [helper.make_node("Relu", ["B"], ["A"], name="relu_a"),
                           helper.make_node("Relu", ["A"], ["B"], name="relu_b"),
                           helper.make_node("Identity", ["B"], ["Y"], name="out")], [x_any], [])
    write("missing_initializer", [lstm()], [x_any, lens], [W])
    neg = onnx.TensorProto()
    neg.CopyFrom(R)
    neg.ClearField("dims")
    neg.dims.extend([1, -16, H])
    write("negative_dims", [lstm()], [x_any, lens], [W, neg])
    write("wrong_input_type", [lstm()], [helper.make_tensor_value_info("X", TensorProto.INT64, ["T", "N", "I"]), lens],
          [W, R])
    # valid: fails at run time for bad data (X with 5 features, sequence_lens out of range)
    write("lstm_symbolic_shapes", [lstm()], [x_any, lens], [W, R])


if __name__ == "__main__":
    main()
