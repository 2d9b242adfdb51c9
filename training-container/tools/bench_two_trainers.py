"""Training steps alone and with two trainers at once, with the trainer's OpenMP setting (`__main__.py`) and with
OpenMP's default, side by side in one run:

    /usr/bin/python3 training-container/tools/bench_two_trainers.py [--steps 6]

Each figure is the mean time of a training step (ExoNet width 24 with outlines, 8 crops of 256 px, torch's threads as
the trainer sets them) in a fresh process, so OpenMP reads its environment as the trainer's would.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import Dict, List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

STEPS = r"""
import sys, time
sys.path.insert(0, sys.argv[2])
if sys.argv[3] == "trainer":
    import exodetect_train.__main__  # noqa: F401  (its environment, before torch loads)
import os, torch
from exodetect_train.model import build_model
torch.set_num_threads(max(1, min(os.cpu_count() or 1, 8)))
torch.use_deterministic_algorithms(True, warn_only=True)
torch.manual_seed(0)
net, _ = build_model(1, 24, 32)
opt = torch.optim.AdamW(net.parameters(), 1e-3)
x = torch.rand(8, 1, 256, 256)
def step():
    out = net(x)
    loss = sum(v.float().mean() for v in out.values())
    opt.zero_grad(); loss.backward(); opt.step()
step()
t = time.perf_counter()
for _ in range(int(sys.argv[1])):
    step()
print((time.perf_counter() - t) / int(sys.argv[1]))
"""


def step_times(steps: int, setting: str, at_once: int) -> List[float]:
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    procs = [subprocess.Popen([sys.executable, "-c", STEPS, str(steps), ROOT, setting], env=env, stdout=subprocess.PIPE,
                              text=True) for _ in range(at_once)]
    return [float(p.communicate()[0]) for p in procs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per process")
    args = parser.parse_args()
    figures: Dict[str, Dict[str, float]] = {}
    for setting in ("trainer", "openmp-default"):
        alone = step_times(args.steps, setting, 1)[0]
        two = max(step_times(args.steps, setting, 2))
        figures[setting] = {"alone": alone, "two": two}
        print(f"{setting:>15}: {alone * 1000:6.0f} ms a step alone, {two * 1000:6.0f} ms with two trainers at once "
              f"({two / alone:.1f}x)")
    t, d = figures["trainer"], figures["openmp-default"]
    print(f"trainer setting / OpenMP default: alone {t['alone'] / d['alone']:.2f}x, two at once {t['two'] / d['two']:.2f}x")


if __name__ == "__main__":
    main()
