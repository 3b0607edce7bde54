"""Blessing for the evaluators that score models themselves (sequence, detection).

Two shared pieces:

* :func:`no_worse_than_last_blessed`: the candidate's headline metric against the last blessed
  model's, scored by the same evaluator on the same eval data, within a tolerance;
* :func:`write_blessing`: the ModelBlessing the way TFX's Evaluator writes it (a BLESSED or
  NOT_BLESSED file, ``blessed``, ``current_model``, ``current_model_id``), so TFX's
  ``LatestBlessedModelStrategy`` resolver finds the model in the next run, plus ``reason``.
"""
from __future__ import annotations

import os
from typing import Optional, Tuple


def no_worse_than_last_blessed(metric: str, candidate: float, last_blessed: Optional[float],
                               higher_is_better: bool, tolerance: float, relative: bool = False) -> Tuple[bool, str]:
    """(ok, reason). `tolerance` is how much worse the candidate may be: in the metric's units, or
    as a fraction of the last blessed model's value when `relative`. No last blessed model: ok."""
    if last_blessed is None:
        return True, "no earlier blessed model to compare with"
    slack = tolerance * abs(last_blessed) if relative else tolerance
    ok = candidate >= last_blessed - slack if higher_is_better else candidate <= last_blessed + slack
    allowed = f"{tolerance:.0%}" if relative else f"{tolerance:g}"
    better = candidate > last_blessed if higher_is_better else candidate < last_blessed
    word = "better" if better else "equal" if candidate == last_blessed else "worse"
    return ok, (f"{metric} {candidate:.4f} vs the last blessed model's {last_blessed:.4f} on the same eval data "
                f"({word}; allowed to be worse by {allowed})")


def write_blessing(blessing, model, blessed: bool, reason: str) -> None:
    """Marks `blessing` (a ModelBlessing output artifact) for `model` (the candidate Model artifact)."""
    os.makedirs(blessing.uri, exist_ok=True)
    with open(os.path.join(blessing.uri, "BLESSED" if blessed else "NOT_BLESSED"), "w") as f:
        f.write(reason + "\n")
    blessing.set_int_custom_property("blessed", int(blessed))
    blessing.set_string_custom_property("current_model", model.uri)
    blessing.set_int_custom_property("current_model_id", int(model.id))
    blessing.set_string_custom_property("reason", reason)
