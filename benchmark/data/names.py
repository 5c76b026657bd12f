"""The names the data modules define, in one light module: params validation reads them here without importing the
renderers or the readers (so a stage's code deps do not grow by the whole world because it loads params)."""

from __future__ import annotations

WORLD_DOMAINS = ("face", "car", "animal")  # the procedural world's domains (benchmark/data/world)
APPEARANCES = ("consistent", "random")  # the world canvas's appearance modes (benchmark/data/world/canvas.py)
RECOGNITION_DATASETS = ("digits", "fashion_mnist", "animal_shapes")  # benchmark/data/recognition.py
