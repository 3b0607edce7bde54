"""ShallowBaseline: does deep learning beat a shallow model here at all?

Fits a multinomial logistic regression on the same transformed features the CNN trains on
(the image flattened to (B, size*size*channels) pixels in [0, 1]), scores it on the eval split,
and compares it with the Evaluator's accuracy for the CNN. The lift (CNN accuracy minus
baseline accuracy) is written to ``baseline.json`` and the artifact's properties; when
``min_lift`` is required, the component re-issues the Evaluator's blessing only if the lift
reaches it, and the Pusher reads that blessing. The re-issued blessing always carries a reason
(the Evaluator's verdict and the lift; ``components/shared/blessing.py``).
"""

import json
import logging
import os
from typing import Dict, Optional, Tuple

import numpy as np
from tfx import v1 as tfx
from tfx.types.artifact import Artifact
from tfx.types.standard_artifacts import Examples, ModelBlessing, ModelEvaluation, TransformGraph

from edgeflow.components.shared.blessing import Verdict, relay_blessing
from edgeflow.models.features import LABEL_KEY
from edgeflow.models.splits import read_split

log = logging.getLogger("edgeflow")


class ShallowBaselineResult(Artifact):
    """``baseline.json``: baseline and CNN accuracy on the eval split, their lift, the bar."""

    TYPE_NAME = "edgeflow.ShallowBaselineResult"  # namespaced: Kubeflow V2 specs require it


def read_features(split_uri: str, feature_spec: dict, feature: str) -> Tuple[np.ndarray, np.ndarray]:
    """Transformed TFRecords of one split -> x (N, prod(feature shape)) float32, y (N,) int64."""
    rows = read_split(split_uri, {feature: feature_spec[feature], LABEL_KEY: feature_spec[LABEL_KEY]})
    x = rows[feature].reshape(len(rows[feature]), -1)  # (N, H, W, C) -> (N, H*W*C)
    return x.astype("float32"), rows[LABEL_KEY].reshape(-1).astype("int64")


def fit_logistic_regression(x_train, y_train, x_eval, y_eval, seed: int = 0) -> float:
    """Eval accuracy of a multinomial logistic regression fitted on (x_train (N, F), y_train (N,))."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=500, random_state=seed)
    model.fit(x_train, y_train)
    return float(model.score(x_eval, y_eval))


def lift_verdict(cnn_accuracy: float, baseline_accuracy: float, min_lift: Optional[float]) -> Dict:
    """The comparison as a dict; ``passed`` is False only when a required lift is missed."""
    lift = cnn_accuracy - baseline_accuracy
    passed = min_lift is None or lift >= min_lift
    message = (f"shallow baseline (logistic regression) accuracy {baseline_accuracy:.4f}, CNN {cnn_accuracy:.4f}: "
               f"lift {lift:+.4f}" + ("" if min_lift is None else f" (required: {min_lift:+.4f})"))
    if not passed:
        message += "; not blessed: the CNN does not beat the shallow model by enough"
    return {"baseline_accuracy": baseline_accuracy, "cnn_accuracy": cnn_accuracy, "lift": lift,
            "min_lift": min_lift, "passed": passed, "message": message}


@tfx.dsl.components.component
def ShallowBaseline(
    transformed_examples: tfx.dsl.components.InputArtifact[Examples],
    transform_graph: tfx.dsl.components.InputArtifact[TransformGraph],
    evaluation: tfx.dsl.components.InputArtifact[ModelEvaluation],
    blessing: tfx.dsl.components.InputArtifact[ModelBlessing],
    result: tfx.dsl.components.OutputArtifact[ShallowBaselineResult],
    lift_blessing: tfx.dsl.components.OutputArtifact[ModelBlessing],
    feature: tfx.dsl.components.Parameter[str],
    min_lift: tfx.dsl.components.Parameter[float] = 0.0,
    require_lift: tfx.dsl.components.Parameter[int] = 0,
    seed: tfx.dsl.components.Parameter[int] = 0,
) -> None:
    """Thin body: read the splits, fit, compare, write the result and the (lift-gated) blessing."""
    import tensorflow_transform as tft
    from tfx.types import artifact_utils

    from edgeflow.components.shared.eval_metrics import read_eval_metrics

    spec = tft.TFTransformOutput(transform_graph.uri).transformed_feature_spec()
    def split(name):
        return read_features(artifact_utils.get_split_uri([transformed_examples], name), spec, feature)

    (x_train, y_train), (x_eval, y_eval) = split("train"), split("eval")
    baseline_accuracy = fit_logistic_regression(x_train, y_train, x_eval, y_eval, seed)
    cnn_accuracy = read_eval_metrics(evaluation.uri).get("accuracy", float("nan"))
    verdict = lift_verdict(cnn_accuracy, baseline_accuracy, min_lift if require_lift else None)
    log.info("  %s", verdict["message"])
    with open(os.path.join(result.uri, "baseline.json"), "w") as f:
        json.dump(verdict, f, indent=1)
    for key in ("baseline_accuracy", "cnn_accuracy", "lift"):
        result.set_float_custom_property(key, verdict[key])

    # The Evaluator's blessing, gated on the lift, with one reason for both (TFMA records no reason).
    accuracy = "n/a" if cnn_accuracy != cnn_accuracy else f"{cnn_accuracy:.4f}"  # NaN: the Evaluator wrote none
    unexplained = (f"TFMA's Evaluator {'blessed' if blessing.get_int_custom_property('blessed') else 'did not bless'} "
                   f"the model (accuracy {accuracy}; bars: eval.min_accuracy and eval.max_regression)")
    relay_blessing(blessing, lift_blessing, Verdict(verdict["passed"], verdict["message"]), unexplained)
