#!/usr/bin/python3
"""PyTorch mirror of clrnn-train: the same recipe, data order and initial weights, for comparison.

  /usr/bin/python3 tools/train/train_torch.py <clrnn-train's flags> [--dump-init DIR] [--threads 2]

Takes the subset of clrnn-train's flags that PyTorch can express (cells rnn_tanh, rnn_relu, lstm,
gru_lbr -- PyTorch's GRU is linear-before-reset --, --layers, --bidirectional with any merge,
--dropout between layers, --lengths / --mask-value / --embedding --mask-zero, every head, adam /
sgd / rmsprop, --clip-norm) and prints the same JSON (--json). --dump-init DIR writes the initial
weights it draws, as .npy files named like the module's parameters (rnn.weight_ih_l0,
rnn.bias_hh_l1_reverse, head.weight, embedding.weight, ...), before training: pass the same DIR
to `clrnn-train --init DIR` for the same start. Batches follow clrnn-train's order exactly: the
epoch permutation is the splitmix64 Fisher-Yates shuffle both implement (shuffle_order below;
--no-shuffle keeps file order). Debian's PyTorch belongs to /usr/bin/python3.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn

MASK64 = (1 << 64) - 1


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return state, z ^ (z >> 31)


def shuffle_order(n, seed, epoch):
    """clrnn-train's epoch order: Fisher-Yates driven by splitmix64 seeded with seed ^ (epoch * golden)."""
    order = list(range(n))
    state = (seed ^ ((epoch + 1) * 0x9E3779B97F4A7C15)) & MASK64
    for i in range(n - 1, 0, -1):
        state, r = splitmix64(state)
        j = r % (i + 1)
        order[i], order[j] = order[j], order[i]
    return np.array(order, dtype=np.int64)


class Net(nn.Module):
    def __init__(self, a, in_size, out_size):
        super().__init__()
        self.a = a
        if a.embedding:
            vocab, dim = a.embedding
            self.embedding = nn.Embedding(vocab, dim)
            in_size = dim
        kind = {"rnn_tanh": "RNN", "rnn_relu": "RNN", "lstm": "LSTM", "gru_lbr": "GRU"}[a.cell]
        kw = dict(nonlinearity="relu" if a.cell == "rnn_relu" else "tanh") if kind == "RNN" else {}
        self.rnn = getattr(nn, kind)(in_size, a.hidden, num_layers=a.layers, bidirectional=a.bidirectional,
                                     dropout=a.dropout, batch_first=True, **kw)
        hm = a.hidden * (2 if a.bidirectional and a.merge == "concat" else 1)
        self.head = nn.Linear(hm, out_size)

    def merge(self, fwd, bwd):
        m = self.a.merge
        return torch.cat([fwd, bwd], -1) if m == "concat" else fwd + bwd if m == "sum" else \
            fwd * bwd if m == "mul" else (fwd + bwd) / 2

    def forward(self, x, lengths):
        if self.a.embedding:
            x = self.embedding(x)
        H = self.a.hidden
        if lengths is not None:
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, state = self.rnn(packed)
            out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        else:
            out, state = self.rnn(x)
        h_n = state[0] if isinstance(state, tuple) else state
        if self.a.head[0] == "seq-linear":
            if self.a.bidirectional:
                out = self.merge(out[..., :H], out[..., H:])
            return self.head(out)
        last = self.merge(h_n[-2], h_n[-1]) if self.a.bidirectional else h_n[-1]
        return self.head(last)


def parse():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--x", required=True)
    ap.add_argument("--y", required=True)
    ap.add_argument("--val-x")
    ap.add_argument("--val-y")
    ap.add_argument("--lengths")
    ap.add_argument("--val-lengths")
    ap.add_argument("--mask-value", type=float)
    ap.add_argument("--embedding", type=lambda s: tuple(int(v) for v in s.split(":")))
    ap.add_argument("--mask-zero", action="store_true")
    ap.add_argument("--cell", required=True, choices=["rnn_tanh", "rnn_relu", "lstm", "gru_lbr"])
    ap.add_argument("--hidden", type=int, required=True)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--bidirectional", action="store_true")
    ap.add_argument("--merge", default="concat", choices=["concat", "sum", "ave", "mul"])
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--head", required=True)
    ap.add_argument("--optimizer", default="adam", choices=["adam", "sgd", "rmsprop"])
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--momentum", type=float, default=0.0)
    ap.add_argument("--clip-norm", type=float)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-shuffle", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--dump-init")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    kind, _, n = a.head.partition(":")
    a.head = (kind, int(n) if n else 1)
    return a


