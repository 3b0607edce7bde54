"""A clean venv with only requirements-device.txt and the edgeflow wheel (--no-deps) runs
``edgeflow-edge predict``: what a Raspberry Pi or phone-class Linux box gets (README, "On the device"),
once with LiteRT and once with the fallback runtime the file names, ``tflite-runtime`` (older ARM boards).

The wheel is built from a copy of the sources with this venv's setuptools (no network); the
device requirements come from the package registry or pip's cache. Skipped, with the reason,
when the registry cannot be reached.
"""
import json
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.edge.tflite_helpers import convert, write_info

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "edgeflow", "pipelines", "components", "models", "serving", "edge")
OFFLINE = ("Could not find a version", "No matching distribution", "Failed to establish", "Network is unreachable",
           "Temporary failure in name resolution", "ConnectTimeout", "ReadTimeout")
LABELS = ["dark", "bright"]


def build_wheel(tmp: Path) -> Path:
    """edgeflow's wheel, built from a copy of the sources (the worktree stays clean)."""
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copyfile(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp / "dist"), str(src)], check=True, capture_output=True, timeout=300)
    return next((tmp / "dist").glob("edgeflow-*.whl"))


def brightness_model(folder: Path) -> Path:
    """A real int8 classifier of 8x8 grayscale images: mean pixel > 0.5 -> "bright"."""
    import tensorflow as tf

    inputs = tf.keras.Input((8, 8, 1))
    x = tf.keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = tf.keras.layers.Dense(2, activation="softmax", kernel_initializer=tf.keras.initializers.Constant(
        [[-20.0, 20.0]]), bias_initializer=tf.keras.initializers.Constant([10.0, -10.0]))(x)
    samples = np.random.default_rng(0).random((16, 8, 8, 1)).astype(np.float32)
    path = convert(tf.keras.Model(inputs, outputs), folder / "model.tflite", representative=samples)
    write_info(path, "classification", "embedded", labels=LABELS)
    return path


def device_requirements(tmp: Path, runtime: str) -> Path:
    """requirements-device.txt as shipped (LiteRT), or with its documented fallback, tflite-runtime, instead."""
    shipped = (ROOT / "requirements-device.txt").read_text()
    if runtime == "ai_edge_litert":
        return ROOT / "requirements-device.txt"
    fallback = re.search(r"or, where LiteRT has no wheel.*?: (tflite-runtime==[\d.]+)", shipped).group(1)
    keep = [line for line in shipped.splitlines() if line.split("==")[0] in ("numpy", "pillow", "flatbuffers")]
    path = tmp / "requirements-fallback.txt"
    path.write_text("\n".join(keep + [fallback]) + "\n")
    return path


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["ai_edge_litert", "tflite_runtime"])
def test_clean_venv_with_device_requirements_runs_predict(tmp_path, runtime):
    model = brightness_model(tmp_path)
    image = tmp_path / "white.png"
    Image.fromarray(np.full((20, 20), 230, np.uint8), mode="L").save(image)
    wheel = build_wheel(tmp_path)
    env_dir = tmp_path / "device-venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    pip = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    need = subprocess.run(pip + ["-r", str(device_requirements(tmp_path, runtime))], capture_output=True,
                          text=True, timeout=600)
    if need.returncode and any(s in need.stderr for s in OFFLINE):
        pytest.skip(f"the package registry cannot be reached: {need.stderr.strip().splitlines()[-1]}")
    assert need.returncode == 0, need.stderr
    subprocess.run(pip + ["--no-deps", str(wheel)], check=True, capture_output=True, timeout=300)
    python = str(env_dir / "bin" / "python")
    absent = subprocess.run([python, "-c", "import tensorflow"], capture_output=True, text=True, cwd=tmp_path)
    assert absent.returncode != 0 and "No module named 'tensorflow'" in absent.stderr
    used = subprocess.run([python, "-c", "from edgeflow.edge.runtime import interpreter_module as m; "
                           "print(m().__name__)"], capture_output=True, text=True, cwd=tmp_path)
    assert used.stdout.strip() == f"{runtime}.interpreter", used.stderr[-2000:]
    out = subprocess.run([str(env_dir / "bin" / "edgeflow-edge"), "predict", str(model), str(image), "--json"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""  # no runtime notices on the console
    result = json.loads(out.stdout)
    assert result["label"] == "bright" and result["score"] > 0.9
