"""Plots of an evaluation, as scikit-learn-style Display objects.

Each Display is built with ``from_evaluation`` (or ``from_predictions``) and
drawn with ``plot(ax=None)``, which returns the Display with ``ax_`` and
``figure_`` set. Without ``ax`` a new ``matplotlib.figure.Figure`` is made,
outside pyplot, so no global figure state is touched; save it with
``display.figure_.savefig(path)``. matplotlib is imported only when plotting.
"""

import math

import numpy as np

from keras_cvcls.evaluation.classification_evaluation import ClassificationEvaluation

_AVERAGES = ("micro", "macro")


def _new_axes(ax, figsize):
    """Returns ``(figure, ax)``: the given axes' figure, or a new figure and axes."""
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize, layout="constrained")
    return figure, figure.add_subplot()


def _check_averages(average):
    average = tuple(average)
    unknown = [a for a in average if a not in _AVERAGES]
    if unknown:
        raise ValueError(f"`average` may only contain {_AVERAGES}. Received: average={average!r}")
    return average


class ConfusionMatrixDisplay:
    """Confusion matrix heat map with the count (or rate) written in each cell.

    Args:
        confusion_matrix: Array of shape ``[C, C]``, rows true classes,
            columns predicted classes.
        display_labels: The ``C`` class names.

    Attributes:
        im_: The ``AxesImage``.
        text_: Array ``[C, C]`` of the cells' ``Text`` objects.
        ax_: The axes drawn on.
        figure_: The figure holding ``ax_``.

    Example:
        >>> display = ConfusionMatrixDisplay.from_predictions(
        ...     [0, 1], [[.9, .1], [.6, .4]], ["cat", "dog"])
        >>> display.text_[1, 0].get_text()
        '1'
    """

    def __init__(self, confusion_matrix, display_labels):
        confusion_matrix = np.asarray(confusion_matrix)
        if confusion_matrix.ndim != 2 or confusion_matrix.shape[0] != confusion_matrix.shape[1]:
            raise ValueError(
                "`confusion_matrix` must be square. "
                f"Received: confusion_matrix with shape {confusion_matrix.shape}"
            )
        if len(display_labels) != confusion_matrix.shape[0]:
            raise ValueError(
                f"`display_labels` must have {confusion_matrix.shape[0]} entries. "
                f"Received: display_labels={list(display_labels)!r}"
            )
        self.confusion_matrix = confusion_matrix
        self.display_labels = list(display_labels)

    @classmethod
    def from_evaluation(cls, evaluation, *, normalize=None, ax=None, cmap="Blues", values_format=None):
        """Builds and plots the confusion matrix of an evaluation.

        Args:
            evaluation: A ``ClassificationEvaluation``.
            normalize: None, ``"true"`` or ``"pred"``, as in
                ``ClassificationEvaluation.compute_confusion_matrix``.
            ax: Axes to draw on; a new figure if None.
            cmap: Colormap name.
            values_format: Format spec of the cell texts; ``"d"`` for counts
                and ``".2f"`` for rates if None.

        Returns:
            The plotted ``ConfusionMatrixDisplay``.
        """
        display = cls(evaluation.compute_confusion_matrix(normalize=normalize), evaluation.labels)
        return display.plot(ax=ax, cmap=cmap, values_format=values_format)

    @classmethod
    def from_predictions(
        cls, y_true, scores, labels, *, normalize=None, ax=None, cmap="Blues", values_format=None
    ):
        """Builds and plots the confusion matrix of scores.

        Args:
            y_true: True classes, as ids into ``labels`` or class names.
            scores: Array ``[N, C]`` of class scores.
            labels: The ``C`` class names.
            normalize: None, ``"true"`` or ``"pred"``.
            ax: Axes to draw on; a new figure if None.
            cmap: Colormap name.
            values_format: Format spec of the cell texts.

        Returns:
            The plotted ``ConfusionMatrixDisplay``.
        """
        evaluation = ClassificationEvaluation.from_scores(y_true, scores, labels)
        return cls.from_evaluation(
            evaluation, normalize=normalize, ax=ax, cmap=cmap, values_format=values_format
        )

    def plot(self, ax=None, *, cmap="Blues", values_format=None, xticks_rotation=45):
        """Draws the matrix.

        Args:
            ax: Axes to draw on; a new figure if None.
            cmap: Colormap name.
            values_format: Format spec of the cell texts; ``"d"`` for integer
                matrices and ``".2f"`` otherwise if None.
            xticks_rotation: Rotation of the predicted-class names, in degrees.

        Returns:
            self.
        """
        cm = self.confusion_matrix
        n = cm.shape[0]
        size = max(4.0, 0.6 * n + 2.5)
        figure, ax = _new_axes(ax, (size + 1.0, size))
        if values_format is None:
            values_format = "d" if np.issubdtype(cm.dtype, np.integer) else ".2f"
        self.im_ = ax.imshow(cm, interpolation="nearest", cmap=cmap)
        cmap_min, cmap_max = self.im_.cmap(0.0), self.im_.cmap(1.0)
        threshold = (cm.max() + cm.min()) / 2.0
        self.text_ = np.empty((n, n), dtype=object)
        for i in range(n):
            for j in range(n):
                color = cmap_max if cm[i, j] < threshold else cmap_min
                self.text_[i, j] = ax.text(
                    j, i, format(cm[i, j], values_format), ha="center", va="center", color=color
                )
        figure.colorbar(self.im_, ax=ax)
        ax.set(
            xticks=np.arange(n),
            yticks=np.arange(n),
            xticklabels=self.display_labels,
            yticklabels=self.display_labels,
            xlabel="Predicted label",
            ylabel="True label",
        )
        ax.set_ylim(n - 0.5, -0.5)
        for tick in ax.get_xticklabels():
            tick.set_rotation(xticks_rotation)
            tick.set_horizontalalignment("right" if xticks_rotation else "center")
        self.ax_ = ax
        self.figure_ = figure
        return self


