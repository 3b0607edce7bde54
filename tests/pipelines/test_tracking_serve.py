"""The registered champion, served by MLflow itself: ``mlflow models serve -m models:/image@champion``
on loopback (from this environment: ``--env-manager local``), scored over HTTP with encoded images."""
import base64
import json
import os
import urllib.request
from contextlib import contextmanager

import mlflow
import pandas as pd
import pytest

from tests.mlflow_server import free_port, mlflow_process

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@contextmanager
def tracking_uri(uri: str):
    """MLflow's fluent API on `uri` inside, then back (set_tracking_uri also exports MLFLOW_TRACKING_URI)."""
    previous, exported = mlflow.get_tracking_uri(), os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)
        if exported is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = exported


def test_mlflow_models_serve_scores_encoded_images_through_the_champion_alias(tiny_image_run, tmp_path):
    cfg, _ = tiny_image_run
    uri = f"models:/{cfg.model_name}@champion"
    with tracking_uri(cfg.tracking_uri):
        assert mlflow.models.get_model_info(uri).saved_input_example_info is not None  # an image of the run's data
        model = mlflow.pyfunc.load_model(uri)
    data = cfg.output_dir / "data" / f"digits-{cfg.image.limit_per_class}"
    pngs = sorted(data.glob("*/*.png"))[::10]  # every 10th image: all ten classes
    body = json.dumps({"dataframe_split": {"columns": ["image_bytes"],
                                           "data": [[base64.b64encode(p.read_bytes()).decode()] for p in pngs]}})

    port = free_port()
    env = {"MLFLOW_TRACKING_URI": cfg.tracking_uri, "MLFLOW_REGISTRY_URI": cfg.tracking_uri}
    args = ["models", "serve", "-m", uri, "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    with mlflow_process(args, f"http://127.0.0.1:{port}/ping", tmp_path / "serve.log", env=env):
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body.encode(),
                                         headers={"Content-Type": "application/json"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=120) as response:
            predictions = json.loads(response.read())["predictions"]

    names = [row["class_name"] for row in predictions]
    assert len(names) == len(pngs) and all(len(row["probabilities"]) == 10 for row in predictions)
    # the classes the same model gives in this process, and mostly the true ones
    direct = model.predict(pd.DataFrame({"image_bytes": [p.read_bytes() for p in pngs]}))
    assert names == list(direct["class_name"])
    assert sum(name == p.parent.name for name, p in zip(names, pngs)) / len(pngs) >= 0.7
