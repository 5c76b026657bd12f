"""GANs as unsupervised feature extractors (Radford et al., DCGAN, 2016, section 5.1): every discriminator layer
max-pooled to a 4x4 grid, flattened and concatenated, under a regularised linear L2-SVM (scikit-learn `LinearSVC`,
squared hinge) whose C is chosen on a validation split carved from the training set. Also the controls that give the
numbers meaning (raw pixels, the same discriminator with random weights, a supervised CNN of the same shape) and the
real-vs-fake subspace test (project out the directions that separate real from generated images)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from torch import nn
from tqdm import tqdm

from klish.errors import ConfigError
from klish.features.hooks import FeatureRecorder, feature_layers

log = logging.getLogger(__name__)

POOL_GRID = 4  # the DCGAN recipe: each layer max-pooled to 4x4
SVM_C_GRID = (0.1, 1.0, 10.0)  # per unit mean squared feature norm: the SVM's C is c / D on D standardised features


def to_resolution(images: np.ndarray, resolution: int) -> np.ndarray:
    """Grey uint8 images [N, h, w] as uint8 [N, R, R, 1]: zero-padded when smaller by an even margin of at most a
    quarter (28 -> 32, as is usual for MNIST-like sets), bilinearly resized otherwise (8 -> 16 for the digits)."""
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ConfigError(f"expected square grey images [N, h, h], got shape {images.shape}")
    size = images.shape[1]
    margin = resolution - size
    if size == resolution:
        out = images
    elif 0 < margin <= resolution // 4 and margin % 2 == 0:
        out = np.pad(images, ((0, 0), (margin // 2, margin // 2), (margin // 2, margin // 2)))
    else:
        x = torch.from_numpy(images.astype(np.float32))[:, None]
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)
        out = x[:, 0].round().clamp(0, 255).to(torch.uint8).numpy()
    return np.ascontiguousarray(out[..., None])


def _as_input(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, R, R, C] -> float [N, C, R, R] in [-1, 1] (the GAN's image range)."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


@torch.no_grad()
def discriminator_features(discriminator: nn.Module, images: np.ndarray, *, layers: Sequence[str] | None = None,
                           grid: int = POOL_GRID, batch_size: int = 256, device: str = "cpu") -> np.ndarray:
    """The DCGAN recipe's features [N, D]: each named layer (all of them, or `layers`) max-pooled to `grid` x `grid`
    (smaller maps are kept as they are), flattened, concatenated; images uint8 [N, R, R, C]. Works for any network
    with named feature layers (a discriminator, an encoder)."""
    names = list(layers) if layers is not None else list(feature_layers(discriminator))
    discriminator.eval().to(device)
    parts = []
    with FeatureRecorder(discriminator, names) as rec:
        for start in range(0, len(images), batch_size):
            discriminator(_as_input(images[start:start + batch_size]).to(device))
            pooled = [F.adaptive_max_pool2d(rec.maps[n], min(grid, rec.maps[n].shape[-1])).flatten(1) for n in names]
            parts.append(torch.cat(pooled, dim=1).cpu().numpy())
    return np.concatenate(parts)


def pixel_features(images: np.ndarray) -> np.ndarray:
    """The raw-pixel control: images flattened to [N, R*R*C] in [0, 1]."""
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def label_subset(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Indices of a stratified `fraction` of the labels (at least two per class, so C can still be validated)."""
    if not 0 < fraction <= 1:
        raise ConfigError(f"label fraction must be in (0, 1], got {fraction}")
    if fraction == 1:
        return np.arange(len(labels))
    n_classes = len(np.unique(labels))
    n = max(int(round(fraction * len(labels))), 2 * n_classes)
    keep, _ = train_test_split(np.arange(len(labels)), train_size=n, stratify=labels, random_state=seed)
    return np.sort(keep)


@dataclass
class SvmResult:
    """Test accuracy of the L2-SVM, the C chosen on validation, and the validation accuracy of every C tried."""

    test_accuracy: float
    C: float
    validation: dict[float, float]
    seconds: float


