"""The report turns metrics files into the paper's tables with deltas and verdicts."""

import json
import re
from pathlib import Path

import pytest

from neuralode.report import cnf, latent, toy
from neuralode.report.blocks import Figure, Heading, Table, to_html, to_markdown
from neuralode.report.build import RunInfo, build, write
from neuralode.report.common import (
    NOT_COMPARABLE,
    NOT_REPRODUCED,
    REPRODUCED,
    MissingMetricsError,
    ReportConfig,
    numeric_verdict,
)

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


def _write(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


@pytest.fixture
def fixture_run(tmp_path):
    metrics, reports = tmp_path / "metrics", tmp_path / "reports"
    for name, extra in (("linear", {"frobenius_error": 0.05}), ("nonlinear", {})):
        _write(metrics / "toy" / f"{name}.json",
               {"traj_mse": 1e-3, "extrap_mse": 2e-3, "steps": 100, "nfe_forward_mean": 30.0,
                "nfe_backward_mean": 90.0, "wall_time_s": 12.0, **extra})
    rmse = {("latent_ode", 30): 0.17, ("latent_ode", 50): 0.30, ("latent_ode", 100): 0.12,
            ("rnn", 30): 0.40, ("rnn", 50): 0.20, ("rnn", 100): 0.50}
    for (model, n), value in rmse.items():
        _write(metrics / "latent" / f"{model}_n{n}.json",
               {"pred_rmse": value, "recon_rmse": 0.1, "iterations": 2000, "batch_size": 800,
                "noise_std": 0.1, "wall_time_s": 5.0})
    for target in cnf.TARGETS:
        for kind, nll in (("cnf", 0.9), ("nf", 1.0)):
            _write(metrics / "cnf" / "ml" / f"{target}_{kind}.json",
                   {"test_nll": nll, "test_nll_se": 0.01, "nfe_forward_mean": 40.0,
                    "steps": 100, "wall_time_s": 3.0})
    _write(metrics / "cnf" / "capacity.json",
           {"widths": [2, 8], "target": "u1_ring", "kl_cnf": {"2": 0.5, "8": 0.2},
            "kl_nf": {"2": 0.4, "8": 0.3}, "cnf_lower_count": 1})
    fig = reports / "figures" / "toy" / "linear" / "trajectory.png"
    fig.parent.mkdir(parents=True)
    fig.write_bytes(PNG)
    blocks = build((latent.section, cnf.section, toy.section), cfg=ReportConfig(),
                   info=RunInfo("paper", 0, "abc123"), metrics=metrics, reports=reports)
    write(blocks, reports)
    return reports


def test_table2_has_paper_values_deltas_and_verdicts(fixture_run):
    md = (fixture_run / "report.md").read_text()
    # paper 0.1642, ours 0.17: within eps 0.03 -> reproduced; 0.30 vs 0.1502 -> not
    assert "| Latent ODE | 30 | 0.1642 | 0.17 | +0.0058 | 0.1 | 2,000 | reproduced |" in md
    assert "| Latent ODE | 50 | 0.1502 | 0.3 | +0.1498 | 0.1 | 2,000 | not reproduced |" in md
    # ordering claim: latent ODE worse than the RNN at n = 50 -> not reproduced
    assert re.search(r"beats the RNN at every n.*2 of 3 values of n \| \*\*not reproduced",
                     md)
    assert "Profile **paper**" in md and "`abc123`" in md


def test_cnf_and_toy_claims(fixture_run):
    md = (fixture_run / "report.md").read_text()
    assert "CNF lower at 1 of 2 capacities | **not reproduced**" in md
    assert "CNF lower NLL on 2 of 2 targets | **reproduced**" in md
    assert "‖A − A_true‖_F = 0.05 | **reproduced**" in md
    assert "| nonlinear | – |" in md


def test_small_training_is_not_comparable(tmp_path, fixture_run):
    metrics = fixture_run.parent / "metrics"
    blocks, claims = latent.section(metrics=metrics, figures=fixture_run / "figures",
                                    root=fixture_run,
                                    cfg=ReportConfig(latent_comparable_passes=10**9))
    assert {c.verdict for c in claims[:-1]} == {NOT_COMPARABLE}


def test_missing_metrics_name_the_stage(tmp_path):
    with pytest.raises(MissingMetricsError,
                       match=r"rnn_n30\.json is missing: stage "
                             r"'train_latent@rnn-30' must run first \(dvc repro"):
        latent.section(metrics=tmp_path, figures=tmp_path, root=tmp_path, cfg=ReportConfig())


def test_html_is_self_contained(fixture_run):
    html = (fixture_run / "report.html").read_text()
    assert "data:image/png;base64," in html
    assert not re.search(r"<script|<link|https?://|src=\"(?!data:)", html)


def test_markdown_and_html_render_the_same_blocks(tmp_path):
    (tmp_path / "a.png").write_bytes(PNG)
    blocks = [Heading("T", 1), Table(("a", "b"), (("1", "**x**"),)),
              Figure(Path("a.png"), "cap")]
    md, html = to_markdown(blocks), to_html(blocks, tmp_path, "t")
    assert "| 1 | **x** |" in md and "![cap](a.png)" in md
    assert "<td><strong>x</strong></td>" in html and "<figcaption>cap</figcaption>" in html


@pytest.mark.parametrize("ours,comparable,expected", [
    (0.42, True, REPRODUCED), (0.60, True, NOT_REPRODUCED), (float("nan"), True, NOT_REPRODUCED),
    (0.42, False, NOT_COMPARABLE)])
def test_numeric_verdict(ours, comparable, expected):
    assert numeric_verdict(ours, 0.41, 0.15, comparable) == expected
