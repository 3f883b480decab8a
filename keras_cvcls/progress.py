"""Progress bars on stderr: one rule for when they show, for every long loop in the package."""

import sys


def progress_bar(total, desc, *, unit="it", enabled=None, min_total=1):
    """A ``tqdm`` bar on stderr that leaves no line behind.

    Args:
        total: how many steps the work has (None when unknown).
        desc: the bar's label.
        unit: the name of one step, e.g. ``"img"``.
        enabled: True shows the bar, False hides it; None shows it on a terminal only, and only
            for work of at least ``min_total`` steps.
        min_total: with ``enabled=None``, smaller work gets no bar.

    Returns:
        A ``tqdm`` object (disabled bars accept the same calls).

    Example:
        >>> with progress_bar(3, "checking", unit="img", enabled=False) as bar:
        ...     bar.update(3)
    """
    from tqdm.auto import tqdm

    if enabled is not None:
        disable = not enabled
    else:
        # tqdm's disable=None: shown on a terminal only.
        disable = True if total is not None and total < min_total else None
    return tqdm(total=total, desc=desc, unit=unit, disable=disable, leave=False, file=sys.stderr)
