"""Edge TPU compatibility, read from the .tflite file itself (no TensorFlow, no compiler needed).

The Edge TPU runs a model only if its operators are on Coral's supported list, every
activation tensor is int8/uint8 and every shape is static. The Edge TPU compiler maps
operators in execution order and cuts the graph at the first one it cannot map: that
operator and everything after it run on the CPU. :func:`check_edgetpu` reports exactly that.

``edgetpu_compiler`` itself is Linux x86-64 only, comes from Coral's apt repository (not
from any package registry used here) and is never installed by edgeflow: when it is on
PATH, :func:`run_compiler` runs it and reads how many operations it mapped; when it is
absent, the report says so.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import List, Optional

from edgeflow.edge.model_file import OpInfo, operators, read_model_file

# Coral's "supported operations" table (coral.ai/docs/edgetpu/models-intro), as TFLite builtin names.
EDGETPU_OPS = frozenset({
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "EXPAND_DIMS",
    "FULLY_CONNECTED", "L2_NORMALIZATION", "LOGISTIC", "LSTM", "UNIDIRECTIONAL_SEQUENCE_LSTM",
    "MAXIMUM", "MAX_POOL_2D", "MEAN", "MINIMUM", "MUL", "PACK", "PAD", "PRELU", "QUANTIZE",
    "REDUCE_MAX", "REDUCE_MIN", "RELU", "RELU6", "RELU_N1_TO_1", "RESHAPE", "RESIZE_BILINEAR",
    "RESIZE_NEAREST_NEIGHBOR", "RSQRT", "SLICE", "SOFTMAX", "SPACE_TO_DEPTH", "SPLIT", "SQUEEZE",
    "SQUARED_DIFFERENCE", "STRIDED_SLICE", "SUB", "SUM", "TANH", "TRANSPOSE", "TRANSPOSE_CONV",
})
QUANTIZED = ("INT8", "UINT8")
EXTRA_INPUT_TYPES = ("INT32",)  # biases and shape operands of quantized ops


@dataclass
class OpProblem:
    index: int
    op: str
    reason: str


@dataclass
class CompilerResult:
    available: bool
    mapped_ops: Optional[int] = None  # operations the compiler put on the Edge TPU
    message: str = ""
    output: Optional[str] = None  # the compiled file (<stem>_edgetpu.tflite) when it was written
    command: str = ""  # the command that compiles the model (to run where the compiler is installed)


@dataclass
class EdgeTpuReport:
    model: str
    op_count: int
    ops: List[str]
    problems: List[OpProblem] = field(default_factory=list)
    compiler: Optional[CompilerResult] = None

    @property
    def compatible(self) -> bool:
        return not self.problems

    @property
    def cut_at(self) -> Optional[int]:
        """Index of the first operator that would fall back to the CPU (None: all map)."""
        return self.problems[0].index if self.problems else None

    @property
    def tpu_ops(self) -> int:
        return self.op_count if self.cut_at is None else self.cut_at

    def summary(self) -> str:
        if self.compatible:
            text = f"Edge TPU: all {self.op_count} operations can map to the Edge TPU"
        else:
            first = self.problems[0]
            text = (f"Edge TPU: {self.tpu_ops} of {self.op_count} operations map; the graph is cut at "
                    f"op {first.index} ({first.op}: {first.reason}) and the rest runs on the CPU")
        if self.compiler is not None:
            text += f"; {self.compiler.message}"
        return text

    def to_dict(self) -> dict:
        out = asdict(self)
        out.update(compatible=self.compatible, cut_at=self.cut_at, tpu_ops=self.tpu_ops)
        return out


def op_problem(op: OpInfo) -> Optional[str]:
    """Why `op` cannot run on the Edge TPU, or None when it can."""
    if op.name not in EDGETPU_OPS:
        return "not on the Edge TPU's supported-operations list"
    for t in op.outputs:
        if t.dtype not in QUANTIZED:
            return f"output tensor {t.name!r} is {t.dtype}, not int8/uint8"
    for t in op.inputs:
        if t.dtype not in QUANTIZED + EXTRA_INPUT_TYPES:
            return f"input tensor {t.name!r} is {t.dtype}, not int8/uint8"
    for t in op.inputs + op.outputs:
        if not t.static:
            return f"tensor {t.name!r} has a dynamic shape {list(t.shape_signature)}"
    return None


def check_edgetpu(path: str | Path, compile_with: Optional[str] = "auto") -> EdgeTpuReport:
    """The compatibility report of the .tflite at `path`; runs the compiler when it is on PATH
    (``compile_with="auto"``), never when `compile_with` is None."""
    ops = operators(read_model_file(path))
    problems = [OpProblem(op.index, op.name, reason) for op in ops if (reason := op_problem(op))]
    report = EdgeTpuReport(str(path), len(ops), [op.name for op in ops], problems)
    if compile_with is not None:
        report.compiler = run_compiler(path)
    return report


def compile_command(path: str | Path, out_dir: str | Path = ".") -> str:
    """The shell command that compiles `path` for the Edge TPU into `out_dir` (``-s``: print the op mapping)."""
    return f"edgetpu_compiler -s -o {out_dir} {Path(path).name}"


def compiled_path(path: str | Path, out_dir: Optional[str | Path] = None) -> Path:
    """Where ``edgetpu_compiler`` writes the compiled `path`: ``<out_dir>/<stem>_edgetpu.tflite``."""
    return Path(out_dir or Path(path).parent) / f"{Path(path).stem}_edgetpu.tflite"


def run_compiler(path: str | Path, out_dir: Optional[str | Path] = None, timeout_s: int = 180) -> CompilerResult:
    """Runs ``edgetpu_compiler`` when installed, writing ``<stem>_edgetpu.tflite`` into `out_dir`
    (default: beside `path`); when it is not, says so in one sentence with the command to run elsewhere."""
    command = compile_command(path)
    exe = shutil.which("edgetpu_compiler")
    if exe is None:
        target = compiled_path(path).name
        return CompilerResult(False, None, "edgetpu_compiler is not on PATH, so the model was not compiled for the Edge TPU; "
                                           "on a Linux x86-64 machine with Coral's compiler (its apt repository) "
                                           f"run `{command}` beside it to write {target}", command=command)
    out_dir = Path(out_dir or Path(path).parent)
    proc = subprocess.run([exe, "-s", "-o", str(out_dir), str(path)], capture_output=True, text=True,
                          timeout=timeout_s)
    found = re.search(r"Number of operations that will run on Edge TPU:\s*(\d+)", proc.stdout)
    if proc.returncode != 0 or not found:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return CompilerResult(True, None, f"edgetpu_compiler failed: {tail[0]}", command=command)
    out = compiled_path(path, out_dir)
    return CompilerResult(True, int(found.group(1)), f"edgetpu_compiler mapped {found.group(1)} operations",
                          str(out) if out.is_file() else None, command)
