"""The procedural world: one renderer per domain, each with exact per-pixel class ids."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from benchmark.data.world import animal, car, face
from benchmark.data.world.canvas import Canvas
from klish.errors import ConfigError
from klish.seeding import sample_rng


@dataclass(frozen=True)
class Domain:
    """A world domain: its renderer, class names and mask palette (RGB per class id)."""

    name: str
    render: Callable[[Canvas], None]
    classes: tuple[str, ...]
    palette: list[tuple[int, int, int]]
    description: str


DOMAINS: dict[str, Domain] = {
    "face": Domain("face", face.render, face.CLASSES, face.PALETTE,
                   "frontal portraits: head with pose and yaw, hair styles, eyes, brows, nose, mouth, ears, neck, "
                   "clothes, on a studio backdrop with distractor shapes"),
    "car": Domain("car", car.render, car.CLASSES, car.PALETTE,
                  "cars seen from the front on a road with lane markings, under a sky with clouds and a skyline "
                  "(class 0 'sky' covers the sky and the distant scenery)"),
    "animal": Domain("animal", animal.render, animal.CLASSES, animal.PALETTE,
                     "cat or dog heads: pointed or floppy ears, stripes or patches, eyes with pupils, nose, a lighter "
                     "muzzle (whisker pads), mouth (open mouths show the tongue, labelled mouth)"),
}

# Per-split random streams, so train and test samples never share a seed.
SPLIT_STREAMS = {"train": 1, "test": 2}


def get_domain(name: str) -> Domain:
    """The domain called `name`; an unknown name is an error listing the valid ones."""
    if name not in DOMAINS:
        raise ConfigError(f"unknown domain {name!r}: expected one of {', '.join(DOMAINS)}")
    return DOMAINS[name]


def render_sample(domain: str, seed: int, split: str, index: int, resolution: int,
                  supersample: int = 4, appearance: str = "consistent") -> tuple[np.ndarray, np.ndarray]:
    """Render sample `index` of `split`: image uint8 [R, R, 3] and mask uint8 [R, R]; a pure function of its args.

    `appearance="random"` gives every painted shape a random colour and leaves the mask unchanged (see Canvas)."""
    spec = get_domain(domain)
    canvas = Canvas(resolution, supersample, sample_rng(seed, index, SPLIT_STREAMS[split]), appearance)
    spec.render(canvas)
    return canvas.finish(len(spec.classes))
