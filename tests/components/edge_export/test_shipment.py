"""The Edge TPU shipment with a compiler on PATH.

``edgetpu_compiler`` cannot be installed here, so a stand-in script takes its place: it checks only
how EdgeExport invokes the compiler and names the compiled file, not what the real compiler maps.
"""
import os
import shutil

import numpy as np

from edgeflow.components.edge_export.shipment import edgetpu_shipment
from edgeflow.edge.runtime import EdgeModel

FAKE_COMPILER = """#!/bin/sh
# stand-in for Coral's edgetpu_compiler: records its arguments, writes <out>/<stem>_edgetpu.tflite
echo "$@" > "{log}"
[ "$1" = "-s" ] && [ "$2" = "-o" ] || exit 2
stem=$(basename "$4" .tflite)
cp "$4" "$3/${{stem}}_edgetpu.tflite"
echo "Number of operations that will run on Edge TPU: 9"
"""


def test_the_compiler_writes_its_own_file_beside_the_shipped_one(variant_files, tmp_path, monkeypatch):
    bin_dir, ship = tmp_path / "bin", tmp_path / "ship"
    bin_dir.mkdir()
    ship.mkdir()
    compiler = bin_dir / "edgetpu_compiler"
    compiler.write_text(FAKE_COMPILER.format(log=tmp_path / "args.txt"))
    compiler.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")  # ours first
    model = ship / "model.tflite"
    shutil.copyfile(variant_files["int8"], model)

    tpu = edgetpu_shipment(model, "int8")
    assert (tmp_path / "args.txt").read_text().split() == ["-s", "-o", str(ship), str(model)]
    assert tpu["compiler_available"] and tpu["compiled"] == "model_edgetpu.tflite" and tpu["mapped_ops"] == 9
    assert tpu["message"].startswith("compiled model.tflite for the Edge TPU into model_edgetpu.tflite")
    assert tpu["input_type"] == "int8" and "all" in tpu["ops"]
    assert EdgeModel(ship / "model_edgetpu.tflite", use_edgetpu=False).run(np.zeros((1, 8, 8, 1))).shape == (1, 10)


def test_a_failing_compiler_is_reported_not_raised(variant_files, tmp_path, monkeypatch):
    compiler = tmp_path / "edgetpu_compiler"
    compiler.write_text("#!/bin/sh\necho 'ERROR: unsupported op' >&2\nexit 1\n")
    compiler.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    model = tmp_path / "model.tflite"
    shutil.copyfile(variant_files["int8"], model)
    tpu = edgetpu_shipment(model, "int8")
    assert tpu["compiled"] is None and tpu["message"] == "edgetpu_compiler failed: ERROR: unsupported op"
    assert tpu["command"] == "edgetpu_compiler -s -o . model.tflite"
