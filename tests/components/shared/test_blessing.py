"""The shared last-blessed comparison and the blessing TFX's LatestBlessedModelStrategy resolves."""
from types import SimpleNamespace

import pytest

from edgeflow.components.shared.blessing import no_worse_than_last_blessed, write_blessing


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
