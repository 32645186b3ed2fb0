#!/usr/bin/env python3
"""Checks models written by clrnn_onnx_save against onnx and onnxruntime (for humans: CI has no
onnxruntime).

    tools/check_export.py [DIR ...]        (default: build/tests/onnx-export-tmp)

For every DIR/<name>.onnx beside DIR/<name>.x.npy and DIR/<name>.y.npy (the input and clrnn's
output, as tests/onnx/test_onnx_export.c writes them): onnx.checker.check_model (full_check, with
shape inference), then onnxruntime on x, compared with y as |got - exp| / (1 + |exp|) <= --tol
(default 1e-5). Prints one line per model and exits 1 if any failed.

Needs onnx and onnxruntime, e.g. /work/venvs/keras2/bin/python tools/check_export.py.
"""
import argparse
import glob
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort


def check(path, tol):
    base = path[: -len(".onnx")]
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    x = np.load(base + ".x.npy")
    want = np.load(base + ".y.npy")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    (got,) = sess.run(["y"], {"x": x})
    if got.shape != want.shape:
        return False, "shape %s, clrnn %s" % (got.shape, want.shape)
    err = np.abs(got.astype(np.float64) - want) / (1.0 + np.abs(want.astype(np.float64)))
    worst = float(err.max()) if err.size else 0.0
    if not np.all(np.isfinite(got)) or worst > tol:
        i = np.unravel_index(int(np.nanargmax(err)), err.shape)
        return False, "max err %.3g at %s: onnxruntime %.8g, clrnn %.8g" % (worst, i, got[i], want[i])
    return True, "max err %.3g" % worst


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dirs", nargs="*", default=["build/tests/onnx-export-tmp"])
    ap.add_argument("--tol", type=float, default=1e-5)
    args = ap.parse_args()
    paths = sorted(p for d in args.dirs for p in glob.glob(os.path.join(d, "*.onnx")))
    paths = [p for p in paths if os.path.exists(p[:-5] + ".x.npy") and os.path.exists(p[:-5] + ".y.npy")]
    if not paths:
        print("check_export: no <name>.onnx with <name>.x.npy and <name>.y.npy in", " ".join(args.dirs))
        return 1
    failed = 0
    print("onnx %s, onnxruntime %s" % (onnx.__version__, ort.__version__))
    for p in paths:
        try:
            ok, what = check(p, args.tol)
        except Exception as e:  # a checker or runtime refusal is a failure of that model
            ok, what = False, "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")
        failed += not ok
        print("%-4s %-40s %s" % ("ok" if ok else "FAIL", os.path.basename(p), what))
    print("%d of %d models passed" % (len(paths) - failed, len(paths)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
