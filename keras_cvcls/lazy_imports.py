"""Package namespaces whose public names are imported on first use (PEP 562).

``import keras_cvcls`` (or one of its packages) stays cheap: TensorFlow is imported only when a
name that needs it is first used, so the command line answers ``--help`` at once and the
registries read without TensorFlow.
"""

import importlib


def lazy_exports(package, exports, submodules=()):
    """Returns ``(__getattr__, __dir__)`` for a package that exports ``exports`` lazily.

    Args:
        package: the package's ``__name__``.
        exports: ``{public name: module that defines it}``.
        submodules: names of sub-packages reachable as attributes (``keras_cvcls.data``).

    Returns:
        The module-level ``__getattr__`` and ``__dir__`` functions to assign.

    Example:
        >>> _EXPORTS = {"open_upright": "keras_cvcls.data.upright_image"}
        >>> __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
    """
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name):
        if name in exports:
            value = getattr(importlib.import_module(exports[name]), name)
        elif name in submodules:
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        namespace[name] = value
        return value

    def __dir__():
        return sorted(set(namespace) | set(exports) | set(submodules))

    return __getattr__, __dir__


def exports_by_module(package, modules):
    """``{public name: module}`` from ``{module name within package: [public names]}``.

    Example:
        >>> exports_by_module("keras_cvcls.data", {"upright_image": ["open_upright"]})
        {'open_upright': 'keras_cvcls.data.upright_image'}
    """
    return {name: f"{package}.{module}" for module, names in modules.items() for name in names}
