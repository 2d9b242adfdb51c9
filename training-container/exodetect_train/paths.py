"""The SageMaker training-container file layout, all derived from one base directory.

SageMaker mounts everything under /opt/ml; the local runner and the tests point
SM_BASE_DIR at a temporary tree and the same code runs unchanged.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_BASE_DIR = "/opt/ml"
CHANNELS = ("train", "validation", "test")


@dataclass(frozen=True)
class SageMakerPaths:
    base: str

    @property
    def input_data(self) -> str:
        return os.path.join(self.base, "input", "data")

    def channel(self, name: str) -> str:
        return os.path.join(self.input_data, name)

    @property
    def hyperparameters(self) -> str:
        return os.path.join(self.base, "input", "config", "hyperparameters.json")

    @property
    def model_dir(self) -> str:
        return os.path.join(self.base, "model")

    @property
    def checkpoints(self) -> str:
        return os.path.join(self.base, "checkpoints")

    @property
    def output(self) -> str:
        return os.path.join(self.base, "output")

    @property
    def failure(self) -> str:
        return os.path.join(self.output, "failure")


def sagemaker_paths(base: str | None = None) -> SageMakerPaths:
    """`base`, else env SM_BASE_DIR, else /opt/ml."""
    return SageMakerPaths(os.path.abspath(base or os.environ.get("SM_BASE_DIR") or DEFAULT_BASE_DIR))
