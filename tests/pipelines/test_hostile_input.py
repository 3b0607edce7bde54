"""Hostile input to `edgeflow run`: each bad input gets exit code 1 and one sentence naming it, never a traceback.

Table-driven: each case writes its bad input into a fresh folder and calls the CLI's ``main`` (``edgeflow run
... --no-tracking``, in this process so TensorFlow loads once); one case runs ``python -m edgeflow.pipelines.cli``
in a child process. Every failure happens in the checks before TFX starts (``components/image/folder.py``,
``components/sequence/data.py``, ``components/detection/labels.py``, the config loader), so a case takes well
under a second, and the output folder holds no pipeline run.
"""
import io
import json
import logging
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def png(size=(8, 8), value=128) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((size[1], size[0]), value, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def png_bomb(width=100_000, height=100_000) -> bytes:
    """A valid PNG header declaring `width` x `height` grey pixels, with a tiny IDAT: 10^10 pixels on decode."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b"")


def image_folder(root: Path, bad_name: str = "", bad: bytes = b"", good_per_class: int = 3) -> Path:
    for c, name in enumerate(("cat", "dog")):
        (root / name).mkdir(parents=True)
        for i in range(good_per_class):
            (root / name / f"{i}.png").write_bytes(png(value=40 + 100 * c + i))
    if bad_name:
        (root / bad_name).write_bytes(bad)
    return root


def series_csv(root: Path, cells=None, text: str = None, raw: bytes = None) -> Path:
    """A 400-step hourly series; `cells` {row: "value"} replaces values, `text`/`raw` replace the file."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "series.csv"
    if raw is not None:
        path.write_bytes(raw)
        return path
    if text is None:
        stamps = np.datetime_as_string(np.datetime64("2024-01-01T00:00") + np.arange(400).astype("timedelta64[h]"),
                                       unit="m")
        values = [f"{20 + 5 * np.sin(i / 4):.2f}" for i in range(400)]
        for row, v in (cells or {}).items():
            values[row] = v
        text = "date,temp\n" + "".join(f"{s},{v}\n" for s, v in zip(stamps, values))
    path.write_text(text)
    return path


def coco_folder(root: Path, box, category_id=1) -> Path:
    (root / "images").mkdir(parents=True)
    images, anns = [], []
    for i in range(4):
        (root / "images" / f"{i}.png").write_bytes(png((32, 32)))
        images.append({"id": i, "file_name": f"{i}.png", "width": 32, "height": 32})
        anns.append({"id": i, "image_id": i, "category_id": 1, "bbox": [4, 4, 10, 10]})
    anns[0].update(bbox=box, category_id=category_id)
    (root / "annotations.json").write_text(json.dumps(
        {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "digit"}]}))
    return root


def yaml_file(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "edgeflow.yaml").write_text(text)
    return root / "edgeflow.yaml"


def broken_coco(root: Path) -> Path:
    coco_folder(root, [4, 4, 8, 8])
    (root / "annotations.json").write_text('{"images": [')
    return root


def yaml_bytes(root: Path, data: bytes) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "edgeflow.yaml").write_bytes(data)
    return root / "edgeflow.yaml"


