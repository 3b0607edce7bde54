"""The architecture, checked: imports run one way, edgeflow <- models <- components <- pipelines,
and serving/ and edge/ stand on their own. Each package is imported whole in a fresh interpreter,
and the modules it pulled in are read from sys.modules."""
import json
import subprocess
import sys

import pytest

IMPORT_ALL = """
import importlib, json, pkgutil, sys
pkg = importlib.import_module(sys.argv[1])
names = [pkg.__name__] + [n for _, n, _ in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]
for name in names:
    importlib.import_module(name)
print(json.dumps(sorted(k for k in sys.modules if k.startswith("edgeflow."))))
"""

# package -> the edgeflow packages it must never load
FORBIDDEN = {
    "edgeflow.config": ("edgeflow.models", "edgeflow.components", "edgeflow.pipelines", "edgeflow.serving"),
    "edgeflow.models": ("edgeflow.components", "edgeflow.pipelines"),
    "edgeflow.components": ("edgeflow.pipelines",),
    "edgeflow.serving": ("edgeflow.components", "edgeflow.pipelines", "edgeflow.models"),
    "edgeflow.edge": ("edgeflow.components", "edgeflow.pipelines", "edgeflow.models", "edgeflow.serving"),
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_run_one_way(package):
    proc = subprocess.run([sys.executable, "-c", IMPORT_ALL, package], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    upward = [m for m in loaded if m.startswith(FORBIDDEN[package])]
    assert not upward, f"{package} loads {upward}"


def test_each_task_has_the_same_files():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for layer, expected in (("models", {"model.py", "trainer.py"}), ("components", {"example_gen.py"})):
        for task in ("image", "sequence", "detection"):
            present = {p.name for p in (root / layer / task).glob("*.py")}
            assert expected <= present, f"{layer}/{task} lacks {sorted(expected - present)}"
