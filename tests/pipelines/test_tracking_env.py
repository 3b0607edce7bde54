"""Two pipeline runs in one process record into their own stores (mlflow exports its URI to the env)."""
from edgeflow.pipelines.tracking import runs as tracking
from edgeflow.config import load_config


def test_a_second_run_in_one_process_uses_its_own_store(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    first = load_config("image", updates={"output": str(tmp_path / "a")})
    tracking._connect(first)  # mlflow exports first's URI as MLFLOW_TRACKING_URI here
    second = load_config("detection", updates={"output": str(tmp_path / "b")})
    assert tracking.tracking_uri(second) == second.tracking_uri != first.tracking_uri


def test_the_cli_reads_mlflow_tracking_uri_and_its_flag_wins(tmp_path, monkeypatch, capsys):
    from edgeflow.pipelines.cli import main

    env_uri, flag_uri = f"sqlite:///{tmp_path / 'env.db'}", f"sqlite:///{tmp_path / 'flag.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env_uri)
    assert main(["models", "nope"]) == 1
    assert f"no registered model 'nope' in {env_uri};" in capsys.readouterr().err
    assert main(["models", "nope", "--tracking-uri", flag_uri]) == 1
    assert f"no registered model 'nope' in {flag_uri};" in capsys.readouterr().err
