"""The one evaluation skeleton: candidate vs. the task's bar vs. the last blessed model -> one blessing.

Every evaluator follows the same three steps; a task supplies only how to score a model and its bar:

1. score the candidate on the eval split (the task's own metrics, a flat ``{name: number}``);
2. :func:`judge`: the candidate against the task's bar (a :class:`Verdict` the task builds, e.g.
   ``mAP@0.5 >= detection.min_map50``) and against the last blessed model's :class:`Headline`
   metric, scored the same way on the same data, within ``eval.max_regression``
   (:func:`no_worse_than_last_blessed`);
3. :func:`publish`: ``metrics.json`` into the ModelEvaluation artifact (``pipelines.results`` reads
   it back) and :func:`write_blessing`.

The blessing is the one TFX's Evaluator writes (a BLESSED or NOT_BLESSED file, ``blessed``,
``current_model``, ``current_model_id``), so TFX's ``LatestBlessedModelStrategy`` resolver finds
the model in the next run, plus a ``reason`` property (and the file's text) that is never empty.
A gate after an evaluator (the image pipeline's shallow-baseline lift) re-issues the evaluator's
blessing with :func:`relay_blessing`, its own verdict added to the reason.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Dict, Optional, Tuple


# An earlier blessed model counts only for the same pipeline, labels and data (components/shared/lineage.py).
NO_BASELINE = "no earlier blessed model of this pipeline, label set and data source to compare with"


@dataclass(frozen=True)
class Verdict:
    """A decision and the sentence that explains it (``reason`` is what users read in the summary)."""

    blessed: bool
    reason: str

    def __and__(self, other: "Verdict") -> "Verdict":
        """Both must pass; the reasons are joined in order."""
        return Verdict(self.blessed and other.blessed, f"{self.reason}; {other.reason}")


@dataclass(frozen=True)
class Headline:
    """The metric compared with the last blessed model."""

    key: str  # in the metrics dict: "accuracy", "mae", "map50"
    label: str  # in the reason: "accuracy", "MAE", "mAP@0.5"
    higher_is_better: bool = True
    relative: bool = False  # the tolerance is a fraction of the last blessed model's value (an error metric)


def at_least(label: str, value: float, bar: float, setting: str) -> Verdict:
    """The common bar: `value` >= `bar`, with the config key that sets the bar named in the reason."""
    return Verdict(value >= bar, f"{label} {value:.4f} (bar: >= {bar:g}, {setting})")


def no_worse_than_last_blessed(metric: str, candidate: float, last_blessed: Optional[float],
                               higher_is_better: bool, tolerance: float, relative: bool = False) -> Tuple[bool, str]:
    """(ok, reason). `tolerance` is how much worse the candidate may be: in the metric's units, or
    as a fraction of the last blessed model's value when `relative`. No last blessed model: ok."""
    if last_blessed is None:
        return True, NO_BASELINE
    slack = tolerance * abs(last_blessed) if relative else tolerance
    ok = candidate >= last_blessed - slack if higher_is_better else candidate <= last_blessed + slack
    allowed = f"{tolerance:.0%}" if relative else f"{tolerance:g}"
    better = candidate > last_blessed if higher_is_better else candidate < last_blessed
    word = "better" if better else "equal" if candidate == last_blessed else "worse"
    return ok, (f"{metric} {candidate:.4f} vs the last blessed model's {last_blessed:.4f} on the same eval data "
                f"({word}; allowed to be worse by {allowed})")


def judge(metrics: Dict[str, float], bar: Verdict, headline: Headline, last_blessed: Optional[float],
          max_regression: float) -> Verdict:
    """The candidate's `metrics` against the task's `bar` and the last blessed model's headline value
    (None: no model was blessed before). Records ``last_blessed.<key>`` in `metrics`."""
    if last_blessed is not None:
        metrics[f"last_blessed.{headline.key}"] = float(last_blessed)
    ok, versus = no_worse_than_last_blessed(headline.label, metrics[headline.key], last_blessed,
                                            headline.higher_is_better, max_regression, headline.relative)
    return bar & Verdict(ok, versus)


def publish(evaluation, blessing, model, metrics: Dict[str, float], verdict: Verdict) -> None:
    """Writes ``metrics.json`` (flat numbers) into `evaluation` and the blessing of `model`."""
    import tensorflow as tf  # gfile: the pipeline root may be remote (gs://...)

    tf.io.gfile.makedirs(evaluation.uri)
    with tf.io.gfile.GFile(os.path.join(evaluation.uri, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    write_blessing(blessing, model, verdict.blessed, verdict.reason)


def _mark(blessing, blessed: bool, reason: str) -> None:
    if not reason.strip():
        raise ValueError("a blessing needs a reason: say which bar the model met or missed")
    os.makedirs(blessing.uri, exist_ok=True)
    with open(os.path.join(blessing.uri, "BLESSED" if blessed else "NOT_BLESSED"), "w") as f:
        f.write(reason + "\n")
    blessing.set_int_custom_property("blessed", int(blessed))
    blessing.set_string_custom_property("reason", reason)


def write_blessing(blessing, model, blessed: bool, reason: str) -> None:
    """Marks `blessing` (a ModelBlessing output artifact) for `model` (the candidate Model artifact)."""
    blessing.set_string_custom_property("current_model", model.uri)
    blessing.set_int_custom_property("current_model_id", int(model.id))
    _mark(blessing, blessed, reason)


def read_verdict(blessing, unexplained: str) -> Verdict:
    """An evaluator's blessing as a Verdict; `unexplained` is the reason when it recorded none
    (TFMA's Evaluator records only the BLESSED / NOT_BLESSED flag)."""
    blessed = bool(blessing.get_int_custom_property("blessed"))
    reason = blessing.get_string_custom_property("reason") if blessing.has_custom_property("reason") else ""
    return Verdict(blessed, reason or unexplained)


def relay_blessing(source, target, gate: Verdict, unexplained: str) -> Verdict:
    """Re-issues the evaluator's blessing `source` as `target`, blessed only when `gate` passes too.

    The model properties (``current_model``, ``baseline_model`` and their ids) are copied, so the
    Pusher and the next run's resolver see the same model. Returns the combined verdict."""
    for key in ("current_model", "baseline_model"):
        if source.has_custom_property(key):
            target.set_string_custom_property(key, source.get_string_custom_property(key))
    for key in ("current_model_id", "baseline_model_id"):
        if source.has_custom_property(key):
            target.set_int_custom_property(key, source.get_int_custom_property(key))
    verdict = read_verdict(source, unexplained) & gate
    _mark(target, verdict.blessed, verdict.reason)
    return verdict
