#!/usr/bin/env python3
"""test_loop_kernels_planted: tools/check_loops.py on planted copies of the tree must fail, naming
what was planted; on an unchanged copy it must pass (so the failures come from the plants).

Each plant is applied to a fresh copy (the build's lists, cl/, src/, include/, the allow-list):
  new_kernel      a __kernel looping over a runtime argument, not listed
  via_helper      a __kernel whose helper loops over the kernel's runtime argument, not listed; a
                  second kernel calling the same helper with a constant must not be reported
  while_start     a while loop with a constant condition whose variable starts at a runtime value
  stale_entry     an allow-list entry for a kernel no program defines
  not_a_loop      an allow-list entry for a kernel without a runtime loop (copy_rows)
  undeclared      the fused backward scan's clrnn_karg_loops removed (plan_tiled_bwd.c): the
                  defect this check was written for
  wrong_function  an entry naming a function that declares loops but launches another kernel
  unlisted_file   a .cl file in cl/ that no program of the build's lists includes
Usage: check_loops_planted.py SOURCE_ROOT"""
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
CHECKER = os.path.join(ROOT, "tools", "check_loops.py")
COPIED = ["CMakeLists.txt", "tools/cmake", "tools/loop_kernels.txt", "cl", "src", "include"]


def copy_tree(dst):
    for rel in COPIED:
        s, d = os.path.join(ROOT, rel), os.path.join(dst, rel)
        os.makedirs(os.path.dirname(d), exist_ok=True)
        (shutil.copytree if os.path.isdir(s) else shutil.copyfile)(s, d)


def append(tree, rel, text):
    with open(os.path.join(tree, rel), "a", encoding="utf-8") as f:
        f.write(text)


def replace(tree, rel, old, new):
    path = os.path.join(tree, rel)
    text = open(path, encoding="utf-8").read()
    if old not in text:
        raise SystemExit("plant: %r not found in %s (the test needs updating)" % (old, rel))
    open(path, "w", encoding="utf-8").write(text.replace(old, new, 1))


NEW_KERNEL = """
__kernel void planted_runtime_loop(__global float *y, const int n) {
    float s = 0.0f;
    for (int i = 0; i < n; ++i) s += y[i];
    y[0] = s;
}
"""
VIA_HELPER = """
static inline float planted_sum(__global const float *y, int count) {
    float s = 0.0f;
    int i = 0;
    while (i < count) s += y[i++];
    return s;
}
__kernel void planted_via_helper(__global float *y, const int n) { y[0] = planted_sum(y, n); }
__kernel void planted_constant_helper(__global float *y) { y[0] = planted_sum(y, 16); }
"""
WHILE_START = """
__kernel void planted_while_start(__global float *y, const int n) {
    float s = 0.0f;
    int i = n;
    while (i > 0) s += y[--i];
    y[0] = s;
}
"""

# name: (plant function, strings the checker's output must hold, strings it must not)
PLANTS = {
    "new_kernel": (lambda t: append(t, "cl/merge.cl", NEW_KERNEL), ["planted_runtime_loop", "cl/merge.cl"], []),
    "via_helper": (
        lambda t: append(t, "cl/train/glue.cl", VIA_HELPER),
        ["planted_via_helper", "planted_sum"],
        ["planted_constant_helper"],
    ),
    "while_start": (lambda t: append(t, "src/onnx/kernels.cl", WHILE_START), ["planted_while_start"], []),
    "stale_entry": (
        lambda t: append(t, "tools/loop_kernels.txt", "planted_ghost src/rnn/forward.c clrnn_emit_outputs\n"),
        ["planted_ghost", "stale"],
        [],
    ),
    "not_a_loop": (
        lambda t: append(t, "tools/loop_kernels.txt", "copy_rows src/rnn/forward.c clrnn_move_block\n"),
        ["copy_rows", "no runtime-bounded loop"],
        [],
    ),
    "undeclared": (
        lambda t: replace(t, "src/plans/plan_tiled_bwd.c", "clrnn_karg_loops(&a, loops);", ""),
        ["tr_bwd_scan_1", "tr_bwd_scan_6", "scan_direction", "src/plans/plan_tiled_bwd.c"],
        [],
    ),
    "wrong_function": (
        lambda t: replace(
            t, "tools/loop_kernels.txt", "src/onnx/device.c             clrnn_ox_dev_copy", "src/onnx/device.c clrnn_ox_dev_softmax"
        ),
        ["ox_copy", "clrnn_ox_dev_softmax", "does not pick it"],
        [],
    ),
    "unlisted_file": (
        lambda t: open(os.path.join(t, "cl", "planted.cl"), "w").write(NEW_KERNEL),
        ["cl/planted.cl"],
        [],
    ),
}


def run_checker(tree):
    res = subprocess.run([sys.executable, CHECKER, "--root", tree], capture_output=True, text=True)
    return res.returncode, res.stdout + res.stderr


def main():
    failures = []
    with tempfile.TemporaryDirectory(prefix="clrnn-loops-") as tmp:
        control = os.path.join(tmp, "control")
        copy_tree(control)
        rc, out = run_checker(control)
        if rc != 0:
            failures.append("control (unchanged copy): checker failed (%d):\n%s" % (rc, out))
        for name, (plant, must, must_not) in PLANTS.items():
            tree = os.path.join(tmp, name)
            copy_tree(tree)
            plant(tree)
            rc, out = run_checker(tree)
            missing = [m for m in must if m not in out]
            extra = [m for m in must_not if m in out]
            if rc == 0 or missing or extra:
                failures.append(
                    "%s: checker exit %d, missing %s, wrongly named %s; its output:\n%s" % (name, rc, missing, extra, out)
                )
            else:
                print("%s: caught (exit %d): %s" % (name, rc, out.strip().splitlines()[1].strip()))
    if failures:
        print("\n".join(failures))
        return 1
    print("all %d plants caught, the unchanged copy passes" % len(PLANTS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
