"""Fast checks of the scheduling pieces: spans, cron plans, locks, Beam args, strategies, cache lines."""
import logging
import re
from pathlib import Path

import pytest

from edgeflow import EdgeflowError
from edgeflow.components.image.example_gen import list_labelled_images
from edgeflow.models.training.distribute import choose_strategy
from edgeflow.pipelines.beam import beam_args
from edgeflow.pipelines.locks import file_lock, is_locked
from edgeflow.pipelines.logs import ComponentProgress
from edgeflow.pipelines.scheduler import Scheduler, Job, next_fire, parse_cron, plan_after_run
from edgeflow.pipelines.spans import resolve_pattern

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010800000000"
                    "3a7e9b550000000a49444154789c6360000000020001e221bc330000000049454e44ae426082")


def _spans(root: Path, spans=(1, 2), classes=("a", "b")):
    for s in spans:
        for c in classes:
            (root / f"span-{s}" / c).mkdir(parents=True, exist_ok=True)
            (root / f"span-{s}" / c / f"{s}.png").write_bytes(PNG)
    return root


def test_newest_span_is_resolved_and_listed_with_class_labels(tmp_path):
    root = _spans(tmp_path)
    r = resolve_pattern(root, "span-{SPAN}/*/*")
    assert (r.span, r.pattern, r.folder) == (2, "span-2/*/*", root / "span-2")
    assert list_labelled_images(str(root), r.pattern) == [("span-2/a/2.png", 0), ("span-2/b/2.png", 1)]


def test_span_pattern_errors_are_one_sentence(tmp_path):
    with pytest.raises(EdgeflowError, match="matches no files"):
        resolve_pattern(tmp_path, "day-{SPAN}/*/*")
    root = _spans(tmp_path)
    (root / "span-3").mkdir()
    with pytest.raises(EdgeflowError, match=r"newest span folder \(span 3\).*has no images"):
        resolve_pattern(root, "span-{SPAN}/*/*")
    with pytest.raises(EdgeflowError, match="must be relative to data.path and end in <class>/<image>"):
        resolve_pattern(root, "span-{SPAN}")


def test_cron_plans_and_misfire_policies():
    with pytest.raises(EdgeflowError, match="cron expression 'every day' is not valid"):
        parse_cron("every day")
    t0 = 1_000_000_020.0  # a run scheduled at t0 on a 10 s schedule that took 35 s
    assert next_fire("* * * * * */10", t0) == 1_000_000_030.0
    nxt, missed = plan_after_run("* * * * * */10", t0, t0 + 35, "run_once", grace=60)
    assert (nxt, len(missed)) == (t0 + 35, 3)  # three missed times coalesced into one run now
    nxt, _ = plan_after_run("* * * * * */10", t0, t0 + 35, "skip", grace=60)
    assert nxt == t0 + 40
    nxt, _ = plan_after_run("* * * * * */10", t0, t0 + 35, "run_once", grace=1)  # too late: skipped
    assert nxt == t0 + 40
    with pytest.raises(EdgeflowError, match="misfire policy 'later' is unknown"):
        Scheduler([Job("image", "* * * * *")], Path("."), misfire="later")


def test_lock_refuses_a_second_holder_and_dies_with_its_holder(tmp_path):
    lock = tmp_path / "run.lock"
    with file_lock(lock, "a run of pipeline 'image'", "wait for it"):
        assert is_locked(lock)
        with pytest.raises(EdgeflowError, match="a run of pipeline 'image' is already running"):
            with file_lock(lock, "a run of pipeline 'image'", "wait for it"):
                pass
    assert not is_locked(lock)


def test_beam_runner_names_are_checked():
    assert beam_args("DirectRunner", ["--direct_num_workers=2"]) == ["--runner=DirectRunner", "--direct_num_workers=2"]
    with pytest.raises(EdgeflowError, match="Beam runner 'FastRunner' does not exist"):
        beam_args("FastRunner")


def test_strategy_selection_from_config_gpus_and_tf_config():
    two_workers = {"TF_CONFIG": '{"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, '
                                '"task": {"type": "worker", "index": 0}}'}
    assert choose_strategy("auto", 0, {}) == "none"
    assert choose_strategy("auto", 2, {}) == "mirrored"
    assert choose_strategy("auto", 0, two_workers) == "multi_worker"
    assert choose_strategy("none", 4, two_workers) == "none"
    with pytest.raises(EdgeflowError, match="needs a TF_CONFIG"):
        choose_strategy("multi_worker", 0, {})
    with pytest.raises(EdgeflowError, match="TF_CONFIG is not valid JSON"):
        choose_strategy("auto", 0, {"TF_CONFIG": "{oops"})


def test_mirrored_strategy_builds_and_trains_the_cnn_on_cpu():
    import numpy as np
    import tensorflow as tf

    from edgeflow.models.image.model import build_cnn
    from edgeflow.models.training.distribute import make_strategy
    from edgeflow.config import ModelConfig

    strategy = make_strategy("mirrored")
    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    with strategy.scope():
        model = build_cnn((8, 8, 1), 3, ModelConfig(blocks=1, filters=4))
        model.compile("adam", "sparse_categorical_crossentropy")
    hist = model.fit(np.ones((4, 8, 8, 1)), np.array([0, 1, 2, 0]), epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])


def test_progress_reports_components_reused_from_cache(caplog):
    progress = ComponentProgress(["A", "B"])
    tfx_log = logging.getLogger("fake_tfx")  # stands in for TFX's absl records
    tfx_log.setLevel(logging.INFO)
    tfx_log.addHandler(progress)
    try:
        with caplog.at_level(logging.INFO, logger="edgeflow"):
            for node, cached in (("A", True), ("B", False)):
                tfx_log.info("Component %s is running.", node)
                if cached:
                    tfx_log.info("A cached execution %d is used.", 7)
                tfx_log.info("Component %s is finished.", node)
    finally:
        tfx_log.removeHandler(progress)
    assert progress.cached == ["A"]
    assert "[1/2] A reused from cache" in caplog.text and "[2/2] B done in" in caplog.text


@pytest.mark.parametrize("policy, decision", [("run_once", "running once now"), ("skip", "skipped them")])
def test_the_running_loop_applies_its_misfire_policy_to_a_run_that_overran(tmp_path, caplog, policy, decision):
    import signal
    import sys

    class Overrunning(Scheduler):  # a real child process that outlasts three fire times of a 1 s schedule
        def _command(self, job):
            return [sys.executable, "-c", "import time; time.sleep(3.2)"]

    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        with caplog.at_level(logging.INFO, logger="edgeflow"):
            Overrunning([Job("image", "* * * * * */1")], tmp_path, misfire=policy, grace=60, max_runs=1).run()
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
    assert re.search(rf"schedule: image missed (?:[3-9]|\d{{2,}}) fire time\(s\) during the run; {decision}", caplog.text)
