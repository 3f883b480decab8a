"""EfficientNet-Lite's architecture as plain data: multipliers, stages, block counts (no Keras).

The backbone registry reads input sizes and block counts from here without importing Keras;
``efficientnet_lite.py`` builds the layers from the same table.
"""

import math

# (width multiplier, depth multiplier, input size, dropout before the ImageNet classifier).
LITE_PARAMS = {
    "efficientnet_lite0": (1.0, 1.0, 224, 0.2),
    "efficientnet_lite1": (1.0, 1.1, 240, 0.2),
    "efficientnet_lite2": (1.1, 1.2, 260, 0.3),
    "efficientnet_lite3": (1.2, 1.4, 280, 0.3),
    "efficientnet_lite4": (1.4, 1.8, 300, 0.3),
}
# EfficientNet-B0's stages: (repeats, kernel, stride, expand ratio, input filters, output filters).
_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
STEM_FILTERS = 32
HEAD_FILTERS = 1280
_BN_EPSILON = 1e-3
_BN_MOMENTUM = 0.99
_DROP_CONNECT_RATE = 0.2


def round_filters(filters, width):
    """Scales a channel count by ``width`` to a multiple of 8, as the reference code does."""
    filters *= width
    rounded = max(8, int(filters + 4) // 8 * 8)
    if rounded < 0.9 * filters:
        rounded += 8
    return int(rounded)


def _block_specs(width, depth):
    """Yields ``(kernel, stride, expand, in_filters, out_filters)`` for every block."""
    for index, (repeats, kernel, stride, expand, filters_in, filters_out) in enumerate(_STAGES):
        if 0 < index < len(_STAGES) - 1:
            repeats = int(math.ceil(depth * repeats))
        filters_in, filters_out = round_filters(filters_in, width), round_filters(filters_out, width)
        for i in range(repeats):
            yield kernel, stride if i == 0 else 1, expand, filters_in if i == 0 else filters_out, filters_out


def num_blocks(name):
    """Number of MBConv blocks of an EfficientNet-Lite (16 for lite0)."""
    width, depth, _, _ = LITE_PARAMS[name]
    return len(list(_block_specs(width, depth)))
