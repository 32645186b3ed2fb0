#!/bin/sh
# clrnn-train's command-line contract, end to end on tiny synthetic data written here:
#   test_train_tool.sh CLRNN_TRAIN CLRNN_RUN WORK_DIR [PYTHON]
# Each head kind (softmax, sigmoid, linear, seq-linear), --embedding --mask-zero, --mask-value,
# --lengths, --bidirectional with each merge, --layers 2 --dropout, every cell, every optimizer:
# the --json object's fields and values (steps, finite losses, accuracy in [0, 1]), the loss going
# down (the per-epoch validation lines on stderr), --save writing a model that clrnn-run runs and
# whose predictions on the validation set give back the JSON's val_loss / val_accuracy (the same
# net through the inference forward, recomputed here with numpy), --init DIR, determinism (two
# runs, the same JSON losses), and bad arguments / bad files: exit status 1 and exactly one line on
# stderr, "clrnn-train: ...". numpy (Debian's python3-numpy) writes the data and checks; without it
# the test is skipped (exit 77).
set -eu
PY=${4:-/usr/bin/python3}
if ! "$PY" -c 'import numpy' 2>/dev/null; then
    echo "skipped: $PY has no numpy"
    exit 77
fi
exec "$PY" - "$1" "$2" "$3" <<'EOF'
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np

TRAIN, RUN, WORK = sys.argv[1:4]
os.environ.pop("POCL_DEBUG", None)  # ctest's POCL_DEBUG=error makes PoCL print a banner line on stderr
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
failures = []


def fail(msg):
    print("FAIL:", msg, flush=True)
    failures.append(msg)


def save(name, a):
    p = os.path.join(WORK, name + ".npy")
    np.save(p, a)
    return p


def train(args, expect_ok=True):
    p = subprocess.run([TRAIN] + args, capture_output=True, text=True, timeout=300)
    if expect_ok and p.returncode != 0:
        fail(f"clrnn-train {' '.join(args)} exited {p.returncode}: {p.stderr.strip()[-400:]}")
        return None, p
    return p, p


def run_model(model, x):
    out = os.path.join(WORK, "run_out")
    shutil.rmtree(out, ignore_errors=True)
    p = subprocess.run([RUN, model, "--input", "x=" + save("run_x", x), "--output-dir", out],
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        fail(f"clrnn-run {model} exited {p.returncode}: {p.stderr.strip()[-400:]}")
        return None
    return np.load(os.path.join(out, "y.npy"))


rng = np.random.default_rng(7)
N, T, F = 48, 6, 3


def close(got, exp, what, tol=2e-4):
    if not (abs(got - exp) <= tol * (1 + abs(exp))):
        fail(f"{what}: {got} vs {exp}")


# ---------------------------------------------------------------------------------------------
# Learnable tiny tasks (validation = training data, so the loss must go down on it)
# ---------------------------------------------------------------------------------------------
x = rng.standard_normal((N, T, F)).astype(np.float32)
label3 = (np.argmax(x.sum(1), -1)).astype(np.int32)              # softmax:3: which feature sums largest
label_sig = (x[:, :, 0].sum(1) > 0).astype(np.float32)           # sigmoid
lin2 = np.stack([x[:, :, 0].mean(1), x[:, :, 1].sum(1) / 3], -1).astype(np.float32)   # linear:2
seq2 = np.concatenate([np.cumsum(x[:, :, :1], 1) / 3, x[:, :, 1:2] * 0.5], -1).astype(np.float32)  # seq-linear:2
lengths = rng.integers(1, T + 1, size=N).astype(np.int32)
lengths[3] = 0                                                   # a zero-length row
X = save("x", x)
Y3, YS, YL, YQ = save("y3", label3), save("ys", label_sig), save("yl", lin2), save("yq", seq2)
LEN = save("len", lengths)
# Keras Masking: right-padded with -1
xm = x.copy()
lm = np.maximum(lengths, 1)
for n in range(N):
    xm[n, lm[n]:] = -1.0
XM = save("xm", xm)
# ids with mask_zero: lengths 2..T right-padded with 0, label: is id 1..4 more common than 5..9
V = 12
ids = np.zeros((N, T), dtype=np.int64)
lab_ids = np.zeros((N, 1), dtype=np.float32)
for n in range(N):
    L = rng.integers(2, T + 1)
    ids[n, :L] = rng.integers(1, V, size=L)
    lab_ids[n] = float(((ids[n] >= 1) & (ids[n] < 5)).sum() > ((ids[n] >= 5) & (ids[n] < 9)).sum())
IDS, YID = save("ids", ids), save("yid", lab_ids)
IDS32 = save("ids32", ids.astype(np.int32))

BASE = ["--hidden", "8", "--batch", "16", "--seed", "3", "--json"]


def softmax_xent(p, y):
    return float(np.mean(-np.log(np.maximum(p[np.arange(len(y)), y], 1e-30)))), float(np.mean(p.argmax(-1) == y))


def bce(p, y):
    p = np.clip(p.reshape(-1).astype(np.float64), 1e-12, 1 - 1e-12)
    y = y.reshape(-1)
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))), float(np.mean((p > 0.5) == (y > 0.5)))


