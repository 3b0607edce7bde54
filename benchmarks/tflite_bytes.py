"""Where a .tflite file's bytes go: constant buffers by dtype against the graph itself (issue 18).

    .venv/bin/python benchmarks/tflite_bytes.py OUT/.../float32.tflite OUT/.../int16x8.tflite ...

For each file: its size; the constant tensors' buffer bytes by dtype (and the largest few); the
metadata buffers; and the rest, the FlatBuffer graph (ops, tensor tables, shapes, quantization
parameters, vtables, alignment padding), with the op, tensor and quantization-parameter counts.
"""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from edgeflow.edge.model_file import _enum_names, _schema, operators, read_model


def breakdown(data: bytes) -> dict:
    schema = _schema()
    model = read_model(data)
    types = _enum_names(schema.TensorType)
    graph = model.subgraphs[0]
    meta = {m.buffer for m in (model.metadata or [])}
    by_dtype, largest, counted = Counter(), [], set()
    qparams = 0
    for t in graph.tensors:
        q = t.quantization
        if q is not None and q.scale is not None:
            qparams += len(q.scale) + (len(q.zeroPoint) if q.zeroPoint is not None else 0)
        b = model.buffers[t.buffer]
        n = len(b.data) if b.data is not None else 0
        if n and t.buffer not in counted:
            counted.add(t.buffer)
            by_dtype[types.get(t.type, str(t.type))] += n
            largest.append((n, types.get(t.type, str(t.type)), tuple(t.shape if t.shape is not None else ())))
    meta_bytes = sum(len(model.buffers[i].data) for i in meta if model.buffers[i].data is not None)
    ops = Counter(op.name for op in operators(model))
    return {"size": len(data), "constants": dict(by_dtype), "metadata": meta_bytes,
            "graph": len(data) - sum(by_dtype.values()) - meta_bytes, "ops": sum(ops.values()),
            "op_kinds": ops.most_common(6), "tensors": len(graph.tensors), "constant_tensors": len(counted),
            "quant_params": qparams, "largest": sorted(largest, reverse=True)[:5]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    print(f"{'file':<16}{'size':>9}{'consts':>9}{'graph':>9}{'meta':>7}{'ops':>6}{'tensors':>8}{'qparams':>8}  constants by dtype")
    for path in args.files:
        b = breakdown(path.read_bytes())
        consts = sum(b["constants"].values())
        dtypes = ", ".join(f"{k} {v}" for k, v in sorted(b["constants"].items(), key=lambda kv: -kv[1]))
        print(f"{path.stem:<16}{b['size']:>9}{consts:>9}{b['graph']:>9}{b['metadata']:>7}{b['ops']:>6}"
              f"{b['tensors']:>8}{b['quant_params']:>8}  {dtypes}")
        print(f"{'':<16}largest: " + "; ".join(f"{n} {d} {list(s)}" for n, d, s in b["largest"]))
        print(f"{'':<16}ops: " + ", ".join(f"{k} {v}" for k, v in b["op_kinds"]))


if __name__ == "__main__":
    main()
