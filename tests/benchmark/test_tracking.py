from pathlib import Path

import mlflow
import pytest

from benchmark import tracking


def _runs(uri):
    mlflow.set_tracking_uri(uri)
    return mlflow.search_runs(experiment_names=["unit"], output_format="pandas")


def test_stage_run_logs_tags_params_metrics_and_is_idempotent(isolated_mlflow, tmp_path):
    picture = tmp_path / "p.txt"
    picture.write_text("x")
    for _ in range(2):
        with tracking.stage_run("unit", dvc_stage="train_gan@face", params_md5="abc",
                                params={"train_gan": {"steps": 3}}, tags={"domain": "face", "seed": 7}) as run:
            run.log_metrics({"loss": 1.5, "name": "skipped"}, step=2)
            run.log_artifact(picture)
    runs = _runs(isolated_mlflow)
    assert len(runs) == 1  # the second execution replaced the first
    row = runs.iloc[0]
    assert row["params.train_gan.steps"] == "3" and row["metrics.loss"] == 1.5
    for tag in ("git_commit", "git_dirty", "dvc_stage", "params_md5", "domain", "seed"):
        assert f"tags.{tag}" in runs.columns
    assert row["status"] == "FINISHED"
    assert row["artifact_uri"].startswith((tmp_path / "mlartifacts").as_uri())


def test_failed_stage_marks_run_failed(isolated_mlflow):
    with pytest.raises(RuntimeError):
        with tracking.stage_run("unit", dvc_stage="s", params_md5="x", params={}, tags={}):
            raise RuntimeError("boom")
    assert _runs(isolated_mlflow).iloc[0]["status"] == "FAILED"


def test_experiments_open_on_the_runs_table_in_the_ui(isolated_mlflow):
    from mlflow.tracking import MlflowClient

    with tracking.stage_run("unit", dvc_stage="s", params_md5="x", params={}, tags={}):
        pass
    client = MlflowClient(tracking_uri=isolated_mlflow)
    experiment = client.get_experiment_by_name("unit")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    old = client.create_experiment("older")  # an experiment made before the tag existed gets it on next use
    assert "mlflow.experimentKind" not in client.get_experiment(old).tags
    tracking.mirror_cell("older", "c", {"m": 1.0}, {})
    assert client.get_experiment(old).tags["mlflow.experimentKind"] == "custom_model_development"


def test_an_interrupted_rerun_keeps_the_finished_run(isolated_mlflow):
    def execute(fail):
        with tracking.stage_run("unit", dvc_stage="s", params_md5="x", params={}, tags={}) as run:
            run.log_metrics({"loss": 2.0 if fail else 1.0})
            if fail:
                raise KeyboardInterrupt

    execute(fail=False)
    with pytest.raises(KeyboardInterrupt):
        execute(fail=True)
    runs = _runs(isolated_mlflow)
    assert sorted(runs["status"]) == ["FAILED", "FINISHED"]
    assert runs[runs.status == "FINISHED"].iloc[0]["metrics.loss"] == 1.0
    execute(fail=False)  # a finished re-run replaces both
    runs = _runs(isolated_mlflow)
    assert list(runs["status"]) == ["FINISHED"]


def test_mirror_cell_replaces_only_after_writing(isolated_mlflow):
    assert tracking.mirror_cell("unit", "c", {"m": 1.0}, {})
    assert not tracking.mirror_cell("unit", "c", {"m": 1.0}, {})  # idempotent
    assert tracking.mirror_cell("unit", "c", {"m": 2.0}, {})
    runs = _runs(isolated_mlflow)
    assert len(runs) == 1 and runs.iloc[0]["metrics.m"] == 2.0


def test_check_store_is_one_error_for_an_unusable_database(isolated_mlflow, monkeypatch, tmp_path):
    tracking.check_store()  # the test's own store is writable
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'file' / 'x.db'}")
    with pytest.raises(tracking.TrackingError, match="cannot write the MLflow database"):
        tracking.check_store()


def test_default_uri_is_absolute_at_repo_root(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    (tmp_path / ".dvc").mkdir()
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    assert tracking.tracking_uri() == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"


def test_a_sub_pipeline_folder_is_not_the_root(tmp_path):
    (tmp_path / ".dvc").mkdir()
    sub = tmp_path / "pipelines" / "external"
    sub.mkdir(parents=True)
    (sub / "dvc.yaml").write_text("stages: {}\n")
    assert tracking.repo_root(sub) == tmp_path.resolve()


def test_repo_root_escapes_dvc_temporary_experiment_copies(tmp_path):
    inner = tmp_path / ".dvc" / "tmp" / "exps" / "tmpabc"
    inner.mkdir(parents=True)
    assert tracking.repo_root(inner) == Path(str(tmp_path.resolve()))


def test_flatten():
    assert tracking.flatten({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == {"a.b": 1, "a.c.d": 2, "e": 3}
