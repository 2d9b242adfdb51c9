import os

import pytest

from conftest import PACKAGE_ROOT
from exodetect_train.hyperparams import (EPOCHS_AUTO_MIN_IMAGES, HALF_SCALE_AUTO_MAX_IMAGES, REFIT_AUTO_MAX_IMAGES, SPECS, TTA_AUTO_MAX_IMAGES, HyperparameterError, auto_crops_per_image, describe,
                                         epochs_wanted, half_scale_pass_wanted, parse_hyperparameters, refit_wanted, tta_wanted)


def test_strings_are_parsed_and_defaults_fill_the_rest():
    hp = parse_hyperparameters({"epochs": "7", "lr": "0.01", "amp": "false", "class_names": "a, b", "init_from": ""})
    assert hp.epochs == 7 and hp.lr == 0.01 and hp.amp is False
    assert hp.class_names == ("a", "b")
    assert hp.init_from is None
    assert hp.batch_size == SPECS["batch_size"].default


def test_json_scalars_are_accepted_like_strings():
    hp = parse_hyperparameters({"epochs": 3, "single_class": False, "nm_per_px": 1.5})
    assert (hp.epochs, hp.single_class, hp.nm_per_px) == (3, False, 1.5)


def test_unknown_keys_are_rejected_with_the_allowed_list():
    with pytest.raises(HyperparameterError) as e:
        parse_hyperparameters({"epochz": "3", "learning_rate": "1"})
    msg = str(e.value)
    assert "'epochz'" in msg and "'learning_rate'" in msg
    assert "allowed:" in msg and "epochs" in msg and "max_bad_annotation_fraction" in msg


def test_sagemaker_keys_are_ignored():
    hp = parse_hyperparameters({"sagemaker_program": "x", "sagemaker_region": "eu-west-1", "epochs": "2"})
    assert hp.epochs == 2


@pytest.mark.parametrize("key,value,fragment", [
    ("epochs", "three", "cannot parse"),
    ("epochs", "0", "must be in"),
    ("lr", "0", "must be in"),
    ("lr", "nan", "finite"),
    ("crop_size", "100", "multiple of 32"),
    ("crops_per_image", "0", "must be in"),
    ("tile_size", "500", "multiple of 32"),
    ("max_bad_annotation_fraction", "1.5", "must be in"),
    ("amp", "maybe", "true/false"),
    ("class_names", "a,a", "unique"),
])
def test_bad_values_name_the_key_and_value(key, value, fragment):
    with pytest.raises(HyperparameterError) as e:
        parse_hyperparameters({key: value})
    assert f"{key}={value!r}" in str(e.value)
    assert fragment in str(e.value)


def test_all_problems_are_reported_at_once():
    with pytest.raises(HyperparameterError) as e:
        parse_hyperparameters({"epochs": "-1", "batch_size": "x"})
    assert "epochs" in str(e.value) and "batch_size" in str(e.value)


def test_crops_per_image_left_empty_is_chosen_by_training_set_size():
    assert parse_hyperparameters({}).crops_per_image is None
    assert parse_hyperparameters({"crops_per_image": ""}).crops_per_image is None
    assert parse_hyperparameters({"crops_per_image": "2"}).crops_per_image == 2
    # 20 images (a 30-image set split 20/10) get 16 crops each; 80 and more keep 4; tiny sets stop at 16.
    assert [auto_crops_per_image(n) for n in (1, 5, 20, 21, 40, 79, 80, 160, 1000)] == [16, 16, 16, 16, 8, 5, 4, 4, 4]


def test_epochs_left_empty_are_chosen_by_the_number_of_images():
    assert parse_hyperparameters({}).epochs is None and parse_hyperparameters({"epochs": ""}).epochs is None
    assert parse_hyperparameters({"epochs": "12"}).epochs == 12
    assert [epochs_wanted(None, n) for n in (8, 30, EPOCHS_AUTO_MIN_IMAGES - 1, EPOCHS_AUTO_MIN_IMAGES, 200)] == [40, 40, 40, 80, 80]
    assert epochs_wanted(12, 200) == 12 and epochs_wanted(100, 8) == 100
    with pytest.raises(HyperparameterError, match="epochs='0'"):
        parse_hyperparameters({"epochs": "0"})


def test_half_scale_pass_is_auto_by_default_and_decided_by_the_number_of_images():
    assert parse_hyperparameters({}).half_scale_pass is None
    assert parse_hyperparameters({"half_scale_pass": "true"}).half_scale_pass is True
    assert half_scale_pass_wanted(None, 30) and not half_scale_pass_wanted(None, HALF_SCALE_AUTO_MAX_IMAGES)
    assert half_scale_pass_wanted(True, 200) and not half_scale_pass_wanted(False, 30)


def test_tta_is_auto_by_default_and_decided_by_the_number_of_images():
    assert parse_hyperparameters({}).tta is None and parse_hyperparameters({"tta": "auto"}).tta is None
    assert parse_hyperparameters({"tta": "true"}).tta is True and parse_hyperparameters({"tta": "off"}).tta is False
    assert tta_wanted(None, 30) and not tta_wanted(None, TTA_AUTO_MAX_IMAGES) and not tta_wanted(None, 200)
    assert tta_wanted(True, 200) and not tta_wanted(False, 30)
    with pytest.raises(HyperparameterError, match="tta='2'.*expected auto, true or false"):
        parse_hyperparameters({"tta": "2"})


def test_refit_is_auto_by_default_and_decided_by_the_number_of_images():
    assert parse_hyperparameters({}).refit is None
    assert parse_hyperparameters({"refit": "auto"}).refit is None
    assert parse_hyperparameters({"refit": "true"}).refit is True and parse_hyperparameters({"refit": False}).refit is False
    assert refit_wanted(None, 30) and refit_wanted(None, REFIT_AUTO_MAX_IMAGES - 1)
    assert not refit_wanted(None, REFIT_AUTO_MAX_IMAGES) and not refit_wanted(None, 200)
    assert refit_wanted(True, 200) and not refit_wanted(False, 30)
    with pytest.raises(HyperparameterError, match="refit='maybe'.*expected auto, true or false"):
        parse_hyperparameters({"refit": "maybe"})


def test_the_readme_lists_every_hyperparameter_as_the_code_describes_it():
    with open(os.path.join(PACKAGE_ROOT, "README.md"), encoding="utf-8") as f:
        assert describe() in f.read(), "regenerate the table in training-container/README.md from hyperparams.describe()"
