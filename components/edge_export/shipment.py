"""The Edge TPU shipment: the shipped full-integer file, compiled for the Edge TPU when possible.

With ``export.target=edgetpu`` the policy ships only a variant whose every op maps to the Edge
TPU, converted with the integer input/output type ``export.edgetpu_input_type`` (uint8, as in
Coral's examples, or int8). :func:`edgetpu_shipment` then runs ``edgetpu_compiler`` on
``model.tflite`` into its own file, ``model_edgetpu.tflite`` beside it, when the compiler is on
PATH; when it is not (it is not installable from the package registries here), the report says
so in one sentence with the exact command to run on a machine that has it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeflow.edge.edgetpu import check_edgetpu, run_compiler
from edgeflow.edge.runtime import EdgeModel


def edgetpu_shipment(model_path: Path, input_type: str) -> dict:
    """The report's ``edgetpu`` section for the shipped `model_path`: input/output types, the op
    check, and the compiler's result (``compiled``: the compiled file's name, or None)."""
    m = EdgeModel(model_path, use_edgetpu=False)
    tpu = check_edgetpu(model_path, compile_with=None)
    compiler = run_compiler(model_path)
    compiled = Path(compiler.output).name if compiler.output else None
    if compiled:
        message = f"compiled {model_path.name} for the Edge TPU into {compiled} ({compiler.message})"
    else:
        message = compiler.message
    return {"input_type": np.dtype(m.input["dtype"]).name, "output_type": np.dtype(m.output["dtype"]).name,
            "configured_input_type": input_type, "ops": tpu.summary(), "compiler_available": compiler.available,
            "compiled": compiled, "mapped_ops": compiler.mapped_ops, "command": compiler.command, "message": message}
