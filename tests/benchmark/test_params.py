import importlib

import pytest
import yaml

from benchmark import params as P
from benchmark.profile import use_profile, validate_profile


def _write(tmp_path, mutate):
    raw = yaml.safe_load(open(P.__file__.replace("benchmark/params.py", "profiles/quick.yaml")))
    mutate(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_profiles_parse_and_default_is_active(repo):
    for name in P.PROFILES:
        validate_profile(repo / "profiles" / f"{name}.yaml", P.PIPELINE_OF[name])
        assert P.load_section("base", repo / "profiles" / f"{name}.yaml").profile == name
    assert (repo / "params.yaml").read_text() == (repo / "profiles" / "default.yaml").read_text(), (
        "params.yaml is not the default profile: `make repro` must run the default; "
        "run `python -m benchmark.profile default` before committing")
    assert (repo / P.PIPELINE_PARAMS["pretrained"]).read_text() == (repo / "profiles" / "external.yaml").read_text(), (
        "pipelines/pretrained/params.yaml is not the external profile: run `python -m benchmark.profile external`")


def test_pretrained_profiles_list_only_fetchable_gans(repo):
    for name in ("external", "paper"):
        path = repo / "profiles" / f"{name}.yaml"
        gans = P.load_section("pretrained", path).gans
        checkpoints = P.load_section("fetch_checkpoint", path).checkpoints
        assert gans and set(gans) <= set(checkpoints), name


def test_device_auto_resolves_and_bad_devices_are_one_line(tmp_path):
    import torch

    assert P.BaseParams(seed=1, profile="quick", device="auto").device == ("cuda" if torch.cuda.is_available()
                                                                            else "cpu")
    path = _write(tmp_path, lambda r: r["base"].update(device="tpu"))
    with pytest.raises(P.ParamsError, match="base.device must be one of auto, cpu, cuda"):
        P.load_section("base", path)
    if not torch.cuda.is_available():
        path = _write(tmp_path, lambda r: r["base"].update(device="cuda"))
        with pytest.raises(P.ParamsError, match="base.device is 'cuda' but no GPU is visible"):
            P.load_section("base", path)


def test_unknown_key_names_section_and_key(tmp_path):
    path = _write(tmp_path, lambda r: r["train_gan"].update(stpes=3))
    with pytest.raises(P.ParamsError, match=r"unknown key train_gan\.stpes \(valid: arch, "):
        P.load_section("train_gan", path)


def test_missing_key_wrong_type_unknown_section_bad_value(tmp_path):
    path = _write(tmp_path, lambda r: r["train_gan"].pop("lr"))
    with pytest.raises(P.ParamsError, match=r"missing key train_gan\.lr"):
        P.load_section("train_gan", path)
    path = _write(tmp_path, lambda r: r["render_world"].update(n_train="many"))
    with pytest.raises(P.ParamsError, match=r"render_world\.n_train must be int, got 'many'"):
        P.load_section("render_world", path)
    path = _write(tmp_path, lambda r: r.update(trian={}))
    with pytest.raises(P.ParamsError, match="unknown section 'trian'"):
        P.load_section("base", path)
    path = _write(tmp_path, lambda r: r["render_world"].update(resolution=48))
    with pytest.raises(P.ParamsError, match=r"render_world\.resolution must be one of 32, 64, 128"):
        P.load_section("render_world", path)


def test_every_stage_declares_in_dvc_yaml_the_sections_it_names(repo):
    """A stage's PARAMS and its dvc.yaml params name the same sections (the e2e tests check both against what the
    stage process really loaded), and every key it may read is declared."""
    for dvc_yaml in ("dvc.yaml", "pipelines/pretrained/dvc.yaml"):
        for name, stage in yaml.safe_load((repo / dvc_yaml).read_text())["stages"].items():
            module = importlib.import_module(stage["cmd"].split()[2])
            declared = set()
            for entry in stage.get("params", []):
                declared.update([entry] if isinstance(entry, str) else entry)
            assert {s.split(".")[0] for s in declared} == {s.split(".")[0] for s in module.PARAMS}, (dvc_yaml, name)
            for section in module.PARAMS:
                if "." in section:  # one key of a section
                    assert section in declared or section.split(".")[0] in declared, f"{name} reads {section}"
                    continue
                for key in P.section_keys(section):
                    assert key in declared or section in declared, f"{name} reads {key}: dvc.yaml does not declare it"


def test_use_profile_rewrites_params(tmp_path, repo):
    (tmp_path / "profiles").mkdir()
    for name in P.PROFILES:
        (tmp_path / "profiles" / f"{name}.yaml").write_text((repo / "profiles" / f"{name}.yaml").read_text())
    use_profile("quick", tmp_path)
    assert P.load_section("base", tmp_path / "params.yaml").profile == "quick"
    use_profile("paper", tmp_path)  # the pretrained pipeline's params, not the world's
    assert P.load_section("base", tmp_path / "pipelines/pretrained/params.yaml").profile == "paper"
    assert P.load_section("base", tmp_path / "params.yaml").profile == "quick"
    with pytest.raises(P.ParamsError, match="unknown profile 'fast'"):
        use_profile("fast", tmp_path)


def test_params_md5_is_stable_and_sensitive():
    base = P.BaseParams(seed=1, profile="quick", device="cpu")
    other = P.BaseParams(seed=2, profile="quick", device="cpu")
    assert P.params_md5(base, domain="face") == P.params_md5(base, domain="face")
    assert P.params_md5(base, domain="face") != P.params_md5(other, domain="face")
    assert P.params_md5(base, domain="face") != P.params_md5(base, domain="car")


def test_cluster_c_by_domain_replaces_c_for_that_domain_only(tmp_path):
    path = _write(tmp_path, lambda r: r["cluster"].update(C=2000.0, C_by_domain={"car": 1000}))
    p = P.load_section("cluster", path)
    assert p.C_for("car") == 1000.0 and p.C_for("face") == 2000.0
    path = _write(tmp_path, lambda r: r["cluster"].update(C_by_domain={"car": -1}))
    with pytest.raises(P.ParamsError, match="cluster.C_by_domain must map domains to positive numbers"):
        P.load_section("cluster", path)
