"""A metrics file holds results, with timings and the machine apart (metrics.py)."""

import json
from pathlib import Path

from neuralode_repro.metrics import CONFIG_KEYS, compose, flatten


def test_compose_drops_config_and_groups_timings():
    summary = {"seed": 0, "epochs": 2, "batch_size": 128, "model": "odenet",
               "final_loss": 0.1, "epoch_time_s": 60.0, "runtime": {"threads": 2}}
    scores = {"test_error": 1.9, "eval_time_s": 3.0, "time_per_iteration_s": 0.5}
    m = compose(summary, scores)
    assert m == {"final_loss": 0.1, "test_error": 1.9,
                 "timing": {"epoch_time_s": 60.0, "eval_time_s": 3.0,
                            "time_per_iteration_s": 0.5},
                 "runtime": {"threads": 2}}
    assert list(m)[-2:] == ["timing", "runtime"]  # results first, as dvc shows columns
    assert flatten(m) == {"final_loss": 0.1, "test_error": 1.9, "epoch_time_s": 60.0,
                          "eval_time_s": 3.0, "time_per_iteration_s": 0.5,
                          "runtime": {"threads": 2}}


def test_later_parts_win_and_nested_results_stay():
    m = compose({"nfe_forward_mean": 1.0, "train_time_s": 1.0},
                {"nfe_forward_mean": 2.0, "time_vs_nfe_s": {"r2": 0.9}})
    # time_vs_nfe_s is a result (Fig. 3b's fit), not a wall-clock duration of the run
    assert m == {"nfe_forward_mean": 2.0, "time_vs_nfe_s": {"r2": 0.9},
                 "timing": {"train_time_s": 1.0}}
    assert compose({}) == {}


def test_published_metrics_files_follow_the_layout():
    """The committed results: no config value is a metric, every duration is in timing."""
    import yaml

    root = Path(__file__).resolve().parents[1]
    stages = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    declared = {o["path"] for s in stages.values() for o in s.get("outs", [])}
    files = sorted(p for p in (root / "metrics").rglob("*.json")
                   if str(p.relative_to(root)) in declared and not p.stem.endswith("_train"))
    assert files, "no published metrics files"
    for path in files:
        data = json.loads(path.read_text())
        assert not CONFIG_KEYS & set(data), path
        assert not [k for k in data if k.endswith("_time_s")], path
