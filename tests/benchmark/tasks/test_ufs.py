import numpy as np
import pytest
import torch

from benchmark.tasks.segmenter import predict, train_segmenter
from benchmark.tasks.ufs import DeepLabV3Plus, build_network, cluster_mapping, load_network, save_network
from klish.errors import CheckpointError


@pytest.mark.parametrize("size", [32, 64])
def test_deeplab_shapes(size):
    model = DeepLabV3Plus(n_classes=6, width=4).eval()
    assert model(torch.zeros(2, 3, size, size)).shape == (2, 6, size, size)


def test_build_network_rejects_unknown_arch():
    with pytest.raises(ValueError, match="unet, deeplabv3plus"):
        build_network("segformer", 3, 4)


def test_cluster_mapping_recovers_a_relabelled_partition():
    rng = np.random.default_rng(1)
    classes = rng.integers(0, 3, size=(4, 8, 8))
    split = rng.random((4, 8, 8)) < 0.5
    clusters = np.array([0, 2, 4])[classes] + split  # each class split into two clusters
    mapping = cluster_mapping(clusters, classes, 6, 3)
    np.testing.assert_array_equal(mapping, [0, 0, 1, 1, 2, 2])


@pytest.mark.parametrize("arch", ["unet", "deeplabv3plus"])
def test_network_round_trip_and_training(arch, tmp_path):
    images = np.random.default_rng(0).integers(0, 255, size=(8, 16, 16, 3), dtype=np.uint8)
    masks = (images[..., 0] > 127).astype(np.int64)  # a colour threshold: learnable in a few steps
    torch.manual_seed(0)
    model = build_network(arch, 2, width=4, depth=2)
    result = train_segmenter(model, images, masks, epochs=15, batch_size=8, lr=0.01, seed=0, progress=False)
    assert np.mean(result.losses[-3:]) < result.losses[0]
    save_network(tmp_path / "n.safetensors", model, arch, {"domain": "toy"})
    loaded, info = load_network(tmp_path / "n.safetensors")
    assert info["arch"] == arch and info["domain"] == "toy"
    np.testing.assert_array_equal(predict(loaded, images), predict(model, images))
    (tmp_path / "n.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="cannot load UFS network weights"):
        load_network(tmp_path / "n.safetensors")
