"""The compute precision of a model: ``"auto"`` picks the fastest accurate one for this machine.

``"auto"`` resolves, in this order, to:

1. the ``KERAS_CVCLS_PRECISION`` environment variable, when set (one of :data:`PRECISIONS`:
   a whole process or CI job pinned to one precision);
2. the global Keras dtype policy, when the user has set one (``keras.config.set_dtype_policy``);
3. ``"mixed_float16"`` when TensorFlow sees a GPU;
4. ``"mixed_bfloat16"`` when the CPU has AMX (``amx_bf16``), on which oneDNN runs bfloat16
   convolutions at about 4x the float32 rate;
5. on a CPU with AVX512-BF16 but no AMX (bfloat16 dot products at 2x the float32 rate):
   ``"mixed_bfloat16"`` for backbones of dense convolutions (ResNets), ``"float32"`` for
   backbones built on depthwise convolutions (EfficientNet-Lite, MobileNet, ConvNeXt), whose
   bfloat16 gradients run at about half the float32 speed there (``bench/RESULTS.md``);
6. ``"float32"`` otherwise.

The weights stay float32 in every case, and the head computes in float32; the choice and its
reason are written in the run record.
"""

import contextlib
import os

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
AUTO = "auto"
ENV_VAR = "KERAS_CVCLS_PRECISION"
_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def check_precision(precision):
    """Raises ValueError unless ``precision`` is ``"auto"``, ``None`` or one of :data:`PRECISIONS`."""
    if precision is not None and precision != AUTO and precision not in PRECISIONS:
        raise ValueError(
            f"precision must be 'auto' or one of {PRECISIONS} (None: float32). Received: precision={precision!r}"
        )


def cpu_bfloat16_flags(cpuinfo="/proc/cpuinfo"):
    """The bfloat16 instruction sets this CPU reports (``"amx_bf16"``, ``"avx512_bf16"``), from ``cpuinfo``."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return [flag for flag in _BF16_CPU_FLAGS if flag in flags]
    except OSError:  # not Linux: no way to tell without a native probe, so no bfloat16
        pass
    return []


def detect_precision(depthwise=False, *, gpus=None, cpu_flags=None):
    """``(precision, reason)`` that ``"auto"`` resolves to on this machine (see the module docstring).

    Args:
        depthwise: whether the model is built on depthwise convolutions
            (``BackboneConfig.depthwise``).
        gpus: the number of GPUs; default: those TensorFlow sees.
        cpu_flags: the CPU's bfloat16 flags; default: :func:`cpu_bfloat16_flags`.
    """
    import keras

    pinned = os.environ.get(ENV_VAR)
    if pinned:
        if pinned not in PRECISIONS:
            raise ValueError(f"{ENV_VAR} must be one of {PRECISIONS}. Received: {ENV_VAR}={pinned!r}")
        return pinned, f"{ENV_VAR}={pinned}"
    policy = keras.config.dtype_policy().name
    if policy != "float32":
        return policy, f"the global Keras dtype policy is {policy!r}"
    if gpus is None:
        import tensorflow as tf

        gpus = len(tf.config.list_physical_devices("GPU"))
    if gpus:
        return "mixed_float16", f"TensorFlow sees {gpus} GPU(s)"
    flags = cpu_bfloat16_flags() if cpu_flags is None else list(cpu_flags)
    if "amx_bf16" in flags:
        return "mixed_bfloat16", f"the CPU has bfloat16 instructions ({', '.join(flags)})"
    if flags and depthwise:
        return "float32", (
            "the CPU has AVX512-BF16 but no AMX, on which depthwise convolutions train slower in bfloat16 "
            "than in float32"
        )
    if flags:
        return "mixed_bfloat16", f"the CPU has bfloat16 instructions ({', '.join(flags)})"
    if cpu_flags is not None or os.path.exists("/proc/cpuinfo"):
        return "float32", "the CPU has no bfloat16 instructions (neither AMX nor AVX512-BF16) and there is no GPU"
    return "float32", "bfloat16 support could not be read from this platform and there is no GPU"


def resolve_precision(precision, depthwise=False):
    """``(precision, reason)``: ``"auto"`` resolved for this machine (and model), an explicit one as given."""
    check_precision(precision)
    if precision == AUTO:
        return detect_precision(depthwise)
    if precision is None:
        return "float32", "None means float32"
    return precision, "chosen explicitly"


@contextlib.contextmanager
def dtype_policy(precision):
    """Builds layers under a Keras dtype policy (``None`` or ``"float32"``: float32)."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision or "float32")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
