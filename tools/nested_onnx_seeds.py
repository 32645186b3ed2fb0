#!/usr/bin/env python3
"""Writes the deep-nesting seeds of the ONNX fuzzer (tests/fuzz/corpus_onnx/nested_*.onnx).

protobuf-c recurses once per nested message; the loader refuses more than 64 levels before
decoding (src/onnx/wire.c). These seeds nest 1,000 levels (about 3 KB each), enough to
overflow the 256 KiB stack fuzz_onnx loads on if that bound is lost, and give libFuzzer deep
structures to mutate. Standard library only:  tools/nested_onnx_seeds.py [OUTPUT_DIR]
"""
import os
import sys


def varint(n):
    b = bytearray()
    while True:
        x, n = n & 0x7F, n >> 7
        b.append(x | 0x80 if n else x)
        if not n:
            return bytes(b)


def ld(field, payload):
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def model(graph):  # ir_version 8, opset_import {"" 14}, graph
    return b"\x08\x08" + ld(8, b"\x10\x0e") + ld(7, graph)


def chain(levels, cycle):
    """Messages nested `levels` deep below the outermost one, along the cycle of field numbers."""
    inner = b""
    for i in reversed(range(levels)):
        inner = ld(cycle[i % len(cycle)], inner)
    return inner


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "fuzz", "corpus_onnx")
    depth = 1000
    seeds = {
        # GraphProto.input -> ValueInfoProto.type -> TypeProto.sequence_type -> Sequence.elem_type -> ...
        "nested_sequence_type.onnx": model(ld(11, ld(1, b"X") + ld(2, chain(depth, [4, 1])))),
        # GraphProto.node -> NodeProto.attribute -> AttributeProto.g -> GraphProto.node -> ...
        "nested_attribute_graph.onnx": model(chain(depth, [1, 5, 6])),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
