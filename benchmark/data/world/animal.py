"""Procedural cat and dog heads: fur with stripes or patches, ears (pointed or floppy), eyes, nose, a lighter
muzzle (whisker pads) and a mouth that may show the tongue. The tongue is part of the "mouth" class."""

from __future__ import annotations

import numpy as np

from benchmark.data.world.canvas import Canvas, clutter, jitter, pick

CLASSES = ("background", "fur", "inner_ear", "eye", "nose", "muzzle", "mouth")
PALETTE = [(0, 0, 0), (200, 130, 60), (255, 150, 200), (0, 200, 120), (140, 0, 200), (250, 240, 150),
           (220, 20, 40)]
BG, FUR, INNER_EAR, EYE, NOSE, MUZZLE, MOUTH = range(7)

_FUR = [[0.85, 0.50, 0.20], [0.50, 0.50, 0.52], [0.12, 0.11, 0.10], [0.92, 0.90, 0.85], [0.45, 0.28, 0.15],
        [0.85, 0.72, 0.50]]
_IRIS = [[0.45, 0.70, 0.20], [0.85, 0.65, 0.15], [0.55, 0.35, 0.12], [0.35, 0.55, 0.85]]
_BACKDROP = [[0.55, 0.70, 0.45], [0.75, 0.72, 0.65], [0.40, 0.45, 0.55], [0.65, 0.55, 0.40]]


