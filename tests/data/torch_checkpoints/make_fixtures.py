"""Writes the PyTorch checkpoint fixtures of tests/test_torch_checkpoint.py, with real PyTorch.

PyTorch is the independent oracle here: it writes the checkpoints and the expected values,
and the reader under test (keras_cvcls.models.torch_checkpoint) must match them without
PyTorch. The project's own environment never contains PyTorch, so these files were made in a
throwaway virtual environment outside the repository:

    python3 -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch==2.13.0 numpy
    /tmp/torchenv/bin/python tests/data/torch_checkpoints/make_fixtures.py

It rewrites every fixture in this folder (all together a few tens of KB):

* ``state_dict_zip.pth`` / ``state_dict_legacy.pth``: one state dict (an OrderedDict) saved
  by ``torch.save`` in the zip format and in the legacy format
  (``_use_new_zipfile_serialization=False``). It holds float32, float16, bfloat16, float64,
  int32, int64 (``num_batches_tracked``, 0-d), bool, a 0-d float, a non-contiguous tensor (a
  transposed view, saved as is), two views of one tensor at different storage offsets, an
  ``nn.Parameter`` and an empty tensor.
* ``wrapped_zip.pth``: the same state dict saved as ``{"state_dict": ..., "epoch": 3}``.
* ``expected.npz``: the tensors of that state dict as numpy arrays (bfloat16 as float32), and
  ``__dtypes__``: one ``"name=torch dtype"`` string per tensor.
* ``legacy_view_metadata.pth`` / ``legacy_view_metadata.npz``: a legacy-format checkpoint
  whose persistent ids carry storage-view metadata (``pid[5]``), which PyTorch before 1.0
  wrote and ``torch.load`` still reads; PyTorch 2 never writes it, so this file is written
  here by hand and checked by loading it with ``torch.load``, whose result is the npz.
* ``hostile_zip.pth`` / ``hostile_legacy.pth``: checkpoints written by ``torch.save`` whose
  pickle holds, next to a real tensor, an object whose ``__reduce__`` calls a dangerous
  global on load (``builtins.eval`` in the zip one, ``os.system`` in the legacy one). The
  payload creates the file ``PWNED_BY_HOSTILE_ZIP`` / ``PWNED_BY_HOSTILE_LEGACY`` in the
  current directory; this script checks that ``torch.load(weights_only=False)`` really does
  (in a temporary directory) and that ``weights_only=True`` refuses.
* ``truncated.pth``: ``state_dict_legacy.pth`` cut inside its storage data.
* ``not_a_checkpoint.pth``: a text file.
"""

import collections
import os
import pickle
import struct
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def _path(name):
    return os.path.join(HERE, name)


def make_state_dict():
    g = torch.Generator().manual_seed(0)
    base = torch.arange(12, dtype=torch.float32) * 0.25 - 1.0  # shared by two views
    matrix = torch.randn(3, 5, generator=g)
    state = collections.OrderedDict()
    state["conv.weight"] = torch.randn(4, 3, 2, 2, generator=g)
    state["half"] = torch.randn(5, generator=g).to(torch.float16)
    state["bf16"] = (torch.randn(2, 3, generator=g) * 100).to(torch.bfloat16)
    state["double"] = torch.randn(2, 2, generator=g, dtype=torch.float64)
    state["int32"] = torch.tensor([-(2**31), -1, 0, 7, 2**31 - 1], dtype=torch.int32)
    state["bn.num_batches_tracked"] = torch.tensor(1234567890123, dtype=torch.int64)
    state["indices"] = torch.tensor([[2**40, -3], [5, 0]], dtype=torch.int64)
    state["mask"] = torch.tensor([True, False, False, True, True])
    state["scalar"] = torch.tensor(3.5)
    state["transposed"] = matrix.t()  # shape (5, 3), strides (1, 5): not contiguous
    state["view_a"] = base[2:5]  # storage offset 2
    state["view_b"] = base[6:12].view(2, 3)  # storage offset 6, same storage as view_a
    state["param"] = torch.nn.Parameter(torch.randn(3, generator=g))
    state["empty"] = torch.empty(0, 4)
    assert not state["transposed"].is_contiguous()
    assert state["view_a"].untyped_storage().data_ptr() == state["view_b"].untyped_storage().data_ptr()
    assert (state["view_a"].storage_offset(), state["view_b"].storage_offset()) == (2, 6)
    return state


def to_numpy(tensor):
    tensor = tensor.detach()
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.float()  # exact: every bfloat16 is a float32
    return tensor.numpy().copy()


def write_expected(path, state):
    arrays = {name: to_numpy(t) for name, t in state.items()}
    arrays["__dtypes__"] = np.array([f"{name}={t.dtype}" for name, t in state.items()])
    np.savez(path, **arrays)


