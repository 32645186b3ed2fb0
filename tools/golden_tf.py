#!/usr/bin/env python3
"""Golden data from the real converters: Keras 2 / Keras 3 models and TF1 graphs trained a few steps
on synthetic data, saved as Keras files and converted with tf2onnx; PyTorch packed sequences through
torch.onnx. For issue 11 (tests/keras/test_keras_onnx.c, the native .keras/.h5 loader, the new ONNX ops).

One directory per model in tests/keras/<name>/ (name prefix k2_, k3_, tf1_, torch_):
  model.keras, model.h5   the Keras files (Keras 2.15 and 3.15 both write both formats)
  model.onnx              what tf2onnx 1.17 (or torch.onnx) made of it, as converted (nothing renamed)
  in/<name>.npy           the inputs, named by the Keras input layers (= the ONNX graph inputs)
  out/<name>.npy          model.predict's outputs (TF1/torch: the framework's own forward), named by
                          model.output_names; in ONNX graph output order (see meta.txt)
  meta.txt                `key value...` per line: framework versions, layers, keras_inputs,
                          keras_outputs, onnx_inputs, onnx_outputs (same order as keras_outputs),
                          tolerance, ORT's max error against the framework
ORT (onnxruntime) runs every ONNX file and must match the framework within 1e-5 of
|ort-exp|/(1+|exp|) or the script aborts. Everything is seeded (numpy, tf, torch; each case its own
seed from its name): reruns give the same models and data up to TF's own thread nondeterminism.

Set-up (virtualenvs outside the repository; python 3.11):
    python3 -m venv /work/venvs/keras2
    /work/venvs/keras2/bin/pip install tensorflow-cpu==2.15.1 tf2onnx==1.17.0 onnx==1.17.0 onnxruntime
    python3 -m venv /work/venvs/keras3
    /work/venvs/keras3/bin/pip install tensorflow-cpu==2.21.0 tf2onnx==1.17.0 onnx onnxruntime
    # onnx 1.17.0 exactly in keras2: later onnx releases fail to import beside TF 2.15's ml_dtypes
    apt-get install python3-torch python3-numpy python3-onnx     # Debian's torch 1.13 for --part torch

Run from the repository root (each part rewrites only its own prefix):
    /work/venvs/keras2/bin/python tools/golden_tf.py --part keras     # k2_*  (Keras 2.15)
    /work/venvs/keras3/bin/python tools/golden_tf.py --part keras     # k3_*  (Keras 3.15)
    /work/venvs/keras2/bin/python tools/golden_tf.py --part tf1       # tf1_* (tf.compat.v1 cells)
    /usr/bin/python3 tools/golden_tf.py --part torch                  # torch_* (no ORT there)
    /work/venvs/keras2/bin/python tools/golden_tf.py --part check     # ORT over every model.onnx,
                                                                      # writes tests/keras/OPS.md
Optional: --only SUBSTRING (build only matching cases), --out DIR (default tests/keras).
The keras part takes about 5 minutes per version, tf1 2 minutes, torch and check seconds.

What is built (the same list in Keras 2 and 3; T=6, N=3, I=4, H<=5, trained 3 steps of Adam by
model.fit on 12 random samples, masked ones padded like their test inputs):
  SimpleRNN / LSTM / GRU (reset_after True) / GRU (reset_after False, "gru0"): return_sequences
  True and False, go_backwards; relu SimpleRNN and LSTM with a fixed T; Masking(0.0) + LSTM, GRU,
  SimpleRNN with right / left padding and holes (also last-step only, go_backwards, GRU
  reset_after=False); Bidirectional(LSTM) with merge_mode concat/sum/mul/ave/None,
  Bidirectional(GRU) last step, Bidirectional(SimpleRNN) sum, and both with Masking;
  Embedding(mask_zero=True) + LSTM / GRU (and without mask_zero); stacks of 2 LSTM, 3 SimpleRNN,
  LSTM+GRU+SimpleRNN, 2 Bidirectional LSTM, Masking + 2 LSTM, Embedding(mask_zero) + 2 GRU;
  TimeDistributed(Dense) (dynamic and fixed T, and after Masking + GRU with softmax); Dense heads
  with every activation (as Dense(activation=) and as Activation layers; gelu alone); GRU → Dense →
  Dropout → Dense softmax; return_state on LSTM, GRU, SimpleRNN (go_backwards), masked LSTM;
  merge layers under a mask (Add of two masked branches and of a masked and an unmasked one,
  Concatenate on the feature axis with an unmasked branch, Concatenate of two Embedding(mask_zero)
  outputs on the time axis); encoder-decoders (an LSTM / GRU / SimpleRNN's final state as the next
  layer's initial_state, also after Masking).
  TF1: BasicRNNCell, BasicLSTMCell, LSTMCell (plain, use_peepholes, num_proj, peepholes + num_proj
  + cell_clip + proj_clip + forget_bias 0.5), GRUCell, MultiRNNCell(2 LSTMCell),
  MultiRNNCell(GRUCell, BasicRNNCell); each through tf.function (from_function) and as a frozen
  TF1 graph with v1 control flow (from_graph_def). torch: LSTM, LSTM x2, bidirectional GRU, RNN
  over pack_padded_sequence(enforce_sorted=False) with lengths [3, 6, 1].

What does not convert (reported by the script, no model.onnx kept; the Keras files still are):
  - Keras 3 TimeDistributed with a dynamic time axis: tf2onnx's model returns [N, 3, 3] for [N, 6, 3]
    (k3_lstm_timedistributed_dense, k3_mask_gru_timedistributed_softmax); with a fixed T it is right.
  - Keras 3 gelu: TF's Erfc, which tf2onnx 1.17 leaves in the graph (ORT: no Erfc op).
  - a frozen TF1 graph with TF2's v2 control flow (While): TensorListReserve stays unconverted and
    the Loop's outputs have no type (ORT: "Invalid tensor data type 0"); tf1_*_frozen.
"""

