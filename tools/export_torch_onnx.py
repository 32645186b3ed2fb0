#!/usr/bin/env python3
"""Exports small PyTorch recurrent models with torch.onnx.export and records PyTorch's outputs, for
tests/onnx/test_onnx_cli.c (clrnn-run) and tests/onnx/test_onnx_api.c (library API).

For each model: tests/onnx/torch/<name>/model.onnx and two data sets of different batch size and
sequence length (the batch and time axes are exported as dynamic), each with
  set<k>/in/<graph input>.npy    the inputs
  set<k>/out/<graph output>.npy  PyTorch's outputs (float32 eval-mode forward)

Covers LSTM, GRU and RNN (tanh and relu), 1 to 3 layers, bidirectional, batch_first, with and without
initial states, and an Embedding + LSTM + Linear + Softmax classifier (plus a GRU variant on the final
states). Sizes are tiny on purpose. Run with Debian's python3-torch:
  /usr/bin/python3 tools/export_torch_onnx.py [OUT_DIR]        (default: tests/onnx/torch)
"""
import os
import shutil
import sys
import warnings

import numpy as np
import torch

warnings.filterwarnings("ignore")
torch.manual_seed(1234)

SETS = [(3, 5), (2, 7)]  # (batch, time) of the two data sets


class Recurrent(torch.nn.Module):
    def __init__(self, kind, inp, hidden, layers, bidirectional, batch_first, nonlinearity=None):
        super().__init__()
        kw = dict(num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
        if kind == "RNN":
            kw["nonlinearity"] = nonlinearity or "tanh"
        self.rnn = getattr(torch.nn, kind)(inp, hidden, **kw)
        self.kind = kind

    def forward(self, x, *state):
        if self.kind == "LSTM":
            y, (h, c) = self.rnn(x, tuple(state) if state else None)
            return y, h, c
        y, h = self.rnn(x, state[0] if state else None)
        return y, h


class Classifier(torch.nn.Module):
    """Embedding → LSTM (batch_first) → Linear on the last step → Softmax."""

    def __init__(self, vocab=20, emb=8, hidden=6, classes=4):
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, emb)
        self.lstm = torch.nn.LSTM(emb, hidden, batch_first=True)
        self.fc = torch.nn.Linear(hidden, classes)

    def forward(self, tokens):
        y, _ = self.lstm(self.emb(tokens))
        return torch.softmax(self.fc(y[:, -1]), dim=-1)


class GruClassifier(torch.nn.Module):
    """Embedding → bidirectional 2-layer GRU → Linear on both final states → ReLU → Linear → Softmax."""

    def __init__(self, vocab=16, emb=5, hidden=4, classes=3):
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, emb)
        self.gru = torch.nn.GRU(emb, hidden, num_layers=2, bidirectional=True)
        self.fc1 = torch.nn.Linear(2 * hidden, 6)
        self.fc2 = torch.nn.Linear(6, classes)

    def forward(self, tokens):  # tokens [T, N]
        _, h = self.gru(self.emb(tokens))
        last = torch.cat([h[-2], h[-1]], dim=-1)
        return torch.softmax(self.fc2(torch.relu(self.fc1(last))), dim=1)


def export(out_dir, name, model, make_inputs, input_names, output_names, dynamic_axes, opset):
    d = os.path.join(out_dir, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    model.eval()
    with torch.no_grad():
        example = make_inputs(*SETS[0])
        torch.onnx.export(model, example, os.path.join(d, "model.onnx"), input_names=input_names,
                          output_names=output_names, dynamic_axes=dynamic_axes, opset_version=opset)
        for k, (n, t) in enumerate(SETS):
            ins = make_inputs(n, t)
            outs = model(*ins)
            outs = outs if isinstance(outs, tuple) else (outs,)
            os.makedirs(os.path.join(d, f"set{k}", "in"))
            os.makedirs(os.path.join(d, f"set{k}", "out"))
            for nm, v in zip(input_names, ins):
                np.save(os.path.join(d, f"set{k}", "in", nm + ".npy"), v.numpy())
            for nm, v in zip(output_names, outs):
                np.save(os.path.join(d, f"set{k}", "out", nm + ".npy"), v.numpy().astype(np.float32))
    print(f"{name}: opset {opset}, inputs {input_names}, outputs {output_names}")


def recurrent(out_dir, name, kind, layers, bidirectional, batch_first, with_state, opset, nonlinearity=None,
              inp=3, hidden=4):
    m = Recurrent(kind, inp, hidden, layers, bidirectional, batch_first, nonlinearity)
    D = 2 if bidirectional else 1
    lstm = kind == "LSTM"

    def make_inputs(n, t):
        x = torch.randn(n, t, inp) if batch_first else torch.randn(t, n, inp)
        ins = [x]
        if with_state:
            ins.append(0.5 * torch.randn(layers * D, n, hidden))
            if lstm:
                ins.append(0.5 * torch.randn(layers * D, n, hidden))
        return tuple(ins)

    input_names = ["x"] + (["h0", "c0"][: 2 if lstm else 1] if with_state else [])
    output_names = ["y", "hn", "cn"][: 3 if lstm else 2]
    bt = {0: "batch", 1: "time"} if batch_first else {0: "time", 1: "batch"}
    axes = {"x": bt, "y": bt}
    for s in input_names[1:] + output_names[1:]:
        axes[s] = {1: "batch"}
    export(out_dir, name, m, make_inputs, input_names, output_names, axes, opset)


def main():
    out_dir = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                              os.path.join(os.path.dirname(__file__), "..", "tests", "onnx", "torch"))
    os.makedirs(out_dir, exist_ok=True)
    for e in os.listdir(out_dir):
        if os.path.isdir(os.path.join(out_dir, e)):
            shutil.rmtree(os.path.join(out_dir, e))
    recurrent(out_dir, "lstm_1layer", "LSTM", 1, False, False, False, 14)
    recurrent(out_dir, "lstm_2layer_bidirectional_batch_first_state", "LSTM", 2, True, True, True, 14)
    recurrent(out_dir, "lstm_3layer_batch_first_opset11", "LSTM", 3, False, True, False, 11)
    recurrent(out_dir, "gru_1layer_state", "GRU", 1, False, False, True, 14)
    recurrent(out_dir, "gru_2layer_bidirectional_batch_first", "GRU", 2, True, True, False, 17)
    recurrent(out_dir, "gru_3layer_bidirectional_state_opset9", "GRU", 3, True, False, True, 9)
    recurrent(out_dir, "rnn_tanh_1layer_bidirectional", "RNN", 1, True, False, False, 14)
    recurrent(out_dir, "rnn_relu_2layer_batch_first_state", "RNN", 2, False, True, True, 13, nonlinearity="relu")
    recurrent(out_dir, "rnn_tanh_3layer_bidirectional_batch_first_state", "RNN", 3, True, True, True, 14)

    export(out_dir, "classifier_embedding_lstm_linear_softmax", Classifier(),
           lambda n, t: (torch.randint(0, 20, (n, t)),), ["tokens"], ["probs"],
           {"tokens": {0: "batch", 1: "time"}, "probs": {0: "batch"}}, 14)
    export(out_dir, "classifier_embedding_bigru_mlp_softmax", GruClassifier(),
           lambda n, t: (torch.randint(0, 16, (t, n)),), ["tokens"], ["probs"],
           {"tokens": {0: "time", 1: "batch"}, "probs": {0: "batch"}}, 12)


if __name__ == "__main__":
    main()