class _CurvesDisplay:
    """Shared code of the one-vs-rest ROC and precision-recall displays."""

    _x_key = _y_key = _score_key = _score_name = None
    _xlabel = _ylabel = None
    _drawstyle = "default"

    def __init__(self, curves):
        self.curves = dict(curves)

    @classmethod
    def _curves_of(cls, evaluation):
        raise NotImplementedError

    @classmethod
    def from_evaluation(cls, evaluation, *, average=_AVERAGES, per_class=True, ax=None):
        """Builds and plots the curves of an evaluation.

        Classes absent from the test set have no curve and are left out.

        Args:
            evaluation: A ``ClassificationEvaluation``.
            average: Which averaged curves to draw, among ``"micro"`` and
                ``"macro"``.
            per_class: Whether to draw one curve per class.
            ax: Axes to draw on; a new figure if None.

        Returns:
            The plotted Display.

        Raises:
            ValueError: If ``average`` names an unknown average.
        """
        average = _check_averages(average)
        all_curves = cls._curves_of(evaluation)
        keys = (evaluation.labels if per_class else []) + list(average)
        return cls({key: all_curves[key] for key in keys}).plot(ax=ax)

    @classmethod
    def from_predictions(cls, y_true, scores, labels, *, average=_AVERAGES, per_class=True, ax=None):
        """Builds and plots the curves of scores.

        Args:
            y_true: True classes, as ids into ``labels`` or class names.
            scores: Array ``[N, C]`` of class scores.
            labels: The ``C`` class names.
            average: Which averaged curves to draw, among ``"micro"`` and
                ``"macro"``.
            per_class: Whether to draw one curve per class.
            ax: Axes to draw on; a new figure if None.

        Returns:
            The plotted Display.
        """
        evaluation = ClassificationEvaluation.from_scores(y_true, scores, labels)
        return cls.from_evaluation(evaluation, average=average, per_class=per_class, ax=ax)

    def _draw_extras(self, ax):
        pass

    def plot(self, ax=None):
        """Draws one line per defined curve, averages dashed.

        Args:
            ax: Axes to draw on; a new figure if None.

        Returns:
            self.
        """
        figure, ax = _new_axes(ax, (6.0, 5.0))
        self.lines_ = {}
        for key, curve in self.curves.items():
            if len(curve[self._x_key]) == 0:
                continue
            value = curve[self._score_key]
            value_text = "n/a" if math.isnan(value) else f"{value:.3f}"
            style = {"linestyle": "--", "linewidth": 2.0} if key in _AVERAGES else {"linewidth": 1.2}
            (self.lines_[key],) = ax.plot(
                curve[self._x_key],
                curve[self._y_key],
                label=f"{key} ({self._score_name} = {value_text})",
                drawstyle=self._drawstyle,
                **style,
            )
        self._draw_extras(ax)
        ax.set(xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), xlabel=self._xlabel, ylabel=self._ylabel)
        ax.set_aspect("equal")
        if self.lines_:
            ax.legend(loc="lower right" if self._x_key == "fpr" else "lower left", fontsize="small")
        self.ax_ = ax
        self.figure_ = figure
        return self


