"""Step learning rates: one rate per epoch, as a callback or as a schedule.

cvtk's ``lr_per_mb`` gave the learning rate of each epoch as a list, the last
entry repeating for the epochs after it. :class:`StepLR` applies such a list in
any ``model.fit``; :func:`step_lr_schedule` turns it into a Keras
``PiecewiseConstantDecay`` for users who prefer to give the optimizer a
schedule; :func:`parse_lr_schedule` reads the compact string form
``"0.05x7,0.005x7,0.0005"`` (command lines, config files).
"""

import math
import re

import keras

_ITEM = re.compile(r"^\s*([^xX*\s]+)\s*(?:[xX*]\s*(\S+)\s*)?$")


def current_learning_rate(model):
    """The learning rate of ``model``'s optimizer as a float (NaN before it is compiled).

    A ``LossScaleOptimizer`` (mixed float16) is looked through to the optimizer it wraps.
    """
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return float("nan")
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def _check_rate(value, argument, received):
    try:
        rate = float(value)
    except (TypeError, ValueError):
        rate = float("nan")
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(
            f"Learning rates must be positive finite numbers; {value!r} is not. Received: {argument}={received!r}"
        )
    return rate


def parse_lr_schedule(schedule):
    """Parses a compact per-epoch learning-rate string into a list.

    Items are separated by commas (or colons, CNTK style). Each item is a rate,
    optionally followed by ``x`` (or ``*``) and the number of epochs it lasts.

    Args:
        schedule: A string such as ``"0.05x7,0.005x7,0.0005"``.

    Returns:
        A list of floats, one per epoch.

    Raises:
        ValueError: If the string is empty, an item cannot be read, a rate is
            not a positive finite number or a count not a positive integer.

    Example:
        >>> parse_lr_schedule("0.1x2,0.01")
        [0.1, 0.1, 0.01]
    """
    if not isinstance(schedule, str) or not schedule.strip():
        raise ValueError(
            'schedule must be a non-empty string such as "0.05x7,0.005x7,0.0005". '
            f"Received: schedule={schedule!r}"
        )
    rates = []
    for item in re.split(r"[,:]", schedule):
        match = _ITEM.match(item)
        if not match:
            raise ValueError(
                f"Cannot read the item {item.strip()!r}: expected RATE or RATExEPOCHS, as in "
                f'"0.05x7,0.005x7,0.0005". Received: schedule={schedule!r}'
            )
        rate = _check_rate(match.group(1), "schedule", schedule)
        count = match.group(2) or "1"
        if not count.isdigit() or int(count) < 1:
            raise ValueError(
                f"The epoch count of {item.strip()!r} must be a positive integer. Received: schedule={schedule!r}"
            )
        rates.extend([rate] * int(count))
    return rates


def check_lr_per_epoch(lr_per_epoch, *, default=None):
    """The per-epoch learning rates as a list of positive floats: the one check of every rate list.

    Args:
        lr_per_epoch: a list of rates (the last repeats), one rate, or a string such as
            ``"0.05x7,0.005x7,0.0005"`` (see :func:`parse_lr_schedule`); None for ``default``.
        default: the rates None stands for (a list); None makes None an error.

    Returns:
        A non-empty list of floats.

    Raises:
        ValueError: for an empty list, a rate that is not a positive finite number, or a bad string.

    Example:
        >>> check_lr_per_epoch("0.1x2,0.01"), check_lr_per_epoch(None, default=[0.01])
        ([0.1, 0.1, 0.01], [0.01])
    """
    if lr_per_epoch is None and default is not None:
        return check_lr_per_epoch(default)
    if isinstance(lr_per_epoch, str):
        return parse_lr_schedule(lr_per_epoch)
    if isinstance(lr_per_epoch, (int, float)) and not isinstance(lr_per_epoch, bool):
        lr_per_epoch = [lr_per_epoch]
    try:
        rates = list(lr_per_epoch)
    except TypeError:
        rates = []
    if not rates:
        raise ValueError(
            "lr_per_epoch must be a non-empty list of learning rates (or a string such as "
            f'"0.05x7,0.005x7,0.0005"). Received: lr_per_epoch={lr_per_epoch!r}'
        )
    return [_check_rate(rate, "lr_per_epoch", lr_per_epoch) for rate in rates]


