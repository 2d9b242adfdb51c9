"""`python -m exodetect_train` (and the container's `train` command)."""
import sys

from .train import main

if __name__ == "__main__":
    sys.exit(main())
