#!/usr/bin/python3
"""Golden data for the training glue's optimizers, clipping and losses (tests/train/): the real
frameworks' numbers, in tests/golden/optim/<case>/ as little-endian float32 / int32 .npy files.

Run with Debian's python3 (PyTorch):   /usr/bin/python3 tools/golden_optim.py
It writes the PyTorch cases, then runs itself under TF 2.15 / Keras 2
(/work/venvs/keras2/bin/python, or $KERAS2_PYTHON) with --keras for the Keras cases, which read the
same init.npy / grads.npy.

Every optimizer case: a set of trainable tensors of SIZES elements (concatenated flat, in order),
init.npy [P], grads.npy [K, P] (the gradient given at step k), after.npy [K, P] (the values after
step k), norms.npy [K] (the global gradient norm before clipping, clip cases), and params.txt
(`key value` lines: kind, lr, momentum, nesterov, rho, beta1, beta2, eps, eps_style, clip_norm,
clip_style). Gradient magnitudes span 1e-7 .. 1, so that where eps goes changes the result.

Loss cases (PyTorch): logits.npy [R, C] (extreme values included), labels.npy [R] int32 or
targets.npy [R, C], weight.npy [R] (0 = excluded row), loss.npy [1] (the weighted mean, as
clrnn_loss defines it) and dlogits.npy [R, C] (autograd's gradient of that loss).
"""

import os
import subprocess
import sys
import zlib

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "tests", "golden", "optim")
SIZES = [37, 300, 5]
P = sum(SIZES)
K = 4


def rng_for(name):
    return np.random.RandomState(zlib.crc32(name.encode()) & 0x7FFFFFFF)


def case_dir(name):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    return d


def save(d, name, a):
    np.save(os.path.join(d, name + ".npy"), a)


def write_params(d, **kw):
    keys = ["kind", "lr", "momentum", "nesterov", "rho", "beta1", "beta2", "eps", "eps_style", "clip_norm",
            "clip_style"]
    defaults = dict(momentum=0, nesterov=0, rho=0, beta1=0, beta2=0, eps=0, eps_style="torch", clip_norm=0,
                    clip_style="torch")
    defaults.update(kw)
    with open(os.path.join(d, "params.txt"), "w") as f:
        for k in keys:
            f.write("%s %s\n" % (k, defaults[k]))


def inputs(name, grad_scale=1.0):
    """init [P] and grads [K, P], magnitudes 1e-7..1 (times grad_scale)."""
    rng = rng_for(name)
    init = rng.uniform(-1, 1, size=P).astype(np.float32)
    mag = 10.0 ** rng.uniform(-7, 0, size=(K, P))
    grads = (rng.standard_normal((K, P)) * mag * grad_scale).astype(np.float32)
    return init, grads


# ---------------------------------------------------------------------------------------- torch
def torch_cases():
    import torch

    torch.set_num_threads(1)

    def run(name, make, clip=0.0, grad_scale=1.0, **params):
        init, grads = inputs(name, grad_scale)
        d = case_dir(name)
        save(d, "init", init)
        save(d, "grads", grads)
        ts, off = [], 0
        for s in SIZES:
            ts.append(torch.nn.Parameter(torch.from_numpy(init[off:off + s].copy())))
            off += s
        opt = make(ts)
        after, norms = [], []
        for k in range(K):
            off = 0
            for t, s in zip(ts, SIZES):
                t.grad = torch.from_numpy(grads[k, off:off + s].copy())
                off += s
            if clip > 0:
                norms.append(float(torch.nn.utils.clip_grad_norm_(ts, clip)))
            else:
                norms.append(float(torch.norm(torch.stack([torch.norm(t.grad) for t in ts]))))
            opt.step()
            after.append(torch.cat([t.detach() for t in ts]).numpy().copy())
        save(d, "after", np.stack(after).astype(np.float32))
        save(d, "norms", np.array(norms, dtype=np.float32))
        write_params(d, clip_norm=clip, **params)

    O = torch.optim
    run("torch_sgd", lambda p: O.SGD(p, lr=0.1), kind="sgd", lr=0.1)
    run("torch_sgd_momentum", lambda p: O.SGD(p, lr=0.1, momentum=0.9), kind="sgd", lr=0.1, momentum=0.9)
    run("torch_sgd_nesterov", lambda p: O.SGD(p, lr=0.05, momentum=0.8, nesterov=True), kind="sgd", lr=0.05,
        momentum=0.8, nesterov=1)
    run("torch_rmsprop", lambda p: O.RMSprop(p, lr=0.01, alpha=0.99, eps=1e-8), kind="rmsprop", lr=0.01, rho=0.99,
        eps=1e-8)
    run("torch_rmsprop_momentum", lambda p: O.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-6, momentum=0.5),
        kind="rmsprop", lr=0.01, rho=0.9, eps=1e-6, momentum=0.5)
    run("torch_adam", lambda p: O.Adam(p, lr=0.01, betas=(0.9, 0.999), eps=1e-8), kind="adam", lr=0.01, beta1=0.9,
        beta2=0.999, eps=1e-8)
    run("torch_adam_eps", lambda p: O.Adam(p, lr=0.02, betas=(0.8, 0.99), eps=1e-4), kind="adam", lr=0.02,
        beta1=0.8, beta2=0.99, eps=1e-4)
    # clip_grad_norm_ with norms on both sides of the bound: some steps clipped, others not
    run("torch_clip_sgd", lambda p: O.SGD(p, lr=0.1, momentum=0.9), clip=10.0, grad_scale=3.0, kind="sgd", lr=0.1,
        momentum=0.9)
    run("torch_clip_adam", lambda p: O.Adam(p, lr=0.01), clip=3.3, grad_scale=1.0, kind="adam", lr=0.01,
        beta1=0.9, beta2=0.999, eps=1e-8)

    # losses: weighted mean over the included rows (weight 0 = excluded)
    F = torch.nn.functional

    def loss_case(name, kind, R, C, extreme):
        rng = rng_for(name)
        d = case_dir(name)
        x = rng.uniform(-4, 4, size=(R, C)).astype(np.float32)
        x.flat[:len(extreme)] = extreme
        w = rng.uniform(0.5, 2.0, size=R).astype(np.float32)
        w[1] = 0.0
        w[R - 2] = 0.0
        xt = torch.from_numpy(x.astype(np.float64)).requires_grad_(True)
        wt = torch.from_numpy(w.astype(np.float64))
        if kind == "softmax_xent":
            labels = rng.randint(0, C, size=R).astype(np.int32)
            per = F.cross_entropy(xt, torch.from_numpy(labels.astype(np.int64)), reduction="none")
            save(d, "labels", labels)
        else:
            z = rng.uniform(0, 1, size=(R, C)).astype(np.float32)
            z[0] = np.round(z[0])
            zt = torch.from_numpy(z.astype(np.float64))
            if kind == "sigmoid_bce":
                per = F.binary_cross_entropy_with_logits(xt, zt, reduction="none").mean(dim=1)
            else:
                per = F.mse_loss(xt, zt, reduction="none").mean(dim=1)
            save(d, "targets", z)
        loss = (per * wt).sum() / wt.sum()
        loss.backward()
        save(d, "logits", x)
        save(d, "weight", w)
        save(d, "loss", np.array([loss.item()], dtype=np.float32))
        save(d, "dlogits", xt.grad.numpy().astype(np.float32))
        with open(os.path.join(d, "params.txt"), "w") as f:
            f.write("kind %s\nrows %d\ncols %d\n" % (kind, R, C))

    ext = [80.0, -80.0, 1e4, -1e4, 0.0, 30.0]
    loss_case("torch_loss_softmax_xent", "softmax_xent", 9, 7, ext)
    loss_case("torch_loss_sigmoid_bce", "sigmoid_bce", 9, 3, ext)
    loss_case("torch_loss_mse", "mse", 9, 4, [1e2, -1e2])


