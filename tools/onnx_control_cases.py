#!/usr/bin/env python3
"""Generates clrnn's ONNX control-flow cases (tests/onnx/control/): Loop, Scan and If with the
shapes of subgraph use the ONNX backend suite does not cover (outer-scope references, carried
values that change shape or trade places, cond-only / M-only / M = 0 loops, both Scan directions
and non-zero / negative axes, a Loop in a Loop, a Loop in a Scan, an If in a Loop, constant-
foldable body nodes), plus hostile models (tests/onnx/control/bad/*.onnx) that
tests/onnx/test_onnx_control.c expects to be refused.

Each case is in the layout of the ONNX backend node tests (model.onnx, test_data_set_<k>/
input_<i>.pb, output_<i>.pb). Expected outputs come from onnxruntime; the ONNX reference
implementation (onnx.reference) must agree within 1e-5 on every case, and the cases with a plain
numpy model (`ref=`) must agree with it too, or the script stops.

Run with a Python that has numpy, onnx (>= 1.13) and onnxruntime, e.g. the keras2 virtualenv:
  /work/venvs/keras2/bin/python tools/onnx_control_cases.py [OUT_DIR]   (default: tests/onnx/control)
"""
import os
import shutil
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto as TP, helper as h, numpy_helper
from onnx.reference import ReferenceEvaluator

TOL = 1e-5
IR_VERSION = 8
F, I64, B = TP.FLOAT, TP.INT64, TP.BOOL
MANIFEST = []


def vi(name, t, shape=None):
    return h.make_tensor_value_info(name, t, shape)


def const(name, arr):
    return h.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(arr), name + "_v"))


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def model(nodes, inputs, outputs, inits=(), opset=13, name="g"):
    g = h.make_graph(nodes, name, inputs, outputs, list(inits))
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)], producer_name="onnx_control_cases.py")
    m.ir_version = IR_VERSION
    return m


def run_ort(m, feeds):
    s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, feeds)


def run_ref(m, feeds):
    return ReferenceEvaluator(m).run(None, feeds)


def close(a, b, what):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise SystemExit(f"{what}: shapes {a.shape} vs {b.shape}")
    if a.size and np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))) > TOL:
        raise SystemExit(f"{what}: oracles disagree")


