"""The code deps of every stage follow its import graph (benchmark/stage_deps.py), checked against a tiny package
tree whose imports are known by construction and against both pipelines of the repository."""

import shutil

import yaml

from benchmark import stage_deps
from benchmark.stage_deps import PIPELINES, closure, covered, minimal_cover, missing_deps, rewrite


def _tree(root, files):
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_closure_follows_function_level_relative_and_lazy_imports(tmp_path):
    _tree(tmp_path, {
        "klish/__init__.py": '_EXPORTS = {"Thing": "klish.things"}\n',
        "klish/things.py": "from .errors import Oops\n",
        "klish/errors.py": "class Oops(Exception): pass\n",
        "klish/unused.py": "",
        "klish/sub/__init__.py": "",
        "klish/sub/deep.py": "import os\n",
        "benchmark/__init__.py": "",
        "benchmark/stages/__init__.py": "",
        "benchmark/stages/go.py": "from klish import Thing\n\ndef main():\n    import klish.sub.deep\n",
    })
    files = {p.as_posix() for p in closure("benchmark.stages.go", tmp_path)}
    assert files == {"benchmark/__init__.py", "benchmark/stages/__init__.py", "benchmark/stages/go.py",
                     "klish/__init__.py", "klish/things.py", "klish/errors.py", "klish/sub/__init__.py",
                     "klish/sub/deep.py"}
    # a folder where every file runs, single files elsewhere
    cover = minimal_cover({p for p in closure("benchmark.stages.go", tmp_path)}, tmp_path)
    assert cover == ["benchmark/__init__.py", "benchmark/stages", "klish/__init__.py", "klish/errors.py",
                     "klish/sub", "klish/things.py"]


def test_covered_by_file_or_folder():
    from pathlib import Path

    assert covered(Path("klish/cluster/svm.py"), ["klish/cluster"])
    assert covered(Path("klish/cluster/svm.py"), ["klish/cluster/svm.py"])
    assert not covered(Path("klish/cluster/svm.py"), ["klish/clust", "klish/cluster/s"])


def test_every_stage_of_both_pipelines_depends_on_the_code_it_runs(repo):
    for dvc_yaml in PIPELINES:
        assert missing_deps(dvc_yaml, repo) == {}, (
            f"{dvc_yaml}: stage deps miss code they run; run `python -m benchmark.stage_deps --write`")


def test_a_dropped_dep_is_reported_and_rewrite_restores_it(tmp_path, repo):
    for name in ("klish", "benchmark"):
        shutil.copytree(repo / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "pipelines/pretrained").mkdir(parents=True)
    for dvc_yaml in PIPELINES:
        shutil.copy(repo / dvc_yaml, tmp_path / dvc_yaml)
    text = (tmp_path / "dvc.yaml").read_text()
    assert "      - klish/extractor.py\n" in text
    (tmp_path / "dvc.yaml").write_text(text.replace("      - klish/extractor.py\n", "", 1))
    gaps = missing_deps(PIPELINES[0], tmp_path)
    assert any("klish/extractor.py" in files for files in gaps.values())
    assert rewrite(PIPELINES[0], tmp_path) and missing_deps(PIPELINES[0], tmp_path) == {}
    assert (tmp_path / "dvc.yaml").read_text() == text
    # data deps stay where they were
    stages = yaml.safe_load(text)["stages"]
    assert "datasets/world/${item.domain}" in stages["train_gan"]["deps"]
    assert not rewrite(PIPELINES[1], tmp_path)


def test_cli_exit_status_says_whether_deps_are_complete(capsys):
    assert stage_deps.main([]) == 0 and capsys.readouterr().out == ""
