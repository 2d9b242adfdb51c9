"""The moving average of the weights (ema.py)."""
import math

import pytest
import torch

from exodetect_train.ema import ModelEma, decay_for


def test_decay_halves_an_old_weight_after_the_half_life():
    d = decay_for(2.0, 40)
    assert d ** 80 == pytest.approx(0.5)
    # A shorter epoch gives a smaller decay: the same share of training either way.
    assert decay_for(2.0, 10) < d


def test_average_follows_the_model_with_a_ramp_and_copies_counters():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    ema = ModelEma(model, decay=0.9)
    start = model[0].weight.detach().clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
    model[1].num_batches_tracked.fill_(7)
    ema.update(model)
    # First update: decay min(0.9, 2 / 11), so the average moves most of the way.
    d = 2 / 11
    assert torch.allclose(ema.module[0].weight, start * d + (start + 1.0) * (1 - d))
    assert int(ema.module[1].num_batches_tracked) == 7
    for _ in range(200):
        ema.update(model)
    assert torch.allclose(ema.module[0].weight, model[0].weight, atol=1e-6)
    # The average is its own copy: training the model does not move it until the next update.
    with torch.no_grad():
        model[0].weight.add_(5.0)
    assert not torch.allclose(ema.module[0].weight, model[0].weight)
    assert not ema.module[0].weight.requires_grad


def test_state_round_trips_and_bad_decay_is_refused():
    model = torch.nn.Linear(2, 2)
    ema = ModelEma(model, decay=0.99)
    ema.update(model)
    other = ModelEma(torch.nn.Linear(2, 2), decay=0.5)
    other.load_state_dict(ema.state_dict())
    assert other.updates == 1 and other.decay == 0.99
    assert torch.equal(other.module.weight, ema.module.weight)
    for bad in (0.0, 1.0, math.nan):
        with pytest.raises(ValueError, match="EMA decay must be in"):
            ModelEma(model, decay=bad)
