"""Procedural cars seen from the front on a road under the sky, with lights, plate, windows and wheels.
Class 0 ("sky") covers the sky and the distant scenery above the horizon."""

from __future__ import annotations

import numpy as np

from benchmark.data.world.canvas import Canvas, jitter, pick

CLASSES = ("sky", "road", "body", "window", "wheel", "light", "plate")
PALETTE = [(110, 180, 240), (90, 90, 90), (220, 40, 40), (60, 220, 230), (30, 30, 120),
           (255, 230, 0), (255, 255, 255)]
SKY, ROAD, BODY, WINDOW, WHEEL, LIGHT, PLATE = range(7)

_SKY_TOP = [[0.25, 0.45, 0.80], [0.55, 0.62, 0.72], [0.85, 0.55, 0.35], [0.15, 0.20, 0.35]]
_PAINT = [[0.75, 0.08, 0.08], [0.10, 0.20, 0.60], [0.92, 0.92, 0.90], [0.08, 0.08, 0.09], [0.65, 0.66, 0.68],
          [0.90, 0.75, 0.10], [0.10, 0.45, 0.20], [0.45, 0.25, 0.12]]
_ROAD = [[0.35, 0.35, 0.36], [0.45, 0.43, 0.40], [0.25, 0.25, 0.27]]


