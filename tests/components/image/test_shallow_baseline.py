"""The shallow baseline's pure parts: fit, score, and the lift verdict."""
import numpy as np
import pytest

from edgeflow.components.image.shallow_baseline import fit_logistic_regression, lift_verdict


def test_logistic_regression_learns_a_linear_rule_and_not_xor():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2)).astype("float32")
    linear = (x[:, 0] + x[:, 1] > 0).astype("int64")
    xor = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype("int64")
    assert fit_logistic_regression(x[:300], linear[:300], x[300:], linear[300:]) > 0.95
    assert fit_logistic_regression(x[:300], xor[:300], x[300:], xor[300:]) < 0.7


@pytest.mark.parametrize("cnn, shallow, min_lift, passed", [
    (0.98, 0.90, None, True), (0.98, 0.90, 0.05, True), (0.92, 0.90, 0.05, False), (0.85, 0.90, None, True)])
def test_lift_verdict(cnn, shallow, min_lift, passed):
    v = lift_verdict(cnn, shallow, min_lift)
    assert v["lift"] == pytest.approx(cnn - shallow) and v["passed"] is passed
    assert ("not blessed" in v["message"]) is (not passed)
