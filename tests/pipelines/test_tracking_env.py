"""Two pipeline runs in one process record into their own stores (mlflow exports its URI to the env)."""
import os

from edgeflow.pipelines import tracking
from edgeflow.pipelines.config import load_config


def test_connecting_leaves_the_users_tracking_uri_alone(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    first = load_config("image", updates={"output": str(tmp_path / "a")})
    tracking._connect(first)
    assert "MLFLOW_TRACKING_URI" not in os.environ
    second = load_config("detection", updates={"output": str(tmp_path / "b")})
    assert tracking.tracking_uri(second) == second.tracking_uri != first.tracking_uri
