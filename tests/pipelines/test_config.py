import pytest

from edgeflow.config import (ConfigError, PipelineConfig, dump_yaml, load_config, parse_override, task_dict,
                             task_yaml)


def test_defaults_are_valid_and_named_after_the_pipeline():
    cfg = load_config("image")
    assert isinstance(cfg, PipelineConfig)
    assert cfg.name == "image" and cfg.model_name == "image" and cfg.experiment == "image"
    assert cfg.tracking_uri.startswith("sqlite:///") and cfg.tracking_uri.endswith("mlflow.db")


def test_yaml_then_overrides_then_updates(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epochs: 7\n  learning_rate: 0.01\nmodel:\n  activation: tanh\n")
    cfg = load_config("image", "default", str(path), ["train.epochs=3", "model.dropout=0.5"],
                      {"data": {"path": "/data"}})
    assert cfg.train.epochs == 3  # --set wins over YAML
    assert cfg.train.learning_rate == 0.01 and cfg.model.activation == "tanh"
    assert cfg.model.dropout == 0.5 and cfg.data.path == "/data"
    assert load_config("image", "default", str(path)).train.epochs == 7


def test_int_is_accepted_for_float_but_not_string_for_int():
    assert load_config("image", overrides=["eval.min_accuracy=1"]).eval.min_accuracy == 1.0
    with pytest.raises(ConfigError, match=r"^train\.epochs must be an integer, got 'three'$"):
        load_config("image", overrides=["train.epochs=three"])


@pytest.mark.parametrize("override, message", [
    ("train.epochs=0", r"train\.epochs must be at least 1"),
    ("model.activation=swish", r"model\.activation must be one of relu"),
    ("image.channels=2", r"image\.channels must be 1 \(grayscale\) or 3"),
    ("data.max_bad_fraction=1.5", r"data\.max_bad_fraction must be in \[0, 1\)"),
    ("train.epoch=3", r"train\.epoch is not a config field"),
    ("tracking.enabled=maybe", r"tracking\.enabled must be true or false"),
    ("pipeline.orchestrator=kubeflow", r"pipeline\.orchestrator must be one of local, beam"),
    ("model.blocks=5", r"model\.blocks is 5, which halves the image too often for image\.size=16"),
])
def test_bad_values_name_the_field(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("image", overrides=[override, "image.size=16"])


def test_bad_files_and_presets_get_one_sentence(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("image", path=str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config("image", path=str(bad))
    with pytest.raises(ConfigError, match="unknown preset 'huge'"):
        load_config("image", "huge")
    with pytest.raises(ConfigError, match="must look like section.field=value"):
        parse_override("train.epochs")


def test_tiny_preset_is_smaller_and_round_trips_through_yaml(tmp_path):
    tiny, default = load_config("image", "tiny"), load_config("image")
    assert tiny.train.epochs < default.train.epochs and tiny.image.limit_per_class
    path = tmp_path / "resolved.yaml"
    path.write_text(dump_yaml(tiny))  # every section: the image pipeline reads only its own
    with pytest.raises(ConfigError, match=r"^the sequence section \(sequence\.task, sequence\.window, sequence\.horizon, \.\.\.\)"):
        load_config("image", path=str(path))
    path.write_text(task_yaml(tiny))  # what a run logs as config.yaml
    assert task_dict(load_config("image", path=str(path))) == task_dict(tiny)


def test_config_is_frozen():
    cfg = load_config("image")
    with pytest.raises(Exception):
        cfg.train.epochs = 5


# ---- a run carries only its own task's config ----------------------------------------------

@pytest.mark.parametrize("pipeline, override, message", [
    ("sequence", "detection.image_size=64",
     r"^the detection section \(detection\.image_size\) applies only to the detection pipeline, not to this sequence run"),
    ("sequence", "model.blocks=1", r"^the model section \(model\.blocks\) applies only to the image pipeline"),
    ("detection", "sequence.units=8", r"^the sequence section \(sequence\.units\) applies only to the sequence"),
    ("image", "detection.min_map50=0.5", r"^the detection section .* not to this image run"),
    ("detection", "eval.min_accuracy=0.5", r"^eval\.min_accuracy applies only to the image pipeline, not to this detection"),
])
def test_a_section_of_another_pipeline_is_refused_with_one_sentence(pipeline, override, message):
    with pytest.raises(ConfigError, match=message) as err:
        load_config(pipeline, overrides=[override])
    assert str(err.value).count(". ") == 0 and "\n" not in str(err.value)


def test_a_foreign_section_in_yaml_is_refused_too(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epochs: 2\ndetection:\n  image_size: 64\n")
    with pytest.raises(ConfigError, match=r"the detection section .* not to this sequence run"):
        load_config("sequence", path=str(path))
    assert load_config("detection", path=str(path)).detection.image_size == 64


@pytest.mark.parametrize("pipeline, own, foreign", [
    ("image", {"image", "augment", "model", "baseline", "tuning"}, {"sequence", "detection"}),
    ("sequence", {"sequence"}, {"image", "augment", "model", "baseline", "tuning", "detection"}),
    ("detection", {"detection"}, {"image", "augment", "model", "baseline", "tuning", "sequence"}),
])
def test_task_dict_holds_the_shared_and_only_the_own_sections(pipeline, own, foreign):
    cfg = load_config(pipeline, "tiny")  # the tiny preset changes every task's sections: none may leak
    sections = set(task_dict(cfg))
    shared = {"name", "output", "data", "train", "eval", "diagnostics", "serving", "tracking", "pipeline",
              "kubeflow", "export"}
    assert sections == shared | own and not sections & foreign
    assert ("min_accuracy" in task_dict(cfg)["eval"]) == (pipeline == "image")
    assert "max_regression" in task_dict(cfg)["eval"]


@pytest.mark.parametrize("pipeline", ["image", "sequence", "detection"])
def test_task_yaml_round_trips_to_the_same_config(tmp_path, pipeline):
    cfg = load_config(pipeline, "tiny", overrides=["train.epochs=2"])
    path = tmp_path / "config.yaml"
    path.write_text(task_yaml(cfg))
    assert load_config(pipeline, "tiny", path=str(path)) == cfg
    assert task_dict(load_config(pipeline, path=str(path))) == task_dict(cfg)  # whatever the preset


def test_serve_accepts_the_yaml_of_any_pipeline(tmp_path):
    """`edgeflow serve` loads under a name that is no pipeline's: nothing is refused, only serving is read."""
    path = tmp_path / "c.yaml"
    path.write_text(task_yaml(load_config("detection", overrides=["serving.grpc_port=9000"])))
    assert load_config("serve", path=str(path)).serving.grpc_port == 9000


def test_the_orchestrator_flag_sets_pipeline_orchestrator_beside_other_pipeline_settings():
    from edgeflow.pipelines.cli import _flag_updates, _parser

    args = _parser().parse_args(["run", "image", "--orchestrator", "beam", "--set", "pipeline.cache=true"])
    cfg = load_config("image", overrides=args.overrides, updates=_flag_updates(args))
    assert (cfg.pipeline.orchestrator, cfg.pipeline.cache) == ("beam", True)
    assert load_config("image").pipeline.orchestrator == "local"