def step_lr_schedule(lr_per_epoch, steps_per_epoch):
    """Returns a ``PiecewiseConstantDecay`` giving epoch ``i`` the rate ``lr_per_epoch[i]``.

    The optimizer evaluates a schedule at its iteration count before each
    update, so the update of step ``s`` (counting from 0) belongs to epoch
    ``s // steps_per_epoch``; the last rate holds for all later epochs.

    Args:
        lr_per_epoch: List of rates, one per epoch, or a string for
            :func:`parse_lr_schedule`.
        steps_per_epoch: Optimizer steps (batches) per epoch, a positive int.

    Returns:
        A ``keras.optimizers.schedules.PiecewiseConstantDecay`` (constant when
        there is a single rate).

    Raises:
        ValueError: If a rate is not positive or ``steps_per_epoch`` not a positive int.

    Example:
        >>> schedule = step_lr_schedule([0.1, 0.01], steps_per_epoch=10)
        >>> float(schedule(9)), float(schedule(10))
        (0.1, 0.01)
    """
    rates = check_lr_per_epoch(lr_per_epoch)
    if isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, int) or steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be a positive int. Received: steps_per_epoch={steps_per_epoch!r}")
    # PiecewiseConstantDecay gives values[i + 1] for boundaries[i] < step <= boundaries[i + 1].
    boundaries = [epoch * steps_per_epoch - 1 for epoch in range(1, len(rates))]
    if not boundaries:  # PiecewiseConstantDecay needs one boundary; a constant has the same rate on both sides.
        boundaries, rates = [0], rates * 2
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, rates)


class StepLR(keras.callbacks.Callback):
    """Sets the optimizer's learning rate at the start of every epoch, from a list.

    cvtk's ``lr_per_mb`` semantics: ``lr_per_epoch[i]`` is the rate of epoch
    ``i`` (counting from 0) and the last rate repeats for later epochs. Like
    ``keras.callbacks.LearningRateScheduler`` it writes the rate into the epoch
    logs as ``"learning_rate"``, so ``History`` records it; the stock
    ``keras.callbacks.TensorBoard`` writes it once per epoch as
    ``epoch_learning_rate`` in the ``train`` run.

    The optimizer must have been created with a float learning rate, not a
    ``LearningRateSchedule`` (use :func:`step_lr_schedule` for that instead).

    Args:
        lr_per_epoch: List of rates, one per epoch, or a string such as
            ``"0.05x7,0.005x7,0.0005"`` (see :func:`parse_lr_schedule`).
        verbose: 0 for quiet, 1 to print the rate at each epoch start.

    Attributes:
        lr_per_epoch: The rates, as a list of floats.

    Example:
        >>> model.fit(train, epochs=15, callbacks=[StepLR([0.01] * 7 + [0.001] * 7 + [0.0001])])
    """

    def __init__(self, lr_per_epoch, verbose=0):
        super().__init__()
        self.lr_per_epoch = check_lr_per_epoch(lr_per_epoch)
        if verbose not in (0, 1, 2, True, False):
            raise ValueError(f"verbose must be 0, 1 or 2. Received: verbose={verbose!r}")
        self.verbose = int(verbose)

    def rate_for_epoch(self, epoch):
        """Returns the learning rate of an epoch (0-based); the last rate repeats."""
        return self.lr_per_epoch[min(int(epoch), len(self.lr_per_epoch) - 1)]

    def on_epoch_begin(self, epoch, logs=None):
        rate = self.rate_for_epoch(epoch)
        try:
            self.model.optimizer.learning_rate = rate
        except TypeError as error:  # Keras refuses to overwrite a LearningRateSchedule.
            raise ValueError(
                "StepLR needs an optimizer created with a float learning_rate; this one has a "
                "LearningRateSchedule. Use step_lr_schedule(...) as the optimizer's learning_rate instead, "
                f"or create the optimizer with a float. Received: optimizer={self.model.optimizer!r}"
            ) from error
        if self.verbose:
            print(f"\nEpoch {epoch + 1}: StepLR setting learning rate to {rate:g}.", flush=True)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = current_learning_rate(self.model)

    def get_config(self):
        """Returns the arguments of ``__init__``, JSON-serialisable."""
        return {"lr_per_epoch": list(self.lr_per_epoch), "verbose": self.verbose}

    @classmethod
    def from_config(cls, config):
        """Creates a ``StepLR`` from :meth:`get_config`'s output."""
        return cls(**config)