import argparse
import os
import shutil
import sys
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
TOL = 1e-5
ARGS = None


def seed_of(name):
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def scaled_err(got, exp):
    got, exp = np.asarray(got, np.float64), np.asarray(exp, np.float64)
    assert got.shape == exp.shape, (got.shape, exp.shape)
    return float(np.max(np.abs(got - exp) / (1.0 + np.abs(exp)))) if exp.size else 0.0


def fresh_dir(name):
    d = os.path.join(ARGS.out, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "in"))
    os.makedirs(os.path.join(d, "out"))
    return d


def wipe(prefix):
    """A full run of a part first removes every case of its prefix (cases renamed or dropped)."""
    if ARGS.only or ARGS.case:
        return
    for e in os.listdir(ARGS.out):
        if e.startswith(prefix) and os.path.isdir(os.path.join(ARGS.out, e)):
            shutil.rmtree(os.path.join(ARGS.out, e))


# Keras cases that also get the other version's format (Keras 2 .keras, Keras 3 .h5), and those whose
# Keras 2 .h5 keeps the optimizer state
SECONDARY = {"lstm_seq", "mask_lstm_holes", "bidir_lstm_concat", "emb_lstm_last"}
WITH_OPTIMIZER = {"lstm_seq", "mask_lstm_holes"}


def write_meta(d, meta):
    with open(os.path.join(d, "meta.txt"), "w") as f:
        for k, v in meta.items():
            if isinstance(v, (list, tuple)):
                v = " ".join(str(e) for e in v)
            f.write(f"{k} {v}\n")


