"""The project files a DVC stage runs, from the import graph, and the code part of its `deps:` in dvc.yaml.

A stage's command is `python -m benchmark.stages.<name>`; the files it runs are that module and every project module
it imports, transitively (imports inside functions included, and the names `klish/__init__.py` exports lazily), plus
the `__init__.py` of every package on the way. `python -m benchmark.stage_deps` lists, per stage of each pipeline, the
project files its deps do not cover; `--write` rewrites the code entries of every stage's deps to the minimal cover
(a package folder where the stage runs all of it, single files otherwise), keeping the data entries as they are.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("klish", "benchmark")
PIPELINES = (Path("dvc.yaml"), Path("pipelines/pretrained/dvc.yaml"))


def module_file(name: str, root: Path = ROOT) -> Path | None:
    """The source file of project module `name` (a package's `__init__.py`), or None when it is not the project's."""
    if name.split(".")[0] not in PACKAGES:
        return None
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _lazy_exports(init: Path) -> dict[str, str]:
    """A package's `_EXPORTS = {"Name": "module", ...}` (names its `__getattr__` imports on first use)."""
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_EXPORTS" for t in node.targets):
            return {k: v for k, v in ast.literal_eval(node.value).items()}
    return {}


def imported_modules(name: str, root: Path = ROOT) -> set[str]:
    """Project modules that module `name` imports anywhere in its source (its own packages' parents included)."""
    path = module_file(name, root)
    if path is None:
        return set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                source = f"{parent}.{node.module}" if node.module else parent
            else:
                source = node.module or ""
            found.add(source)
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                if module_file(sub, root) is not None:
                    found.add(sub)
                else:
                    init = module_file(source, root)
                    if init is not None and init.name == "__init__.py":
                        lazy = _lazy_exports(init).get(alias.name)
                        if lazy:
                            found.add(lazy)
    with_parents = set()
    for module in found:
        parts = module.split(".")
        with_parents.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return {m for m in with_parents if module_file(m, root) is not None}


def closure(entry: str, root: Path = ROOT) -> set[Path]:
    """Every project file that `python -m <entry>` runs (relative to `root`)."""
    parts = entry.split(".")
    todo = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        if module in seen or module_file(module, root) is None:
            continue
        seen.add(module)
        todo.extend(imported_modules(module, root) - seen)
    return {module_file(m, root).relative_to(root) for m in seen}  # type: ignore[union-attr]


def stage_entry(cmd: str) -> str | None:
    """The module of a stage command `python -m <module> ...`, or None for another kind of command."""
    words = cmd.split()
    return words[2] if len(words) > 2 and words[:2] == ["python", "-m"] else None


def _is_code(dep: str) -> bool:
    return "${" not in dep and dep.split("/")[0] in PACKAGES


def covered(file: Path, deps: Iterable[str]) -> bool:
    """Whether `file` (relative to the repository root) is one of `deps` or lies in one of them."""
    text = file.as_posix()
    return any(text == d.rstrip("/") or text.startswith(d.rstrip("/") + "/") for d in deps)


def _root_relative(dep: str, wdir: Path) -> str:
    return (wdir / dep).as_posix() if wdir != Path(".") else dep


def pipeline_stages(dvc_yaml: Path, root: Path = ROOT) -> dict[str, tuple[str, list[str]]]:
    """Per stage of a dvc.yaml: (entry module, deps relative to the repository root)."""
    wdir = dvc_yaml.parent
    stages = yaml.safe_load((root / dvc_yaml).read_text())["stages"]
    out = {}
    for name, stage in stages.items():
        entry = stage_entry(stage["cmd"])
        if entry is not None:
            deps = [Path(_root_relative(d, wdir)).as_posix() if "${" not in d else d for d in stage.get("deps", [])]
            out[name] = (entry, [_normalise(d) for d in deps])
    return out


def _normalise(dep: str) -> str:
    parts: list[str] = []
    for part in dep.split("/"):
        if part == "..":
            parts.pop()
        elif part not in (".", ""):
            parts.append(part)
    return "/".join(parts)


def missing_deps(dvc_yaml: Path, root: Path = ROOT) -> dict[str, list[str]]:
    """Per stage of `dvc_yaml`, the project files it runs that its deps do not cover (stages with none left out)."""
    missing = {}
    for name, (entry, deps) in pipeline_stages(dvc_yaml, root).items():
        gaps = sorted(f.as_posix() for f in closure(entry, root) if not covered(f, deps))
        if gaps:
            missing[name] = gaps
    return missing


def minimal_cover(files: set[Path], root: Path = ROOT) -> list[str]:
    """The shortest list of folders and files that covers exactly `files`: a package folder where every .py file
    below it is in `files`, the single files otherwise."""
    def all_in(folder: Path) -> bool:
        return all(p.relative_to(root) in files for p in (root / folder).rglob("*.py"))

    cover: set[str] = set()
    for file in files:
        chosen = file
        for parent in file.parents:
            if parent == Path(".") or parent.as_posix() in PACKAGES:
                break
            if all_in(parent):
                chosen = parent
        cover.add(chosen.as_posix())
    return sorted(cover)


def rewrite(dvc_yaml: Path, root: Path = ROOT) -> bool:
    """Rewrite the code entries of every stage's deps in `dvc_yaml` to the minimal cover of what it runs, keeping
    its data entries in place; returns whether the file changed."""
    path = root / dvc_yaml
    wdir = dvc_yaml.parent
    prefix = "../" * len(wdir.parts)
    stages = pipeline_stages(dvc_yaml, root)
    lines = path.read_text().splitlines(keepends=True)
    out: list[str] = []
    stage = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("  ") and not line.startswith("   ") and line.rstrip().endswith(":"):
            stage = line.strip()[:-1]
        if line.rstrip() == "    deps:" and stage in stages:
            out.append(line)
            i += 1
            data = []
            while i < len(lines) and lines[i].startswith("      - "):
                dep = lines[i][len("      - "):].strip()
                if not _is_code(_normalise(_root_relative(dep, wdir)) if "${" not in dep else dep):
                    data.append(lines[i])
                i += 1
            code = minimal_cover(closure(stages[stage][0], root), root)
            out.extend(f"      - {prefix}{c}\n" for c in code)
            out.extend(data)
            continue
        out.append(line)
        i += 1
    text = "".join(out)
    if text == path.read_text():
        return False
    path.write_text(text)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.stage_deps", description=__doc__)
    parser.add_argument("--write", action="store_true", help="rewrite the code deps of every pipeline's stages")
    args = parser.parse_args(argv)
    status = 0
    for dvc_yaml in PIPELINES:
        if args.write and rewrite(dvc_yaml):
            print(f"{dvc_yaml}: code deps rewritten from the import graph")
        for stage, gaps in missing_deps(dvc_yaml).items():
            print(f"{dvc_yaml}: stage {stage} runs {len(gaps)} project file(s) its deps miss: {', '.join(gaps)}")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