def case(name, args, head, yfile, xfile=X, lr="0.02", epochs=12, check_run=True, masked_mse=None):
    """Trains, checks the JSON and the loss going down, saves and runs the model."""
    model = os.path.join(WORK, name + ".onnx")
    full = ["--x", xfile, "--y", yfile, "--val-x", xfile, "--val-y", yfile, "--head", head, "--lr", lr,
            "--epochs", str(epochs), "--save", model] + BASE + args
    p, _ = train(full)
    if p is None:
        return None
    try:
        r = json.loads(p.stdout.strip().splitlines()[-1])
    except Exception as e:  # noqa: BLE001
        fail(f"{name}: stdout is not one JSON object ({e}): {p.stdout!r}")
        return None
    classify = head.startswith(("softmax", "sigmoid"))
    need = ["train_loss", "val_loss", "steps", "seconds", "ms_per_step"] + (["val_accuracy", "train_accuracy"] if classify else [])
    for k in need:
        if k not in r or not isinstance(r[k], (int, float)) or not math.isfinite(r[k]):
            fail(f"{name}: JSON field {k} missing or not a finite number: {r}")
            return None
    if classify and "val_accuracy" in r and not 0 <= r["val_accuracy"] <= 1:
        fail(f"{name}: val_accuracy {r['val_accuracy']}")
    if not classify and "val_accuracy" in r:
        fail(f"{name}: val_accuracy for a regression head")
    if r["steps"] != epochs * math.ceil(N / 16):
        fail(f"{name}: steps {r['steps']}, expected {epochs * math.ceil(N / 16)}")
    if r["seconds"] <= 0 or abs(r["ms_per_step"] - 1e3 * r["seconds"] / r["steps"]) > 1e-3 * r["ms_per_step"] + 1e-3:
        fail(f"{name}: seconds {r['seconds']} / ms_per_step {r['ms_per_step']} inconsistent")
    # the loss goes down: the validation lines, one per epoch
    vals = [float(l.split("val_loss")[1].split()[0]) for l in p.stderr.splitlines() if ": val_loss" in l]
    if len(vals) != epochs:
        fail(f"{name}: {len(vals)} validation lines for {epochs} epochs: {p.stderr[-300:]!r}")
    elif not vals[-1] < 0.9 * vals[0]:
        fail(f"{name}: val_loss did not go down: {vals}")
    if abs(vals[-1] - r["val_loss"]) > 1e-4 * (1 + abs(r["val_loss"])) if vals else False:
        fail(f"{name}: last validation line {vals[-1]} differs from the JSON's {r['val_loss']}")
    if not check_run:
        return r
    # --save: clrnn-run's output on the validation set gives back the JSON's numbers
    y = run_model(model, np.load(xfile))
    if y is None:
        return r
    yv = np.load(yfile)
    if head.startswith("softmax"):
        if y.shape != (N, int(head.split(":")[1])) or np.abs(y.sum(-1) - 1).max() > 1e-4:
            fail(f"{name}: clrnn-run's y {y.shape} is not [N, C] probabilities")
        loss, acc = softmax_xent(y, yv)
        close(loss, r["val_loss"], f"{name}: cross-entropy of clrnn-run's probabilities vs val_loss")
        close(acc, r["val_accuracy"], f"{name}: accuracy of clrnn-run's probabilities vs val_accuracy", 1e-6)
    elif head.startswith("sigmoid"):
        loss, acc = bce(y, yv)
        close(loss, r["val_loss"], f"{name}: BCE of clrnn-run's probabilities vs val_loss")
        close(acc, r["val_accuracy"], f"{name}: accuracy of clrnn-run's probabilities vs val_accuracy", 1e-6)
    else:
        if y.shape != yv.shape:
            fail(f"{name}: clrnn-run's y {y.shape}, targets {yv.shape}")
            return r
        err = (y.astype(np.float64) - yv) ** 2
        if masked_mse is not None:
            w = masked_mse[..., None].astype(np.float64)
            loss = float((err * w).sum() / (w.sum() * yv.shape[-1]))
        else:
            loss = float(err.mean())
        close(loss, r["val_loss"], f"{name}: MSE of clrnn-run's values vs val_loss")
    return r


