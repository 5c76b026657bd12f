"""Procedural face portraits: head, hair, facial parts, neck and clothes, with pose, shape and colour variation."""

from __future__ import annotations

import numpy as np

from benchmark.data.world.canvas import Canvas, clutter, jitter, pick

CLASSES = ("background", "skin", "hair", "eye", "brow", "nose", "mouth", "ear", "neck", "cloth")
PALETTE = [(0, 0, 0), (255, 204, 170), (120, 60, 20), (0, 160, 255), (90, 40, 160),
           (255, 120, 0), (220, 20, 60), (240, 230, 90), (150, 210, 110), (40, 90, 200)]
BG, SKIN, HAIR, EYE, BROW, NOSE, MOUTH, EAR, NECK, CLOTH = range(10)

_SKIN_LIGHT = np.array([0.96, 0.80, 0.68], dtype=np.float32)
_SKIN_DARK = np.array([0.42, 0.27, 0.18], dtype=np.float32)
_HAIR = [[0.08, 0.06, 0.05], [0.30, 0.18, 0.10], [0.55, 0.36, 0.18], [0.85, 0.70, 0.40],
         [0.62, 0.25, 0.10], [0.60, 0.60, 0.62]]
_BACKDROP = [[0.75, 0.78, 0.82], [0.35, 0.45, 0.60], [0.55, 0.65, 0.50], [0.80, 0.70, 0.55],
             [0.25, 0.25, 0.28], [0.62, 0.50, 0.60]]
_IRIS = [[0.25, 0.15, 0.08], [0.20, 0.35, 0.60], [0.25, 0.45, 0.25], [0.10, 0.08, 0.06]]