def render(canvas: Canvas) -> None:
    """Paint one car scene on `canvas`."""
    rng = canvas.rng
    X, Y = canvas.X, canvas.Y
    horizon = rng.uniform(0.42, 0.58)

    # Sky: vertical gradient towards a paler horizon, clouds, and a line of distant hills or buildings.
    top = pick(rng, _SKY_TOP, 0.05)
    low = np.clip(top + rng.uniform(0.15, 0.35), 0, 1)
    t = np.clip(Y / horizon, 0, 1)[..., None]
    sky = (1 - t) * top + t * low
    canvas.paint(Y < horizon, SKY, sky)
    for _ in range(int(rng.integers(0, 4))):
        mask, _ = canvas.ellipse(rng.uniform(0, 1), rng.uniform(0.05, horizon * 0.7), rng.uniform(0.08, 0.2),
                                 rng.uniform(0.02, 0.06))
        canvas.paint(mask, SKY, canvas.fill(jitter(rng, [0.95, 0.95, 0.97], 0.03), low=0.05))
    skyline = horizon - np.abs(canvas.noise(1, int(rng.integers(3, 9)))) * rng.uniform(0.05, 0.15)
    scenery = jitter(rng, [0.25, 0.35, 0.25] if rng.random() < 0.6 else [0.45, 0.45, 0.5], 0.06)
    canvas.paint((Y >= skyline) & (Y < horizon), SKY, canvas.fill(scenery, low=0.2, high=0.05, cells=10))

    # Road with perspective lane markings.
    road = pick(rng, _ROAD, 0.03)
    canvas.paint(Y >= horizon, ROAD, canvas.fill(road, low=0.1, high=0.08, cells=6))
    vx = 0.5 + rng.normal(0, 0.1)
    for lane in rng.choice([-0.9, -0.3, 0.3, 0.9], size=int(rng.integers(1, 3)), replace=False):
        depth = (Y - horizon) / (1 - horizon)
        along = np.abs(X - (vx + lane * depth)) < 0.008 + 0.02 * depth
        dashes = np.sin(np.log(np.clip(depth, 1e-3, None)) * 12 + rng.uniform(0, 6)) > 0
        canvas.recolour(along & dashes & (Y > horizon), jitter(rng, [0.9, 0.9, 0.85], 0.03))

    # Car geometry.
    cx = 0.5 + rng.normal(0, 0.06)
    w = rng.uniform(0.52, 0.72)
    bottom = rng.uniform(0.80, 0.92)
    body_h = w * rng.uniform(0.26, 0.34)
    cabin_h = w * rng.uniform(0.20, 0.28)
    yaw = rng.uniform(-0.08, 0.08) * w
    paint = pick(rng, _PAINT, 0.04)
    body_top = bottom - 0.06 * w - body_h

    shadow, _ = canvas.ellipse(cx, bottom, w * 0.58, 0.03)
    canvas.recolour(shadow & (Y > horizon), road * 0.45)

    for side in (-1, 1):  # wheels: dark tyres below the body, visible between the bumper and the road
        wx = cx + side * (w / 2 - 0.13 * w)
        mask = canvas.superellipse(wx, bottom - 0.07 * w, 0.085 * w, 0.075 * w, power=3)
        canvas.paint(mask, WHEEL, canvas.fill(jitter(rng, [0.08, 0.08, 0.09], 0.02), high=0.05))

    body = canvas.superellipse(cx, body_top + body_h / 2, w / 2, body_h / 2, power=rng.uniform(3, 6))
    shade_y = 1.1 - 0.35 * np.clip((Y - body_top) / body_h, 0, 1)
    canvas.paint(body, BODY, canvas.fill(paint, low=0.05, high=0.02), shade=shade_y)
    cabin = canvas.polygon([(cx - 0.46 * w, body_top + 0.02), (cx + 0.46 * w, body_top + 0.02),
                            (cx + 0.33 * w + yaw, body_top - cabin_h), (cx - 0.33 * w + yaw, body_top - cabin_h)])
    canvas.paint(cabin, BODY, canvas.fill(paint * 0.95, low=0.05))
    grille = canvas.superellipse(cx, body_top + 0.55 * body_h, 0.18 * w, 0.10 * body_h, power=4)
    canvas.recolour(grille, jitter(rng, paint * 0.3, 0.02))

    inset = 0.045 * w
    window = canvas.polygon([(cx - 0.42 * w + inset, body_top - 0.01), (cx + 0.42 * w - inset, body_top - 0.01),
                             (cx + 0.33 * w + yaw - inset * 0.7, body_top - cabin_h + inset),
                             (cx - 0.33 * w + yaw + inset * 0.7, body_top - cabin_h + inset)])
    glass = jitter(rng, [0.30, 0.38, 0.45], 0.05)
    reflection = 0.35 * np.clip(np.sin((X + Y) * rng.uniform(8, 14) + rng.uniform(0, 6)), 0, 1)
    canvas.paint(window, WINDOW, canvas.fill(glass, field=reflection + 0.03 * canvas.grain()))

    light = jitter(rng, [0.98, 0.95, 0.75] if rng.random() < 0.7 else [0.85, 0.85, 0.95], 0.03)
    lrx, lry = 0.085 * w * rng.uniform(0.8, 1.2), 0.045 * w * rng.uniform(0.7, 1.3)
    for side in (-1, 1):
        mask, r2 = canvas.ellipse(cx + side * 0.34 * w + yaw * 0.3, body_top + 0.3 * body_h, lrx, lry,
                                  side * rng.uniform(0, 0.3))
        canvas.paint(mask, LIGHT, light, shade=1.1 - 0.3 * r2)

    plate_col = jitter(rng, [0.95, 0.95, 0.92] if rng.random() < 0.7 else [0.95, 0.80, 0.15], 0.02)
    pw, ph = 0.11 * w, 0.035 * w
    py = body_top + rng.uniform(0.72, 0.82) * body_h
    plate = canvas.superellipse(cx + yaw * 0.3, py, pw, ph, power=8)
    canvas.paint(plate, PLATE, plate_col)
    glyphs = (np.sin(X * 260 + rng.uniform(0, 6)) > 0.3) & (np.abs(Y - py) < ph * 0.5)
    canvas.recolour(plate & glyphs, [0.1, 0.1, 0.1], alpha=0.7)

    canvas.light(rng.uniform(0.0, 0.4), rng.uniform(0, 2 * np.pi), jitter(rng, [1.0, 1.0, 1.0], 0.04))