# each head, each cell, each optimizer
case("softmax_lstm", ["--cell", "lstm"], "softmax:3", Y3)
case("sigmoid_gru", ["--cell", "gru", "--optimizer", "rmsprop"], "sigmoid", YS, lr="0.01")
case("linear_rnn_tanh", ["--cell", "rnn_tanh", "--optimizer", "sgd", "--momentum", "0.9", "--clip-norm", "1"],
     "linear:2", YL, lr="0.05")
case("seq_linear_rnn_relu", ["--cell", "rnn_relu"], "seq-linear:2", YQ)
case("seq_linear_gru_lbr", ["--cell", "gru_lbr"], "seq-linear:2", YQ, check_run=False)
# --embedding --mask-zero (int64 and int32 ids); the model takes int64 ids
case("embedding_mask_zero", ["--cell", "lstm", "--embedding", f"{V}:5", "--mask-zero"], "sigmoid", YID, xfile=IDS,
     lr="0.03")
case("embedding_int32", ["--cell", "gru", "--embedding", f"{V}:4"], "sigmoid", YID, xfile=IDS32, lr="0.03",
     check_run=False)
# --mask-value (the model derives the lengths from the padding)
case("mask_value", ["--cell", "lstm", "--mask-value", "-1"], "softmax:3", Y3, xfile=XM)
case("mask_value_seq", ["--cell", "rnn_tanh", "--mask-value", "-1"], "seq-linear:2", YQ, xfile=XM,
     masked_mse=np.arange(T)[None, :] < lm[:, None])
# --lengths (the saved model has no lengths input: its run is not comparable, the training is)
case("lengths_seq", ["--cell", "lstm", "--lengths", LEN, "--val-lengths", LEN], "seq-linear:2", YQ, check_run=False)
# --bidirectional with each merge
for merge in ("concat", "sum", "ave", "mul"):
    case("bidir_" + merge, ["--cell", "lstm" if merge != "mul" else "gru", "--bidirectional", "--merge", merge],
         "softmax:3", Y3)
case("bidir_seq_mask", ["--cell", "gru", "--bidirectional", "--merge", "concat", "--mask-value", "-1"],
     "seq-linear:2", YQ, xfile=XM, masked_mse=np.arange(T)[None, :] < lm[:, None])
# stacked with dropout (inference ignores it: clrnn-run agrees with the validation numbers)
case("layers2_dropout", ["--cell", "lstm", "--layers", "2", "--dropout", "0.3"], "softmax:3", Y3, epochs=16)
case("layers2_keras_dropout", ["--cell", "gru", "--layers", "2", "--input-dropout", "0.2",
                               "--recurrent-dropout", "0.2"], "sigmoid", YS, epochs=16, check_run=False)

# determinism: the same run twice gives the same numbers (dropout included)
args = ["--x", X, "--y", Y3, "--head", "softmax:3", "--cell", "lstm", "--layers", "2", "--dropout", "0.3",
        "--steps", "5"] + BASE
a1, _ = train(args)
a2, _ = train(args)
if a1 and a2:
    j1, j2 = json.loads(a1.stdout), json.loads(a2.stdout)
    if j1["train_loss"] != j2["train_loss"]:
        fail(f"two identical runs differ: {j1['train_loss']} vs {j2['train_loss']}")
    if "val_loss" in j1:
        fail("val_loss without --val-x")
    if j1["steps"] != 5:
        fail(f"--steps 5 ran {j1['steps']} steps")

# --init DIR: PyTorch-named weights; a head whose weights are all zero gives loss log(3) at step 1
init = os.path.join(WORK, "init")
os.makedirs(init)
H = 8
for nm, shape in [("rnn.weight_ih_l0", (4 * H, F)), ("rnn.weight_hh_l0", (4 * H, H)), ("rnn.bias_ih_l0", (4 * H,)),
                  ("rnn.bias_hh_l0", (4 * H,)), ("head.weight", (3, H)), ("head.bias", (3,))]:
    v = rng.uniform(-0.3, 0.3, size=shape).astype(np.float32)
    if nm.startswith("head"):
        v[:] = 0
    np.save(os.path.join(init, nm + ".npy"), v)
p, _ = train(["--x", X, "--y", Y3, "--head", "softmax:3", "--cell", "lstm", "--steps", "1", "--batch", str(N),
              "--hidden", "8", "--json", "--init", init])
if p:
    close(json.loads(p.stdout)["train_loss"], math.log(3), "--init with a zero head: the first loss", 1e-6)

# ---------------------------------------------------------------------------------------------
# Bad arguments and bad files: exit 1, one line on stderr
# ---------------------------------------------------------------------------------------------
notnpy = os.path.join(WORK, "not.npy")
with open(notnpy, "w") as f:
    f.write("this is not a .npy file\n")
