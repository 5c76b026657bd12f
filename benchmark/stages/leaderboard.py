"""Stage leaderboard: every task's metric files summarised as mean ± std over seeds (never the best run) into
results/leaderboard/{leaderboard.csv, leaderboard.md, index.html} and the results page (results/README.md: each
task's headline table and every stage's recorded time), and each (task, domain, method) cell mirrored into MLflow
(experiment "leaderboard", idempotently). Which cells belong to the run comes from params.yaml (the methods
and seeds of each task); files of other profiles are ignored."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark import leaderboard as lb
from benchmark import tracking
from benchmark.cli import run
from benchmark.data.names import WORLD_DOMAINS
from benchmark.data.world import get_domain
from benchmark.params import load_section
from benchmark.stages.cluster_references import CEILING, CEILING_SEED, FLOORS, ROLE
from benchmark.stages.probe import fraction_key
from klish import atomic
from klish.metrics.fid import protocol_key

PARAMS = ("base", "cluster", "evaluate_clustering", "ufs", "recognition", "probe", "uscs", "fid")
DOMAINS = WORLD_DOMAINS
CLUSTERING = "clustering"
UFS = "ufs"
SUPERVISED = "supervised"
PROBE = "probe"
PROBE_REFERENCES = {"pixels": "control", "discriminator_random": "control", "supervised_cnn": "upper bound"}
USCS = "uscs"
GAN_FID = "gan_fid"
GAN, REAL = "gan", "real"
USCS_REFERENCES = {GAN: "the source GAN's samples", REAL: "real train images: the best reachable"}
# labelled with their role, never marked best
REFERENCES = {**ROLE, SUPERVISED: "upper bound", **PROBE_REFERENCES, **USCS_REFERENCES}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.stages.leaderboard", description=__doc__)
    parser.add_argument("--evaluations", required=True, type=Path, help="results/evaluate_clustering")
    parser.add_argument("--references", type=Path, default=None,
                        help="results/cluster_references: the clustering floor (rgb, rgb_xy) and ceiling (probe) rows")
    parser.add_argument("--ufs", required=True, type=Path, help="results/ufs")
    parser.add_argument("--datasets", required=True, type=Path, help="results/make_dataset (preview strips)")
    parser.add_argument("--probe", type=Path, default=None,
                        help="results/probe: the recognition probe's metric files (one per dataset and feature type)")
    parser.add_argument("--uscs", type=Path, default=None,
                        help="results/uscs: the mask-to-image networks' FID/KID and mask consistency")
    parser.add_argument("--gan-fid", type=Path, default=None, help="results/gan_fid: FID/KID of each GAN")
    parser.add_argument("--fid-reference", type=Path, default=None,
                        help="results/fid_reference: the real-vs-real FID/KID floor at the same sample count")
    parser.add_argument("--out", required=True, type=Path, help="folder for leaderboard.{csv,md} and index.html")
    parser.add_argument("--readme", type=Path, default=None,
                        help="the results page to write (results/README.md): headline tables and stage times")
    parser.add_argument("--timings", type=Path, nargs="*", default=[],
                        help="results folders, one per stage, whose metric files record the stage's seconds")
    return parser


def cells(args: argparse.Namespace) -> list[lb.Cell]:
    """The metric files of the active params: clustering at each reported K, UFS per method and the upper bound."""
    cluster, evaluation, ufs = load_section("cluster"), load_section("evaluate_clustering"), load_section("ufs")
    out = []
    clustering_metrics = {f"{m}_k{k}": (m, f"k{k}", True) for k in evaluation.report_k
                          for m in ("ari_pseudo", "ami_pseudo", "miou_pseudo")}
    ufs_metrics = {m: (m, None, True) for m in ("miou_real_fg", "miou_real_fg_per_image", "miou_real",
                                                "miou_real_oracle_fg")}
    for domain in DOMAINS:
        for method in cluster.methods:
            for seed in cluster.seeds:
                out.append(lb.Cell(CLUSTERING, domain, method, f"s{seed}", args.evaluations / domain / f"{method}.json",
                                   clustering_metrics, entry=f"s{seed}"))
        if args.references is not None:
            refs = args.references / domain
            for method in FLOORS:
                for seed in cluster.seeds:
                    out.append(lb.Cell(CLUSTERING, domain, method, f"s{seed}", refs / f"{method}.json",
                                       clustering_metrics, entry=f"s{seed}"))
            # the probe has one K, the class count: the ceiling for every reported K
            n_classes = len(get_domain(domain).classes)
            probe_metrics = {name: (key, f"k{n_classes}", higher)
                             for name, (key, _, higher) in clustering_metrics.items()}
            out.append(lb.Cell(CLUSTERING, domain, CEILING, f"s{CEILING_SEED}", refs / f"{CEILING}.json",
                               probe_metrics, entry=f"s{CEILING_SEED}"))
        for method in ufs.methods:
            for seed in ufs.seeds:
                out.append(lb.Cell(UFS, domain, method, f"s{seed}",
                                   args.ufs / domain / method / f"s{seed}" / "metrics.json", ufs_metrics))
        out.append(lb.Cell(UFS, domain, SUPERVISED, "s0", args.ufs / domain / SUPERVISED / "metrics.json",
                           {m: (m, None, True) for m in ("miou_real_fg", "miou_real_fg_per_image", "miou_real")}))
    if args.uscs is not None:
        out += uscs_cells(args)
    if args.probe is not None:
        recognition, probe = load_section("recognition"), load_section("probe")
        probe_metrics = {f"accuracy_{fraction_key(f)}": (f"accuracy_{fraction_key(f)}", None, True)
                         for f in sorted(probe.label_fractions, reverse=True)}
        for dataset in recognition.datasets:
            for features in probe.features:
                out.append(lb.Cell(PROBE, dataset, features, "s0", args.probe / dataset / f"{features}.json",
                                   probe_metrics))
    return out


def uscs_cells(args: argparse.Namespace) -> list[lb.Cell]:
    """USCS rows per domain (each method, the supervised upper bound; the source GAN and the real-image floor when
    their files are given) and the gan_fid row (each GAN against its own training images)."""
    uscs, n = load_section("uscs"), load_section("fid").n_samples
    fid, kid = protocol_key("fid", n, n), protocol_key("kid", n, n)
    scores = {fid: (fid, None, False), kid: (kid, None, False)}
    painted = {**scores, "mask_consistency_miou": ("mask_consistency_miou", None, True)}
    out = []
    for domain in uscs.domains:
        for method in uscs.methods:
            for seed in uscs.seeds:
                out.append(lb.Cell(USCS, domain, method, f"s{seed}",
                                   args.uscs / domain / method / f"s{seed}" / "metrics.json", painted))
        out.append(lb.Cell(USCS, domain, SUPERVISED, "s0", args.uscs / domain / SUPERVISED / "metrics.json", painted))
        if args.gan_fid is not None:
            path = args.gan_fid / domain / "metrics.json"
            out.append(lb.Cell(USCS, domain, GAN, "s0", path, scores))
            out.append(lb.Cell(GAN_FID, domain, GAN, "s0", path,
                               {f"{fid}_train": (f"{fid}_train", None, False),
                                f"{kid}_train": (f"{kid}_train", None, False)}))
        if args.fid_reference is not None:
            out.append(lb.Cell(USCS, domain, REAL, "s0", args.fid_reference / domain / "metrics.json", scores))
    return out


def headlines(summary_metrics: set[str], report_k: int) -> dict[str, str]:
    """Each task's headline metric (the page's summary and the results page), where the summary has it."""
    wanted = {CLUSTERING: f"ari_pseudo_k{report_k}", UFS: "miou_real_fg_per_image",
              USCS: next((m for m in sorted(summary_metrics) if m.startswith("fid_inception_")
                          and not m.endswith("_train")), ""),
              GAN_FID: next((m for m in sorted(summary_metrics) if m.startswith("fid_inception_")
                             and m.endswith("_train")), ""),
              PROBE: f"accuracy_{fraction_key(1.0)}"}
    return {task: metric for task, metric in wanted.items() if metric in summary_metrics}


def _main(args: argparse.Namespace) -> None:
    base, ufs = load_section("base"), load_section("ufs")
    summary = lb.summarise(lb.read_cells(cells(args)))
    fractions = lb.fractions_of(summary, UFS, "miou_real_fg", SUPERVISED)
    notes = {
        CLUSTERING: "ARI, AMI and greedy-mapped mIoU of each clustering's extractor on fresh GAN samples, against the "
                    "supervised parser's labels (the pseudo ground truth), at matched K. References: rgb and rgb_xy "
                    "(floor) are K-means on the generated pixels' colour (and position); probe (ceiling) is a "
                    "supervised linear classifier on the same generator features with one output per class (its K "
                    "is the class count, whatever the column says).",
        UFS: "Segmenters trained on synthetic GAN pairs, tested on the world's real test images, clusters mapped "
             "to classes on generated images (no real label). miou_real_fg: dataset-level foreground mIoU (one "
             "confusion matrix over the split; pixels whose truth is background ignored, background IoU dropped). "
             "miou_real_fg_per_image: the paper's protocol (KLiSH test_image_seg.py): the same convention per "
             "image, a class absent from an image's truth and prediction skipped, per-class means over images, "
             "then the mean over the foreground classes. miou_real: dataset-level over all classes. "
             "miou_real_oracle_fg: the mapping found on the real test labels (an upper bound of the mapping step); "
             "supervised: the same network trained on real masks.",
        PROBE: "GANs as unsupervised feature extractors (the DCGAN recipe): test accuracy of a linear L2-SVM on each "
               "feature type, C chosen on a validation split of the training labels, with 1%, 10% and 100% of the "
               "labelled pool. Columns are real labelled image sets, not world domains; the GANs never see a label. "
               "discriminator_minus_realfake: the trained discriminator's features with the directions that tell "
               "real from generated images projected out. Controls: pixels, discriminator_random (the same "
               "discriminator at its initial weights); upper bound: supervised_cnn (the discriminator's body trained "
               "with the labels).",
        USCS: "Mask-to-image networks (SPADE-style) trained on the synthetic GAN pairs of each method: the method's "
              "UFS network segments the first n real test images, the network paints an image from each mask. "
              "fid/kid_inception_<n>v<n>: the TF-2015 FID Inception, n painted images against those n real test "
              "images (lower is better; FID is biased upward at small n, KID is not). mask_consistency_miou: the "
              "UFS network's segmentation of the painted image against the input mask, over the K clusters. "
              "References: supervised (trained on real images and true masks, painting the true test masks), gan "
              "(the source GAN's own unconditional samples), real (real train images scored like painted ones: "
              "the best any generator can reach at this n).",
        GAN_FID: "Each world GAN's unconditional samples against n of its own real training images (the usual "
                 "score of a GAN), with the TF-2015 FID Inception.",
    }
    if not fractions.empty:
        notes[UFS] += (" As a fraction of the supervised upper bound (miou_real_fg): " + "; ".join(
            f"{method} " + ", ".join(f"{d} {v:.2f}" for d, v in row.items()) for method, row in fractions.iterrows())
            + ".")
    strips = lb.strips_for(args.datasets, DOMAINS, list(ufs.methods), f"s{ufs.seeds[0]}")
    args.out.mkdir(parents=True, exist_ok=True)
    atomic.write_text(args.out / "leaderboard.csv", summary.round(6).to_csv(index=False))
    atomic.write_text(args.out / "leaderboard.md", lb.markdown(summary, notes, REFERENCES))
    figures = {}
    if (summary.task == PROBE).any():
        figures[PROBE] = lb.label_fraction_plot(summary[summary.task == PROBE], "accuracy_labels_", "pct")
        atomic.write_bytes(args.out / "probe_label_fractions.png", figures[PROBE])
    galleries = {}
    if args.uscs is not None:
        uscs = load_section("uscs")
        triplets = lb.strips_for(args.uscs, uscs.domains, list(uscs.methods), f"s{uscs.seeds[0]}", "triplets.png")
        triplets.update(lb.strips_for(args.uscs, uscs.domains, [SUPERVISED], None, "triplets.png"))
        galleries["USCS: input mask, painted image, the real image the mask came from"] = triplets
    heads = headlines(set(summary["metric"]), load_section("evaluate_clustering").report_k[0])
    atomic.write_text(args.out / "index.html", lb.html_page(summary, strips, notes, REFERENCES, figures, galleries,
                                                            heads))
    if args.readme is not None:
        atomic.write_text(args.readme, lb.results_page(summary, heads, REFERENCES, notes,
                                                       lb.stage_seconds(args.timings), base.profile))
    for (task, domain, method), block in summary.groupby(["task", "domain", "method"], sort=False):
        metrics = {f"{m}_mean": v for m, v in zip(block["metric"], block["mean"])}
        metrics.update({f"{m}_std": v for m, v in zip(block["metric"], block["std"])})
        metrics["n_seeds"] = float(block["n_seeds"].min())
        tracking.mirror_cell("leaderboard", f"{task} | {domain} | {method}", metrics,
                             {"profile": base.profile, "task": task, "domain": domain, "method": method})


def main(argv: list[str] | None = None) -> int:
    return run(_main, build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