def check_roundtrip(path, state):
    loaded = torch.load(path, weights_only=True)
    loaded = loaded.get("state_dict", loaded)
    assert list(loaded) == list(state)
    for name, t in state.items():
        assert loaded[name].dtype == t.dtype and torch.equal(loaded[name], t.detach()), name


class _ViewStorage:
    """A legacy-format storage reference with view metadata (what PyTorch < 1.0 wrote)."""

    def __init__(self, root_key, root_numel, view=None):
        self.pid = ("storage", torch.FloatStorage, root_key, "cpu", root_numel, view)


class _Tensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return torch._utils._rebuild_tensor_v2, self.args


class _LegacyPickler(pickle.Pickler):
    def persistent_id(self, obj):
        return obj.pid if isinstance(obj, _ViewStorage) else None


def write_legacy_view_metadata(path, npz_path):
    root = (torch.arange(12, dtype=torch.float32) * 1.5).numpy()
    v1 = _ViewStorage("0", 12, ("v1", 4, 6))  # elements 4..9 of storage "0"
    v2 = _ViewStorage("0", 12, ("v2", 8, 4))  # elements 8..11
    whole = _ViewStorage("0", 12)
    state = collections.OrderedDict()
    state["in_view"] = _Tensor(v1, 1, (2, 2), (2, 1))  # root[5:9] as 2x2
    state["whole"] = _Tensor(whole, 0, (4,), (1,))  # root[0:4]
    state["other_view"] = _Tensor(v2, 0, (4,), (1,))  # root[8:12]
    with open(path, "wb") as f:
        ser = torch.serialization
        sys_info = {
            "protocol_version": ser.PROTOCOL_VERSION,
            "little_endian": sys.byteorder == "little",
            "type_sizes": {"short": ser.SHORT_SIZE, "int": ser.INT_SIZE, "long": ser.LONG_SIZE},
        }
        for header in (ser.MAGIC_NUMBER, ser.PROTOCOL_VERSION, sys_info):
            pickle.dump(header, f, protocol=2)
        _LegacyPickler(f, protocol=2).dump(state)
        pickle.dump(["0"], f, protocol=2)
        f.write(struct.pack("<q", root.size) + root.astype("<f4").tobytes())
    loaded = torch.load(path, weights_only=True)  # the oracle
    expected = {"in_view": root[5:9].reshape(2, 2), "whole": root[0:4], "other_view": root[8:12]}
    assert list(loaded) == list(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(loaded[name].numpy(), value)
    np.savez(npz_path, **{name: t.numpy() for name, t in loaded.items()})


class _EvalPayload:
    def __reduce__(self):
        return eval, ("open('PWNED_BY_HOSTILE_ZIP', 'w').close()",)


class _SystemPayload:
    def __reduce__(self):
        return os.system, ("touch PWNED_BY_HOSTILE_LEGACY",)


def write_hostile(path, payload, marker, zip_format):
    obj = collections.OrderedDict(weight=torch.ones(2), evil=payload)
    torch.save(obj, path, _use_new_zipfile_serialization=zip_format)
    try:
        torch.load(path, weights_only=True)
        raise AssertionError(f"weights_only=True loaded {path}")
    except pickle.UnpicklingError:
        pass
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            torch.load(path, weights_only=False)  # the payload really runs (harmlessly, here)
            assert os.path.exists(marker), f"{path}: the payload did not run"
        finally:
            os.chdir(cwd)


def main():
    state = make_state_dict()
    torch.save(state, _path("state_dict_zip.pth"))
    torch.save(state, _path("state_dict_legacy.pth"), _use_new_zipfile_serialization=False)
    torch.save({"state_dict": state, "epoch": 3}, _path("wrapped_zip.pth"))
    for name in ("state_dict_zip.pth", "state_dict_legacy.pth", "wrapped_zip.pth"):
        check_roundtrip(_path(name), state)
    write_expected(_path("expected.npz"), state)
    write_legacy_view_metadata(_path("legacy_view_metadata.pth"), _path("legacy_view_metadata.npz"))
    write_hostile(_path("hostile_zip.pth"), _EvalPayload(), "PWNED_BY_HOSTILE_ZIP", True)
    write_hostile(_path("hostile_legacy.pth"), _SystemPayload(), "PWNED_BY_HOSTILE_LEGACY", False)
    with open(_path("state_dict_legacy.pth"), "rb") as f:
        legacy = f.read()
    with open(_path("truncated.pth"), "wb") as f:
        f.write(legacy[: len(legacy) - 100])  # cut inside the last storage's data
    with open(_path("not_a_checkpoint.pth"), "w") as f:
        f.write("This is not a PyTorch checkpoint, only text with a .pth name.\n")
    for name in sorted(os.listdir(HERE)):
        print(f"{os.path.getsize(_path(name)):8d}  {name}")


if __name__ == "__main__":
    main()
