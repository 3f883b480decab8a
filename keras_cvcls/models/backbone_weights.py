"""Checking a backbone's ``weights`` argument and loading a weights file into the built model.

A weights file is a Keras ``.weights.h5`` / ``.h5``, or a PyTorch state dict (``.pth``) read
without PyTorch and converted by the backbone's ``weights_format`` loader.
"""

import os
import warnings

from keras_cvcls.references import resolve_reference

# weights_format -> the converter of a PyTorch state dict into the built model ("module:function").
STATE_DICT_LOADERS = {
    "torchvision": "keras_cvcls.models.resnet:load_torchvision_state_dict",
    "efficientnet_lite": "keras_cvcls.models.efficientnet_lite:load_efficientnet_lite_state_dict",
}
WEIGHTS_FORMATS = ("keras", *STATE_DICT_LOADERS)
_TORCH_SUFFIXES = (".pth", ".pt")
# Suffixes that make an unknown string read as a (missing) file path rather than a typo.
_PATH_SUFFIXES = (".h5", ".hdf5", ".keras", ".json", ".pth", ".pt")


def check_weights(name, entry, weights):
    """Validates ``weights``; returns the local file path, or None."""
    if weights is None:
        return None
    if weights == "imagenet":
        if entry.weights_url is None and entry.weights_package is None:
            raise ValueError(
                f"Backbone {name!r} has no ImageNet weights ({entry.config.imagenet_weights}); "
                "use weights=None or a path. "
                f"Received: weights={weights!r}"
            )
        return None
    if isinstance(weights, os.PathLike):
        weights = os.fspath(weights)
    if not isinstance(weights, str):
        raise ValueError(
            "Expected weights to be None, 'imagenet' or a path to a weights file. "
            f"Received: weights={weights!r}"
        )
    looks_like_path = os.sep in weights or weights.lower().endswith(_PATH_SUFFIXES)
    if not os.path.isfile(weights):
        if looks_like_path:
            raise ValueError(
                f"Weights file not found: {weights!r}. Pass an existing file, "
                f"'imagenet' or None. Received: weights={weights!r}"
            )
        raise ValueError(
            "Expected weights to be None, 'imagenet' or a path to an existing weights "
            f"file (.weights.h5, .h5, .keras, or .pth for torchvision backbones). "
            f"Received: weights={weights!r}"
        )
    if weights.lower().endswith(_TORCH_SUFFIXES) and entry.weights_format not in STATE_DICT_LOADERS:
        raise ValueError(
            f"Backbone {name!r} cannot read PyTorch checkpoints; pass a Keras weights file "
            f"(.weights.h5 or .h5). Received: weights={weights!r}"
        )
    return weights


def load_weights(name, entry, model, path, weights):
    """Loads ``path`` into ``model``; a mismatching file is a ValueError."""
    if path.lower().endswith(_TORCH_SUFFIXES) or (
        weights == "imagenet" and entry.weights_format in STATE_DICT_LOADERS
    ):
        state_dict = _read_torch_checkpoint(name, path)
        try:
            resolve_reference(STATE_DICT_LOADERS[entry.weights_format])(model, state_dict)
        except ValueError as e:
            raise ValueError(
                f"The checkpoint does not match backbone {name!r}: {e} "
                f"Received: weights={weights!r}"
            ) from e
        return
    # Keras warns once per layer on a mismatch before raising; keep the warnings only
    # when loading succeeds, the error below summarises a failure.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(path)
        except (ValueError, OSError, KeyError, TypeError) as e:
            detail = " ".join(str(e).split())
            detail = detail if len(detail) <= 300 else detail[:300] + "..."
            raise ValueError(
                f"Could not load weights file {path!r} into backbone {name!r} "
                f"(input shape {model.input_shape}); was it saved from the same "
                f"architecture? {type(e).__name__}: {detail} "
                f"Received: weights={weights!r}"
            ) from e
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _read_torch_checkpoint(name, path):
    """Reads a PyTorch state dict into numpy arrays (no PyTorch needed; see torch_checkpoint)."""
    from keras_cvcls.models.torch_checkpoint import read_torch_state_dict

    try:
        return read_torch_state_dict(path)
    except ValueError as e:
        raise ValueError(f"Could not read weights for backbone {name!r}: {e} Received: weights={path!r}") from e