def svm_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, *,
              C_grid: Sequence[float] = SVM_C_GRID, validation_fraction: float = 0.1, seed: int = 0,
              max_iter: int = 2000, n_jobs: int = 1) -> SvmResult:
    """Standardise, choose C for `LinearSVC` (squared hinge, L2, one-vs-rest over `n_jobs` processes; the result
    does not depend on them) on a stratified validation split of the training set (at least one image per class),
    refit on all of it with that C, and score on the test set. `C_grid` is per unit mean squared feature norm: a
    standardised D-dimensional feature has squared norm D, so the SVM gets C / D, and one grid serves feature types
    from 64 to thousands of dimensions."""
    start = time.perf_counter()
    dims = train_x.shape[1]
    n_classes = len(np.unique(train_y))
    n_val = max(int(round(validation_fraction * len(train_y))), n_classes)
    fit_idx, val_idx = train_test_split(np.arange(len(train_y)), test_size=n_val, stratify=train_y,
                                        random_state=seed)

    def model(C: float) -> Any:
        svm = LinearSVC(C=C / dims, loss="squared_hinge", dual=True, max_iter=max_iter, random_state=seed)
        return make_pipeline(StandardScaler(), OneVsRestClassifier(svm, n_jobs=n_jobs))

    validation = {}
    for C in C_grid:
        validation[C] = float(model(C).fit(train_x[fit_idx], train_y[fit_idx]).score(train_x[val_idx],
                                                                                     train_y[val_idx]))
    best = max(C_grid, key=lambda c: (validation[c], -c))  # ties: the stronger regulariser
    accuracy = float(model(best).fit(train_x, train_y).score(test_x, test_y))
    return SvmResult(accuracy, best, validation, time.perf_counter() - start)


def real_fake_directions(real: np.ndarray, fake: np.ndarray, n_directions: int, seed: int = 0) -> np.ndarray:
    """Orthonormal directions [k, D] (in standardised feature space) that separate real from generated features,
    found by iterative nullspace projection: fit a logistic regression, keep its unit normal, project it out, repeat."""
    x = np.concatenate([real, fake]).astype(np.float64)
    y = np.r_[np.ones(len(real)), np.zeros(len(fake))]
    x = (x - x.mean(0)) / (x.std(0) + 1e-8)
    directions: list[np.ndarray] = []
    for _ in range(n_directions):
        w = LogisticRegression(C=0.1, max_iter=500, random_state=seed).fit(x, y).coef_[0]
        for d in directions:  # numerical safety: keep the set orthonormal
            w = w - (w @ d) * d
        w = w / max(np.linalg.norm(w), 1e-12)
        directions.append(w)
        x = x - np.outer(x @ w, w)
    return np.stack(directions)


def project_out(features: np.ndarray, directions: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`features` standardised with `reference`'s statistics, minus their component along orthonormal `directions`;
    `reference` must be the features the directions were found on (real and generated together)."""
    mean, std = reference.mean(0), reference.std(0) + 1e-8
    z = (features - mean) / std
    return (z - (z @ directions.T) @ directions).astype(np.float32)


class SupervisedCNN(nn.Module):
    """The upper-bound control: the discriminator's architecture with a class head in place of its real/fake head (a
    linear map of the last 4x4 map, as the discriminator's 4x4 convolution is), trained with the labels."""

    def __init__(self, discriminator: nn.Module, n_classes: int) -> None:
        super().__init__()
        self.body = discriminator.stages
        channels = [m for m in self.body.modules() if isinstance(m, nn.Conv2d)][-1].out_channels
        self.head = nn.Linear(channels * POOL_GRID * POOL_GRID, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).flatten(1))


def train_supervised(model: SupervisedCNN, images: np.ndarray, labels: np.ndarray, *, steps: int, batch_size: int,
                     lr: float, seed: int, device: str = "cpu", progress: bool = True) -> list[float]:
    """Train with cross-entropy and Adam for `steps` batches drawn with replacement (the same number of updates
    whatever the label count); returns the per-step losses."""
    gen = torch.Generator().manual_seed(seed)
    x, y = _as_input(images), torch.from_numpy(labels.astype(np.int64))
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in tqdm(range(steps), desc="supervised cnn", unit="step", disable=not progress, mininterval=2.0):
        idx = torch.randint(len(x), (min(batch_size, len(x)),), generator=gen)
        loss = F.cross_entropy(model(x[idx].to(device)), y[idx].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    return losses


@torch.no_grad()
def accuracy(model: nn.Module, images: np.ndarray, labels: np.ndarray, batch_size: int = 512,
             device: str = "cpu") -> float:
    """Top-1 accuracy of a classifier on uint8 images [N, R, R, C]."""
    model.eval().to(device)
    preds = [model(_as_input(images[s:s + batch_size]).to(device)).argmax(1).cpu().numpy()
             for s in range(0, len(images), batch_size)]
    return float((np.concatenate(preds) == labels).mean())
