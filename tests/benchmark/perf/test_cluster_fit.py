import pandas as pd

from benchmark.perf import cluster_fit
from klish import build_generator, extract_features


def test_harness_times_every_method_and_compares_solvers(tmp_path):
    generator = build_generator("dcgan", z_dim=8, width=4, resolution=16, upsample="nearest").eval()
    extract_features(generator, tmp_path / "store", n_samples=2, seed=0, size=8, progress=False)
    out = tmp_path / "perf"
    rc = cluster_fit.main(["--store", str(tmp_path / "store"), "--images", "2", "--k0", "6", "--k-values", "2", "3",
                           "--methods", "klish_fast", "klish_reference", "kmeans", "--out", str(out)])
    assert rc == 0
    table = pd.read_csv(out.with_suffix(".csv"))
    assert table["method"].tolist() == ["klish_fast", "klish_reference", "kmeans"]
    assert (table["seconds"] > 0).all() and (table["peak_mb"] > 0).all() and not table["timed_out"].any()
    reference = table.set_index("method").loc["klish_reference"]
    assert reference["same_merges"].endswith("/5") and float(reference["speed_ratio"]) > 0
    assert "python -m benchmark.perf.cluster_fit" in out.with_suffix(".md").read_text()
