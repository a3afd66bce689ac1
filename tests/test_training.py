"""The one training loop (neuralode_repro.training.fit): iterations and hooks, schedules,
and resuming from a checkpoint exactly as if the run had not been interrupted."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from neuralode_repro.training import OptimConfig, build_optimizer, fit, read_checkpoint


def _problem(seed: int = 0):
    """Least squares y = x w with fresh random batches from the global RNGs (torch and
    numpy), so that a resumed run matches only if both RNG states are restored."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    model = torch.nn.Linear(3, 1)
    w = torch.tensor([[1.0], [-2.0], [0.5]])

    def batches(epoch: int):
        while True:
            x = torch.randn(8, 3) + float(np.random.uniform(-0.1, 0.1))
            yield x, x @ w

    def loss_fn(net, batch):
        x, y = batch
        loss = (net(x) - y).pow(2).mean()
        return loss, {"mse": loss.item()}

    return model, loss_fn, batches


def test_fit_runs_every_step_and_calls_its_hooks():
    model, loss_fn, batches = _problem()
    steps, epochs = [], []
    history = fit(model, loss_fn, batches, optim=OptimConfig(lr=0.05), epochs=3,
                  steps_per_epoch=20, evaluate=lambda e: {"score": float(e)},
                  on_step=lambda s, row: steps.append(s),
                  on_epoch=lambda e, rec: epochs.append((e, rec["score"])))
    assert steps == list(range(1, 61))  # global steps; the endless generator is capped
    assert epochs == [(1, 0.0), (2, 1.0), (3, 2.0)]
    assert len(history.steps) == 60 and [r["epoch"] for r in history.epochs] == [1, 2, 3]
    assert set(history.steps[0]) == {"loss", "mse", "nfe_forward", "nfe_backward", "lr"}
    assert history.mean("loss") > history.steps[-1]["loss"]
    assert history.steps[-1]["loss"] < 0.1 * history.steps[0]["loss"]  # it learns


def test_non_finite_loss_stops_with_a_clear_error():
    model, _, batches = _problem()

    def nan_loss(net, batch):
        return net(batch[0]).sum() * math.nan, {}

    with pytest.raises(FloatingPointError, match=r"loss is nan at epoch 0, step 0; lower"):
        fit(model, nan_loss, batches, optim=OptimConfig(), epochs=1, steps_per_epoch=2)


def _lrs(cfg: OptimConfig, epochs: int = 4, steps_per_epoch: int = 5) -> list[float]:
    opt, sched = build_optimizer([torch.nn.Parameter(torch.zeros(1))], cfg, epochs=epochs,
                                 steps_per_epoch=steps_per_epoch)
    out = []
    for _ in range(epochs * steps_per_epoch):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_schedules():
    assert _lrs(OptimConfig(lr=0.1)) == [0.1] * 20
    multi = _lrs(OptimConfig(lr=0.1, schedule="multistep", milestones=(1, 3), gamma=0.5))
    # milestones are epochs: x0.5 after epoch 1 (step 5) and after epoch 3 (step 15)
    assert multi == pytest.approx([0.1] * 5 + [0.05] * 10 + [0.025] * 5)
    cosine = _lrs(OptimConfig(lr=0.1, schedule="cosine"))
    assert cosine[0] == 0.1 and all(a > b for a, b in zip(cosine, cosine[1:], strict=False))
    assert cosine[-1] < 0.01  # the whole run is one half-period
    one = _lrs(OptimConfig(lr=0.1, schedule="onecycle"))
    assert max(one) == pytest.approx(0.1) and one[0] < 0.01 and one[-1] < 1e-4


@pytest.mark.parametrize(("cfg", "match"), [
    (dict(name="adam", momentum=0.9), r"momentum=0.9 is ignored by adam"),
    (dict(schedule="cosine", milestones=(2,)), r"apply to schedule 'multistep' only"),
    (dict(schedule="multistep", milestones=(3, 2)), r"increasing epochs, got \[3, 2\]"),
])
def test_settings_that_would_be_ignored_are_errors(cfg, match):
    with pytest.raises(ValueError, match=match):
        OptimConfig(**cfg).validate()


class _Killed(Exception):
    pass


def _run(tmp_path, kill_at: int | None = None):
    model, loss_fn, batches = _problem()

    def on_step(step, row):
        if step == kill_at:
            raise _Killed

    history = fit(model, loss_fn, batches, optim=OptimConfig(lr=0.05, schedule="cosine"),
                  epochs=3, steps_per_epoch=10, on_step=on_step,
                  checkpoint=tmp_path / "ckpt.pt", desc="test")
    return model, history


def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path):
    """Killed mid-epoch 3, rerun: resumes after epoch 2 (model, optimizer, schedule,
    both RNGs, history) and ends bit-identical to a run never interrupted."""
    straight, h_straight = _run(tmp_path / "a")
    (tmp_path / "b").mkdir()
    with pytest.raises(_Killed):
        _run(tmp_path / "b", kill_at=25)
    assert read_checkpoint(tmp_path / "b/ckpt.pt")["epoch"] == 2
    resumed, h_resumed = _run(tmp_path / "b")
    for p, q in zip(straight.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(p, q)
    assert h_resumed.steps == h_straight.steps
    assert [r["epoch"] for r in h_resumed.epochs] == [1, 2, 3]


def test_unreadable_checkpoint_is_reported_deleted_and_training_starts_over(tmp_path):
    (tmp_path / "ckpt.pt").write_bytes(b"truncated")  # e.g. a disk that filled up
    with pytest.warns(UserWarning, match=r"ckpt.pt is unreadable .* training from the start"):
        _, history = _run(tmp_path)
    assert len(history.steps) == 30
    assert read_checkpoint(tmp_path / "ckpt.pt")["epoch"] == 3  # replaced by a good one
