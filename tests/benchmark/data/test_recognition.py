import gzip
import os
import pickle
import struct

import numpy as np
import pytest

from benchmark.data import recognition
from benchmark.data.shards import DatasetError


def write_idx(path, array, compress=True, cut=0):
    header = b"\x00\x00\x08" + bytes([array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = (header + array.astype(np.uint8).tobytes())[:len(header) + array.size - cut]
    (gzip.open if compress else open)(path, "wb").write(data)


def fashion_folder(tmp_path, compress=True):
    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("t10k", 5)):
        write_idx(tmp_path / f"{split}-images-idx3-ubyte{'.gz' if compress else ''}",
                  rng.integers(0, 256, (n, 28, 28)), compress)
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte{'.gz' if compress else ''}", np.arange(n) % 10, compress)
    return tmp_path


def test_digits_are_split_stratified_and_scaled():
    data = recognition.load_dataset("digits")
    assert data.train_images.shape == (1437, 8, 8) and data.test_images.shape == (360, 8, 8)
    assert data.train_images.dtype == np.uint8 and data.train_images.max() == 255
    assert np.bincount(data.test_labels).min() >= 35  # every digit is in the test split
    again = recognition.load_dataset("digits")
    assert np.array_equal(data.test_labels, again.test_labels)


@pytest.mark.parametrize("compress", [True, False])
def test_fashion_mnist_reads_the_standard_idx_files(tmp_path, compress):
    data = recognition.load_fashion_mnist(fashion_folder(tmp_path, compress))
    assert data.train_images.shape == (12, 28, 28) and data.test_labels.tolist() == [0, 1, 2, 3, 4]
    assert data.classes[9] == "ankle boot"


def test_fashion_mnist_bad_files_are_one_line(tmp_path):
    with pytest.raises(DatasetError, match="make fashion-mnist"):
        recognition.load_fashion_mnist(tmp_path / "nowhere")
    folder = fashion_folder(tmp_path)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((5, 28, 28)), cut=10)
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte.gz: IDX header says 5x28x28"):
        recognition.load_fashion_mnist(folder)
    gzip.open(folder / "t10k-images-idx3-ubyte.gz", "wb").write(b"PK\x03\x04 not idx")
    with pytest.raises(DatasetError, match="bad magic number"):
        recognition.load_fashion_mnist(folder)
    os.remove(folder / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(DatasetError, match="no t10k-images-idx3-ubyte"):
        recognition.load_fashion_mnist(folder)


def animal_folder(tmp_path, images=None, labels=None):
    images = np.zeros((50, 28, 28), np.uint8) if images is None else images
    labels = np.repeat(np.arange(10), 5) if labels is None else labels
    for name, value in zip(recognition.ANIMAL_SHAPE_FILES, (images, labels)):
        with gzip.open(tmp_path / name, "wb") as handle:
            pickle.dump(value, handle, protocol=4)
    return tmp_path


def test_animal_shapes_read_through_the_arrays_only_unpickler(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (50, 28, 28)).astype(np.uint8)
    data = recognition.load_animal_shapes(animal_folder(tmp_path, images))
    assert data.train_images.shape == (40, 28, 28) and data.test_images.shape == (10, 28, 28)
    assert sorted(data.test_labels.tolist()) == list(range(10))  # stratified: one of each class


class Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_a_pickle_that_builds_anything_but_arrays_is_refused(tmp_path):
    folder = animal_folder(tmp_path)
    with gzip.open(folder / recognition.ANIMAL_SHAPE_FILES[0], "wb") as handle:
        pickle.dump([Boom()], handle)
    with pytest.raises(DatasetError, match="refusing posix.system|refusing os.system"):
        recognition.load_animal_shapes(folder)
    with gzip.open(folder / recognition.ANIMAL_SHAPE_FILES[0], "wb") as handle:
        pickle.dump({"a": 1}, handle)
    with pytest.raises(DatasetError, match="holds a dict, expected a numpy array"):
        recognition.load_animal_shapes(folder)


def test_missing_wheel_names_the_install_command(monkeypatch):
    monkeypatch.setattr(recognition.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DatasetError, match="pip install --no-deps animal-shape-mnist==0.39"):
        recognition.load_dataset("animal_shapes")
    with pytest.raises(DatasetError, match="expected one of digits, fashion_mnist, animal_shapes"):
        recognition.load_dataset("cifar10")


def test_capped_prepared_set_round_trips_and_bad_files_are_one_line(tmp_path):
    data = recognition.load_dataset("digits")
    capped = recognition.cap_training_set(data, 500, seed=1)
    assert len(capped.train_labels) == 500 and np.bincount(capped.train_labels).min() >= 45
    assert recognition.cap_training_set(data, 5000, seed=1) is data
    images = {"train": capped.train_images[..., None], "test": capped.test_images[..., None]}
    recognition.write_prepared(tmp_path / "set", capped, images, seed=1)
    manifest, arrays = recognition.read_prepared(tmp_path / "set")
    assert manifest["n_train"] == 500 and manifest["seed"] == 1 and "capped to 500" in manifest["split"]
    assert np.array_equal(arrays["train_images"], images["train"]) and (tmp_path / "set" / "README.md").is_file()
    with pytest.raises(DatasetError, match="run the recognition_data stage"):
        recognition.read_prepared(tmp_path / "nothing")
    (tmp_path / "set" / "data.npz").write_bytes(b"not an npz")
    with pytest.raises(DatasetError, match="data.npz: unreadable"):
        recognition.read_prepared(tmp_path / "set")
