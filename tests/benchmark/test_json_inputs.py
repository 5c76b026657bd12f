import pytest

from benchmark.json_inputs import read_json
from klish.errors import KlishError


def test_reads_and_names_the_file_on_failure(tmp_path):
    good = tmp_path / "a.json"
    good.write_text('{"k": [1, 2]}')
    assert read_json(good, "run x") == {"k": [1, 2]}
    with pytest.raises(KlishError, match=r"b.json: not found \(run x\)"):
        read_json(tmp_path / "b.json", "not found (run x)")
    bad = tmp_path / "c.json"
    bad.write_text('{"k": ')
    with pytest.raises(KlishError, match="c.json: not valid JSON .* at line 1"):
        read_json(bad, "run x")
