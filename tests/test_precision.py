"""precision="auto" picks the fastest accurate precision for the machine, and says why (issue 12, item 3)."""

import json

import keras
import pytest

from keras_cvcls.models import ImageClassifier
from keras_cvcls.models.precision import cpu_bfloat16_flags, detect_precision, resolve_precision


@pytest.fixture(autouse=True)
def _auto_unpinned(monkeypatch):
    monkeypatch.delenv("KERAS_CVCLS_PRECISION", raising=False)  # conftest pins float32 for the suite


def _cpuinfo(tmp_path, flags):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: fpu sse2 avx2 {flags}\n\n")
    return str(path)


def test_bfloat16_flags_are_read_from_cpuinfo(tmp_path):
    assert cpu_bfloat16_flags(_cpuinfo(tmp_path, "avx512f amx_tile amx_bf16 avx512_bf16")) == ["amx_bf16", "avx512_bf16"]
    assert cpu_bfloat16_flags(_cpuinfo(tmp_path, "avx512f avx512_bf16")) == ["avx512_bf16"]
    assert cpu_bfloat16_flags(_cpuinfo(tmp_path, "avx512f avx512_vnni")) == []
    assert cpu_bfloat16_flags(str(tmp_path / "missing")) == []


def test_auto_on_this_machine_follows_its_cpu_flags():
    with open("/proc/cpuinfo") as f:
        flags = set(next(line for line in f if line.startswith("flags")).split())
    dense = "mixed_bfloat16" if {"amx_bf16", "avx512_bf16"} & flags else "float32"
    depthwise = "mixed_bfloat16" if "amx_bf16" in flags else "float32"
    assert detect_precision()[0] == dense
    assert detect_precision(depthwise=True)[0] == depthwise
    assert ImageClassifier(["a", "b"], "efficientnet_lite0", weights=None, image_size=32).precision == depthwise
    assert ImageClassifier(["a", "b"], "resnet18", weights=None, image_size=32).precision == dense


def test_the_rules_for_gpus_amx_and_avx512_bf16():
    """The GPU row cannot run on the CI's CPUs; the rules are checked on the facts they read."""
    assert detect_precision(gpus=1, cpu_flags=[])[0] == "mixed_float16"
    assert detect_precision(True, gpus=2, cpu_flags=[]) == ("mixed_float16", "TensorFlow sees 2 GPU(s)")
    for depthwise in (False, True):
        assert detect_precision(depthwise, gpus=0, cpu_flags=["amx_bf16", "avx512_bf16"])[0] == "mixed_bfloat16"
        assert detect_precision(depthwise, gpus=0, cpu_flags=[])[0] == "float32"
    assert detect_precision(False, gpus=0, cpu_flags=["avx512_bf16"])[0] == "mixed_bfloat16"
    assert detect_precision(True, gpus=0, cpu_flags=["avx512_bf16"])[0] == "float32"


def test_the_environment_variable_pins_auto(monkeypatch):
    monkeypatch.setenv("KERAS_CVCLS_PRECISION", "mixed_bfloat16")
    assert resolve_precision("auto") == ("mixed_bfloat16", "KERAS_CVCLS_PRECISION=mixed_bfloat16")
    assert resolve_precision("float32")[0] == "float32"  # an explicit argument still wins
    monkeypatch.setenv("KERAS_CVCLS_PRECISION", "half")
    with pytest.raises(ValueError, match="KERAS_CVCLS_PRECISION must be one of"):
        resolve_precision("auto")


def test_explicit_choices_and_the_global_policy_win():
    assert resolve_precision("float32") == ("float32", "chosen explicitly")
    assert resolve_precision(None)[0] == "float32"
    assert resolve_precision("mixed_float16")[0] == "mixed_float16"
    keras.config.set_dtype_policy("mixed_float16")
    try:
        assert resolve_precision("auto") == ("mixed_float16", "the global Keras dtype policy is 'mixed_float16'")
    finally:
        keras.config.set_dtype_policy("float32")
    with pytest.raises(ValueError, match="precision must be 'auto'.*Received: precision='bf16'"):
        resolve_precision("bf16")


def test_the_classifier_records_its_precision_and_the_reason(tmp_path):
    model = ImageClassifier(["a", "b"], "resnet18", weights=None, image_size=32)
    assert (model.precision, model.precision_reason) == detect_precision()
    assert model.backbone.layers[2].dtype_policy.name == model.precision
    model.save(tmp_path / "m")
    record = json.loads((tmp_path / "m" / "classifier.json").read_text())
    assert (record["precision"], record["precision_reason"]) == detect_precision()
