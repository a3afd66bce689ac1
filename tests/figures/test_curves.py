import numpy as np
import pytest

from neuralode_repro.figures.curves import CNF, MNIST, loss_panel, nfe_panel
from neuralode_repro.figures.style import figure, pyplot


@pytest.fixture
def ax():
    fig, axes = figure()
    yield axes[0, 0]
    pyplot().close(fig)


@pytest.mark.parametrize(("style", "n", "labels"), [
    (MNIST, 50, ["per iteration"]),  # k = 1: no mean drawn
    (CNF, 50, ["per batch", "mean of 1"]),  # the CNF figures draw a mean of 1
    (CNF, 1, ["per batch"]),
    (MNIST, 200, ["per iteration", "mean of 4"]),  # k = 200 // 50
])
def test_loss_panel_draws_the_running_mean_over_two_percent(ax, style, n, labels):
    loss = np.linspace(2.0, 1.0, n)
    loss_panel(ax, np.arange(1, n + 1), loss, style)
    assert [line.get_label() for line in ax.get_lines()] == labels
    if len(labels) == 2:
        k = int(labels[1].split()[-1])
        np.testing.assert_allclose(ax.get_lines()[1].get_ydata(),
                                   np.convolve(loss, np.ones(k) / k, "valid"))


def test_nfe_panel_notes_a_run_without_solver_where_its_style_says(ax):
    rows = [{"nfe_forward": 0, "nfe_backward": 0}] * 3
    nfe_panel(ax, np.arange(3), rows, MNIST)
    assert ax.get_lines() == [] and ax.texts[0].get_text() == "no ODE solver\n(NFE = 0)"
    ax.clear()
    nfe_panel(ax, np.arange(3), rows, CNF)  # a planar NF: flat at 0
    assert [line.get_label() for line in ax.get_lines()] == ["NFE-F", "NFE-B"]
