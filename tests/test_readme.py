"""The README's Python snippet runs as written and prints what its comment says."""

import contextlib
import io
import re


def test_readme_python_snippet(repo, tmp_path, monkeypatch):
    text = (repo / "README.md").read_text()
    snippet = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(snippet, "README.md", "exec"), {})
    expected = re.findall(r"print\(.*\)\s+# (.*)", snippet)
    assert out.getvalue().strip().splitlines() == expected


def test_readme_stays_short(repo):
    size = len((repo / "README.md").read_bytes())
    assert size <= 15 * 1024, f"README.md is {size} bytes; results belong in results/README.md, detail in docs/"
