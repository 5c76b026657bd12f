"""A tiny generator state dict in the key layout of the rosinality StyleGAN2 re-implementation (`g_ema`), for the
converter tests and the pretrained pipeline's stand-ins."""

import torch

STYLE, N_MLP, CHANNELS = 8, 2, (8, 6, 4)  # 16x16: blocks at 4, 8, 16


def blur_kernel(scale: float) -> torch.Tensor:
    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    k = k[None, :] * k[:, None]
    return k / k.sum() * scale


def rosinality_state(seed: int = 0, style: int = STYLE, channels=CHANNELS) -> dict[str, torch.Tensor]:
    """A g_ema state dict with exactly the rosinality key names and shapes, filled with non-trivial values."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=1.0, offset=0.0):
        return torch.randn(*shape, generator=g) * scale + offset

    state = {}
    for i in range(1, N_MLP + 1):
        state[f"style.{i}.weight"] = rnd(style, style, scale=100.0)  # stored / lr_mul (0.01)
        state[f"style.{i}.bias"] = rnd(style, scale=10.0)

    def styled(prefix, cin, cout, up):
        state[f"{prefix}.conv.weight"] = rnd(1, cout, cin, 3, 3)
        state[f"{prefix}.conv.modulation.weight"] = rnd(cin, style)
        state[f"{prefix}.conv.modulation.bias"] = rnd(cin, scale=0.1, offset=1.0)
        if up:
            state[f"{prefix}.conv.blur.kernel"] = blur_kernel(4.0)
        state[f"{prefix}.noise.weight"] = rnd(1, scale=0.3)
        state[f"{prefix}.activate.bias"] = rnd(cout, scale=0.2)

    def to_rgb(prefix, cin, up):
        if up:
            state[f"{prefix}.upsample.kernel"] = blur_kernel(4.0)
        state[f"{prefix}.conv.weight"] = rnd(1, 3, cin, 1, 1)
        state[f"{prefix}.conv.modulation.weight"] = rnd(cin, style)
        state[f"{prefix}.conv.modulation.bias"] = rnd(cin, scale=0.1, offset=1.0)
        state[f"{prefix}.bias"] = rnd(1, 3, 1, 1, scale=0.1)

    state["input.input"] = rnd(1, channels[0], 4, 4)
    styled("conv1", channels[0], channels[0], False)
    to_rgb("to_rgb1", channels[0], False)
    for j, cout in enumerate(channels[1:]):
        styled(f"convs.{2 * j}", channels[j], cout, True)
        styled(f"convs.{2 * j + 1}", cout, cout, False)
        to_rgb(f"to_rgbs.{j}", cout, True)
    for i in range(2 * len(channels) - 1):
        r = 2 ** ((i + 5) // 2)
        state[f"noises.noise_{i}"] = rnd(1, 1, r, r)
    return state