def lengths_of(a, x, given):
    if given is not None:
        return torch.from_numpy(np.load(given).astype(np.int64))
    if a.mask_zero:
        return torch.from_numpy((x != 0).sum(1).astype(np.int64))
    if a.mask_value is not None:
        return torch.from_numpy((x != a.mask_value).any(-1).sum(1).astype(np.int64))
    return None


def loss_and_metric(a, logits, y, lengths):
    kind = a.head[0]
    if kind == "softmax":
        loss = nn.functional.cross_entropy(logits, y.long())
        return loss, (logits.argmax(-1) == y.long()).float().mean().item()
    if kind == "sigmoid":
        y = y.reshape(logits.shape)
        loss = nn.functional.binary_cross_entropy_with_logits(logits, y)
        return loss, ((logits > 0).float() == y).float().mean().item()
    if kind == "seq-linear" and lengths is not None:
        valid = (torch.arange(logits.shape[1])[None, :] < lengths[:, None]).float()[..., None]
        loss = (((logits - y) ** 2) * valid).sum() / (valid.sum() * logits.shape[-1])
        return loss, None
    return nn.functional.mse_loss(logits, y), None


def main():
    a = parse()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    x, y = np.load(a.x), np.load(a.y)
    vx = np.load(a.val_x) if a.val_x else None
    vy = np.load(a.val_y) if a.val_y else None
    lengths = lengths_of(a, x, a.lengths)
    vlengths = lengths_of(a, vx, a.val_lengths) if vx is not None else None
    in_size = 0 if a.embedding else x.shape[-1]
    net = Net(a, in_size, a.head[1])
    if a.dump_init:
        os.makedirs(a.dump_init, exist_ok=True)
        for name, p in net.named_parameters():
            np.save(os.path.join(a.dump_init, name + ".npy"), p.detach().numpy().astype(np.float32))
    params = list(net.parameters())
    opt = {"adam": lambda: torch.optim.Adam(params, lr=a.lr),
           "sgd": lambda: torch.optim.SGD(params, lr=a.lr, momentum=a.momentum),
           "rmsprop": lambda: torch.optim.RMSprop(params, lr=a.lr)}[a.optimizer]()
    xt = torch.from_numpy(x.astype(np.int64) if a.embedding else x)
    yt = torch.from_numpy(y)
    N = x.shape[0]
    steps_per_epoch = (N + a.batch - 1) // a.batch
    total = a.steps if a.steps else a.epochs * steps_per_epoch
    # train_loss / train_accuracy: means over the last epoch's batches (the last steps_per_epoch steps)
    step, t0, losses, metrics = 0, time.time(), [], []
    epoch = 0
    while step < total:
        order = np.arange(N) if a.no_shuffle else shuffle_order(N, a.seed, epoch)
        for b in range(steps_per_epoch):
            if step >= total:
                break
            idx = torch.from_numpy(order[b * a.batch:(b + 1) * a.batch])
            ln = lengths[idx] if lengths is not None else None
            net.train()
            logits = net(xt[idx], ln)
            loss, metric = loss_and_metric(a, logits, yt[idx], ln)
            opt.zero_grad()
            loss.backward()
            if a.clip_norm:
                nn.utils.clip_grad_norm_(params, a.clip_norm)
            opt.step()
            step += 1
            losses.append(loss.item())
            metrics.append(metric or 0.0)
        epoch += 1
    seconds = time.time() - t0
    last = slice(-steps_per_epoch, None)
    result = dict(train_loss=float(np.mean(losses[last])), steps=step, seconds=seconds,
                  ms_per_step=1000 * seconds / max(step, 1))
    if a.head[0] in ("softmax", "sigmoid"):
        result["train_accuracy"] = float(np.mean(metrics[last]))
    if vx is not None:
        net.eval()
        with torch.no_grad():
            vxt = torch.from_numpy(vx.astype(np.int64) if a.embedding else vx)
            vl, vm = loss_and_metric(a, net(vxt, vlengths), torch.from_numpy(vy), vlengths)
        result["val_loss"] = vl.item()
        if vm is not None:
            result["val_accuracy"] = vm
    print(json.dumps(result) if a.json else result)


if __name__ == "__main__":
    sys.exit(main())
