"""`python -m exodetect_train` (and the container's `train` command)."""
import os
import sys

# Before torch loads OpenMP: its threads spin 300,000 times before sleeping when they wait. With two trainers (or a
# trainer and anything else busy) on the same cores, each spins away the other's time: a training step on 2 cores went
# from 0.22 s to 5 s. At 1,000 spins the step is as fast alone and 0.45 s with two trainers (README, "Training").
os.environ.setdefault("GOMP_SPINCOUNT", "1000")

from .train import main  # noqa: E402 (after the environment is set)

if __name__ == "__main__":
    sys.exit(main())
