"""Active learning on hymenoptera: labelling the model's most uncertain photos vs a random sample.

The 245 training photos are the pool, their labels hidden; two per label are revealed at random,
then each round a logistic regression on frozen EfficientNet-Lite0 features picks the next five
to reveal (``keras_cvcls.curation.simulate_active_learning``: uncertainty, margin, diverse) or
five are drawn at random (what a user does without us). Accuracy on the 153 validation photos
after every round, averaged over seeds, makes the curves; the plot goes to
``bench/active_learning.png``. Prints one JSON object.

    python bench/active_learning.py [--seeds 10] [--max-labels 100] [--batch 5]
"""

import argparse
import json
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = os.path.dirname(os.path.abspath(__file__))
HYMENOPTERA = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "datasets", "hymenoptera"))
STRATEGIES = ("random", "uncertainty", "margin", "diverse")
TARGETS = (0.93, 0.94, 0.95, 0.96)


def _dataset(split):
    from keras_cvcls.data import ClassificationDataset

    root = os.path.join(HYMENOPTERA, split)
    pairs = [(os.path.join(root, label, name), label)
             for label in sorted(os.listdir(root)) for name in sorted(os.listdir(os.path.join(root, label)))]
    return ClassificationDataset.from_list(pairs)  # nothing written beside the shared photos


def plot(sizes, curves, targets, path):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5), dpi=110)
    ax = figure.subplots()
    styles = {"random": {"linestyle": "--"}, "uncertainty": {"linewidth": 4, "alpha": 0.5}}
    for strategy, curve in curves.items():  # with two labels, margin ranks as uncertainty: the thick line under it
        ax.plot(sizes, curve, marker="o", markersize=3, label=strategy, **styles.get(strategy, {}))
    for target in targets:
        ax.axhline(target, color="#bbb", linewidth=0.8)
    ax.set_xlabel("labels revealed")
    ax.set_ylabel("validation accuracy (mean over seeds)")
    ax.set_title("hymenoptera: labelling suggestions vs a random sample")
    ax.set_ylim(0.8, 1.0)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path)


def main():
    import numpy as np

    from keras_cvcls.curation import dataset_features
    from keras_cvcls.curation.simulation import labels_to_reach, simulate_active_learning

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--max-labels", type=int, default=100)
    parser.add_argument("--batch", type=int, default=5)
    parser.add_argument("--plot", default=os.path.join(HERE, "active_learning.png"))
    args = parser.parse_args()
    start = time.perf_counter()
    train, val = _dataset("train"), _dataset("val")
    x, xv = dataset_features(train, cache=False), dataset_features(val, cache=False)
    y, yv = np.array(train.label_ids), np.array(val.label_ids)
    features_s = time.perf_counter() - start
    curves, sizes = {}, None
    for strategy in STRATEGIES:
        runs = [simulate_active_learning(x, y, xv, yv, strategy=strategy, batch=args.batch, max_labels=args.max_labels,
                                         seed=seed) for seed in range(args.seeds)]
        sizes = runs[0][0]
        curves[strategy] = np.mean([accuracy for _, accuracy in runs], axis=0).round(4).tolist()
    full = simulate_active_learning(x, y, xv, yv, strategy="random", max_labels=len(y), batch=len(y))[1][-1]
    plot(sizes, curves, TARGETS, args.plot)
    print(json.dumps({
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs",
        "pool": len(y), "test": len(yv), "seeds": args.seeds, "batch": args.batch,
        "features_s": round(features_s, 1), "total_s": round(time.perf_counter() - start, 1),
        "accuracy_all_labelled": round(full, 4),
        "labels_to_reach": {str(t): {s: labels_to_reach(sizes, c, t) for s, c in curves.items()} for t in TARGETS},
        "num_labels": sizes, "curves": curves, "plot": os.path.relpath(args.plot, HERE),
    }))


if __name__ == "__main__":
    main()