# (case id, pipeline, make(tmp) -> extra CLI args, words the one stderr sentence must hold)
CASES = [
    ("truncated-png", "image", lambda t: ["--data", str(image_folder(t, "cat/bad.png", png()[:40]))],
     ["cat/bad.png", "data.max_bad_fraction"]),
    ("corrupt-png", "image", lambda t: ["--data", str(image_folder(t, "dog/bad.png", os.urandom(300)))],
     ["dog/bad.png", "data.max_bad_fraction"]),
    ("png-bomb", "image", lambda t: ["--data", str(image_folder(t, "cat/bomb.png", png_bomb()))],
     ["cat/bomb.png", "data.max_bad_fraction"]),
    ("png-bomb-at-pil-limit", "image", lambda t: ["--data", str(image_folder(t, "cat/bomb.png", png_bomb(12_000, 12_000)))],
     ["cat/bomb.png"]),
    ("text-as-jpeg", "image", lambda t: ["--data", str(image_folder(t, "dog/x.jpg", b"hello, not a jpeg"))],
     ["dog/x.jpg"]),
    ("all-bad-in-a-class", "image", lambda t: ["--data", str(image_folder(t, "cat/0.png", b"x", good_per_class=1))],
     ["cat", "no readable images"]),
    ("csv-nan", "sequence", lambda t: ["--data", str(series_csv(t, {50: "nan"}))], ["line 52", "temp"]),
    ("csv-inf", "sequence", lambda t: ["--data", str(series_csv(t, {70: "inf", 71: "-Infinity"}))], ["line 72", "temp"]),
    ("csv-text-value", "sequence", lambda t: ["--data", str(series_csv(t, {9: "warm"}))], ["line 11", "warm"]),
    ("csv-latin-1", "sequence", lambda t: ["--data", str(series_csv(t, raw="date,temp\n2024-01-01T00:00,2\xb0C\n".encode("latin-1")))],
     ["series.csv", "UTF-8"]),
    ("csv-binary", "sequence", lambda t: ["--data", str(series_csv(t, raw=b"\x00\xff\xfe" + os.urandom(200)))],
     ["series.csv"]),
    ("csv-ragged", "sequence", lambda t: ["--data", str(series_csv(t, text=series_csv(t).read_text().replace(
        "\n2024-01-01T05:00,", "\n2024-01-01T05:00,1,2,3,", 1)))], ["lines 7", "series.csv"]),
    ("csv-header-only", "sequence", lambda t: ["--data", str(series_csv(t, text="date,temp\n"))], ["series.csv"]),
    ("coco-box-outside", "detection", lambda t: ["--data", str(coco_folder(t, [20, 20, 40, 40]))],
     ["images/0.png", "data.max_bad_fraction"]),
    ("coco-unknown-category", "detection", lambda t: ["--data", str(coco_folder(t, [4, 4, 8, 8], category_id=7))],
     ["images/0.png", "data.max_bad_fraction"]),
    ("coco-bad-json", "detection", lambda t: ["--data", str(broken_coco(t))], ["annotations.json", "not valid JSON"]),
    ("yaml-unknown-key", "sequence", lambda t: ["--config", str(yaml_file(t, "train:\n  epochz: 3\n"))], ["epochz"]),
    ("yaml-wrong-type", "sequence", lambda t: ["--config", str(yaml_file(t, "train:\n  epochs: many\n"))],
     ["train.epochs"]),
    ("yaml-not-a-mapping", "sequence", lambda t: ["--config", str(yaml_file(t, "- 1\n- 2\n"))], ["edgeflow.yaml"]),
    ("yaml-syntax", "sequence", lambda t: ["--config", str(yaml_file(t, "train: {epochs: 3\n"))], ["edgeflow.yaml"]),
    ("yaml-binary", "sequence", lambda t: ["--config", str(yaml_bytes(t, b"train:\n  epochs: \xff\xfe\n"))],
     ["edgeflow.yaml"]),
]


ARGS = ["--preset", "tiny", "--no-tracking"]


@pytest.mark.parametrize("case, pipeline, make, words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_sentence_and_exit_1(case, pipeline, make, words, tmp_path, capsys):
    """The CLI's own `main` in this process (TensorFlow is imported once for all cases)."""
    from edgeflow.pipelines.cli import main

    args = make(tmp_path / "in")
    out = tmp_path / "out"
    try:
        code = main(["run", pipeline, *ARGS, "--output", str(out), *args])
    finally:  # the CLI's console handler writes to this case's captured stdout; the next case gets its own
        console = logging.getLogger("edgeflow")
        for h in [h for h in console.handlers if getattr(h, "_edgeflow_console", False)]:
            console.removeHandler(h)
    captured = capsys.readouterr()
    check_one_sentence(code, captured.out, captured.err, words, out)


def check_one_sentence(code, stdout: str, stderr: str, words, out: Path):
    assert code == 1, (code, stderr[-2000:])
    assert "Traceback" not in stdout + stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("edgeflow: error:")]
    assert len(errors) == 1 and errors[0] == lines[-1], lines[-5:]
    for word in words:
        assert word in errors[0], errors[0]
    # nothing of a pipeline run was written: no ML Metadata, no component outputs, nothing served
    written = {p.name for p in out.rglob("*")} if out.exists() else set()
    assert not written & {"metadata.sqlite", "serving", "Trainer", "SequenceCsvExampleGen", "ImageFolderExampleGen",
                          "DetectionExampleGen"}, sorted(written)


@pytest.mark.slow
def test_the_real_entry_point_gives_exit_1_and_one_line(tmp_path):
    """`python -m edgeflow.pipelines.cli run` in a child process, on a CSV with inf: the same one sentence."""
    csv = series_csv(tmp_path / "in", {70: "inf"})
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.run([sys.executable, "-m", "edgeflow.pipelines.cli", "run", "sequence", *ARGS,
                           "--output", str(tmp_path / "out"), "--data", str(csv)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    check_one_sentence(proc.returncode, proc.stdout, proc.stderr, ["line 72", "inf"], tmp_path / "out")


def test_bad_images_within_max_bad_fraction_are_skipped_and_named(tmp_path, caplog):
    """A bomb, a truncated and a corrupt file among 30 good ones: skipped (10% <= 20%), each named on the console."""
    from edgeflow.components.image.folder import scan_image_folder

    root = image_folder(tmp_path / "in", "cat/bomb.png", png_bomb(), good_per_class=15)
    (root / "dog" / "cut.png").write_bytes(png()[:40])
    (root / "dog" / "noise.jpg").write_bytes(os.urandom(500))
    with caplog.at_level("WARNING"):
        scan = scan_image_folder(root, max_bad_fraction=0.2)
    assert sorted(scan.bad) == ["cat/bomb.png", "dog/cut.png", "dog/noise.jpg"] and len(scan.files) == 30
    assert "skipping cat/bomb.png: a decompression bomb" in caplog.text  # PIL's bound, at the header
    assert "skipping dog/noise.jpg: not an image PIL can identify" in caplog.text