class RocCurveDisplay(_CurvesDisplay):
    """One-vs-rest ROC curves per class, with micro and macro averages.

    Args:
        curves: Dict mapping a name to a dict with ``"fpr"``, ``"tpr"`` and
            ``"auc"``, as ``ClassificationEvaluation.roc_curves`` returns.

    Attributes:
        lines_: Dict mapping each drawn curve's name to its ``Line2D``.
        chance_level_: The ``Line2D`` of the chance diagonal, or None.
        ax_: The axes drawn on.
        figure_: The figure holding ``ax_``.

    Example:
        >>> display = RocCurveDisplay.from_predictions(
        ...     [0, 1, 1], [[.9, .1], [.2, .8], [.6, .4]], ["cat", "dog"])
        >>> sorted(display.lines_)
        ['cat', 'dog', 'macro', 'micro']
    """

    _x_key, _y_key, _score_key, _score_name = "fpr", "tpr", "auc", "AUC"
    _xlabel, _ylabel = "False positive rate", "True positive rate"

    def __init__(self, curves, *, plot_chance_level=True):
        super().__init__(curves)
        self.plot_chance_level = plot_chance_level

    @classmethod
    def _curves_of(cls, evaluation):
        return evaluation.roc_curves()

    def _draw_extras(self, ax):
        self.chance_level_ = None
        if self.plot_chance_level:
            (self.chance_level_,) = ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1.0)


class PrecisionRecallDisplay(_CurvesDisplay):
    """One-vs-rest precision-recall curves per class, with micro and macro averages.

    Args:
        curves: Dict mapping a name to a dict with ``"precision"``,
            ``"recall"`` and ``"average_precision"``, as
            ``ClassificationEvaluation.pr_curves`` returns.

    Attributes:
        lines_: Dict mapping each drawn curve's name to its ``Line2D``.
        ax_: The axes drawn on.
        figure_: The figure holding ``ax_``.

    Example:
        >>> display = PrecisionRecallDisplay.from_predictions(
        ...     [0, 1, 1], [[.9, .1], [.2, .8], [.6, .4]], ["cat", "dog"], average=["micro"])
        >>> sorted(display.lines_)
        ['cat', 'dog', 'micro']
    """

    _x_key, _y_key, _score_key, _score_name = "recall", "precision", "average_precision", "AP"
    _xlabel, _ylabel = "Recall", "Precision"

    _drawstyle = "steps-post"

    @classmethod
    def _curves_of(cls, evaluation):
        return evaluation.pr_curves()


