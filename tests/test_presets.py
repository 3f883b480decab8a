"""Presets: plain data naming backbone, size, recipe and augmentation; explicit options win."""

import json

import pytest

from keras_cvcls.augment import list_augmentations
from keras_cvcls.cli.main import main
from keras_cvcls.datasets import make_sample
from keras_cvcls.models import list_backbones
from keras_cvcls.presets import PRESET_KEYS, get_preset, list_presets
from keras_cvcls.training_run import RECIPES, TrainingRun


def test_presets_are_complete_valid_data():
    assert list_presets() == ["fast", "balanced", "accurate"]
    for name in list_presets():
        preset = get_preset(name)
        assert tuple(preset) == PRESET_KEYS
        assert preset["backbone"] in list_backbones() and preset["recipe"].replace("_", "-") in RECIPES
        assert preset["augment"] in list_augmentations()
        with pytest.raises(TypeError):
            preset["backbone"] = "resnet18"  # read-only
    # Fastest first: no larger input than the next preset's with the same backbone.
    assert get_preset("fast")["image_size"] <= get_preset("balanced")["image_size"]
    with pytest.raises(ValueError, match="expected one of \\['fast', 'balanced', 'accurate'\\]. Received: preset='best'"):
        get_preset("best")


def test_train_preset_with_explicit_options_winning(tmp_path, capsys):
    data = make_sample(str(tmp_path / "data"), images_per_label=5, image_size=(32, 32), seed=6)
    run_dir = str(tmp_path / "run")
    # The preset names the backbone; --image-size and --epochs given here win over its own.
    assert main(["train", data, "--preset", "accurate", "--image-size", "32", "--epochs", "0", "--out", run_dir,
                 "--json"]) == 0
    json.loads(capsys.readouterr().out)
    model = TrainingRun.load(run_dir).model
    assert model.backbone_name == get_preset("accurate")["backbone"] and list(model.image_size) == [32, 32]
    assert main(["train", data, "--preset", "turbo", "--out", str(tmp_path / "r2"), "--json"]) == 2
