"""Checks of the keyword arguments a ``**kwargs`` collects: an unknown name raises, never vanishes."""

import inspect

_BY_KEYWORD = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def keyword_names(function):
    """The names ``function`` accepts as keyword arguments, in order (``self`` and ``**kwargs`` left out)."""
    return [name for name, p in inspect.signature(function).parameters.items() if p.kind in _BY_KEYWORD and name != "self"]


def check_arguments(received, valid, where):
    """Raises ``ValueError`` when ``received`` holds a name that is not in ``valid``.

    Args:
        received: the keyword arguments a ``**kwargs`` collected (a dict).
        valid: every keyword argument name the caller accepts, listed in the message.
        where: the class or function the message names.

    Example:
        >>> check_arguments({"image_szie": 48}, ["labels", "image_size"], "ImageClassifier")
        Traceback (most recent call last):
        ValueError: Unknown argument(s) ['image_szie'] for ImageClassifier. Valid: ['labels', 'image_size']. Received: image_szie=48
    """
    unknown = sorted(set(received) - set(valid))
    if unknown:
        shown = ", ".join(f"{name}={received[name]!r}" for name in unknown)
        raise ValueError(f"Unknown argument(s) {unknown} for {where}. Valid: {list(valid)}. Received: {shown}")