class TrainingCurveDisplay:
    """Training and evaluation accuracy per epoch, and the learning rate.

    Args:
        history: Dict with lists per epoch: ``"train_accuracy"`` and/or
            ``"eval_accuracy"``, and optionally ``"lr"``.

    Attributes:
        lines_: Dict mapping each drawn series' key to its ``Line2D``.
        ax_: The accuracy axes.
        ax_lr_: The learning-rate axes (log scale, right), or None.
        figure_: The figure holding ``ax_``.

    Example:
        >>> display = TrainingCurveDisplay.from_history(
        ...     {"train_accuracy": [0.5, 0.8], "eval_accuracy": [0.4, 0.7], "lr": [1e-3, 1e-4]})
        >>> sorted(display.lines_)
        ['eval_accuracy', 'lr', 'train_accuracy']
    """

    _ACCURACY_KEYS = ("train_accuracy", "eval_accuracy")

    def __init__(self, history):
        # None (JSON's stand-in for NaN) marks an epoch without a value, e.g. the learning rate
        # of a head fitted in closed form.
        history = {
            key: [float("nan") if v is None else float(v) for v in values] for key, values in dict(history).items()
        }
        if not any(history.get(key) for key in self._ACCURACY_KEYS):
            raise ValueError(
                f"`history` must hold a non-empty list under {self._ACCURACY_KEYS[0]!r} or "
                f"{self._ACCURACY_KEYS[1]!r}. Received: history with keys {sorted(history)!r}"
            )
        self.history = history

    @classmethod
    def from_history(cls, history, *, ax=None):
        """Builds and plots the curves of a training history.

        Args:
            history: Dict with per-epoch lists ``"train_accuracy"``,
                ``"eval_accuracy"`` and optionally ``"lr"``.
            ax: Axes to draw on; a new figure if None.

        Returns:
            The plotted ``TrainingCurveDisplay``.

        Raises:
            ValueError: If neither accuracy series is present.
        """
        return cls(history).plot(ax=ax)

    def plot(self, ax=None):
        """Draws the accuracy curves, and the learning rate on a second axis.

        Args:
            ax: Axes to draw on; a new figure if None.

        Returns:
            self.
        """
        figure, ax = _new_axes(ax, (7.0, 4.0))
        self.lines_ = {}
        names = {"train_accuracy": "train accuracy", "eval_accuracy": "eval accuracy"}
        for key in self._ACCURACY_KEYS:
            values = self.history.get(key)
            if values:
                epochs = np.arange(1, len(values) + 1)
                (self.lines_[key],) = ax.plot(epochs, values, marker="o", markersize=3, label=names[key])
        from matplotlib.ticker import MaxNLocator

        ax.set(xlabel="Epoch", ylabel="Accuracy", ylim=(-0.02, 1.02))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        handles = list(self.lines_.values())
        self.ax_lr_ = None
        lr = self.history.get("lr")
        if lr and np.isfinite(lr).any():
            self.ax_lr_ = ax.twinx()
            epochs = np.arange(1, len(lr) + 1)
            (self.lines_["lr"],) = self.ax_lr_.step(
                epochs, lr, where="mid", color="0.5", linestyle="--", marker=".", label="learning rate"
            )
            if np.nanmin(lr) > 0:
                self.ax_lr_.set_yscale("log")
            self.ax_lr_.set_ylabel("Learning rate")
            handles.append(self.lines_["lr"])
        ax.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.15),
            ncols=len(handles),
            fontsize="small",
            frameon=False,
        )
        self.ax_ = ax
        self.figure_ = figure
        return self


def load_thumbnail(path, size=128):
    """Loads an image as an RGB thumbnail, or returns None if it cannot be read.

    Args:
        path: Image path, or None.
        size: Longest side of the thumbnail, in pixels.

    Returns:
        A ``PIL.Image.Image`` in RGB mode, or None.
    """
    if path is None:
        return None
    from PIL import Image

    from keras_cvcls.data.upright_image import open_upright

    try:
        image = open_upright(path, draft_size=(size, size))
        image.thumbnail((size, size))
        return image
    except (OSError, Image.DecompressionBombError):  # missing, unreadable, not an image, too large
        return None