def render(canvas: Canvas) -> None:
    """Paint one cat or dog head on `canvas`."""
    rng = canvas.rng
    Y = canvas.Y
    backdrop = canvas.fill(pick(rng, _BACKDROP, 0.08), low=0.25, cells=4)
    canvas.paint(np.ones_like(canvas.labels, dtype=bool), BG, backdrop)
    clutter(canvas, BG, int(rng.integers(0, 5)))

    cat = rng.random() < 0.5
    cx = 0.5 + rng.normal(0, 0.04)
    cy = 0.56 + rng.normal(0, 0.03)
    rx = rng.uniform(0.27, 0.33)
    ry = rx * (rng.uniform(0.85, 0.98) if cat else rng.uniform(0.98, 1.12))
    tilt = rng.normal(0, 0.1)
    cos_t, sin_t = np.cos(tilt), np.sin(tilt)

    def at(u: float, v: float) -> tuple[float, float]:
        x, y = u * rx, v * ry
        return cx + cos_t * x - sin_t * y, cy + sin_t * x + cos_t * y

    fur = pick(rng, _FUR, 0.05)
    fur_field = canvas.fill(fur, field=0.12 * canvas.noise(6) + 0.08 * canvas.grain())
    pointed = cat or rng.random() < 0.35
    inner_col = jitter(rng, [0.92, 0.62, 0.62], 0.04)

    # Ears first (behind the head).
    for side in (-1, 1):
        if pointed:
            spread = rng.uniform(0.45, 0.65)
            tip = at(side * rng.uniform(0.65, 0.85), -rng.uniform(1.35, 1.6))
            base_a, base_b = at(side * (spread - 0.35), -0.6), at(side * (spread + 0.4), -0.35)
            canvas.paint(canvas.polygon([tip, base_a, base_b]), FUR, fur_field)
            mid = ((tip[0] + base_a[0] + base_b[0]) / 3, (tip[1] + base_a[1] + base_b[1]) / 3)
            inner = [(mid[0] + 0.62 * (p[0] - mid[0]), mid[1] + 0.62 * (p[1] - mid[1]) + 0.01)
                     for p in (tip, base_a, base_b)]
            canvas.paint(canvas.polygon(inner), INNER_EAR, canvas.fill(inner_col, high=0.05))
        else:
            ex, ey = at(side * 0.92, 0.15)
            mask, _ = canvas.ellipse(ex, ey, 0.28 * rx, 0.72 * ry, tilt - side * rng.uniform(0.1, 0.4))
            canvas.paint(mask, FUR, canvas.fill(fur * rng.uniform(0.55, 0.85), low=0.1, high=0.08))

    mask, r2 = canvas.ellipse(cx, cy, rx, ry, tilt)
    canvas.paint(mask, FUR, fur_field, shade=1.06 - 0.2 * r2)
    head = mask
    if rng.random() < 0.6:  # tabby stripes or a patch: still fur
        if cat:
            stripes = np.sin((Y - cy) * rng.uniform(40, 70) + canvas.noise(3) * 2) > 0.55
            canvas.recolour(head & stripes & (Y < cy), fur * 0.55, alpha=0.8)
        else:
            patch, _ = canvas.ellipse(*at(rng.uniform(-0.6, 0.6), rng.uniform(-0.6, 0.2)), 0.4 * rx, 0.35 * ry)
            canvas.recolour(head & patch, pick(rng, _FUR, 0.05), alpha=0.9)

    muzzle_col = np.clip(fur * 0.4 + jitter(rng, [0.95, 0.92, 0.88], 0.04) * 0.6, 0, 1)
    if cat:
        for side in (-1, 1):
            mask, _ = canvas.ellipse(*at(side * 0.14, 0.42), 0.2 * rx, 0.16 * ry, tilt)
            canvas.paint(mask, MUZZLE, canvas.fill(muzzle_col, high=0.06))
    else:
        mask, _ = canvas.ellipse(*at(0, 0.42), 0.42 * rx * rng.uniform(0.9, 1.1), 0.33 * ry, tilt)
        canvas.paint(mask, MUZZLE, canvas.fill(muzzle_col, low=0.05, high=0.06))

    iris = pick(rng, _IRIS, 0.05) if cat else pick(rng, [[0.35, 0.2, 0.08], [0.2, 0.12, 0.05]], 0.03)
    eye_v = rng.uniform(-0.22, -0.08)
    for side in (-1, 1):
        ex, ey = at(side * rng.uniform(0.34, 0.42), eye_v)
        erx, ery = 0.15 * rx, (0.12 if cat else 0.10) * ry
        mask, _ = canvas.ellipse(ex, ey, erx, ery, tilt + side * (0.2 if cat else 0.0))
        canvas.paint(mask, EYE, iris)
        pupil, _ = canvas.ellipse(ex, ey, erx * (0.25 if cat else 0.55), ery * (0.9 if cat else 0.55), tilt)
        canvas.paint(pupil & mask, EYE, [0.03, 0.03, 0.03])

    if cat:
        nose_y = 0.28
        mask = canvas.polygon([at(-0.1, nose_y), at(0.1, nose_y), at(0, nose_y + 0.1)])
        canvas.paint(mask, NOSE, jitter(rng, [0.85, 0.50, 0.55] if rng.random() < 0.6 else [0.2, 0.15, 0.15], 0.04))
    else:
        nose_y = 0.26
        mask, r2 = canvas.ellipse(*at(0, nose_y), 0.16 * rx, 0.09 * ry, tilt)
        canvas.paint(mask, NOSE, jitter(rng, [0.08, 0.07, 0.07], 0.02), shade=1.2 - 0.3 * r2)

    mx, my = at(0, 0.6 if cat else 0.66)
    open_mouth = rng.random() < (0.2 if cat else 0.55)
    mask, _ = canvas.ellipse(mx, my, 0.16 * rx, (0.10 if open_mouth else 0.035) * ry, tilt)
    canvas.paint(mask, MOUTH, [0.2, 0.07, 0.07])
    if open_mouth:
        tongue, _ = canvas.ellipse(mx, my + 0.06 * ry, 0.1 * rx, 0.08 * ry, tilt)
        canvas.paint(tongue & mask, MOUTH, jitter(rng, [0.90, 0.45, 0.50], 0.04))

    canvas.light(rng.uniform(0.0, 0.45), rng.uniform(0, 2 * np.pi), jitter(rng, [1.0, 1.0, 1.0], 0.04))