def save(out, name, m, data_sets, ref=None, reference=True, ort_ok=True):
    """reference=False: onnx.reference 1.17 cannot run this case (its Loop stacks scan outputs with
    np.vstack: per-step rank >= 2 and some carried layouts fail; its Scan runs forward axis-0 scans
    only), numpy checks it instead."""
    onnx.checker.check_model(m, full_check=True)
    d = os.path.join(out, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    onnx.save(m, os.path.join(d, "model.onnx"))
    oracles = ("onnxruntime" if ort_ok else "numpy (onnxruntime 1.32 differs, see the case)") + \
        (" = onnx.reference" if reference else "") + (" = numpy" if ref and ort_ok else "")
    for k, feeds in enumerate(data_sets):
        feeds = {n: np.asarray(v) for n, v in feeds.items()}
        exp = run_ort(m, feeds) if ort_ok else [np.asarray(x) for x in ref(**feeds)]
        for i, (a, b) in enumerate(zip(exp, run_ref(m, feeds) if reference else [])):
            close(a, b, f"{name} set {k} output {i} (reference)")
        if ref:
            for i, (a, b) in enumerate(zip(exp, ref(**feeds))):
                close(a, b, f"{name} set {k} output {i} (numpy)")
        ds = os.path.join(d, f"test_data_set_{k}")
        os.makedirs(ds)
        for i, x in enumerate(m.graph.input):
            with open(os.path.join(ds, f"input_{i}.pb"), "wb") as fh:
                fh.write(numpy_helper.from_array(feeds[x.name], x.name).SerializeToString())
        for i, (o, x) in enumerate(zip(m.graph.output, exp)):
            with open(os.path.join(ds, f"output_{i}.pb"), "wb") as fh:
                fh.write(numpy_helper.from_array(np.array(x, order="C"), o.name).SerializeToString())
    MANIFEST.append(f"{name}: {len(data_sets)} data set(s), expected from {oracles}")


def save_bad(out, name, m, why):
    d = os.path.join(out, "bad")
    os.makedirs(d, exist_ok=True)
    onnx.save(m, os.path.join(d, name + ".onnx"))
    MANIFEST.append(f"bad/{name}.onnx: {why}")


rng = np.random.default_rng(11)


def rand(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# ---------------------------------------------------------------------------------------------
def loop_rnn_outer_scope(out):
    """M from Shape(X) (data-driven), no cond; the body Gathers the outer X at the iteration number
    and reads the outer weights; Transpose(W) and Add(b1, b2) in the body fold at load."""
    T, N, C, H = 5, 2, 3, 4
    W, R, b1, b2 = rand(H, C, scale=0.5), rand(H, H, scale=0.5), rand(H), rand(H)
    body = h.make_graph([
        h.make_node("Gather", ["X", "i"], ["x_t"], axis=0),
        h.make_node("Transpose", ["W"], ["Wt"], perm=[1, 0]),
        h.make_node("Add", ["b1", "b2"], ["bias"]),
        h.make_node("MatMul", ["x_t", "Wt"], ["xw"]),
        h.make_node("MatMul", ["h", "R"], ["hr"]),
        h.make_node("Add", ["xw", "hr"], ["s0"]),
        h.make_node("Add", ["s0", "bias"], ["s1"]),
        h.make_node("Tanh", ["s1"], ["h2"]),
        h.make_node("Identity", ["c"], ["c2"]),
    ], "body", [vi("i", I64, []), vi("c", B, []), vi("h", F, [N, H])],
        [vi("c2", B, []), vi("h2", F, [N, H]), vi("h2", F, [N, H])], [init("b1", b1), init("b2", b2)])
    m = model([
        h.make_node("Shape", ["X"], ["shp"]),
        const("zero", np.array([0], np.int64)),
        h.make_node("Gather", ["shp", "zero"], ["T1"], axis=0),
        h.make_node("Squeeze", ["T1", "zero"], ["T"]),
        h.make_node("Loop", ["T", "", "h0"], ["hT", "Hs"], body=body),
    ], [vi("X", F, ["T", N, C]), vi("h0", F, [N, H])], [vi("hT", F, [N, H]), vi("Hs", F, ["T", N, H])],
        [init("W", W), init("R", R)])

    def ref(X, h0):
        hs, hh = [], h0
        for t in range(X.shape[0]):
            hh = np.tanh(X[t] @ W.T + hh @ R + b1 + b2)
            hs.append(hh)
        return [hh, np.stack(hs)]
    save(out, "loop_rnn_outer_scope", m, [{"X": rand(T, N, C), "h0": rand(N, H)},
                                           {"X": rand(2, N, C), "h0": rand(N, H)}], ref, reference=False)


def loop_cond_only(out, opset=11, name="loop_cond_only"):
    """No trip count: runs while ReduceSum(x) < 50 (read back each iteration); more than 16
    iterations, so the stacked scan output grows. Also at opset 9 (Loop-1)."""
    body = h.make_graph([
        const("k15", np.float32(1.5)), const("k01", np.float32(1e-6)), const("lim", np.float32(50.0)),
        const("one", np.int64(1)),
        h.make_node("Mul", ["x", "k15"], ["x1"]),
        h.make_node("Add", ["x1", "k01"], ["x2"]),
        h.make_node("Add", ["k", "one"], ["k2"]),
        h.make_node("ReduceSum", ["x2"], ["s"], keepdims=0),
        h.make_node("Less", ["s", "lim"], ["c2"]),
    ], "body", [vi("i", I64, []), vi("c", B, []), vi("x", F, [3]), vi("k", I64, [])],
        [vi("c2", B, []), vi("x2", F, [3]), vi("k2", I64, []), vi("x2", F, [3])])
    m = model([const("t", np.array(True)), const("k0", np.int64(0)),
               h.make_node("Loop", ["", "t", "x0", "k0"], ["xT", "kT", "xs"], body=body)],
              [vi("x0", F, [3])], [vi("xT", F, [3]), vi("kT", I64, []), vi("xs", F, [None, 3])], opset=opset)
    save(out, name, m, [{"x0": np.array([1e-4, 2e-4, -1e-4], np.float32)},
                                     {"x0": np.array([3.0, 4.0, 5.0], np.float32)}])


def loop_trip_and_cond(out):
    """Both M and cond: data set 0 stops on M, data set 1 on the condition."""
    body = h.make_graph([
        const("two", np.float32(2.0)), const("lim", np.float32(20.0)),
        h.make_node("Mul", ["x", "two"], ["x2"]),
        h.make_node("ReduceMax", ["x2"], ["mx"], keepdims=0),
        h.make_node("Less", ["mx", "lim"], ["c2"]),
        h.make_node("Cast", ["i"], ["fi"], to=F),
        h.make_node("Add", ["x2", "fi"], ["y"]),
    ], "body", [vi("i", I64, []), vi("c", B, []), vi("x", F, [2, 2])],
        [vi("c2", B, []), vi("x2", F, [2, 2]), vi("y", F, [2, 2])])
    m = model([h.make_node("Loop", ["M", "c0", "x0"], ["xT", "ys"], body=body)],
              [vi("M", I64, []), vi("c0", B, []), vi("x0", F, [2, 2])], [vi("xT", F, [2, 2]), vi("ys", F, [None, 2, 2])],
              opset=16)
    x0 = np.abs(rand(2, 2)) + 0.1

    def ref(M, c0, x0):
        x, ys, c, i = x0, [], bool(c0), 0
        while i < M and c:
            x = x * 2
            c = x.max() < 20
            ys.append(x + i)
            i += 1
        return [x, np.stack(ys) if ys else np.zeros((0, 2, 2), np.float32)]
    save(out, "loop_trip_and_cond", m, [{"M": np.int64(3), "c0": np.array(True), "x0": x0},
                                         {"M": np.int64(100), "c0": np.array(True), "x0": x0},
                                         {"M": np.int64(5), "c0": np.array(False), "x0": x0}], ref, reference=False)


def loop_shape_change(out):
    """The carried value doubles its rows each iteration (Concat); the scan output keeps [C];
    data set 0 has M = 0: carried = initial, scan output [0, C] from the body's declared shape."""
    C = 3
    body = h.make_graph([
        h.make_node("Tanh", ["acc"], ["t"]),
        h.make_node("Concat", ["acc", "t"], ["acc2"], axis=0),
        h.make_node("ReduceSum", ["acc2"], ["s"], axes=[0], keepdims=0),
        h.make_node("Identity", ["c"], ["c2"]),
    ], "body", [vi("i", I64, []), vi("c", B, []), vi("acc", F, [None, C])],
        [vi("c2", B, []), vi("acc2", F, [None, C]), vi("s", F, [C])])
    m = model([h.make_node("Loop", ["M", "", "a0"], ["aT", "ss"], body=body)],
              [vi("M", I64, []), vi("a0", F, [1, C])], [vi("aT", F, [None, C]), vi("ss", F, [None, C])], opset=11)
    a0 = rand(1, C)

    def ref(M, a0):
        acc, ss = a0, []
        for _ in range(int(M)):
            acc = np.concatenate([acc, np.tanh(acc)], 0)
            ss.append(acc.sum(0))
        return [acc, np.stack(ss) if ss else np.zeros((0, C), np.float32)]
    save(out, "loop_shape_change", m, [{"M": np.int64(0), "a0": a0}, {"M": np.int64(4), "a0": a0}], ref,
         reference=False)


def loop_swap_carried(out):
    """Carried values that trade places (a, b) <- (b, a), one computed from an outer input, one a
    body constant (folded from an outer initializer), and one body value listed as a carried
    output and a scan output."""
    body = h.make_graph([
        const("kc", np.array([1.0, -1.0], np.float32)),
        h.make_node("Add", ["d", "kc"], ["d2"]),
        h.make_node("Mul", ["d2", "a"], ["e"]),
        h.make_node("Identity", ["Y"], ["yo"]),
        h.make_node("Identity", ["Kout"], ["ko"]),
        h.make_node("Identity", ["c"], ["c2"]),
    ], "body", [vi("i", I64, []), vi("c", B, []), vi("a", F, [2]), vi("b", F, [2]), vi("d", F, [2]),
                vi("o", F, [2]), vi("k", F, [2])],
        [vi("c2", B, []), vi("b", F, [2]), vi("a", F, [2]), vi("d2", F, [2]), vi("yo", F, [2]), vi("ko", F, [2]),
         vi("d2", F, [2]), vi("e", F, [2])])
    m = model([h.make_node("Loop", ["M", "", "a0", "b0", "d0", "o0", "k0"], ["aT", "bT", "dT", "oT", "kT", "ds", "es"],
                           body=body)],
              [vi("M", I64, []), vi("a0", F, [2]), vi("b0", F, [2]), vi("d0", F, [2]), vi("o0", F, [2]),
               vi("k0", F, [2]), vi("Y", F, [2])],
              [vi("aT", F, [2]), vi("bT", F, [2]), vi("dT", F, [2]), vi("oT", F, [2]), vi("kT", F, [2]),
               vi("ds", F, [None, 2]), vi("es", F, [None, 2])], [init("Kout", np.array([0.25, 4.0], np.float32))])
    f = {k: rand(2) for k in ["a0", "b0", "d0", "o0", "k0", "Y"]}
    kc, kout = np.array([1.0, -1.0], np.float32), np.array([0.25, 4.0], np.float32)

    def ref(M, a0, b0, d0, o0, k0, Y):
        a, b, d, o, k, ds, es = a0, b0, d0, o0, k0, [], []
        for _ in range(int(M)):
            d2 = d + kc
            ds.append(d2), es.append(d2 * a)
            a, b, d, o, k = b, a, d2, Y, kout
        return [a, b, d, o, k, np.stack(ds), np.stack(es)]
    save(out, "loop_swap_carried", m, [dict(f, M=np.int64(3)), dict(f, M=np.int64(4)), dict(f, M=np.int64(1))], ref,
         reference=False)


def scan_axes_directions(out):
    """Scan-16: three scan inputs (axis 1 forward, axis 0 reverse, axis -1 forward), three scan
    outputs (axis 0 forward, axis -1, axis 1 reverse), one state."""
    T = 5
    body = h.make_graph([
        h.make_node("Mul", ["x1", "x2"], ["p"]),
        h.make_node("Add", ["s", "p"], ["q"]),
        h.make_node("Sub", ["q", "x3"], ["s2"]),
        const("two", np.float32(2.0)),
        h.make_node("Mul", ["x1", "two"], ["y2"]),
        h.make_node("Identity", ["s2"], ["y3"]),
        h.make_node("Identity", ["s2"], ["y1"]),
    ], "body", [vi("s", F, [2, 3]), vi("x1", F, [2, 3]), vi("x2", F, [2, 3]), vi("x3", F, [2, 3])],
        [vi("s2", F, [2, 3]), vi("y1", F, [2, 3]), vi("y2", F, [2, 3]), vi("y3", F, [2, 3])])
    m = model([h.make_node("Scan", ["s0", "X1", "X2", "X3"], ["sT", "Y1", "Y2", "Y3"], body=body, num_scan_inputs=3,
                           scan_input_axes=[1, 0, -1], scan_input_directions=[0, 1, 0],
                           scan_output_axes=[0, -1, 1], scan_output_directions=[0, 0, 1])],
              [vi("s0", F, [2, 3]), vi("X1", F, [2, T, 3]), vi("X2", F, [T, 2, 3]), vi("X3", F, [2, 3, T])],
              [vi("sT", F, [2, 3]), vi("Y1", F, [T, 2, 3]), vi("Y2", F, [2, 3, T]), vi("Y3", F, [2, T, 3])], opset=16)

    def ref(s0, X1, X2, X3):
        s, y1, y2, y3 = s0, [], [], []
        for t in range(T):
            s = s + X1[:, t] * X2[T - 1 - t] - X3[:, :, t]
            y1.append(s), y2.append(X1[:, t] * 2), y3.append(s)
        return [s, np.stack(y1, 0), np.stack(y2, -1), np.stack(y3[::-1], 1)]
    save(out, "scan_axes_directions", m, [{"s0": rand(2, 3), "X1": rand(2, T, 3), "X2": rand(T, 2, 3),
                                           "X3": rand(2, 3, T)}], ref, reference=False)


def scan_state_is_scan_output(out):
    """One body value is both the state and the scan output (onnxruntime 1.32 returns a wrong
    final state for this Scan; numpy is the oracle)."""
    body = h.make_graph([h.make_node("Add", ["s", "x"], ["s2"])], "body", [vi("s", F, [3]), vi("x", F, [3])],
                        [vi("s2", F, [3]), vi("s2", F, [3])])
    m = model([h.make_node("Scan", ["s0", "X"], ["sT", "Y"], body=body, num_scan_inputs=1, scan_input_directions=[1])],
              [vi("s0", F, [3]), vi("X", F, [5, 3])], [vi("sT", F, [3]), vi("Y", F, [5, 3])], opset=11)

    def ref(s0, X):
        ys = s0 + np.cumsum(X[::-1], 0)
        return [ys[-1], ys]
    save(out, "scan_state_is_scan_output", m, [{"s0": rand(3), "X": rand(5, 3)}], ref, reference=False, ort_ok=False)


def scan9_two_states(out):
    """Scan-9 with a float and an int64 state (the int one lives on the host), scan axis 1."""
    body = h.make_graph([
        h.make_node("Add", ["s", "x"], ["s2"]),
        const("one", np.int64(1)),
        h.make_node("Add", ["k", "one"], ["k2"]),
        h.make_node("Tanh", ["s2"], ["y"]),
    ], "body", [vi("s", F, [4]), vi("k", I64, []), vi("x", F, [4])],
        [vi("s2", F, [4]), vi("k2", I64, []), vi("y", F, [4])])
    m = model([const("k0", np.int64(7)),
               h.make_node("Scan", ["s0", "k0", "X"], ["sT", "kT", "Y"], body=body, num_scan_inputs=1,
                           scan_input_axes=[1])],
              [vi("s0", F, [4]), vi("X", F, [4, 6])], [vi("sT", F, [4]), vi("kT", I64, []), vi("Y", F, [6, 4])],
              opset=9)

    def ref(s0, X):
        s, ys = s0, []
        for t in range(X.shape[1]):
            s = s + X[:, t]
            ys.append(np.tanh(s))
        return [s, np.int64(7 + X.shape[1]), np.stack(ys)]
    save(out, "scan9_two_states", m, [{"s0": rand(4), "X": rand(4, 6)}], ref, reference=False)


def scan8_batched(out):
    """Scan-8 (batched): states [B, ...], scan inputs [B, T, ...] (one reversed), outputs
    [B, T, ...]; sequence_lens given, every row full length."""
    Bn, T = 3, 4
    body = h.make_graph([
        h.make_node("Mul", ["x1", "x2"], ["p"]),
        h.make_node("Add", ["s", "p"], ["s2"]),
        h.make_node("ReduceSum", ["s2"], ["r"], keepdims=1),
        h.make_node("Add", ["k", "r"], ["k2"]),
        h.make_node("Tanh", ["s2"], ["y"]),
    ], "body", [vi("s", F, [2]), vi("k", F, [1]), vi("x1", F, [2]), vi("x2", F, [2])],
        [vi("s2", F, [2]), vi("k2", F, [1]), vi("y", F, [2])])
    m = model([h.make_node("Scan", ["lens", "s0", "k0", "X1", "X2"], ["sT", "kT", "Y"], body=body, num_scan_inputs=2,
                           directions=[0, 1])],
              [vi("lens", I64, [Bn]), vi("s0", F, [Bn, 2]), vi("k0", F, [Bn, 1]), vi("X1", F, [Bn, T, 2]),
               vi("X2", F, [Bn, T, 2])], [vi("sT", F, [Bn, 2]), vi("kT", F, [Bn, 1]), vi("Y", F, [Bn, T, 2])], opset=8)

    def ref(lens, s0, k0, X1, X2):
        sT, kT, Y = [], [], []
        for b in range(Bn):
            s, k, ys = s0[b], k0[b], []
            for t in range(T):
                s = s + X1[b, t] * X2[b, T - 1 - t]
                k = k + s.sum(keepdims=True)
                ys.append(np.tanh(s))
            sT.append(s), kT.append(k), Y.append(np.stack(ys))
        return [np.stack(sT), np.stack(kT), np.stack(Y)]
    save(out, "scan8_batched", m, [{"lens": np.full(Bn, T, np.int64), "s0": rand(Bn, 2), "k0": rand(Bn, 1),
                                    "X1": rand(Bn, T, 2), "X2": rand(Bn, T, 2)}], ref, reference=False)
    save_bad(out, "scan8_short_sequence", m, "Scan-8 with sequence_lens shorter than T: UNSUPPORTED at run "
             "(inputs as scan8_batched, lens set by the test)")


def loop_in_loop(out):
    """A Loop in a Loop body: the inner body reads the outermost X and the outer iteration number."""
    A, Bn, C = 3, 4, 2
    inner = h.make_graph([
        h.make_node("Gather", ["X", "i"], ["xi"], axis=0),
        h.make_node("Gather", ["xi", "j"], ["xij"], axis=0),
        h.make_node("Cast", ["i"], ["fi"], to=F),
        h.make_node("Mul", ["xij", "fi"], ["w"]),
        h.make_node("Add", ["acc", "w"], ["acc2"]),
        h.make_node("Identity", ["cj"], ["cj2"]),
    ], "inner", [vi("j", I64, []), vi("cj", B, []), vi("acc", F, [C])],
        [vi("cj2", B, []), vi("acc2", F, [C]), vi("w", F, [C])])
    outer = h.make_graph([
        const("m4", np.int64(Bn)),
        h.make_node("Loop", ["m4", "", "tot"], ["tot2", "ws"], body=inner),
        h.make_node("Identity", ["ci"], ["ci2"]),
    ], "outer", [vi("i", I64, []), vi("ci", B, []), vi("tot", F, [C])],
        [vi("ci2", B, []), vi("tot2", F, [C]), vi("ws", F, [Bn, C])])
    m = model([const("m3", np.int64(A)), h.make_node("Loop", ["m3", "", "t0"], ["tT", "W"], body=outer)],
              [vi("X", F, [A, Bn, C]), vi("t0", F, [C])], [vi("tT", F, [C]), vi("W", F, [A, Bn, C])])

    def ref(X, t0):
        W = X * np.arange(A, dtype=np.float32)[:, None, None]
        return [t0 + W.sum((0, 1)), W]
    save(out, "loop_in_loop", m, [{"X": rand(A, Bn, C), "t0": rand(C)}], ref, reference=False)


def loop_in_scan(out):
    """A Loop (constant trip count, cond computed) inside a Scan body."""
    inner = h.make_graph([
        h.make_node("Mul", ["v", "v"], ["v2"]),
        const("half", np.float32(0.5)),
        h.make_node("Mul", ["v2", "half"], ["v3"]),
        h.make_node("ReduceSum", ["v3"], ["sm"], keepdims=0),
        const("big", np.float32(1e6)),
        h.make_node("Less", ["sm", "big"], ["c2"]),
    ], "inner", [vi("j", I64, []), vi("c", B, []), vi("v", F, [3])], [vi("c2", B, []), vi("v3", F, [3])])
    body = h.make_graph([
        const("two", np.int64(2)), const("tr", np.array(True)),
        h.make_node("Loop", ["two", "tr", "x"], ["x4"], body=inner),
        h.make_node("Add", ["s", "x4"], ["s2"]),
    ], "body", [vi("s", F, [3]), vi("x", F, [3])], [vi("s2", F, [3]), vi("x4", F, [3])])
    m = model([h.make_node("Scan", ["s0", "X"], ["sT", "Y"], body=body, num_scan_inputs=1)],
              [vi("s0", F, [3]), vi("X", F, [4, 3])], [vi("sT", F, [3]), vi("Y", F, [4, 3])], opset=16)
    def ref(s0, X):
        s, ys = s0, []
        for x in X:
            for _ in range(2):
                x = x * x * np.float32(0.5)
            s = s + x
            ys.append(x)
        return [s, np.stack(ys)]
    save(out, "loop_in_scan", m, [{"s0": rand(3), "X": rand(4, 3)}], ref, reference=False)


def if_in_loop(out):
    """An If in a Loop body, its branches reading body values and outer ones."""
    T = 6
    then_g = h.make_graph([const("k2", np.float32(2.0)), h.make_node("Mul", ["h", "k2"], ["r1"])], "then", [],
                          [vi("r1", F, [3])])
    else_g = h.make_graph([h.make_node("Gather", ["X", "i"], ["xt"], axis=0), h.make_node("Sub", ["h", "xt"], ["r2"])],
                          "else", [], [vi("r2", F, [3])])
    body = h.make_graph([
        h.make_node("Gather", ["flags", "i"], ["fl"], axis=0),
        const("half", np.float32(0.5)),
        h.make_node("Less", ["fl", "half"], ["small"]),
        h.make_node("If", ["small"], ["h2"], then_branch=then_g, else_branch=else_g),
        h.make_node("Tanh", ["h2"], ["h3"]),
        h.make_node("Identity", ["c"], ["c2"]),
    ], "body", [vi("i", I64, []), vi("c", B, []), vi("h", F, [3])], [vi("c2", B, []), vi("h3", F, [3]), vi("h2", F, [3])])
    m = model([const("M", np.int64(T)), h.make_node("Loop", ["M", "", "h0"], ["hT", "Hs"], body=body)],
              [vi("X", F, [T, 3]), vi("flags", F, [T]), vi("h0", F, [3])], [vi("hT", F, [3]), vi("Hs", F, [T, 3])])
    def ref(X, flags, h0):
        hh, hs = h0, []
        for t in range(T):
            h2 = hh * 2 if flags[t] < 0.5 else hh - X[t]
            hs.append(h2)
            hh = np.tanh(h2)
        return [hh, np.stack(hs)]
    save(out, "if_in_loop", m, [{"X": rand(T, 3), "flags": rng.random(T).astype(np.float32), "h0": rand(3)}], ref,
         reference=False)


def loop_folded(out):
    """A Loop whose inputs and outer references are all constant: folded at load."""
    body = h.make_graph([h.make_node("Mul", ["x", "K"], ["x2"]), h.make_node("Identity", ["c"], ["c2"])], "body",
                        [vi("i", I64, []), vi("c", B, []), vi("x", F, [2])], [vi("c2", B, []), vi("x2", F, [2])])
    m = model([const("M", np.int64(3)), const("x0", np.array([1.0, 2.0], np.float32)),
               h.make_node("Loop", ["M", "", "x0"], ["xT"], body=body),
               h.make_node("Add", ["xT", "Z"], ["y"])],
              [vi("Z", F, [2])], [vi("y", F, [2])], [init("K", np.array([1.5, -0.5], np.float32))])
    def ref(Z):
        return [np.array([1.0, 2.0], np.float32) * np.array([1.5, -0.5], np.float32) ** 3 + Z]
    save(out, "loop_folded", m, [{"Z": rand(2)}], ref, reference=False)


# ---------------------------------------------------------------------------------------------
def trivial_body(extra_out=()):
    return h.make_graph([h.make_node("Identity", ["c"], ["c2"]), h.make_node("Neg", ["x"], ["x2"])], "body",
                        [vi("i", I64, []), vi("c", B, []), vi("x", F, [2])],
                        [vi("c2", B, []), vi("x2", F, [2])] + list(extra_out))


def bad_models(out):
    def plain(nodes, inputs, outputs, opset=13):
        m = model(nodes, inputs, outputs, opset=opset)
        return m
    save_bad(out, "huge_trip_count", plain([const("M", np.int64(1 << 62)), h.make_node("Loop", ["M", "", "x0"], ["xT"],
                                                                                          body=trivial_body())],
                                           [vi("x0", F, [2])], [vi("xT", F, [2])]),
             "M = 2^62, no cond: refused at run before the first iteration (CLRNN_MODEL_MAX_ITERATIONS)")
    save_bad(out, "never_false", plain([const("t", np.array(True)), h.make_node("Loop", ["", "t", "x0"], ["xT"],
                                                                                body=trivial_body())],
                                       [vi("x0", F, [2])], [vi("xT", F, [2])]),
             "cond stays true: stops at CLRNN_MODEL_MAX_ITERATIONS")
    grow = h.make_graph([h.make_node("Identity", ["c"], ["c2"]), h.make_node("Neg", ["x"], ["x2"]),
                         h.make_node("Tile", ["x", "rep"], ["big"])], "body",
                        [vi("i", I64, []), vi("c", B, []), vi("x", F, [2])],
                        [vi("c2", B, []), vi("x2", F, [2]), vi("big", F, [None])],
                        [init("rep", np.array([1 << 16], np.int64))])
    save_bad(out, "growing_scan_output", plain([const("t", np.array(True)), const("M", np.int64(1 << 62)),
                                                h.make_node("Loop", ["M", "t", "x0"], ["xT", "bigs"], body=grow)],
                                               [vi("x0", F, [2])], [vi("xT", F, [2]), vi("bigs", F, None)]),
             "cond stays true, 512 KiB of scan output per step: stopped by the device budget")
    save_bad(out, "body_output_count", plain([const("M", np.int64(2)),
                                              h.make_node("Loop", ["M", "", "x0"], ["xT"],
                                                          body=trivial_body([vi("x2", F, [2])]))],
                                             [vi("x0", F, [2])], [vi("xT", F, [2])]),
             "the body has 3 outputs for 1 carried value and no scan output: CORRUPT_FILE at load")
    two_in = h.make_graph([h.make_node("Identity", ["c"], ["c2"])], "body", [vi("i", I64, []), vi("c", B, [])],
                          [vi("c2", B, []), vi("c2", B, [])])
    save_bad(out, "body_input_count", plain([const("M", np.int64(2)),
                                             h.make_node("Loop", ["M", "", "x0"], ["xT"], body=two_in)],
                                            [vi("x0", F, [2])], [vi("xT", F, [2])]),
             "the body has 2 inputs for 1 carried value: CORRUPT_FILE at load")
    bad_type = h.make_graph([h.make_node("Identity", ["c"], ["c2"]), h.make_node("Shape", ["x"], ["s"])], "body",
                            [vi("i", I64, []), vi("c", B, []), vi("x", F, [2])], [vi("c2", B, []), vi("s", I64, [1])])
    save_bad(out, "carried_type", plain([const("M", np.int64(2)),
                                         h.make_node("Loop", ["M", "", "x0"], ["xT"], body=bad_type)],
                                        [vi("x0", F, [2])], [vi("xT", F, [2])]),
             "a float carried value comes back int64: CORRUPT_FILE at load")
    unsup = h.make_graph([h.make_node("Identity", ["c"], ["c2"]), h.make_node("Det", ["x"], ["x2"], name="det_in_body")],
                         "body", [vi("i", I64, []), vi("c", B, []), vi("x", F, [2])], [vi("c2", B, []), vi("x2", F, [2])])
    lp = h.make_node("Loop", ["M", "", "x0"], ["xT"], body=unsup, name="the_loop")
    save_bad(out, "unsupported_in_body", plain([const("M", np.int64(2)), lp], [vi("x0", F, [2])], [vi("xT", F, [2])]),
             "an operator clrnn lacks in the body: UNSUPPORTED naming the body node and the Loop")
    save_bad(out, "body_name_outside", plain([const("M", np.int64(2)),
                                              h.make_node("Loop", ["M", "", "x0"], ["xT"], body=trivial_body()),
                                              h.make_node("Add", ["xT", "x2"], ["y"])],
                                             [vi("x0", F, [2])], [vi("y", F, [2])]),
             "the main graph reads a body value: CORRUPT_FILE at load (names of a body are invisible outside)")
    # scan output whose shape changes: Range(0, i+1) per step
    rbody = h.make_graph([h.make_node("Identity", ["c"], ["c2"]), const("one", np.int64(1)), const("z", np.int64(0)),
                          h.make_node("Add", ["i", "one"], ["n"]), h.make_node("Range", ["z", "n", "one"], ["r"])],
                         "body", [vi("i", I64, []), vi("c", B, [])], [vi("c2", B, []), vi("r", I64, [None])])
    save_bad(out, "scan_output_shape_changes", plain([h.make_node("Loop", ["M", ""], ["rs"], body=rbody)],
                                                     [vi("M", I64, [])], [vi("rs", I64, None)]),
             "a scan output of another shape at each iteration: SHAPE_MISMATCH at run (M given as input)")
    # nesting deeper than clrnn's bound (16): 17 Loops in each other
    g = trivial_body()
    for _ in range(17):
        g = h.make_graph([h.make_node("Identity", ["c"], ["c2"]), const("M1", np.int64(1)),
                          h.make_node("Loop", ["M1", "", "x"], ["x2"], body=g)], "body",
                         [vi("i", I64, []), vi("c", B, []), vi("x", F, [2])], [vi("c2", B, []), vi("x2", F, [2])])
    save_bad(out, "nested_too_deep", plain([const("M", np.int64(1)), h.make_node("Loop", ["M", "", "x0"], ["xT"], body=g)],
                                           [vi("x0", F, [2])], [vi("xT", F, [2])]),
             "18 nested Loop bodies (clrnn allows 16): UNSUPPORTED at load")
    g = trivial_body()
    for _ in range(15):
        g = h.make_graph([h.make_node("Identity", ["c"], ["c2"]), const("M1", np.int64(2)),
                          h.make_node("Loop", ["M1", "", "x"], ["x2"], body=g)], "body",
                         [vi("i", I64, []), vi("c", B, []), vi("x", F, [2])], [vi("c2", B, []), vi("x2", F, [2])])
    m = plain([const("M", np.int64(1)), h.make_node("Loop", ["M", "", "x0"], ["xT"], body=g)],
              [vi("x0", F, [2])], [vi("xT", F, [2])])
    save_bad(out, "nested_at_bound", m, "16 nested Loop bodies, 2^15 innermost iterations: loads and runs "
             "(x0 * (-1)^(2^15) = x0)")


def main():
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                          os.path.join(os.path.dirname(__file__), "..", "tests", "onnx", "control"))
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    for f in [loop_rnn_outer_scope, loop_cond_only, lambda o: loop_cond_only(o, 9, "loop1_cond_only"), loop_trip_and_cond, loop_shape_change, loop_swap_carried,
              scan_axes_directions, scan_state_is_scan_output, scan9_two_states, scan8_batched, loop_in_loop, loop_in_scan, if_in_loop, loop_folded, bad_models]:
        f(out)
    with open(os.path.join(out, "MANIFEST.txt"), "w") as fh:
        fh.write("# Generated by tools/onnx_control_cases.py\n" + "\n".join(MANIFEST) + "\n")
    print(f"{len(MANIFEST)} entries written to {out}")


if __name__ == "__main__":
    main()
