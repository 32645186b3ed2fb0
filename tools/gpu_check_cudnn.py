#!/usr/bin/env python3
"""PyTorch (cuDNN) against clrnn on the benchmark suite's S1-S6, for tools/gpu-check.sh.

For each scenario: a torch.nn.LSTM/GRU/RNN with seeded weights runs the forward on the GPU
(cuDNN, fp32 with TF32 off, timed with CUDA events: median of --repeat after warm-ups); the same
weights go into an ONNX model (LSTM/GRU/RNN nodes, built with onnx.helper, no exporter needed) that
clrnn-run runs on the same input; the table gets clrnn's time from clrnn-bench --suite's JSON (same
shape, its own random weights), cuDNN's time, the speed ratio and max |clrnn - cuDNN| over y.

  gpu_check_cudnn.py --clrnn-run BIN --bench-json FILE --work DIR --out TABLE.md [--repeat 20]
  gpu_check_cudnn.py --cpu --tiny ...   the same pipeline on the CPU with tiny shapes (dry run)

clrnn-run is called with the environment this script gets (the caller sets LD_LIBRARY_PATH and
OCL_ICD_VENDORS for it only: the carried Debian libraries must not reach this Python process).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

# name, cell, T, N, I, H, layers, bidirectional  (tools/bench_common.c, bench_scenarios)
SCENARIOS = [
    ("S1", "lstm", 100, 64, 512, 512, 1, False),
    ("S2", "lstm", 100, 1, 256, 256, 1, False),
    ("S3", "gru", 100, 64, 512, 512, 1, False),
    ("S4", "lstm", 50, 32, 256, 256, 2, True),
    ("S5", "rnn_tanh", 28, 150, 28, 150, 1, False),
    ("S6", "lstm", 100, 64, 1024, 1024, 1, False),
]
TINY = [(n, c, 5, 3, 4, 6, l, b) for (n, c, _, _, _, _, l, b) in SCENARIOS]


def torch_module(torch, cell, I, H, L, bidir):
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(cell)
    if cls is not None:
        return cls(I, H, num_layers=L, bidirectional=bidir)
    return torch.nn.RNN(I, H, num_layers=L, bidirectional=bidir, nonlinearity="tanh")


def onnx_order(cell, a, H):
    """PyTorch's gate blocks (rows of H) in ONNX's order: LSTM ifgo -> iofc, GRU rzn -> zrh."""
    if cell == "lstm":
        i, f, g, o = (a[k * H:(k + 1) * H] for k in range(4))
        return np.concatenate([i, o, f, g])
    if cell == "gru":
        r, z, n = (a[k * H:(k + 1) * H] for k in range(3))
        return np.concatenate([z, r, n])
    return a


def onnx_model(onnx, mod, cell, T, N, I, H, L, bidir):
    from onnx import TensorProto, helper, numpy_helper
    D = 2 if bidir else 1
    op = {"lstm": "LSTM", "gru": "GRU"}.get(cell, "RNN")
    nodes, inits = [], []
    inits.append(numpy_helper.from_array(np.array([0, 0, -1], dtype=np.int64), "shape_tn"))
    cur = "x"
    for layer in range(L):
        Ws, Rs, Bs = [], [], []
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            w = getattr(mod, "weight_ih" + sfx).detach().cpu().numpy()
            r = getattr(mod, "weight_hh" + sfx).detach().cpu().numpy()
            bw = getattr(mod, "bias_ih" + sfx).detach().cpu().numpy()
            br = getattr(mod, "bias_hh" + sfx).detach().cpu().numpy()
            Ws.append(onnx_order(cell, w, H))
            Rs.append(onnx_order(cell, r, H))
            Bs.append(np.concatenate([onnx_order(cell, bw, H), onnx_order(cell, br, H)]))
        for nm, arr in (("W", Ws), ("R", Rs), ("B", Bs)):
            inits.append(numpy_helper.from_array(np.stack(arr).astype(np.float32), f"{nm}{layer}"))
        attrs = {"hidden_size": H, "direction": "bidirectional" if bidir else "forward"}
        if cell == "gru":
            attrs["linear_before_reset"] = 1  # PyTorch's GRU
        nodes.append(helper.make_node(op, [cur, f"W{layer}", f"R{layer}", f"B{layer}"], [f"Y{layer}"],
                                      name=f"rnn{layer}", **attrs))
        # Y [T, D, N, H] -> [T, N, D*H], PyTorch's layout (forward half first)
        nodes.append(helper.make_node("Transpose", [f"Y{layer}"], [f"Yt{layer}"], perm=[0, 2, 1, 3]))
        out = "y" if layer == L - 1 else f"x{layer + 1}"
        nodes.append(helper.make_node("Reshape", [f"Yt{layer}", "shape_tn"], [out]))
        cur = out
    graph = helper.make_graph(nodes, f"{cell}_suite",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [T, N, I])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [T, N, D * H])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])


def time_torch(torch, mod, x, repeat, cuda):
    with torch.no_grad():
        for _ in range(3):
            y, _ = mod(x)
        if not cuda:
            t = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                mod(x)
                t.append((time.perf_counter() - t0) * 1e3)
            return y, float(np.median(t))
        torch.cuda.synchronize()
        t = []
        for _ in range(repeat):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            mod(x)
            b.record()
            torch.cuda.synchronize()
            t.append(a.elapsed_time(b))
        return y, float(np.median(t))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clrnn-run", required=True)
    ap.add_argument("--bench-json", help="clrnn-bench --suite --json output (clrnn's times)")
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--cpu", action="store_true", help="PyTorch on the CPU (dry run)")
    ap.add_argument("--tiny", action="store_true", help="tiny shapes (dry run)")
    a = ap.parse_args()
    import onnx
    import torch
    cuda = not a.cpu
    if cuda and not torch.cuda.is_available():
        sys.exit("gpu_check_cudnn: torch sees no CUDA device")
    dev = torch.device("cuda" if cuda else "cpu")
    if cuda:  # fp32 as clrnn: no TF32 in cuDNN's GEMMs
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
    bench = {}
    if a.bench_json and os.path.exists(a.bench_json):
        with open(a.bench_json) as f:
            for s in json.load(f).get("scenarios", []):
                bench[s.get("scenario")] = s
    os.makedirs(a.work, exist_ok=True)
    rows, worst = [], 0.0
    for (name, cell, T, N, I, H, L, bidir) in (TINY if a.tiny else SCENARIOS):
        torch.manual_seed(1234)
        mod = torch_module(torch, cell, I, H, L, bidir).to(dev).eval()
        x = torch.randn(T, N, I, device=dev)
        y, ms = time_torch(torch, mod, x, 3 if a.tiny else a.repeat, cuda)
        y = y.detach().cpu().numpy()
        d = os.path.join(a.work, name)
        os.makedirs(d, exist_ok=True)
        model = os.path.join(d, "model.onnx")
        onnx.save(onnx_model(onnx, mod, cell, T, N, I, H, L, bidir), model)
        np.save(os.path.join(d, "x.npy"), x.detach().cpu().numpy())
        r = subprocess.run([a.clrnn_run, model, "--input", "x=" + os.path.join(d, "x.npy"), "--output-dir", d],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(f"{name}: clrnn-run failed: {r.stderr.strip()}", file=sys.stderr)
            diff = float("nan")
        else:
            yc = np.load(os.path.join(d, "y.npy"))
            diff = float(np.max(np.abs(yc.astype(np.float64) - y))) if yc.shape == y.shape else float("inf")
        worst = max(worst, diff) if diff == diff else float("inf")
        b = bench.get(name, {})
        c_ms = b.get("median_ms")
        shape = f"{cell} T={T} N={N} I={I} H={H}" + (f" L={L}" if L > 1 else "") + (" bidir" if bidir else "")
        rows.append((name, shape, c_ms, ms, (ms / c_ms) if c_ms else None, diff))
    ref = "cuDNN" if cuda else "PyTorch CPU"
    lines = [f"| scenario | shape | clrnn ms | {ref} ms | speed vs {ref} ({ref} ms / clrnn ms) | max abs diff |",
             "|---|---|---|---|---|---|"]
    fmt = lambda v, f: (f % v) if isinstance(v, (int, float)) and v == v else "—"
    for (name, shape, c_ms, ms, ratio, diff) in rows:
        lines.append(f"| {name} | {shape} | {fmt(c_ms, '%.3f')} | {fmt(ms, '%.3f')} | {fmt(ratio, '%.2fx')} | "
                     f"{fmt(diff, '%.2e')} |")
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    # fp32 both sides: a wrong result is far above 1e-3 (T=100 steps of H=1024 accumulate ~1e-5)
    return 0 if worst < 1e-3 else 1


if __name__ == "__main__":
    sys.exit(main())
