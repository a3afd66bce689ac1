"""neuralode: a small, readable Neural ODE core (Chen et al., NeurIPS 2018).

Public API::

    from neuralode import odeint, odeint_adjoint, collect_stats, SolverError
"""

from .adjoint import odeint_adjoint
from .odeint import odeint
from .solvers import SOLVERS, TABLEAUX, ButcherTableau, SolverError
from .stats import SolverStats, collect_stats

__all__ = ["SOLVERS", "TABLEAUX", "ButcherTableau", "SolverError", "SolverStats",
           "collect_stats", "odeint", "odeint_adjoint"]
__version__ = "0.2.0"
