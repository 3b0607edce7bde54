"""`edgeflow predict` and the Python client against `edgeflow serve` on loopback."""
import subprocess
import sys

import pytest

from edgeflow.serving.client import PredictionClient, ServingClientError, classify_images
from tests.serving.servers import ServerProcess, add_version, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(pushed_image_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("serving-client")
    (root / "image").mkdir()
    add_version(root / "image", pushed_image_model, 1)
    proc = ServerProcess("edgeflow", root, root / "server.log")
    try:
        proc.wait_available("image")
        yield proc
    finally:
        proc.stop()


def digit_pngs(cfg, digits=(0, 3, 7), per_digit: int = 1):
    """Bundled digit images whose class is known: `per_digit` PNGs of each digit (the folder is the label)."""
    data = cfg.output_dir / "data" / f"digits-{cfg.image.limit_per_class}"
    return [p for d in digits for p in sorted((data / str(d)).glob("*.png"))[:per_digit]]


def test_python_client_classifies_images(server, tiny_image_run):
    pngs = digit_pngs(tiny_image_run[0], digits=range(10), per_digit=3)  # 30 images, 3 of each digit
    with PredictionClient(server.target) as client:
        rows = classify_images(client, "image", [str(p) for p in pngs])
    assert [r["path"] for r in rows] == [str(p) for p in pngs]
    assert all(0.0 < r["score"] <= 1.0 for r in rows)
    right = sum(r["class_name"] == p.parent.name for r, p in zip(rows, pngs))
    answered = {r["class_name"] for r in rows}
    print(f"\ntiny digits model over the client: {right} of {len(pngs)} right, classes answered {sorted(answered)}")
    # a clear majority right (a model answering one class gets 3 of 30), and more than a few classes answered
    assert right >= 0.6 * len(pngs) and len(answered) >= 5


def test_cli_prints_one_line_per_image_and_one_sentence_on_errors(server, tiny_image_run):
    pngs = digit_pngs(tiny_image_run[0])
    cli = [sys.executable, "-m", "edgeflow.pipelines.cli", "predict", "--server", server.target]
    ok = subprocess.run([*cli, *map(str, pngs)], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    lines = ok.stdout.strip().splitlines()
    assert len(lines) == len(pngs) and all(line.startswith(str(p) + ": ") for line, p in zip(lines, pngs))
    with PredictionClient(server.target) as client:  # the CLI prints what the server answers
        rows = classify_images(client, "image", [str(p) for p in pngs])
    assert [line.split(": ", 1)[1].split()[0] for line in lines] == [r["class_name"] for r in rows]

    unknown = subprocess.run([*cli, "--model", "nosuch", str(pngs[0])], capture_output=True, text=True, timeout=120)
    assert unknown.returncode == 1 and "(NOT_FOUND)" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1


def test_no_server_and_missing_file_get_one_sentence(tmp_path):
    with PredictionClient(f"127.0.0.1:{free_port()}", timeout_s=5) as client:
        with pytest.raises(ServingClientError, match="no model server answers at"):
            client.predict("image", {"image_bytes": [b"x"]})
        with pytest.raises(ServingClientError, match="is not a file"):
            classify_images(client, "image", [str(tmp_path / "missing.png")])
