import pandas as pd
import pytest
from PIL import Image

from benchmark.analysis import study_curve


def test_curve_has_a_panel_per_domain_and_metric(tmp_path):
    rows = [{"domain": d, "step": s, "train_minutes": s / 200, "variant": v, "k": 10 if v == "probe" else k,
             "ari_pseudo": 0.1 * s / 800, "miou_pseudo": 0.2}
            for d in ("face", "car") for s in (400, 800) for v in ("kmeans", "probe") for k in (8, 16)]
    pd.DataFrame(rows).to_csv(tmp_path / "t.csv", index=False)
    out = tmp_path / "curve.png"
    assert study_curve.main([str(tmp_path / "t.csv"), "--out", str(out)]) == 0
    width, height = Image.open(out).size
    assert width > height  # two domain columns side by side
    figure = study_curve.curve_figure(pd.DataFrame(rows), 8)
    assert len(figure.axes) == 4
    assert [len(ax.lines) for ax in figure.axes] == [2, 2, 2, 2]


def test_missing_table_is_one_line(tmp_path):
    with pytest.raises(SystemExit, match="no such table"):
        study_curve.main([str(tmp_path / "none.csv"), "--out", str(tmp_path / "x.png")])
