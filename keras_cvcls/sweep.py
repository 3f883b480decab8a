"""Hyperparameter sweeps: train every combination of backbones, sizes and learning rates, and tabulate them.

:func:`sweep` (``keras-cvcls sweep``) is a Keras Tuner ``GridSearch``: the tuner's oracle
enumerates the grid (``hp.Choice`` per axis), keeps its state in ``OUT/tuner`` and ranks the
trials by mean ``eval_accuracy``. Each trial is trained by :func:`~keras_cvcls.training_run.train_run`
with the default recipe, once per repeat (seed ``seed + repeat``), into its own run folder
``OUT/runs/NAME``, usable like any other (``keras-cvcls evaluate``, ``ui``, ``export``).

Where Keras Tuner does not fit, and what is ours instead:

* **Model building and training.** A tuner's ``HyperModel.build(hp)`` returns an uncompiled
  model that the tuner fits with ``model.fit``; our recipe is not one ``fit`` (a
  logistic-regression head on cached features, then the top stage on cached activations), and
  each trial must leave a run folder. So :class:`_RecipeGridSearch` overrides
  ``Tuner.run_trial`` (Keras Tuner's documented hook for custom training) to call
  ``train_run``; no ``HyperModel``.
* **Repeats.** ``executions_per_trial`` re-runs the same ``fit``; ours vary the seed and keep
  every repeat's run folder and figures.
* **The results table.** Keras Tuner reports the best trials as text
  (``results_summary``); the table (CSV, JSON, HTML with a scatter plot of accuracy against
  training time) is written here.
* **Errors.** Keras Tuner records a failed trial and goes on (three in a row end the search
  with its own error); a sweep stops at the first failure and raises it as it was.
"""

import csv
import dataclasses
import html
import io
import itertools
import json
import math
import os
import statistics
import time

from keras_cvcls.data.json_files import write_json_atomic

RESULTS_CSV = "results.csv"
RESULTS_HTML = "results.html"
RESULTS_JSON = "results.json"
RUNS_DIR = "runs"
TUNER_DIR = "tuner"
COLUMNS = ("run", "backbone", "image_size", "lr", "repeat", "seed", "eval_accuracy", "train_seconds", "run_dir")


@dataclasses.dataclass
class SweepResult:
    """What :func:`sweep` measured.

    Attributes:
        rows: one dict per run (every repeat of every combination), keys :data:`COLUMNS`.
        summary: one dict per combination: ``backbone``, ``image_size``, ``lr``, ``repeats``,
            ``mean_accuracy``, ``std_accuracy``, ``mean_train_seconds``, best first.
        out_dir: the sweep folder.
        csv_path, html_path, json_path: the written tables.
    """

    rows: list
    summary: list
    out_dir: str
    csv_path: str
    html_path: str
    json_path: str

    def to_dict(self):
        """A JSON-able dict of every field."""
        return dataclasses.asdict(self)


def _split_list(name, values, convert):
    if isinstance(values, (str, int, float)) or values is None:
        values = [values]
    values = list(values)
    if not values:
        raise ValueError(f"{name} must list at least one value. Received: {name}={values!r}")
    out = []
    for value in values:
        try:
            out.append(convert(value))
        except (TypeError, ValueError):
            raise ValueError(f"Cannot read {value!r} in {name}. Received: {name}={values!r}") from None
    if len(set(map(str, out))) != len(out):
        raise ValueError(f"{name} lists a value twice. Received: {name}={values!r}")
    return out


def _size(value):
    if value is None or (isinstance(value, str) and value.lower() in ("default", "none")):
        return None
    size = value if isinstance(value, int) and not isinstance(value, bool) else int(str(value).strip())
    if size < 8:
        raise ValueError(value)
    return size


def _rate(value):
    if value is None or (isinstance(value, str) and value.lower() in ("default", "none")):
        return None
    rate = float(value)
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(value)
    return rate


def _run_name(backbone, size, lr, repeat):
    return f"{backbone}-{size or 'default'}-lr{'default' if lr is None else format(lr, 'g')}-r{repeat}"


def _summarise(rows):
    groups = {}
    for row in rows:
        groups.setdefault((row["backbone"], row["image_size"], row["lr"]), []).append(row)
    summary = []
    for (backbone, size, lr), group in groups.items():
        accuracies = [r["eval_accuracy"] for r in group]
        summary.append({
            "backbone": backbone, "image_size": size, "lr": lr, "repeats": len(group),
            "mean_accuracy": statistics.fmean(accuracies),
            "std_accuracy": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
            "mean_train_seconds": statistics.fmean(r["train_seconds"] for r in group),
        })
    return sorted(summary, key=lambda s: (-s["mean_accuracy"], s["mean_train_seconds"]))


