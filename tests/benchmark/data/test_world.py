import numpy as np
import pytest

from benchmark.data.world import DOMAINS, get_domain, render_sample
from klish.errors import ConfigError


@pytest.mark.parametrize("domain", list(DOMAINS))
@pytest.mark.parametrize("resolution", [32, 64])
def test_masks_cover_every_pixel_with_valid_ids(domain, resolution):
    n_classes = len(DOMAINS[domain].classes)
    for index in range(4):
        image, mask = render_sample(domain, 7, "test", index, resolution)
        assert image.shape == (resolution, resolution, 3) and image.dtype == np.uint8
        assert mask.shape == (resolution, resolution) and mask.dtype == np.uint8
        assert mask.max() < n_classes  # every pixel has a valid class id (no "unlabelled" value exists)


@pytest.mark.parametrize("domain", list(DOMAINS))
def test_every_class_appears(domain):
    seen = np.zeros(len(DOMAINS[domain].classes), dtype=bool)
    for index in range(16):
        _, mask = render_sample(domain, 3, "train", index, 64)
        seen[np.unique(mask)] = True
    assert seen.all(), [c for c, s in zip(DOMAINS[domain].classes, seen) if not s]


@pytest.mark.parametrize("domain", list(DOMAINS))
def test_same_seed_same_bytes_and_samples_differ(domain):
    a = render_sample(domain, 11, "train", 5, 32)
    b = render_sample(domain, 11, "train", 5, 32)
    assert a[0].tobytes() == b[0].tobytes() and a[1].tobytes() == b[1].tobytes()
    other_index = render_sample(domain, 11, "train", 6, 32)
    other_split = render_sample(domain, 11, "test", 5, 32)
    other_seed = render_sample(domain, 12, "train", 5, 32)
    for other in (other_index, other_split, other_seed):
        assert not np.array_equal(a[0], other[0])


def test_parts_are_not_separable_by_colour_alone():
    # Colours vary per sample: a nearest-class-mean colour classifier fit on some images must fail on others.
    images, masks = zip(*(render_sample("face", 0, "train", i, 32) for i in range(40)))
    x = np.stack(images).reshape(-1, 3).astype(float)
    y = np.stack(masks).ravel()
    half = len(y) // 2
    means = np.stack([x[:half][y[:half] == k].mean(0) for k in range(10)])
    pred = ((x[half:, None, :] - means[None]) ** 2).sum(-1).argmin(1)
    assert (pred == y[half:]).mean() < 0.7


def test_antialiasing_produces_intermediate_colours():
    image, mask = render_sample("car", 0, "test", 0, 32, supersample=4)
    coarse, _ = render_sample("car", 0, "test", 0, 32, supersample=1)
    assert image.shape == coarse.shape
    assert not np.array_equal(image, coarse)


def test_unknown_domain_lists_valid_ones():
    with pytest.raises(ConfigError, match="face, car, animal"):
        get_domain("horse")


@pytest.mark.parametrize("domain", list(DOMAINS))
def test_random_appearance_keeps_the_geometry_and_changes_the_colours(domain):
    for index in range(3):
        image, mask = render_sample(domain, 4, "train", index, 32)
        random_image, random_mask = render_sample(domain, 4, "train", index, 32, appearance="random")
        assert np.array_equal(mask, random_mask)
        assert np.abs(image.astype(int) - random_image.astype(int)).mean() > 10


def test_random_appearance_colours_parts_unpredictably():
    # Consistent appearance: skin is skin-coloured (red > green > blue) in every face, light or dark; random: any hue.
    def skin_hue_is_skin(appearance):
        pairs = [render_sample("face", 0, "train", i, 32, appearance=appearance) for i in range(30)]
        r, g, b = np.stack([image[mask == 1].mean(0) for image, mask in pairs]).T
        return ((r > g) & (g > b)).mean()
    assert skin_hue_is_skin("consistent") == 1.0 and skin_hue_is_skin("random") < 0.5


def test_unknown_appearance_is_an_error():
    with pytest.raises(ConfigError, match="appearance must be one of consistent, random"):
        render_sample("face", 0, "train", 0, 32, appearance="weird")


def test_the_light_name_list_is_the_renderers_list():
    from benchmark.data.names import WORLD_DOMAINS
    from benchmark.data.world import DOMAINS

    assert tuple(DOMAINS) == WORLD_DOMAINS