class TopLossesDisplay:
    """Grid of the images with the highest loss, titled true / predicted / score.

    Args:
        top_losses: List of dicts with ``"path"``, ``"true_label"``,
            ``"predicted_label"``, ``"score"`` and ``"loss"``, as
            ``ClassificationEvaluation.top_losses`` returns.

    Attributes:
        ax_: Array of the axes, one per image, in order.
        figure_: The figure holding them.

    Example:
        >>> display = TopLossesDisplay.from_predictions(
        ...     [0, 1], [[.9, .1], [.6, .4]], ["cat", "dog"], k=1)
        >>> display.ax_[0].get_title()
        'true: dog\\npred: cat\\nscore: 0.60'
    """

    def __init__(self, top_losses):
        self.top_losses = list(top_losses)

    @classmethod
    def from_evaluation(cls, evaluation, k=9, *, ax=None, ncols=None):
        """Builds and plots the k highest-loss images of an evaluation.

        Args:
            evaluation: A ``ClassificationEvaluation``.
            k: Number of images.
            ax: Sequence of at least ``k`` axes to draw on; a new figure if None.
            ncols: Number of grid columns for a new figure.

        Returns:
            The plotted ``TopLossesDisplay``.
        """
        return cls(evaluation.top_losses(k)).plot(ax=ax, ncols=ncols)

    @classmethod
    def from_predictions(cls, y_true, scores, labels, *, paths=None, k=9, ax=None, ncols=None):
        """Builds and plots the k highest-loss images of scores.

        Args:
            y_true: True classes, as ids into ``labels`` or class names.
            scores: Array ``[N, C]`` of class scores.
            labels: The ``C`` class names.
            paths: Image paths, one per image.
            k: Number of images.
            ax: Sequence of at least ``k`` axes to draw on; a new figure if None.
            ncols: Number of grid columns for a new figure.

        Returns:
            The plotted ``TopLossesDisplay``.
        """
        evaluation = ClassificationEvaluation.from_scores(y_true, scores, labels, paths=paths)
        return cls.from_evaluation(evaluation, k, ax=ax, ncols=ncols)

    def plot(self, ax=None, *, ncols=None):
        """Draws one thumbnail per image; unreadable images show a note instead.

        Args:
            ax: Sequence of at least ``len(top_losses)`` axes; a new figure if None.
            ncols: Number of grid columns for a new figure; about square if None.

        Returns:
            self.

        Raises:
            ValueError: If ``ax`` has too few axes.
        """
        n = len(self.top_losses)
        if ax is None:
            from matplotlib.figure import Figure

            ncols = ncols or max(1, math.ceil(math.sqrt(n)))
            nrows = max(1, math.ceil(n / ncols))
            figure = Figure(figsize=(2.4 * ncols, 2.8 * nrows), layout="constrained")
            axes = np.asarray(figure.subplots(nrows, ncols, squeeze=False)).ravel()
        else:
            axes = np.asarray(ax, dtype=object).ravel()
            if len(axes) < n:
                raise ValueError(f"`ax` must hold at least {n} axes. Received: ax with {len(axes)} axes")
            figure = axes[0].figure
        for axis, item in zip(axes[:n], self.top_losses, strict=True):
            image = load_thumbnail(item["path"])
            if image is None:
                axis.text(0.5, 0.5, "image unavailable", ha="center", va="center", transform=axis.transAxes)
            else:
                axis.imshow(np.asarray(image))
            axis.set_title(
                f"true: {item['true_label']}\npred: {item['predicted_label']}\nscore: {item['score']:.2f}",
                fontsize="small",
            )
            axis.set_axis_off()
        if ax is None:
            for axis in axes[n:]:  # unused cells of the new grid
                axis.set_axis_off()
        self.ax_ = axes[:n]
        self.figure_ = figure
        return self


def graph_roc_curve(evaluation, ax=None):
    """Plots the ROC curves of an evaluation (cvtk's ``graph_roc_curve``).

    Args:
        evaluation: A ``ClassificationEvaluation``.
        ax: Axes to draw on; a new figure if None.

    Returns:
        The ``RocCurveDisplay``.
    """
    return RocCurveDisplay.from_evaluation(evaluation, ax=ax)


def graph_pr_curve(evaluation, ax=None):
    """Plots the precision-recall curves of an evaluation (cvtk's ``graph_pr_curve``).

    Args:
        evaluation: A ``ClassificationEvaluation``.
        ax: Axes to draw on; a new figure if None.

    Returns:
        The ``PrecisionRecallDisplay``.
    """
    return PrecisionRecallDisplay.from_evaluation(evaluation, ax=ax)


def graph_confusion_matrix(evaluation, ax=None):
    """Plots the confusion matrix of an evaluation (cvtk's ``graph_confusion_matrix``).

    Args:
        evaluation: A ``ClassificationEvaluation``.
        ax: Axes to draw on; a new figure if None.

    Returns:
        The ``ConfusionMatrixDisplay``.
    """
    return ConfusionMatrixDisplay.from_evaluation(evaluation, ax=ax)
