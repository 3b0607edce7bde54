"""ShallowBaseline: does deep learning beat a shallow model here at all?

Fits a multinomial logistic regression on the same transformed features the CNN trains on
(the image flattened to (B, size*size*channels) pixels in [0, 1]), on a seeded sample of at most
``baseline.max_examples`` train examples; scores it on the whole eval split, streamed in batches;
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
from edgeflow.models.splits import iter_batches, sample_split

log = logging.getLogger("edgeflow")


class ShallowBaselineResult(Artifact):
    """``baseline.json``: baseline and CNN accuracy on the eval split, their lift, the bar."""

    TYPE_NAME = "edgeflow.ShallowBaselineResult"  # namespaced: Kubeflow V2 specs require it


def _flat(rows: Dict[str, np.ndarray], feature: str) -> Tuple[np.ndarray, np.ndarray]:
    """{feature: (N, H, W, C), label: (N, 1)} -> x (N, H*W*C) float32, y (N,) int64."""
    return (rows[feature].reshape(len(rows[feature]), -1).astype("float32"),
            rows[LABEL_KEY].reshape(-1).astype("int64"))


def logistic_regression(x_train, y_train, seed: int = 0):
    """A multinomial logistic regression fitted on (x_train (N, F), y_train (N,))."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=500, random_state=seed).fit(x_train, y_train)


def baseline_accuracy(train_uri: str, eval_uri: str, feature_spec: dict, feature: str, max_examples: int,
                      seed: int = 0) -> Dict:
    """Fits on a sample of at most `max_examples` (0: all) train examples and scores the eval split
    batch by batch: {"baseline_accuracy", "train_examples" (fitted on), "train_split_examples",
    "eval_examples", "sample_seed"}."""
    spec = {feature: feature_spec[feature], LABEL_KEY: feature_spec[LABEL_KEY]}
    rows, seen = sample_split(train_uri, spec, max_examples, seed)
    model = logistic_regression(*_flat(rows, feature), seed)
    right = total = 0
    for batch in iter_batches(eval_uri, spec):
        x, y = _flat(batch, feature)
        right, total = right + int((model.predict(x) == y).sum()), total + len(y)
    return {"baseline_accuracy": right / total if total else float("nan"), "train_examples": len(rows[feature]),
            "train_split_examples": seen, "eval_examples": total, "sample_seed": seed}


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
    max_examples: tfx.dsl.components.Parameter[int] = 20000,
) -> None:
    """Thin body: read the splits, fit, compare, write the result and the (lift-gated) blessing."""
    import tensorflow_transform as tft
    from tfx.types import artifact_utils

    from edgeflow.components.shared.eval_metrics import read_eval_metrics

    spec = tft.TFTransformOutput(transform_graph.uri).transformed_feature_spec()
    def split(name):
        return artifact_utils.get_split_uri([transformed_examples], name)

    fitted = baseline_accuracy(split("train"), split("eval"), spec, feature, max_examples, seed)
    cnn_accuracy = read_eval_metrics(evaluation.uri).get("accuracy", float("nan"))
    verdict = {**lift_verdict(cnn_accuracy, fitted["baseline_accuracy"], min_lift if require_lift else None),
               **{k: v for k, v in fitted.items() if k != "baseline_accuracy"}}
    log.info("  %s (fitted on %d of %d train examples, seed %d)", verdict["message"], fitted["train_examples"],
             fitted["train_split_examples"], seed)
    with open(os.path.join(result.uri, "baseline.json"), "w") as f:
        json.dump(verdict, f, indent=1)
    for key in ("baseline_accuracy", "cnn_accuracy", "lift"):
        result.set_float_custom_property(key, verdict[key])

    # The Evaluator's blessing, gated on the lift, with one reason for both (TFMA records no reason).
    accuracy = "n/a" if cnn_accuracy != cnn_accuracy else f"{cnn_accuracy:.4f}"  # NaN: the Evaluator wrote none
    unexplained = (f"TFMA's Evaluator {'blessed' if blessing.get_int_custom_property('blessed') else 'did not bless'} "
                   f"the model (accuracy {accuracy}; bars: eval.min_accuracy and eval.max_regression)")
    relay_blessing(blessing, lift_blessing, Verdict(verdict["passed"], verdict["message"]), unexplained)
