"""The compute precision of a model: ``"auto"`` picks the fastest accurate one for this machine.

``"auto"`` resolves, in this order, to: the global Keras dtype policy when the user has set
one (``keras.config.set_dtype_policy``); ``"mixed_float16"`` when TensorFlow sees a GPU;
``"mixed_bfloat16"`` when the CPU has bfloat16 instructions (AMX or AVX512-BF16), on which
oneDNN runs bfloat16 convolutions at up to 2x (AVX512-BF16) or 4x (AMX) the float32 rate;
``"float32"`` otherwise. The weights stay float32 in every case, and the head computes in
float32; the choice and its reason are written in the run record.
"""

import contextlib
import os

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
AUTO = "auto"
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


def detect_precision():
    """``(precision, reason)`` that ``"auto"`` resolves to on this machine (see the module docstring)."""
    import keras

    policy = keras.config.dtype_policy().name
    if policy != "float32":
        return policy, f"the global Keras dtype policy is {policy!r}"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return "mixed_float16", f"TensorFlow sees {len(gpus)} GPU(s)"
    flags = cpu_bfloat16_flags()
    if flags:
        return "mixed_bfloat16", f"the CPU has bfloat16 instructions ({', '.join(flags)})"
    if os.path.exists("/proc/cpuinfo"):
        return "float32", "the CPU has no bfloat16 instructions (neither AMX nor AVX512-BF16) and there is no GPU"
    return "float32", "bfloat16 support could not be read from this platform and there is no GPU"


def resolve_precision(precision):
    """``(precision, reason)``: ``"auto"`` resolved for this machine, an explicit one as given."""
    check_precision(precision)
    if precision == AUTO:
        return detect_precision()
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