trunc = os.path.join(WORK, "trunc.npy")
with open(X, "rb") as f:
    data = f.read()
with open(trunc, "wb") as f:
    f.write(data[: len(data) // 2])
bad_label = save("badlab", np.full(N, 3, dtype=np.int32))
nan_x = x.copy()
nan_x[2, 1, 0] = np.nan
NANX = save("nanx", nan_x)
bad_ids = ids.copy()
bad_ids[0, 0] = V
BADIDS = save("badids", bad_ids)
short_y = save("shorty", label3[:-1])
bad_len = lengths.copy()
bad_len[0] = T + 1
BADLEN = save("badlen", bad_len)
GOOD = ["--x", X, "--y", Y3, "--cell", "lstm", "--hidden", "4", "--head", "softmax:3", "--steps", "1"]


def without(flag, args=GOOD):
    i = args.index(flag)
    return args[:i] + args[i + 2:]


bad = {
    "unknown flag": GOOD + ["--bogus"],
    "missing value": GOOD + ["--lr"],
    "no --x": without("--x"),
    "no --cell": without("--cell"),
    "no --hidden": without("--hidden"),
    "no --head": without("--head"),
    "bad --cell": without("--cell") + ["--cell", "transformer"],
    "bad --head": without("--head") + ["--head", "softmax"],
    "bad --head kind": without("--head") + ["--head", "tanh:3"],
    "softmax:1": without("--head") + ["--head", "softmax:1"],
    "bad --hidden": without("--hidden") + ["--hidden", "0"],
    "bad --lr": GOOD + ["--lr", "abc"],
    "negative --dropout": GOOD + ["--dropout", "-0.1"],
    "--dropout 1": GOOD + ["--dropout", "1"],
    "--epochs and --steps": GOOD + ["--epochs", "1"],
    "neither --epochs nor --steps": without("--steps"),
    "--merge without --bidirectional": GOOD + ["--merge", "sum"],
    "bad --merge": GOOD + ["--bidirectional", "--merge", "max"],
    "bad --optimizer": GOOD + ["--optimizer", "lbfgs"],
    "--momentum with adam": GOOD + ["--momentum", "0.9"],
    "--val-x without --val-y": GOOD + ["--val-x", X],
    "--lengths and --mask-value": GOOD + ["--lengths", LEN, "--mask-value", "-1"],
    "--mask-zero without --embedding": GOOD + ["--mask-zero"],
    "--lengths with --val-x, no --val-lengths": GOOD + ["--lengths", LEN, "--val-x", X, "--val-y", Y3],
    "bad --embedding": GOOD + ["--embedding", "12"],
    "missing x file": without("--x") + ["--x", os.path.join(WORK, "nope.npy")],
    "x not a .npy": without("--x") + ["--x", notnpy],
    "x truncated": without("--x") + ["--x", trunc],
    "x with NaN": without("--x") + ["--x", NANX],
    "ids as float x": without("--x") + ["--x", IDS],
    "float x with --embedding": GOOD + ["--embedding", f"{V}:4"],
    "id outside the vocabulary": without("--x") + ["--x", BADIDS, "--embedding", f"{V}:4"],
    "label out of range": without("--y") + ["--y", bad_label],
    "y rows != x rows": without("--y") + ["--y", short_y],
    "float labels for softmax": without("--y") + ["--y", YS],
    "sigmoid with int labels": without("--head") + ["--head", "sigmoid"],
    "seq-linear with [N, O] y": without("--y", without("--head")) + ["--head", "seq-linear:2", "--y", YL],
    "length > T": GOOD + ["--lengths", BADLEN],
    "--init dir without files": GOOD + ["--init", os.path.join(WORK, "nope")],
    "--save into a missing dir": GOOD + ["--save", os.path.join(WORK, "no", "such", "dir", "m.onnx")],
    "bad --device": GOOD + ["--device", "no-such-device-xyz"],
}
for what, args in bad.items():
    p = subprocess.run([TRAIN] + args, capture_output=True, text=True, timeout=120)
    lines = p.stderr.splitlines()
    if p.returncode != 1:
        fail(f"{what}: exit status {p.returncode}, expected 1 (stderr {p.stderr[-200:]!r})")
    elif len(lines) != 1 or not lines[0].startswith("clrnn-train: "):
        fail(f"{what}: stderr is not one 'clrnn-train: ' line: {p.stderr!r}")
    elif p.stdout:
        fail(f"{what}: wrote to stdout: {p.stdout!r}")
    if what == "--save into a missing dir" and os.path.exists(os.path.join(WORK, "no")):
        fail("a failed --save left files")

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
EOF
