"""``"module:function"`` references: a registry entry that names code instead of importing it.

Registries (backbones, augmentations) hold such strings so that they can be read, listed and
offered as command-line choices without importing TensorFlow or Keras; the code is imported
on first use.
"""

import importlib


def is_reference(value):
    """True for a string of the form ``"package.module:attribute[.attribute]"``."""
    if not isinstance(value, str) or value.count(":") != 1:
        return False
    module, attribute = value.split(":")
    return all(part.isidentifier() for part in module.split(".") + attribute.split("."))


def resolve_reference(value):
    """The object a ``"module:attribute"`` string names; anything else is returned as it is.

    Raises:
        ValueError: when the module cannot be imported or has no such attribute.

    Example:
        >>> resolve_reference("os.path:join")("a", "b")
        'a/b'
    """
    if not is_reference(value):
        return value
    module_name, attribute = value.split(":")
    try:
        obj = importlib.import_module(module_name)
        for part in attribute.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"Cannot import what the reference names ({e}); check its spelling. Received: {value!r}") from e
    return obj
