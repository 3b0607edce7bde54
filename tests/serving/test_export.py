"""What the image pipeline pushes is ready for TF Serving: warm-up records, a classify signature,
and models.config for the serving root."""
import pytest
import tensorflow as tf

from edgeflow.serving.export import CLASSIFY_METHOD, read_warmup_requests
from edgeflow.serving.layout import read_models_config
from edgeflow.serving.manager import warm_up
from edgeflow.serving.servable import Servable, read_signature_defs

pytestmark = pytest.mark.e2e


def test_pushed_model_carries_warmup_requests_and_a_classify_signature(tiny_image_run, pushed_image_model):
    cfg, _ = tiny_image_run
    assert read_models_config(cfg.serving_root / "models.config") == {
        cfg.model_name: (cfg.serving_root / cfg.model_name).resolve()}
    signatures = read_signature_defs(pushed_image_model)
    assert signatures["classify"].method_name == CLASSIFY_METHOD
    [record] = list(read_warmup_requests(pushed_image_model))
    assert tf.make_ndarray(record.predict_log.request.inputs["image_bytes"]).shape == (1,)
    assert warm_up(Servable("image", 1, pushed_image_model)) == 1