def read_meta(d):
    meta = {}
    with open(os.path.join(d, "meta.txt")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition(" ")
            meta[k] = v.split()
    return meta


def save_arrays(d, sub, names, arrays):
    assert len(set(names)) == len(names), names
    for n, a in zip(names, arrays):
        a = np.ascontiguousarray(a)
        if a.dtype.kind == "f":
            a = a.astype("<f4")
            assert np.all(np.isfinite(a)), (d, n)
        np.save(os.path.join(d, sub, n + ".npy"), a)


def ort_check(d, meta):
    """Runs model.onnx with onnxruntime on in/ and compares with out/; returns the max scaled error."""
    import onnxruntime as ort
    sess = ort.InferenceSession(os.path.join(d, "model.onnx"), providers=["CPUExecutionProvider"])
    feeds = {o: np.load(os.path.join(d, "in", k + ".npy"))
             for k, o in zip(meta["keras_inputs"], meta["onnx_inputs"])}
    got = sess.run(meta["onnx_outputs"], feeds)
    worst = 0.0
    for k, g in zip(meta["keras_outputs"], got):
        e = scaled_err(g, np.load(os.path.join(d, "out", k + ".npy")))
        assert e <= TOL, (d, k, e)
        worst = max(worst, e)
    return worst


# --------------------------------------------------------------------------------------------
# Keras (2.15 through tf.keras, 3.x through keras)
# --------------------------------------------------------------------------------------------
def keras_part():
    import tensorflow as tf
    import tf2onnx
    k3 = int(tf.__version__.split(".")[1]) >= 16
    if k3:
        import keras
    else:
        keras = tf.keras
    L = keras.layers
    tf.config.experimental.enable_op_determinism()  # same seeds, same trained weights
    prefix = "k3_" if k3 else "k2_"
    kver = keras.__version__ if hasattr(keras, "__version__") else tf.__version__

    def masked_data(rng, N, T, I, pad):
        """x [N,T,I] in [-1,1] with all-zero (masked) steps: pad = right | left | holes."""
        x = rng.uniform(-1, 1, (N, T, I)).astype(np.float32)
        for n in range(N):
            if pad == "right":
                x[n, T - n - 1 if n else T:] = 0  # row 0 full, then 1, 2, ... padded steps
            elif pad == "left":
                x[n, :n + 1] = 0
            elif pad == "holes":
                for t in rng.choice(T, size=min(T - 1, n + 2), replace=False):
                    x[n, t] = 0
        if pad == "holes":
            x[N - 1, 0] = 0  # a leading masked step too
        if pad == "allmasked":  # right padding, and one row masked entirely
            x[0, T - 2:] = 0
            x[N - 1] = 0
        return x

    def rnn(kind, H, **kw):
        if kind == "gru0":
            return L.GRU(H, reset_after=False, **kw)
        return {"simplernn": L.SimpleRNN, "lstm": L.LSTM, "gru": L.GRU}[kind](H, **kw)

    cases = []

    def case(name, build, T=6, N=3, I=4, dtype="float32", pad=None, vocab=None, fixed_t=False):
        cases.append((name, build, T, N, I, dtype, pad, vocab, fixed_t))

    # plain cells: sequences, last step, go_backwards
    for kind in ("simplernn", "lstm", "gru", "gru0"):
        case(f"{kind}_seq", lambda x, kind=kind: rnn(kind, 5, return_sequences=True, name="rnn")(x))
        case(f"{kind}_last", lambda x, kind=kind: rnn(kind, 5, name="rnn")(x))
        case(f"{kind}_back", lambda x, kind=kind: rnn(kind, 4, return_sequences=True, go_backwards=True,
                                                        name="rnn")(x))
    case("simplernn_relu_fixedt", lambda x: L.SimpleRNN(5, activation="relu", return_sequences=True,
                                                        name="rnn")(x), fixed_t=True)
    case("lstm_fixedt", lambda x: L.LSTM(5, return_sequences=True, name="rnn")(x), fixed_t=True)
    # Masking in front: right / left padding, holes
    for kind, pads in (("lstm", ("right", "left", "holes")), ("gru", ("right", "holes")),
                       ("simplernn", ("left", "holes"))):
        for pad in pads:
            case(f"mask_{kind}_{pad}",
                 lambda x, kind=kind: rnn(kind, 5, return_sequences=True, name="rnn")(L.Masking(0.0, name="mask")(x)),
                 pad=pad)
    for kind in ("lstm", "simplernn"):
        case(f"mask_{kind}_last_holes",
             lambda x, kind=kind: rnn(kind, 4, name="rnn")(L.Masking(0.0, name="mask")(x)), pad="holes")
    case("mask_gru0_holes", lambda x: rnn("gru0", 4, return_sequences=True, name="rnn")(L.Masking(0.0, name="mask")(x)),
         pad="holes")
    # a row with every step masked: Keras outputs zeros and keeps the initial state
    case("mask_lstm_allmasked", lambda x: L.LSTM(4, return_sequences=True, name="rnn")(L.Masking(0.0, name="mask")(x)),
         pad="allmasked")
    case("mask_gru_last_allmasked", lambda x: L.GRU(4, name="rnn")(L.Masking(0.0, name="mask")(x)), pad="allmasked")
    case("mask_lstm_back_right", lambda x: L.LSTM(4, return_sequences=True, go_backwards=True, name="rnn")(
        L.Masking(0.0, name="mask")(x)), pad="right")
    # Bidirectional, every merge mode
    for mode in ("concat", "sum", "mul", "ave", None):
        def bi(x, mode=mode):
            y = L.Bidirectional(L.LSTM(4, return_sequences=True), merge_mode=mode, name="bi")(x)
            return list(y) if mode is None else y
        case(f"bidir_lstm_{mode or 'none'}", bi)
    case("bidir_gru_concat_last", lambda x: L.Bidirectional(L.GRU(4), name="bi")(x))
    case("bidir_simplernn_sum", lambda x: L.Bidirectional(L.SimpleRNN(4, return_sequences=True),
                                                          merge_mode="sum", name="bi")(x))
    case("mask_bidir_lstm_concat_right", lambda x: L.Bidirectional(L.LSTM(4, return_sequences=True), name="bi")(
        L.Masking(0.0, name="mask")(x)), pad="right")
    case("mask_bidir_gru_ave_holes", lambda x: L.Bidirectional(L.GRU(4, return_sequences=True), merge_mode="ave",
                                                               name="bi")(L.Masking(0.0, name="mask")(x)),
         pad="holes")
    # Embedding(mask_zero) in front
    case("emb_lstm_last", lambda x: L.LSTM(5, name="rnn")(L.Embedding(12, 4, mask_zero=True, name="emb")(x)),
         dtype="int32", pad="right", vocab=12)
    case("emb_gru_seq", lambda x: L.GRU(5, return_sequences=True, name="rnn")(
        L.Embedding(12, 4, mask_zero=True, name="emb")(x)), dtype="int32", pad="left", vocab=12)
    case("emb_nomask_lstm", lambda x: L.LSTM(5, name="rnn")(L.Embedding(12, 4, name="emb")(x)),
         dtype="int32", vocab=12)

    # stacks
    def stack(x, kinds, mask=False, bidir=False):
        if mask:
            x = L.Masking(0.0, name="mask")(x)
        for k, kind in enumerate(kinds):
            layer = rnn(kind, 4, return_sequences=k + 1 < len(kinds), name=f"rnn{k}")
            x = L.Bidirectional(layer, name=f"bi{k}")(x) if bidir else layer(x)
        return x
    case("stack_lstm2", lambda x: stack(x, ["lstm", "lstm"]))
    case("stack_simplernn3", lambda x: stack(x, ["simplernn"] * 3))
    case("stack_mixed3", lambda x: stack(x, ["lstm", "gru", "simplernn"]))
    case("mask_stack_lstm2_holes", lambda x: stack(x, ["lstm", "lstm"], mask=True), pad="holes")
    case("stack_bidir_lstm2", lambda x: stack(x, ["lstm", "lstm"], bidir=True))
    case("emb_mask_stack_gru2", lambda x: stack(L.Embedding(10, 3, mask_zero=True, name="emb")(x), ["gru", "gru"]),
         dtype="int32", pad="right", vocab=10)
    # dense heads
    case("lstm_timedistributed_dense", lambda x: L.TimeDistributed(L.Dense(3), name="td")(
        L.LSTM(5, return_sequences=True, name="rnn")(x)))
    case("lstm_timedistributed_dense_fixedt", lambda x: L.TimeDistributed(L.Dense(3), name="td")(
        L.LSTM(5, return_sequences=True, name="rnn")(x)), fixed_t=True)
    case("mask_gru_timedistributed_softmax", lambda x: L.TimeDistributed(L.Dense(3, activation="softmax"),
                                                                         name="td")(
        L.GRU(5, return_sequences=True, name="rnn")(L.Masking(0.0, name="mask")(x))), pad="right")
    # every Keras activation: as Dense(activation=) for the common ones, as Activation layers after
    # one Dense for the rest (one Dense per activation would make the files ten times larger)
    dense_acts = ["relu", "tanh", "sigmoid", "softmax", "elu", "selu", "linear"]
    layer_acts = ["softplus", "softsign", "hard_sigmoid", "exponential", "swish", "relu6", "leaky_relu",
                  "log_softmax", "mish", "hard_silu", "silu", "softmax", "elu", "selu", "tanh", "sigmoid", "relu",
                  "linear"]

    def heads(x):
        h = L.LSTM(5, name="rnn")(x)
        outs = [L.Dense(3, activation=a, name=f"dense_{a}")(h) for a in dense_acts]
        z = L.Dense(3, name="pre")(h)
        for a in layer_acts:
            try:
                outs.append(L.Activation(a, name=f"act_{a}")(z))
            except (ValueError, KeyError, AttributeError, TypeError):
                pass  # not an activation of this Keras version
        return outs
    case("lstm_dense_activations", heads)
    # on its own: Keras 3's gelu (approximate=False) becomes TF's Erfc, which tf2onnx 1.17 cannot convert
    case("lstm_dense_gelu", lambda x: [L.Dense(3, activation="gelu", name="dense_gelu")(L.LSTM(5, name="rnn")(x))])
    case("gru_dense_mlp", lambda x: L.Dense(2, activation="softmax", name="probs")(
        L.Dropout(0.3, name="drop")(L.Dense(6, activation="relu", name="hidden")(L.GRU(5, name="rnn")(x)))))
    # return_state
    case("lstm_return_state", lambda x: list(L.LSTM(4, return_sequences=True, return_state=True, name="rnn")(x)))
    case("gru_return_state", lambda x: list(L.GRU(4, return_state=True, name="rnn")(x)))
    case("simplernn_return_state_back", lambda x: list(L.SimpleRNN(4, return_sequences=True, return_state=True,
                                                                   go_backwards=True, name="rnn")(x)))
    case("mask_lstm_return_state_holes", lambda x: list(L.LSTM(4, return_state=True, name="rnn")(
        L.Masking(0.0, name="mask")(x))), pad="holes")

    # merge layers under a mask (Keras combines the masks: Add ANDs them, Concatenate ANDs them on
    # the feature axis and concatenates them on the time axis; an unmasked input counts as all-true)
    def mask_add(x):
        m = L.Masking(0.0, name="mask")(x)
        a = L.LSTM(4, return_sequences=True, name="rnn_a")(m)
        b = L.GRU(4, return_sequences=True, name="rnn_b")(m)
        return L.LSTM(3, name="rnn_c")(L.Add(name="add")([a, b]))
    case("mask_add_lstm_holes", mask_add, pad="holes")

    def mask_add_unmasked(x):
        a = L.SimpleRNN(4, return_sequences=True, name="rnn_a")(L.Masking(0.0, name="mask")(x))
        b = L.Dense(4, name="proj")(x)  # no mask on this branch
        return L.GRU(3, return_sequences=True, name="rnn_c")(L.Add(name="add")([a, b]))
    case("mask_add_unmasked_gru_right", mask_add_unmasked, pad="right")

    def mask_concat(x):
        m = L.Masking(0.0, name="mask")(x)
        a = L.LSTM(4, return_sequences=True, name="rnn_a")(m)
        return L.GRU(3, name="rnn_c")(L.Concatenate(name="cat")([a, L.Dense(2, name="proj")(x)]))
    case("mask_concat_gru_holes", mask_concat, pad="holes")

    def emb_concat_time(x):
        e = L.Embedding(12, 3, mask_zero=True, name="emb")(x)
        f = L.Embedding(12, 3, mask_zero=True, name="emb2")(x)
        return L.LSTM(4, name="rnn")(L.Concatenate(axis=1, name="cat")([e, f]))  # last step: T doubles
    case("emb_concat_time_lstm", emb_concat_time, dtype="int32", pad="right", vocab=12)

    # encoder-decoder: one layer's final state as the next one's initial_state
    def encdec(kind, mask=False):
        def build(x):
            src = L.Masking(0.0, name="mask")(x) if mask else x
            enc = rnn(kind, 4, return_state=True, name="enc")(src)
            states = list(enc[1:])
            return rnn(kind, 4, return_sequences=True, name="dec")(src, initial_state=states)
        return build
    case("encdec_lstm_state", encdec("lstm"))
    case("encdec_gru_state", encdec("gru"))
    case("encdec_simplernn_state", encdec("simplernn"))
    case("mask_encdec_lstm_state_holes", encdec("lstm", mask=True), pad="holes")

    wipe(prefix)
    for (name, build, T, N, I, dtype, pad, vocab, fixed_t) in cases:
        name = prefix + name
        if ARGS.only and ARGS.only not in name:
            continue
        seed = seed_of(name)
        np.random.seed(seed)
        tf.random.set_seed(seed)
        keras.utils.set_random_seed(seed)
        rng = np.random.RandomState(seed)
        if dtype == "int32":
            x_in = keras.Input(shape=(T if fixed_t else None,), dtype="int32", name="tokens")
        else:
            x_in = keras.Input(shape=(T if fixed_t else None, I), name="x")
        try:
            y = build(x_in)
        except Exception as e:  # noqa: BLE001 - report what does not build and go on
            print(f"{name}: does not build: {type(e).__name__}: {e}")
            continue
        model = keras.Model(x_in, y, name=name)
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")

        def data(n):
            if dtype == "int32":
                t = rng.randint(1, vocab, (n, T)).astype(np.int32)
                for r in range(n):
                    k = r % 3
                    if pad == "right" and k:
                        t[r, T - k:] = 0
                    elif pad == "left" and k:
                        t[r, :k] = 0
                return t
            if pad:
                return np.concatenate([masked_data(rng, min(3, n - i), T, I, pad) for i in range(0, n, 3)])
            return rng.uniform(-1, 1, (n, T, I)).astype(np.float32)
        xt = data(12)
        outs = model.outputs
        yt = [rng.uniform(-1, 1, (12,) + tuple(int(s) if s is not None else T for s in o.shape[1:]))
              .astype(np.float32) for o in outs]
        model.fit(xt, yt if len(yt) > 1 else yt[0], batch_size=4, epochs=1, verbose=0, shuffle=False)

        d = fresh_dir(name)
        x = data(N)
        pred = model.predict(x, verbose=0)
        pred = pred if isinstance(pred, list) else [pred]
        raw_names = out_names = list(model.output_names)
        if len(out_names) != len(pred) or len(set(out_names)) != len(out_names):
            out_names = [f"{n}_{k}" for k, n in enumerate(out_names)] if len(out_names) == len(pred) else \
                [f"output_{k}" for k in range(len(pred))]
        save_arrays(d, "in", [x_in.name if not k3 else "tokens" if dtype == "int32" else "x"], [x])
        save_arrays(d, "out", out_names, pred)
        saved = []
        short = name[len(prefix):]
        for fn in ("model.keras", "model.h5"):
            # the version's own format for every case; the other one (Keras 2 .keras, Keras 3 legacy
            # .h5) for a subset, to keep the tree small. Keras 2 .h5 keeps the optimizer only in
            # WITH_OPTIMIZER cases (each file is twice the size with it)
            if (fn == "model.h5") == k3 and short not in SECONDARY:
                continue
            kw = {} if k3 or fn != "model.h5" or short in WITH_OPTIMIZER else dict(include_optimizer=False)
            try:
                model.save(os.path.join(d, fn), **kw)
                saved.append(fn)
            except Exception as e:  # noqa: BLE001
                print(f"{name}: cannot save {fn}: {type(e).__name__}: {e}")
        in_name = "tokens" if dtype == "int32" else "x"
        spec = (tf.TensorSpec((None, T if fixed_t else None), tf.int32, name=in_name) if dtype == "int32"
                else tf.TensorSpec((None, T if fixed_t else None, I), tf.float32, name=in_name))
        how = "from_keras"
        try:
            mp, _ = tf2onnx.convert.from_keras(model, input_signature=[spec])
        except Exception as e:  # noqa: BLE001
            if True:
                print(f"{name}: from_keras failed ({type(e).__name__}: {e}); trying from_function")
            how = "from_function"
            fn_ = tf.function(lambda t: model(t, training=False))
            try:
                mp, _ = tf2onnx.convert.from_function(fn_, input_signature=[spec])
            except Exception as e2:  # noqa: BLE001
                print(f"{name}: DOES NOT CONVERT: {type(e2).__name__}: {e2}")
                shutil.rmtree(d)
                continue
        with open(os.path.join(d, "model.onnx"), "wb") as f:
            f.write(mp.SerializeToString())
        onnx_outs = [o.name for o in mp.graph.output]
        onnx_ins = [i.name for i in mp.graph.input if i.name not in {t.name for t in mp.graph.initializer}]
        assert len(onnx_outs) == len(out_names), (name, onnx_outs, out_names)
        layers = [type(l).__name__ + (f"({type(l.layer).__name__})" if hasattr(l, "layer") else
                                      f"({type(l.forward_layer).__name__})" if hasattr(l, "forward_layer") else "")
                  for l in model.layers]
        meta = dict(framework="keras3" if k3 else "keras2", keras_version=kver, tf_version=tf.__version__,
                    converter=f"tf2onnx-{tf2onnx.__version__}-{how}", opset=mp.opset_import[0].version,
                    files=saved + ["model.onnx"], layers=layers, keras_inputs=[in_name], keras_outputs=out_names,
                    onnx_inputs=onnx_ins, onnx_outputs=onnx_outs, tolerance=TOL)
        if raw_names != out_names:  # Keras 3 repeats a layer's name for each of its outputs
            meta["keras_output_names_raw"] = raw_names
        write_meta(d, meta)
        try:
            err = ort_check(d, read_meta(d))
        except Exception as e:  # noqa: BLE001 - tf2onnx's model is wrong: keep the Keras files only
            why = f"{type(e).__name__}: {e}".replace("\n", " ")[:200]
            print(f"{name}: ONNX FILE WRONG, dropped (ORT: {why})")
            os.rename(os.path.join(d, "model.onnx"), "/tmp/" + name + ".onnx")
            meta.update(files=saved, onnx_dropped=f"tf2onnx's model disagrees with Keras or does not load in ORT: {why}")
            write_meta(d, meta)
            continue
        with open(os.path.join(d, "meta.txt"), "a") as f:
            f.write(f"ort_max_err {err:.3g}\n")
        print(f"{name}: {how}, outputs {out_names} -> {onnx_outs}, ORT err {err:.2g}")
        keras.backend.clear_session()


# --------------------------------------------------------------------------------------------
# TF1: tf.compat.v1.nn.dynamic_rnn(sequence_length) over the tf.compat.v1 cells, as a frozen graph
# (Session + convert_variables_to_constants + from_graph_def) and through tf.function (from_function)
# --------------------------------------------------------------------------------------------
def tf1_part():
    import tensorflow as tf
    import tf2onnx
    v1 = tf.compat.v1
    C = v1.nn.rnn_cell
    T, N, I = 6, 3, 4
    cells = {
        "basicrnn": lambda: C.BasicRNNCell(5),
        "basiclstm": lambda: C.BasicLSTMCell(5),
        "lstm": lambda: C.LSTMCell(5),
        "lstm_peephole": lambda: C.LSTMCell(5, use_peepholes=True),
        "lstm_proj": lambda: C.LSTMCell(5, num_proj=3),
        "lstm_peephole_proj_clip": lambda: C.LSTMCell(5, use_peepholes=True, num_proj=3, cell_clip=0.5,
                                                      proj_clip=0.4, forget_bias=0.5),
        "gru": lambda: C.GRUCell(5),
        "multi_lstm2": lambda: C.MultiRNNCell([C.LSTMCell(4), C.LSTMCell(4)]),
        "multi_gru_basicrnn": lambda: C.MultiRNNCell([C.GRUCell(4), C.BasicRNNCell(3)]),
    }

    def last_h(state):
        while isinstance(state, tuple) and not hasattr(state, "h"):
            state = state[-1]  # MultiRNNCell: the top layer's state
        return state.h if hasattr(state, "h") else state

    def data(rng, zero_row=False):
        x = rng.uniform(-1, 1, (N, T, I)).astype(np.float32)
        lens = np.array([4, T, 0 if zero_row else 2], np.int32)
        return x, lens

    prefix = "tf1_"
    # cells whose test input has a zero-length row (TF1: zero outputs, the initial state as final state)
    ZERO_LENGTH_ROW = {"lstm", "gru", "basicrnn", "multi_lstm2"}
    todo = [(h, c) for h in ("function", "frozen_cfv1", "frozen") for c in cells.items()]
    if not ARGS.case:
        # each case in its own process: after one tf.function trace of a legacy cell, later traces of
        # LSTMCell(use_peepholes or num_proj) fail in TF 2.15 ("Tensor.op is undefined")
        wipe(prefix)
        import subprocess
        for how, (cname, _) in todo:
            name = f"{prefix}{cname}_{how}"
            if not ARGS.only or ARGS.only in name:
                subprocess.run([sys.executable, os.path.abspath(__file__), "--part", "tf1", "--case", name,
                                "--out", ARGS.out], check=True)
        return
    for how, (cname, make) in todo:
        name = f"{prefix}{cname}_{how}"
        if name != ARGS.case:
            continue
        seed = seed_of(name)
        tf.keras.utils.set_random_seed(seed)  # python, numpy and tf: the legacy cells' unseeded initializers
        rng = np.random.RandomState(seed)
        xt, lt = data(rng)
        x, lens = data(rng, zero_row=cname in ZERO_LENGTH_ROW)
        # training: a TF1 session (the graph also feeds the gradients, so inference gets its own)
        (v1.enable_control_flow_v2 if how == "frozen" else v1.disable_control_flow_v2)()

        def build(g):
            with g.as_default():
                v1.set_random_seed(seed)
                xp = v1.placeholder(tf.float32, (None, None, I), name="x")
                lp = v1.placeholder(tf.int32, (None,), name="seq_len")
                y, st = v1.nn.dynamic_rnn(make(), xp, sequence_length=lp, dtype=tf.float32)
                return xp, lp, tf.identity(y, name="y"), tf.identity(last_h(st), name="h")
        g = tf.Graph()
        xp, lp, y, h = build(g)
        with g.as_default(), v1.Session(graph=g) as sess:
            loss = tf.reduce_mean(tf.square(y - 0.3)) + tf.reduce_mean(tf.square(h + 0.2))
            step = v1.train.GradientDescentOptimizer(0.5).minimize(loss)
            sess.run(v1.global_variables_initializer())
            for _ in range(3):
                sess.run(step, {xp: xt, lp: lt})
            trained = {v.op.name: sess.run(v) for v in v1.trainable_variables()}
        if how != "function":
            # real TF1 graphs have v1 control flow (Enter/Merge/Switch/Exit); TF2's graph mode v2 (While)
            g = tf.Graph()
            xp, lp, y, h = build(g)
            with g.as_default(), v1.Session(graph=g) as sess:
                for v in v1.global_variables():
                    v.load(trained[v.op.name], sess)
                exp = sess.run([y, h], {xp: x, lp: lens})
                gd = v1.graph_util.convert_variables_to_constants(sess, g.as_graph_def(), ["y", "h"])
            v1.enable_control_flow_v2()
            convert = lambda: tf2onnx.convert.from_graph_def(gd, input_names=["x:0", "seq_len:0"],  # noqa: E731
                                                             output_names=["y:0", "h:0"])
        else:
            # the same cell in a TF2 tf.function, traced once (a second trace of a peephole
            # LSTMCell fails), with the trained weights assigned by name
            v1.enable_control_flow_v2()
            cell = make()

            @tf.function(input_signature=[tf.TensorSpec((None, None, I), tf.float32, name="x"),
                                          tf.TensorSpec((None,), tf.int32, name="seq_len")])
            def fwd(xv, lv):
                y, st = v1.nn.dynamic_rnn(cell, xv, sequence_length=lv, dtype=tf.float32)
                return y, last_h(st)
            try:
                fwd(xt, lt)
            except Exception as e:  # noqa: BLE001 - the TF 2.15 legacy cell itself fails here
                print(f"{name}: DOES NOT TRACE in tf.function ({type(e).__name__}: {str(e).strip().splitlines()[-1][:200]})")
                continue
            assert len(cell.variables) == len(trained), (name, [v.name for v in cell.variables], list(trained))
            for v in cell.variables:
                v.assign(trained[v.name.split(":")[0]])
            exp = [t.numpy() for t in fwd(x, lens)]
            convert = lambda: tf2onnx.convert.from_function(fwd, input_signature=fwd.input_signature)  # noqa: E731
        try:
            mp, _ = convert()
        except Exception as e:  # noqa: BLE001
            print(f"{name}: DOES NOT CONVERT (tf2onnx: {type(e).__name__}: {str(e)[:200]})")
            continue
        d = fresh_dir(name)
        with open(os.path.join(d, "model.onnx"), "wb") as f:
            f.write(mp.SerializeToString())
        save_arrays(d, "in", ["x", "seq_len"], [x, lens])
        save_arrays(d, "out", ["y", "h"], exp)
        cell_desc = type(make()).__name__ if "multi" not in cname else \
            "MultiRNNCell(" + ",".join(type(c).__name__ for c in make()._cells) + ")"
        meta = dict(framework="tf1", tf_version=tf.__version__,
                    converter=f"tf2onnx-{tf2onnx.__version__}-" +
                    ("from_graph_def" if how != "function" else "from_function"),
                    opset=mp.opset_import[0].version, files=["model.onnx"],
                    layers=[f"dynamic_rnn(sequence_length)", cell_desc, f"cell:{cname}"],
                    keras_inputs=["x", "seq_len"], keras_outputs=["y", "h"],
                    onnx_inputs=[i.name for i in mp.graph.input], onnx_outputs=[o.name for o in mp.graph.output],
                    tolerance=TOL)
        write_meta(d, meta)
        try:
            err = ort_check(d, read_meta(d))
        except Exception as e:  # noqa: BLE001 - tf2onnx wrote a model ORT cannot load: not golden data
            print(f"{name}: DOES NOT CONVERT (ORT: {type(e).__name__}: {str(e)[:200]})")
            shutil.rmtree(d)
            continue
        with open(os.path.join(d, "meta.txt"), "a") as f:
            f.write(f"ort_max_err {err:.3g}\n")
        print(f"{name}: {meta['converter']}, {meta['onnx_inputs']} -> {meta['onnx_outputs']}, ORT err {err:.2g}")


# --------------------------------------------------------------------------------------------
# PyTorch: pack_padded_sequence(enforce_sorted=False)
# --------------------------------------------------------------------------------------------
def torch_part():
    import torch
    import warnings
    warnings.filterwarnings("ignore")

    class Packed(torch.nn.Module):
        def __init__(self, kind, I, H, layers, bidir):
            super().__init__()
            self.rnn = getattr(torch.nn, kind)(I, H, num_layers=layers, bidirectional=bidir, batch_first=True)

        def forward(self, x, lengths):
            p = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            y, h = self.rnn(p)
            y, _ = torch.nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=x.shape[1])
            h = h[0] if isinstance(h, tuple) else h
            return y, h

    wipe("torch_")
    for name, kind, layers, bidir in [("packed_lstm", "LSTM", 1, False), ("packed_gru_bidir", "GRU", 1, True),
                                      ("packed_lstm2", "LSTM", 2, False), ("packed_rnn", "RNN", 1, False)]:
        name = "torch_" + name
        if ARGS.only and ARGS.only not in name:
            continue
        torch.manual_seed(seed_of(name))
        T, N, I, H = 6, 3, 4, 5
        m = Packed(kind, I, H, layers, bidir)
        opt = torch.optim.SGD(m.parameters(), lr=0.1)
        for _ in range(3):
            x = torch.rand(N, T, I) * 2 - 1
            lengths = torch.tensor([4, 6, 2])
            y, _ = m(x, lengths)
            loss = (y ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        m.eval()
        x = torch.rand(N, T, I) * 2 - 1
        lengths = torch.tensor([3, 6, 1], dtype=torch.int64)
        d = fresh_dir(name)
        with torch.no_grad():
            y, h = m(x, lengths)
            torch.onnx.export(m, (x, lengths), os.path.join(d, "model.onnx"), input_names=["x", "lengths"],
                              output_names=["y", "h"], opset_version=14,
                              dynamic_axes={"x": {0: "batch", 1: "time"}, "lengths": {0: "batch"},
                                            "y": {0: "batch", 1: "time"}, "h": {1: "batch"}})
        save_arrays(d, "in", ["x", "lengths"], [x.numpy(), lengths.numpy()])
        save_arrays(d, "out", ["y", "h"], [y.numpy(), h.numpy()])
        write_meta(d, dict(framework="torch", torch_version=torch.__version__, converter="torch.onnx.export",
                           opset=14, files=["model.onnx"], layers=[f"pack_padded_sequence(enforce_sorted=False)",
                                                                   kind + (f"x{layers}" if layers > 1 else "")
                                                                   + ("(bidirectional)" if bidir else ""),
                                                                   "pad_packed_sequence"],
                           keras_inputs=["x", "lengths"], keras_outputs=["y", "h"], onnx_inputs=["x", "lengths"],
                           onnx_outputs=["y", "h"], tolerance=TOL))
        print(f"{name}: written (ORT check in --part check)")


# --------------------------------------------------------------------------------------------
# ORT over everything + the op inventory
# --------------------------------------------------------------------------------------------
CLRNN_OPS = None


def clrnn_ops():
    """op_types of src/onnx/ops.c's registry (the ox_op definitions' first field)."""
    import re
    ops = set()
    for fn in os.listdir(os.path.join(ROOT, "src", "onnx")):
        if fn.endswith(".c"):
            src = open(os.path.join(ROOT, "src", "onnx", fn)).read()
            for m in re.finditer(r"const ox_op clrnn_ox_op_\w+\s*=\s*\{\s*\"(\w+)\"", src):
                ops.add(m.group(1))
            for m in re.finditer(r"^\w+_OP\(\w+,\s*\"(\w+)\"", src, re.M):  # ops defined by a macro
                ops.add(m.group(1))
    return ops


def ops_of(graph, acc, depth=0):
    import onnx
    for n in graph.node:
        acc.setdefault(n.op_type, set()).add(depth)
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                ops_of(a.g, acc, depth + 1)
            for g in a.graphs:
                ops_of(g, acc, depth + 1)
    return acc


def check_part():
    import onnx
    supported = clrnn_ops()
    rows, union = [], {}
    for name in sorted(os.listdir(ARGS.out)):
        d = os.path.join(ARGS.out, name)
        if not os.path.isfile(os.path.join(d, "model.onnx")) or not os.path.isfile(os.path.join(d, "meta.txt")):
            continue
        meta = read_meta(d)
        err = ort_check(d, meta)
        m = onnx.load(os.path.join(d, "model.onnx"))
        acc = ops_of(m.graph, {})
        top = sorted(o for o, ds in acc.items() if 0 in ds)
        inner = sorted(o for o, ds in acc.items() if any(x > 0 for x in ds))
        missing = sorted(o for o in acc if o not in supported)
        for o in missing:
            union.setdefault(o, []).append(name)
        rows.append((name, " ".join(meta.get("layers", [])), top, inner, missing, err))
        print(f"{name}: ORT {err:.2g}; missing {missing}")
    def form(top):
        return " ".join(o for o in ("LSTM", "GRU", "RNN", "Loop", "Scan") if o in top) or "-"
    with open(os.path.join(ARGS.out, "OPS.md"), "w") as f:
        f.write("# ONNX ops in the converted models\n\nWritten by `tools/golden_tf.py --part check`. Per model: "
                "how the recurrence was emitted (an ONNX LSTM/GRU/RNN node, a Loop or a Scan), the op_types "
                "of the main graph, those inside Loop/Scan bodies (recursively), and those clrnn's registry "
                "(src/onnx/ops.c) lacks today. k2_ = Keras 2.15 (TF 2.15.1), k3_ = Keras 3.15 (TF 2.21.0), "
                "both through tf2onnx 1.17.0 `from_keras`; tf1_ = tf.compat.v1 dynamic_rnn through "
                "`from_graph_def` (frozen, v1 control flow) or `from_function` (tf.function); torch_ = "
                "torch.onnx (PyTorch 1.13).\n\n")
        groups = {}
        for name, _, top, _, missing, _ in rows:
            groups.setdefault(" ".join(missing) or "(none: loads today)", []).append(name)
        f.write("## Models by the ops they lack\n\n| ops not in clrnn | models |\n|---|---|\n")
        for k in sorted(groups, key=lambda k: (k.startswith("("), k)):
            f.write(f"| {k} | {' '.join(groups[k])} |\n")
        f.write("\n## Per model\n\n| model | layers | recurrence | graph ops | subgraph ops | not in clrnn |\n"
                "|---|---|---|---|---|---|\n")
        for name, layers, top, inner, missing, _ in rows:
            f.write(f"| {name} | {layers} | {form(top)} | {' '.join(top)} | {' '.join(inner) or '-'} | "
                    f"{' '.join(missing) or '(none)'} |\n")
        f.write("\n## Union of ops not in clrnn today\n\n| op | models |\n|---|---|\n")
        for o in sorted(union):
            f.write(f"| {o} | {len(union[o])} |\n")
        f.write(f"\n{len(union)} ops: {' '.join(sorted(union))}\n")
    with open(os.path.join(ARGS.out, "OPS.txt"), "w") as f:
        f.write("".join(o + "\n" for o in sorted(union)))
    print(f"{len(rows)} models, union of missing ops ({len(union)}): {' '.join(sorted(union))}")


# --------------------------------------------------------------------------------------------
def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=["keras", "tf1", "torch", "check"], required=True)
    ap.add_argument("--only", default="")
    ap.add_argument("--case", default="", help=argparse.SUPPRESS)  # tf1: one case (the script runs each alone)
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "keras"))
    ARGS = ap.parse_args()
    os.makedirs(ARGS.out, exist_ok=True)
    if ARGS.part == "keras":
        keras_part()
    elif ARGS.part == "tf1":
        tf1_part()
    elif ARGS.part == "torch":
        torch_part()
    else:
        check_part()


if __name__ == "__main__":
    sys.exit(main())