def render(canvas: Canvas) -> None:
    """Paint one face on `canvas` (its rng decides every random choice)."""
    rng = canvas.rng
    # Backdrop: a studio colour with low-frequency variation and a few distractor shapes.
    canvas.paint(np.ones_like(canvas.labels, dtype=bool), BG, canvas.fill(pick(rng, _BACKDROP, 0.08), low=0.2, cells=3))
    clutter(canvas, BG, int(rng.integers(0, 4)))

    cx = 0.5 + rng.normal(0, 0.035)
    cy = 0.44 + rng.normal(0, 0.025)
    rx = rng.uniform(0.21, 0.26)
    ry = rx * rng.uniform(1.18, 1.36)
    tilt = rng.normal(0, 0.10)
    yaw = rng.uniform(-0.35, 0.35)  # shifts the features sideways and shrinks the far ear
    cos_t, sin_t = np.cos(tilt), np.sin(tilt)

    def at(u: float, v: float) -> tuple[float, float]:
        """Head-frame coordinates (units of rx, ry) to canvas coordinates."""
        x, y = u * rx, v * ry
        return cx + cos_t * x - sin_t * y, cy + sin_t * x + cos_t * y

    skin = np.clip(_SKIN_LIGHT + (_SKIN_DARK - _SKIN_LIGHT) * rng.beta(1.4, 1.8), 0, 1)
    skin = jitter(rng, skin, 0.025)
    hair = pick(rng, _HAIR, 0.05)
    skin_tex = dict(low=0.06, high=0.03, cells=5)

    # Clothes and neck sit below the head.
    cloth = rng.uniform(0.05, 0.95, 3)
    mask, _ = canvas.ellipse(cx, cy + ry + rng.uniform(0.30, 0.36), rng.uniform(0.36, 0.48), 0.30)
    canvas.paint(mask, CLOTH, canvas.fill(cloth, low=0.15, high=0.04, cells=6))
    if rng.random() < 0.4:  # a collar or stripe pattern that is still cloth
        stripes = np.sin((canvas.X * rng.uniform(25, 60)) + rng.uniform(0, 6)) > 0.4
        canvas.recolour(mask & stripes, jitter(rng, cloth * 0.6, 0.05), alpha=0.8)
    neck_w = rx * rng.uniform(0.32, 0.42)
    mask = canvas.polygon([(cx - neck_w, cy + 0.55 * ry), (cx + neck_w, cy + 0.55 * ry),
                           (cx + neck_w * 1.1, cy + ry + 0.14), (cx - neck_w * 1.1, cy + ry + 0.14)])
    canvas.paint(mask, NECK, canvas.fill(skin * 0.85, **skin_tex))

    long_hair = rng.random() < 0.55
    if long_hair:
        mask, _ = canvas.ellipse(*at(0, 0.25), rx * rng.uniform(1.15, 1.35), ry * rng.uniform(1.05, 1.25), tilt)
        canvas.paint(mask, HAIR, canvas.fill(hair * 0.8, low=0.25, high=0.08, cells=12))

    # Ears: the far side (against the yaw) is smaller.
    for side in (-1, 1):
        scale = 1.0 - 0.5 * max(0.0, side * yaw)
        mask, r2 = canvas.ellipse(*at(side * (0.97 + 0.05 * yaw * side), 0.08), 0.20 * rx * scale, 0.30 * ry, tilt)
        canvas.paint(mask, EAR, canvas.fill(skin * 0.92, **skin_tex), shade=1.0 - 0.25 * r2)

    # Face with radial shading (a rounded surface).
    mask, r2 = canvas.ellipse(cx, cy, rx, ry, tilt)
    canvas.paint(mask, SKIN, canvas.fill(skin, **skin_tex), shade=1.05 - 0.22 * r2)

    # Hair cap above a wavy hairline (bald with probability 0.08).
    if rng.random() > 0.08:
        cap, _ = canvas.ellipse(*at(0, -0.12), rx * 1.09, ry * 1.0, tilt)
        hx, hy = at(0, -rng.uniform(0.35, 0.6))
        # Hairline: a tilted line through (hx, hy) plus a fringe wave.
        normal_y = (canvas.Y - hy) * cos_t - (canvas.X - hx) * sin_t
        wave = 0.03 * np.sin((canvas.X - hx) * rng.uniform(15, 40) + rng.uniform(0, 6)) * rng.uniform(0, 1)
        part = rng.uniform(-0.5, 0.5) * rx
        side_drop = 0.06 * np.clip(np.abs(canvas.X - hx - part) / rx - 0.2, 0, None)
        hair_region = cap & (normal_y < wave + side_drop)
        canvas.paint(hair_region, HAIR, canvas.fill(hair, field=0.22 * canvas.noise(4, 24) + 0.06 * canvas.grain()))

    fu = 0.45 * yaw  # feature shift along the head's horizontal axis
    eye_v = rng.uniform(-0.12, 0.0)
    eye_rx = 0.16 * rng.uniform(0.85, 1.15)
    eye_ry = 0.075 * rng.uniform(0.75, 1.3)
    iris = pick(rng, _IRIS, 0.04)
    for side in (-1, 1):
        ex, ey = at(fu + side * 0.38, eye_v)
        mask, _ = canvas.ellipse(ex, ey, eye_rx * rx, eye_ry * ry, tilt)
        canvas.paint(mask, EYE, canvas.fill(jitter(rng, [0.93, 0.92, 0.90], 0.03), high=0.02))
        iris_mask, _ = canvas.ellipse(ex + 0.2 * fu * rx, ey, 0.5 * eye_ry * ry * 1.3, eye_ry * ry, tilt)
        canvas.paint(iris_mask & mask, EYE, iris)
        bx, by = at(fu + side * 0.38, eye_v - rng.uniform(0.17, 0.24))
        brow_angle = tilt + side * rng.uniform(-0.25, 0.15)
        mask, _ = canvas.ellipse(bx, by, 0.21 * rx, 0.035 * ry * rng.uniform(0.8, 1.6), brow_angle)
        canvas.paint(mask, BROW, canvas.fill(hair * 0.75, high=0.05))

    # Nose: a wedge, darker than the skin (shadowed on one side by the yaw).
    nx, ny = at(fu * 1.2, 0.18)
    nw, nh = 0.11 * rx * rng.uniform(0.8, 1.2), 0.22 * ry * rng.uniform(0.8, 1.2)
    mask = canvas.polygon([at(fu * 1.2, 0.0), (nx + nw, ny + nh / 2), (nx - nw, ny + nh / 2)])
    canvas.paint(mask, NOSE, canvas.fill(skin * rng.uniform(0.72, 0.85), high=0.03))

    # Mouth: lips, sometimes open (a dark interior that is still mouth).
    mx, my = at(fu, 0.52 + rng.normal(0, 0.03))
    mrx, mry = 0.30 * rx * rng.uniform(0.8, 1.2), 0.07 * ry * rng.uniform(0.8, 1.9)
    lips = jitter(rng, [0.70, 0.30, 0.32], 0.06) * (0.6 + 0.4 * skin)
    mask, _ = canvas.ellipse(mx, my, mrx, mry, tilt + rng.normal(0, 0.05))
    canvas.paint(mask, MOUTH, lips)
    if mry > 0.1 * ry:
        inner, _ = canvas.ellipse(mx, my, mrx * 0.7, mry * 0.45, tilt)
        canvas.paint(inner & mask, MOUTH, [0.25, 0.08, 0.08])

    canvas.light(rng.uniform(0.0, 0.5), rng.uniform(0, 2 * np.pi), jitter(rng, [1.0, 1.0, 1.0], 0.04))
