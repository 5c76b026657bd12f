import numpy as np
import pytest
import torch

from klish.errors import ConfigError
from klish.generators import build_discriminator, build_generator
from klish.generators.train import train_gan
from klish.seeding import seed_everything


def _run(seed, **kwargs):
    seed_everything(seed)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    g = build_generator("dcgan", z_dim=8, width=4, resolution=32, upsample="nearest")
    d = build_discriminator("dcgan", width=4, resolution=32)
    records = []
    result = train_gan(images, g, d, steps=6, batch_size=8, lr=2e-4, betas=(0.5, 0.999), ema_decay=0.9, seed=seed,
                       log_every=2, bn_batches=2, callback=records.append, progress=False, **kwargs)
    return result, records


def test_training_runs_logs_and_is_deterministic():
    a, records = _run(3)
    assert [r["step"] for r in a.history] == [2.0, 4.0, 6.0] and records == a.history
    assert all(np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"]) for r in a.history)
    b, _ = _run(3)
    for pa, pb in zip(a.generator.state_dict().values(), b.generator.state_dict().values()):
        assert torch.equal(pa, pb)


def test_ema_generator_is_batch_independent():
    result, _ = _run(4)
    g = result.generator
    assert not g.training
    z = torch.randn(6, 8)
    with torch.no_grad():
        together = g(z)
        alone = torch.cat([g(z[i:i + 1]) for i in range(6)])
    assert torch.allclose(together, alone, atol=1e-5)


def test_snapshots_are_prepared_like_the_final_generator_and_leave_training_unchanged():
    seen = {}

    def keep(step, g):
        assert not g.training
        torch.randn(3)  # a snapshot consumer may use the global RNG: training must not depend on it
        seen[step] = {k: v.clone() for k, v in g.state_dict().items()}

    plain, _ = _run(5)
    snapped, _ = _run(5, snapshot_steps=[2, 6], on_snapshot=keep)
    assert sorted(seen) == [2, 6]
    final = snapped.generator.state_dict()
    assert all(torch.equal(seen[6][k], final[k]) for k in final)  # same weights and recalibrated BN statistics
    assert all(torch.equal(v, plain.generator.state_dict()[k]) for k, v in final.items())
    assert not all(torch.equal(seen[2][k], final[k]) for k in final)


def test_snapshot_outside_the_run_is_an_error():
    with pytest.raises(ConfigError, match="snapshot steps"):
        _run(5, snapshot_steps=[7], on_snapshot=lambda step, g: None)


def test_r1_penalty_is_the_squared_input_gradient_and_steps_the_discriminator():
    from klish.generators.train import r1_penalty

    torch.manual_seed(0)
    disc = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 1))  # D(x) = w.x + b: gradient w everywhere
    w = disc[1].weight.detach().clone()
    optimizer = torch.optim.SGD(disc.parameters(), lr=0.1)
    penalty = r1_penalty(disc, torch.randn(5, 3, 2, 2), weight=2.0, optimizer=optimizer)
    assert abs(penalty - float(w.square().sum())) < 1e-5
    # d/dw of (2 / 2) |w|^2 is 2 w, so one SGD step scales w by 1 - 0.2
    torch.testing.assert_close(disc[1].weight.detach(), w * 0.8)
