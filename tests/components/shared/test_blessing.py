"""The shared last-blessed comparison and the blessing TFX's LatestBlessedModelStrategy resolves."""
import json
from types import SimpleNamespace

import pytest

from tfx.types.standard_artifacts import Model, ModelBlessing, ModelEvaluation

from edgeflow.components.shared.blessing import (Headline, Verdict, at_least, judge, no_worse_than_last_blessed,
                                                 publish, relay_blessing, write_blessing)


def test_first_run_has_nothing_to_compare_with():
    ok, reason = no_worse_than_last_blessed("MAE", 0.5, None, higher_is_better=False, tolerance=0.0)
    assert ok and "no earlier blessed model" in reason


@pytest.mark.parametrize("candidate, ok, word", [(0.20, True, "better"), (0.209, True, "worse"), (0.211, False, "worse")])
def test_mae_may_grow_by_a_relative_tolerance(candidate, ok, word):
    got, reason = no_worse_than_last_blessed("MAE", candidate, 0.20, higher_is_better=False, tolerance=0.05,
                                             relative=True)
    assert got is ok
    assert f"MAE {candidate:.4f} vs the last blessed model's 0.2000" in reason
    assert (word in reason) or candidate == 0.20


@pytest.mark.parametrize("candidate, ok", [(0.95, True), (0.94, True), (0.9399, False)])
def test_accuracy_may_drop_by_an_absolute_tolerance(candidate, ok):
    got, reason = no_worse_than_last_blessed("accuracy", candidate, 0.95, higher_is_better=True, tolerance=0.01)
    assert got is ok and "allowed to be worse by 0.01" in reason


class FakeArtifact(SimpleNamespace):  # the custom-property setters of a TFX artifact
    def set_int_custom_property(self, k, v):
        self.props[k] = v

    def set_string_custom_property(self, k, v):
        self.props[k] = v


def test_blessing_names_the_model_the_resolver_looks_for(tmp_path):
    blessing = FakeArtifact(uri=str(tmp_path / "blessing"), props={})
    write_blessing(blessing, SimpleNamespace(uri="/models/7", id=7), False, "worse than the last blessed model")
    assert blessing.props == {"blessed": 0, "current_model": "/models/7", "current_model_id": 7,
                              "reason": "worse than the last blessed model"}
    assert (tmp_path / "blessing" / "NOT_BLESSED").read_text() == "worse than the last blessed model\n"


# ---- the evaluation skeleton: candidate vs the task's bar vs the last blessed model ----------

def _artifact(cls, uri, id_=None):
    a = cls()
    a.uri = str(uri)
    if id_ is not None:
        a.id = id_
    return a


MAP50 = Headline("map50", "mAP@0.5")


def test_judge_blesses_a_candidate_over_the_bar_on_the_first_run():
    metrics = {"map50": 0.9}
    v = judge(metrics, at_least("mAP@0.5", 0.9, 0.8, "detection.min_map50"), MAP50, None, 0.0)
    assert v == Verdict(True, "mAP@0.5 0.9000 (bar: >= 0.8, detection.min_map50); no earlier blessed model of this pipeline, "
                         "label set and data source to compare with")
    assert metrics == {"map50": 0.9}


def test_judge_refuses_below_the_bar_and_says_which_bar():
    v = judge({"map50": 0.7}, at_least("mAP@0.5", 0.7, 0.8, "detection.min_map50"), MAP50, 0.6, 0.0)
    assert not v.blessed and v.reason.startswith("mAP@0.5 0.7000 (bar: >= 0.8, detection.min_map50); ")
    assert "better" in v.reason  # it beats the last blessed model, but misses the bar


@pytest.mark.parametrize("last, blessed", [(0.90, True), (0.92, True), (0.93, False)])
def test_judge_refuses_a_regression_beyond_max_regression(last, blessed):
    metrics = {"map50": 0.9}
    v = judge(metrics, at_least("mAP@0.5", 0.9, 0.5, "detection.min_map50"), MAP50, last, 0.02)
    assert v.blessed is blessed and f"vs the last blessed model's {last:.4f}" in v.reason
    assert metrics["last_blessed.map50"] == last  # recorded beside the candidate's metrics


def test_an_error_metric_regresses_upwards_by_a_fraction():
    mae = Headline("mae", "MAE", higher_is_better=False, relative=True)
    bar = Verdict(True, "MAE below the baselines")
    assert judge({"mae": 1.04}, bar, mae, 1.0, 0.05).blessed
    assert not judge({"mae": 1.06}, bar, mae, 1.0, 0.05).blessed


def test_publish_writes_metrics_json_and_the_blessing_with_its_reason(tmp_path):
    evaluation, blessing = _artifact(ModelEvaluation, tmp_path / "eval"), _artifact(ModelBlessing, tmp_path / "b")
    model = _artifact(Model, tmp_path / "model", 5)
    publish(evaluation, blessing, model, {"map50": 0.4}, Verdict(False, "mAP@0.5 0.4000 (bar: >= 0.5)"))
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text()) == {"map50": 0.4}
    assert (tmp_path / "b" / "NOT_BLESSED").read_text() == "mAP@0.5 0.4000 (bar: >= 0.5)\n"
    assert blessing.get_int_custom_property("blessed") == 0
    assert blessing.get_string_custom_property("reason") == "mAP@0.5 0.4000 (bar: >= 0.5)"
    assert blessing.get_int_custom_property("current_model_id") == 5


def test_a_blessing_without_a_reason_is_refused(tmp_path):
    with pytest.raises(ValueError, match="needs a reason"):
        write_blessing(_artifact(ModelBlessing, tmp_path / "b"), _artifact(Model, tmp_path / "m", 1), True, " ")


def _tfma_blessing(tmp_path, blessed: bool):
    """What TFMA's Evaluator leaves: the flag and the model, no reason."""
    b = _artifact(ModelBlessing, tmp_path / "tfma")
    b.set_int_custom_property("blessed", int(blessed))
    b.set_string_custom_property("current_model", "/m/3")
    b.set_int_custom_property("current_model_id", 3)
    return b


@pytest.mark.parametrize("evaluator, lift, blessed", [(True, True, True), (True, False, False), (False, True, False)])
def test_relay_gates_the_evaluators_blessing_and_always_says_why(tmp_path, evaluator, lift, blessed):
    target = _artifact(ModelBlessing, tmp_path / "lift")
    gate = Verdict(lift, "lift +0.1000" if lift else "lift +0.0100; not blessed: the CNN does not beat the shallow model")
    v = relay_blessing(_tfma_blessing(tmp_path, evaluator), target, gate, "TFMA's Evaluator decided")
    assert v.blessed is blessed and target.get_int_custom_property("blessed") == int(blessed)
    assert target.get_string_custom_property("reason") == f"TFMA's Evaluator decided; {gate.reason}"
    assert (tmp_path / "lift" / ("BLESSED" if blessed else "NOT_BLESSED")).read_text().startswith("TFMA's")
    assert target.get_string_custom_property("current_model") == "/m/3"
    assert target.get_int_custom_property("current_model_id") == 3


def test_relay_keeps_a_reason_the_evaluator_recorded(tmp_path):
    source = _tfma_blessing(tmp_path, True)
    source.set_string_custom_property("reason", "MAE 0.5 below the baselines")
    v = relay_blessing(source, _artifact(ModelBlessing, tmp_path / "t"), Verdict(True, "gate ok"), "unused")
    assert v.reason == "MAE 0.5 below the baselines; gate ok"
