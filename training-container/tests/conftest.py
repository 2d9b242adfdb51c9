"""Shared helpers: tiny synthetic SageMaker trees and a subprocess runner for the trainer."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from typing import Dict, Optional

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_ROOT = os.path.dirname(HERE)
REPO_ROOT = os.path.dirname(PACKAGE_ROOT)
sys.path.insert(0, PACKAGE_ROOT)

import torch  # noqa: E402

torch.set_num_threads(2)

from exodetect_train.synth import SynthConfig, write_dataset  # noqa: E402

#: Fast settings for tests: small crops, few steps.
TINY_HP: Dict[str, str] = {
    "epochs": "2", "batch_size": "4", "crop_size": "64", "crops_per_image": "2", "width": "8",
    "nm_per_px": "3.0", "threads": "2", "lr": "0.003", "max_detections": "50", "model_version": "test",
    # Off here (tiny sets would refit, flip-average and add the half-size pass by default): test_refit_*, the tta
    # tests and test_half_scale turn them on.
    "refit": "false", "tta": "false", "half_scale_pass": "false",
}


def make_tree(base: str, n_train: int = 4, n_val: int = 2, size: int = 128, labels: str = "truth", nm_per_px: float = 3.0) -> str:
    """A SageMaker tree whose channels hold generated images and their truth.json, as the split step lays them out."""
    cfg = replace(SynthConfig(), width=size, height=size, nm_per_px=nm_per_px)
    write_dataset(os.path.join(base, "input", "data", "train"), n_train, cfg, seed=1, labels=labels)
    if n_val:
        write_dataset(os.path.join(base, "input", "data", "validation"), n_val, cfg, seed=2, labels=labels)
    return base


def write_hp(base: str, hp: Dict[str, str]) -> None:
    os.makedirs(os.path.join(base, "input", "config"), exist_ok=True)
    with open(os.path.join(base, "input", "config", "hyperparameters.json"), "w") as f:
        json.dump(hp, f)


def trainer_cmd(base: str):
    return [sys.executable, "-m", "exodetect_train", "--base-dir", base]


def run_trainer(base: str, hp: Optional[Dict[str, str]] = None, timeout: float = 600) -> subprocess.CompletedProcess:
    if hp is not None:
        write_hp(base, hp)
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run(trainer_cmd(base), cwd=PACKAGE_ROOT, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def tree(tmp_path):
    return make_tree(str(tmp_path / "ml"))
