"""The Pusher's version folder appears whole or not at all: the stock executor writes into a staging
folder, and one rename puts the finished version beside the others."""
import os
import subprocess
import sys

import pytest
from tfx.components.pusher import executor as stock
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.utils import io_utils, path_utils, proto_utils

from edgeflow.components.shared.atomic_push import STAGING_PREFIX, AtomicPushExecutor, remove_stale_staging
from edgeflow.serving.layout import list_versions


def _push(tmp_path, base):
    model, blessing, pushed = standard_artifacts.Model(), standard_artifacts.ModelBlessing(), standard_artifacts.PushedModel()
    model.uri, blessing.uri, pushed.uri = str(tmp_path / "model"), str(tmp_path / "blessing"), str(tmp_path / "pushed")
    blessing.set_int_custom_property("blessed", 1)
    saved = path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))
    os.makedirs(os.path.join(saved, "variables"))
    for name, data in (("saved_model.pb", b"graph"), ("variables/variables.index", b"index"),
                       ("variables/variables.data-00000-of-00001", b"weights")):
        with open(os.path.join(saved, name), "wb") as f:
            f.write(data)
    destination = pusher_pb2.PushDestination(filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=str(base)))
    AtomicPushExecutor().Do({"model": [model], "model_blessing": [blessing]}, {"pushed_model": [pushed]},
                            {"push_destination": proto_utils.proto_to_json(destination)})
    return pushed


def test_a_push_puts_one_whole_version_and_leaves_no_staging(tmp_path):
    base = tmp_path / "serving" / "image"
    pushed = _push(tmp_path, base)
    (version,) = list_versions(base)
    assert pushed.get_string_custom_property("pushed_destination") == str(base / str(version))
    assert (base / str(version) / "variables" / "variables.index").read_bytes() == b"index"
    assert [p.name for p in base.iterdir()] == [str(version)]


def test_a_push_stopped_while_copying_leaves_no_version(tmp_path, monkeypatch):
    base = tmp_path / "serving" / "image"
    real = io_utils.copy_file

    def stopped(src, dst, *args, **kwargs):
        if src.endswith("saved_model.pb"):  # the stock executor copies it last: stop right there
            real(src, dst, *args, **kwargs)
            raise KeyboardInterrupt("stopped mid-push")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(stock.io_utils, "copy_file", stopped)
    with pytest.raises(KeyboardInterrupt):
        _push(tmp_path, base)
    assert list_versions(base) == [] and not [p for p in base.iterdir() if p.name.isdigit()]


def test_staging_left_by_a_dead_process_is_removed_and_a_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    base = tmp_path / "image"
    (base / f"{STAGING_PREFIX}{dead.stdout.strip()}" / "123").mkdir(parents=True)
    (base / f"{STAGING_PREFIX}{os.getpid()}").mkdir()
    assert remove_stale_staging(base) == [f"{STAGING_PREFIX}{dead.stdout.strip()}"]
    assert [p.name for p in base.iterdir()] == [f"{STAGING_PREFIX}{os.getpid()}"]
