"""One SIGKILL at each of the 13 points of the image pipeline, in one chain of reruns, then a rerun to
the end: nothing partial served, no run left RUNNING, nothing earlier lost (benchmarks/fault_injection.py,
which runs more rounds). About ten minutes on 2 cores: `make test-faults`, not part of `make test`."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.faults]
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "fault_injection.py"


def test_one_kill_per_step_loses_nothing(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--rounds", "13", "--per-class", "12", "--output", str(tmp_path)],
                          capture_output=True, text=True, timeout=3000)
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:] + proc.stderr[-2000:]
    assert len(re.findall(r"^kill +\d+ ", out, re.M)) == 13
    summary = re.search(r"partial versions seen: (\d+); runs left RUNNING after a rerun: (\d+); killed runs not "
                        r"FAILED: (\d+); open ML Metadata executions: (\d+); earlier records lost: (\d+); "
                        r"reruns completed (\d+)/(\d+), blessed (\d+)/(\d+)", out)
    assert summary, out[-3000:]
    assert summary.groups()[:5] == ("0",) * 5 and summary.groups()[5:] == ("1",) * 4