# ---------------------------------------------------------------------------------------- keras
def keras_cases():
    import tensorflow as tf

    def run(name, make, clip=0.0, grad_scale=1.0, **params):
        init, grads = inputs(name, grad_scale)
        d = case_dir(name)
        save(d, "init", init)
        save(d, "grads", grads)
        vs, off = [], 0
        for s in SIZES:
            vs.append(tf.Variable(init[off:off + s].copy()))
            off += s
        opt = make()
        after, norms = [], []
        for k in range(K):
            gs, off = [], 0
            for s in SIZES:
                gs.append(tf.constant(grads[k, off:off + s]))
                off += s
            if clip > 0:
                gs, norm = tf.clip_by_global_norm(gs, clip)
            else:
                norm = tf.linalg.global_norm(gs)
            norms.append(float(norm))
            opt.apply_gradients(zip(gs, vs))
            after.append(np.concatenate([v.numpy() for v in vs]))
        save(d, "after", np.stack(after).astype(np.float32))
        save(d, "norms", np.array(norms, dtype=np.float32))
        write_params(d, clip_norm=clip, eps_style="keras", clip_style="tf", **params)

    K_ = tf.keras.optimizers
    run("keras_adam", lambda: K_.Adam(learning_rate=0.01), kind="adam", lr=0.01, beta1=0.9, beta2=0.999, eps=1e-7)
    run("keras_adam_eps", lambda: K_.Adam(learning_rate=0.02, beta_1=0.8, beta_2=0.99, epsilon=1e-4), kind="adam",
        lr=0.02, beta1=0.8, beta2=0.99, eps=1e-4)
    run("keras_rmsprop", lambda: K_.RMSprop(learning_rate=0.01, rho=0.9, epsilon=1e-7), kind="rmsprop", lr=0.01,
        rho=0.9, eps=1e-7)
    run("keras_rmsprop_momentum", lambda: K_.RMSprop(learning_rate=0.01, rho=0.8, momentum=0.5, epsilon=1e-6),
        kind="rmsprop", lr=0.01, rho=0.8, eps=1e-6, momentum=0.5)
    run("keras_sgd_nesterov", lambda: K_.SGD(learning_rate=0.05, momentum=0.8, nesterov=True), kind="sgd",
        lr=0.05, momentum=0.8, nesterov=1)
    run("keras_clip_adam", lambda: K_.Adam(learning_rate=0.01), clip=3.3, kind="adam", lr=0.01, beta1=0.9,
        beta2=0.999, eps=1e-7)


if __name__ == "__main__":
    if "--keras" in sys.argv:
        keras_cases()
    else:
        torch_cases()
        py = os.environ.get("KERAS2_PYTHON", "/work/venvs/keras2/bin/python")
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
        subprocess.check_call([py, os.path.abspath(__file__), "--keras"], env=env)
