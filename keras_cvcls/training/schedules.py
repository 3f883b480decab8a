"""Learning-rate schedules beyond the per-epoch list: one-cycle and cosine with warm-up.

Both are ``keras.optimizers.schedules.LearningRateSchedule`` objects, so they work in any
``model.fit`` (``SGD(learning_rate=OneCycle(...))``) and are saved with the optimizer.
:func:`cosine_schedule` is Keras' own ``CosineDecay`` (whose ``warmup_target`` and
``warmup_steps`` give the linear warm-up); :class:`OneCycle` is the one-cycle policy of
fastai's ``fit_one_cycle`` (Smith, 2018), written out because Keras has none.
:func:`make_schedule` builds either, or the exact per-epoch steps of
:func:`~keras_cvcls.training.step_lr_schedule`, from the recipe's arguments
(``keras-cvcls train --schedule step|one-cycle|cosine``).
"""

import math

import keras

from keras_cvcls.training.step_lr import check_lr_per_epoch, step_lr_schedule

SCHEDULES = ("step", "one-cycle", "cosine")


def _positive_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}. Received: {name}={value!r}")
    return value


def _positive_float(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number. Received: {name}={value!r}")
    return float(value)


@keras.saving.register_keras_serializable(package="keras_cvcls")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """The one-cycle policy: a cosine rise to ``max_lr``, then a cosine fall to almost nothing.

    As fastai's ``fit_one_cycle`` and PyTorch's ``OneCycleLR`` (``anneal_strategy="cos"``):
    with ``w = round(pct_start * total_steps)`` warm-up steps, ``initial = max_lr / div_factor``
    and ``final = initial / final_div_factor``, the rate at step ``s`` is

    * ``s < w``: ``initial + (max_lr - initial) * (1 - cos(pi * s / w)) / 2``;
    * ``s >= w``: ``final + (max_lr - final) * (1 + cos(pi * p)) / 2`` with
      ``p = min(1, (s - w) / (total_steps - 1 - w))``; the last step (``total_steps - 1``)
      and all later ones get ``final``.

    Args:
        max_lr: the peak rate.
        total_steps: optimizer steps of the whole training (epochs x steps per epoch), >= 2.
        pct_start: fraction of the steps spent rising, in (0, 1).
        div_factor: ``max_lr / initial``.
        final_div_factor: ``initial / final``.
        name: the schedule's name.

    Example:
        >>> schedule = OneCycle(0.01, total_steps=100)
        >>> float(schedule(0)), float(schedule(25)), float(schedule(99))
        (0.0004, 0.01, 4e-08)
    """

    def __init__(self, max_lr, total_steps, *, pct_start=0.25, div_factor=25.0, final_div_factor=1e4, name="OneCycle"):
        super().__init__()
        self.max_lr = _positive_float("max_lr", max_lr)
        self.total_steps = _positive_int("total_steps", total_steps, 2)
        if isinstance(pct_start, bool) or not isinstance(pct_start, (int, float)) or not 0 < pct_start < 1:
            raise ValueError(f"pct_start must be a number in (0, 1). Received: pct_start={pct_start!r}")
        self.pct_start = float(pct_start)
        self.div_factor = _positive_float("div_factor", div_factor)
        self.final_div_factor = _positive_float("final_div_factor", final_div_factor)
        self.name = name

    @property
    def warmup_steps(self):
        """Steps of the rise: ``round(pct_start * total_steps)``, at least 1 and at most ``total_steps - 2``."""
        return min(max(1, round(self.pct_start * self.total_steps)), self.total_steps - 2) if self.total_steps > 2 else 1

    def __call__(self, step):
        ops = keras.ops
        step = ops.cast(step, "float32")
        peak = ops.cast(self.max_lr, "float32")
        initial = peak / self.div_factor
        final = initial / self.final_div_factor
        warmup = float(self.warmup_steps)
        down = float(max(1, self.total_steps - 1 - self.warmup_steps))
        rise = initial + (peak - initial) * (1.0 - ops.cos(math.pi * ops.minimum(step, warmup) / warmup)) / 2.0
        fraction = ops.clip((step - warmup) / down, 0.0, 1.0)
        fall = final + (peak - final) * (1.0 + ops.cos(math.pi * fraction)) / 2.0
        return ops.where(step < warmup, rise, fall)

    def get_config(self):
        """Returns the arguments of ``__init__``."""
        return {
            "max_lr": self.max_lr, "total_steps": self.total_steps, "pct_start": self.pct_start,
            "div_factor": self.div_factor, "final_div_factor": self.final_div_factor, "name": self.name,
        }


def cosine_schedule(peak_lr, total_steps, *, warmup_steps=0, initial_lr=0.0, final_lr=0.0):
    """Keras' ``CosineDecay`` with a linear warm-up: ``total_steps`` steps in all, warm-up included.

    The rate rises linearly from ``initial_lr`` (step 0) to ``peak_lr`` (step ``warmup_steps``),
    then follows ``final_lr + (peak_lr - final_lr) * (1 + cos(pi * (s - warmup_steps) / d)) / 2``
    with ``d = total_steps - warmup_steps`` decay steps, and stays at ``final_lr`` after.

    Args:
        peak_lr: the rate after the warm-up.
        total_steps: optimizer steps of the whole training (epochs x steps per epoch).
        warmup_steps: steps of the linear warm-up (0: none; then it starts at ``peak_lr``).
        initial_lr: the rate at step 0 of the warm-up.
        final_lr: the rate at the end, ``< peak_lr``.

    Returns:
        A ``keras.optimizers.schedules.CosineDecay``.

    Raises:
        ValueError: for rates that are not positive, or step counts out of range.

    Example:
        >>> schedule = cosine_schedule(0.1, total_steps=100, warmup_steps=10)
        >>> float(schedule(5)), float(schedule(10)), float(schedule(55))
        (0.05, 0.1, 0.05)
    """
    peak_lr = _positive_float("peak_lr", peak_lr)
    total_steps = _positive_int("total_steps", total_steps)
    warmup_steps = _positive_int("warmup_steps", warmup_steps, 0)
    if warmup_steps >= total_steps:
        raise ValueError(
            f"warmup_steps must be smaller than total_steps ({total_steps}). Received: warmup_steps={warmup_steps!r}"
        )
    for name, value in (("initial_lr", initial_lr), ("final_lr", final_lr)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < peak_lr:
            raise ValueError(f"{name} must be a number in [0, peak_lr={peak_lr}). Received: {name}={value!r}")
    decay_steps = total_steps - warmup_steps
    alpha = final_lr / peak_lr
    if not warmup_steps:
        return keras.optimizers.schedules.CosineDecay(peak_lr, decay_steps, alpha=alpha)
    return keras.optimizers.schedules.CosineDecay(
        float(initial_lr), decay_steps, alpha=alpha, warmup_target=peak_lr, warmup_steps=warmup_steps,
    )


def make_schedule(schedule, lr, *, epochs, steps_per_epoch, warmup_epochs=0):
    """The learning rate of a recipe's optimizer: a float (for ``StepLR``) or a schedule.

    Args:
        schedule: ``"step"`` (``lr`` is the exact per-epoch list, cvtk's ``lr_per_mb``; returned
            as the float first rate, for :class:`~keras_cvcls.training.StepLR` to set each
            epoch), ``"one-cycle"`` (:class:`OneCycle` peaking at ``lr``) or ``"cosine"``
            (:func:`cosine_schedule` from ``lr``, after ``warmup_epochs`` of linear warm-up).
        lr: the per-epoch rates (a list or ``"0.01x7,0.001"``) for ``"step"``; one rate (a
            number, or a list of one) for the others.
        epochs: epochs of training.
        steps_per_epoch: optimizer steps per epoch.
        warmup_epochs: epochs of warm-up of ``"cosine"`` (a number; fractions allowed).

    Returns:
        ``(learning_rate, rates)``: what to give the optimizer, and the per-epoch list for
        ``StepLR`` (None unless ``schedule="step"``).

    Raises:
        ValueError: for an unknown schedule, several rates with ``"one-cycle"``/``"cosine"``,
            or a bad count.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}. Received: schedule={schedule!r}")
    rates = check_lr_per_epoch(lr)
    if schedule == "step":
        return rates[0], rates
    if len(rates) != 1:
        raise ValueError(
            f"The {schedule} schedule takes one (peak) learning rate; a list of rates per epoch is the step "
            f"schedule's. Give one rate, or schedule='step' (--schedule step). Received: lr={lr!r}"
        )
    total = _positive_int("epochs", epochs) * _positive_int("steps_per_epoch", steps_per_epoch)
    if schedule == "one-cycle":
        return OneCycle(rates[0], max(2, total)), None
    if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, (int, float)) or not 0 <= warmup_epochs < epochs:
        raise ValueError(f"warmup_epochs must be a number in [0, epochs={epochs}). Received: warmup_epochs={warmup_epochs!r}")
    return cosine_schedule(rates[0], total, warmup_steps=round(warmup_epochs * steps_per_epoch)), None


__all__ = ["SCHEDULES", "OneCycle", "cosine_schedule", "make_schedule", "step_lr_schedule"]