def _scatter(rows):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5), layout="constrained")
    ax = figure.add_subplot()
    combos = sorted({(r["backbone"], r["image_size"], r["lr"]) for r in rows}, key=str)
    for index, combo in enumerate(combos):
        points = [r for r in rows if (r["backbone"], r["image_size"], r["lr"]) == combo]
        lr = "default" if combo[2] is None else format(combo[2], "g")
        ax.scatter([r["train_seconds"] for r in points], [r["eval_accuracy"] for r in points],
                   label=f"{combo[0]} @ {combo[1]} px, lr {lr}", color=f"C{index % 10}", s=40, alpha=0.8)
    ax.set_xlabel("training time (s)")
    ax.set_ylabel("validation accuracy")
    ax.set_title("Sweep: accuracy against training time (one point per run)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    return figure


def _html_table(records, columns, formats):
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(formats.get(c, str)(r[c]))}</td>" for c in columns) + "</tr>"
        for r in records
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_results(rows, out_dir):
    """Writes ``results.csv``, ``results.json`` and ``results.html`` (scatter plot and tables) into ``out_dir``.

    Returns:
        A :class:`SweepResult`.
    """
    from keras_cvcls.evaluation.report import _figure_data_uri

    summary = _summarise(rows)
    csv_path, html_path, json_path = (os.path.join(out_dir, n) for n in (RESULTS_CSV, RESULTS_HTML, RESULTS_JSON))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({c: ("" if r[c] is None else r[c]) for c in COLUMNS} for r in rows)
    with open(csv_path, "w", encoding="utf-8", newline="") as f:
        f.write(buffer.getvalue())
    write_json_atomic(json_path, {"rows": rows, "summary": summary}, indent=1)
    number = lambda v: "default" if v is None else format(v, "g")  # noqa: E731
    formats = {
        "eval_accuracy": lambda v: f"{v:.4f}", "train_seconds": lambda v: f"{v:.1f}", "lr": number,
        "image_size": number, "mean_accuracy": lambda v: f"{v:.4f}", "std_accuracy": lambda v: f"{v:.4f}",
        "mean_train_seconds": lambda v: f"{v:.1f}",
    }
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>keras-cvcls sweep</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}th{{background:#f4f4f4}}</style></head>
<body><h1>Sweep of {len(summary)} combinations, {len(rows)} runs</h1>
<img id="scatter" alt="validation accuracy against training time" src="{_figure_data_uri(_scatter(rows))}">
<h2>Combinations (mean over repeats, best first)</h2>
{_html_table(summary, ("backbone", "image_size", "lr", "repeats", "mean_accuracy", "std_accuracy",
                       "mean_train_seconds"), formats)}
<h2>Runs</h2>
{_html_table(rows, COLUMNS, formats)}
</body></html>
"""
    with open(html_path, "w", encoding="utf-8") as f:
        f.write(page)
    return SweepResult(rows=rows, summary=summary, out_dir=out_dir, csv_path=csv_path, html_path=html_path,
                       json_path=json_path)


def _grid_search_class():
    import keras_tuner

    class _RecipeGridSearch(keras_tuner.GridSearch):
        """A GridSearch whose trials are ``train_run`` calls (see the module docstring)."""

        def __init__(self, train_trial, **kwargs):
            super().__init__(**kwargs)
            self.train_trial = train_trial
            self.error = None

        def run_trial(self, trial, *args, **kwargs):
            try:
                return self.train_trial(trial.hyperparameters.values)
            except Exception as error:  # keras-tuner would record it and go on: stop the sweep instead
                self.error = error
                raise keras_tuner.errors.FatalError(str(error)) from error

    return _RecipeGridSearch


def sweep(
    data_dir,
    out_dir,
    *,
    backbones=("efficientnet_lite0",),
    image_sizes=(None,),
    lrs=(None,),
    repeats=1,
    val_dir=None,
    test_size=0.34,
    epochs=None,
    batch_size=32,
    seed=0,
    precision="auto",
    overwrite=False,
    log=print,
):
    """Trains every combination of backbone, image size and learning rate with the default recipe.

    Args:
        data_dir: folder with one subfolder per label.
        out_dir: the sweep folder to write: ``runs/NAME`` (one run folder per combination and
            repeat), ``results.csv``, ``results.json``, ``results.html`` and ``tuner/``
            (Keras Tuner's state). New or empty, unless ``overwrite``.
        backbones: registry names (a list, or one name).
        image_sizes: input sizes; None: the backbone's transfer size.
        lrs: peak learning rates of the recipe's cosine schedule; None: the recipe's (3e-4).
        repeats: trainings per combination, with seeds ``seed``, ``seed + 1``, ...
        val_dir: a separate validation folder; default a stratified ``test_size`` split of
            ``data_dir`` (it changes with the seed of each repeat).
        test_size: held-out fraction without ``val_dir``.
        epochs: unfrozen epochs (default: the recipe's).
        batch_size: minibatch size.
        seed: seed of the first repeat.
        precision: as for :func:`~keras_cvcls.training_run.train_run`.
        overwrite: replace the runs and tables of an earlier sweep in ``out_dir``.
        log: where progress lines go.

    Returns:
        A :class:`SweepResult` (``rows`` in training order; ``summary`` best first).

    Raises:
        ValueError: for a bad list, an unknown backbone, a taken ``out_dir``, or the first
            training that fails (raised as it was).

    Example:
        >>> result = sweep("photos/", "sweeps/1", backbones=["efficientnet_lite0", "efficientnet_lite2"],
        ...                image_sizes=[160, 224], lrs=[3e-4, 1e-3], repeats=2)
        >>> result.summary[0]["mean_accuracy"]
    """
    import keras_tuner

    from keras_cvcls.models.backbone_registry import get_backbone_config
    from keras_cvcls.training_run import train_run

    backbones = _split_list("backbones", backbones, str)
    for backbone in backbones:
        get_backbone_config(backbone)  # an unknown name fails now, naming the known ones
    image_sizes = _split_list("image_sizes", image_sizes, _size)
    lrs = _split_list("lrs", lrs, _rate)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive int. Received: repeats={repeats!r}")
    out_dir = os.path.abspath(os.fspath(out_dir))
    if os.path.isdir(out_dir) and os.listdir(out_dir) and not overwrite:
        raise ValueError(
            "The sweep folder is not empty; choose a new one, or replace the earlier sweep with overwrite=True "
            f"(keras-cvcls sweep --overwrite). Received: out_dir={out_dir!r}"
        )
    os.makedirs(os.path.join(out_dir, RUNS_DIR), exist_ok=True)

    hp = keras_tuner.HyperParameters()
    hp.Choice("backbone", backbones)
    # A keras-tuner Choice holds values of one type, not None: strings, "default" standing for None.
    hp.Choice("image_size", ["default" if s is None else str(s) for s in image_sizes])
    hp.Choice("lr", ["default" if r is None else repr(r) for r in lrs])
    rows = []
    total = len(backbones) * len(image_sizes) * len(lrs) * repeats

    def train_trial(values):
        backbone = values["backbone"]
        size = None if values["image_size"] == "default" else int(values["image_size"])
        lr = None if values["lr"] == "default" else float(values["lr"])
        accuracies = []
        for repeat in range(repeats):
            name = _run_name(backbone, size, lr, repeat)
            log(f"sweep: run {len(rows) + 1}/{total}: {name}")
            result = train_run(
                data_dir, os.path.join(out_dir, RUNS_DIR, name), val_dir=val_dir, backbone=backbone,
                image_size=size, lr=None if lr is None else [lr], schedule=None if lr is None else "cosine",
                epochs=epochs, batch_size=batch_size, test_size=test_size, seed=seed + repeat,
                precision=precision, if_exists="overwrite" if overwrite else "error", log=lambda m: None,
            )
            rows.append({
                "run": name, "backbone": backbone, "image_size": size, "lr": lr, "repeat": repeat,
                "seed": seed + repeat, "eval_accuracy": float(result["eval_accuracy"]),
                "train_seconds": float(result["train_seconds"]), "run_dir": result["run_dir"],
            })
            accuracies.append(rows[-1]["eval_accuracy"])
            log(f"sweep: {name}: accuracy {accuracies[-1]:.4f} in {rows[-1]['train_seconds']:.1f}s")
        return {"eval_accuracy": statistics.fmean(accuracies)}

    tuner = _grid_search_class()(
        train_trial, objective=keras_tuner.Objective("eval_accuracy", "max"), hyperparameters=hp,
        max_trials=len(backbones) * len(image_sizes) * len(lrs), directory=out_dir, project_name=TUNER_DIR,
        overwrite=True, seed=seed,
    )
    start = time.perf_counter()
    try:
        tuner.search(verbose=0)
    except keras_tuner.errors.FatalError:
        if tuner.error is not None:
            raise tuner.error from None
        raise
    log(f"sweep: {len(rows)} runs in {time.perf_counter() - start:.1f}s")
    expected = set(itertools.product(backbones, image_sizes, lrs, range(repeats)))
    done = {(r["backbone"], r["image_size"], r["lr"], r["repeat"]) for r in rows}
    if done != expected:  # the oracle skipped a combination: never report a partial table as the sweep
        raise RuntimeError(f"Keras Tuner ran {len(done)} of {len(expected)} runs; missing: {sorted(expected - done, key=str)}")
    return write_results(rows, out_dir)


__all__ = ["COLUMNS", "SweepResult", "sweep", "write_results"]
