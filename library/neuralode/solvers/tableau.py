"""Butcher tableaux of the explicit Runge-Kutta methods (Hairer, Norsett, Wanner,
*Solving ODEs I*, sec. II.1). A solver is a tableau plus a small stepping class.

Each tableau checks its own consistency conditions when constructed:
``c_i = sum_j a_ij`` (row sums), ``sum_j b_j = 1`` and, for embedded pairs,
``sum_j (b_j - b_hat_j) = 0`` so the error estimate vanishes on constant fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction as Fr

_TOL = 1e-12


@dataclass(frozen=True)
class ButcherTableau:
    """An explicit Runge-Kutta scheme.

    Attributes:
        name: registry name.
        order: order of the propagated solution ``b``.
        c: nodes, length ``s``.
        a: strictly lower-triangular stage matrix, rows of length ``i`` for stage ``i``.
        b: weights of the propagated solution.
        b_err: ``b - b_hat`` (embedded error weights), or ``None`` for fixed-step methods.
        error_order: order of the embedded (lower-order) solution, for step control.
        fsal: the last stage equals f(t + h, y1) ("first same as last"), so an
            accepted step's last stage is the next step's first (one NFE saved per step).
            A pair without it (Cash-Karp) costs one more evaluation, f(t1, y1), per step.
        c_mid: weights giving y(t + h/2) for 4th-order dense output (dopri5), or ``None``
            for the cubic Hermite interpolant through (y0, f0) and (y1, f1).
    """

    name: str
    order: int
    c: tuple[float, ...]
    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]
    b_err: tuple[float, ...] | None = None
    error_order: int | None = None
    fsal: bool = False
    c_mid: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        s = len(self.c)
        if len(self.a) != s or len(self.b) != s:
            raise ValueError(f"tableau {self.name!r}: c, a, b must all have {s} rows")
        for i, (ci, row) in enumerate(zip(self.c, self.a, strict=True)):
            if len(row) != i:
                raise ValueError(f"tableau {self.name!r}: row {i} of a must have {i} entries")
            if abs(sum(row) - ci) > _TOL:
                raise ValueError(f"tableau {self.name!r}: row {i} sums to {sum(row)}, c={ci}")
        if abs(sum(self.b) - 1.0) > _TOL:
            raise ValueError(f"tableau {self.name!r}: weights b sum to {sum(self.b)}, not 1")
        if self.b_err is not None:
            if len(self.b_err) != s or abs(sum(self.b_err)) > _TOL:
                raise ValueError(f"tableau {self.name!r}: error weights must have {s} "
                                 "entries summing to 0")
            if self.error_order is None:
                raise ValueError(f"tableau {self.name!r}: an embedded pair needs error_order")
        if self.c_mid is not None and abs(sum(self.c_mid) - 0.5) > _TOL:
            raise ValueError(f"tableau {self.name!r}: c_mid must sum to 1/2")
        if self.fsal and (self.c[-1] != 1.0 or tuple(self.a[-1]) != tuple(self.b[:-1])):
            raise ValueError(f"tableau {self.name!r}: FSAL needs the last stage to be y1")

    @property
    def stages(self) -> int:
        return len(self.c)

    @property
    def adaptive(self) -> bool:
        return self.b_err is not None

    def dense_weights(self, theta: float) -> list[float]:
        """Weights w with y(t + theta h) = y + h * sum_j w_j k_j on an accepted FSAL
        step of a tableau with ``c_mid`` (dopri5): the quartic through y0, y_mid, y1
        with slopes f0, f1 (Shampine 1986; 4th order), f1 being the FSAL stage k_s. It
        is linear in the stages, so one matrix-vector product evaluates it. Tableaux
        without ``c_mid`` use :func:`neuralode.solvers.base.hermite`."""
        if self.c_mid is None or not self.fsal:
            raise ValueError(f"tableau {self.name!r}: dense_weights needs c_mid and FSAL")
        s = self.stages
        e0 = [1.0] + [0.0] * (s - 1)
        e1 = [0.0] * (s - 1) + [1.0]
        t2 = theta * theta
        t3, t4 = t2 * theta, t2 * t2
        out = []
        for b, c_mid, a, c in zip(self.b, self.c_mid, e0, e1, strict=True):
            big_a, big_b, big_c = b - a, c - a, 16 * (c_mid - a / 2)
            wa = big_c - 8 * big_a + 2 * big_b
            wb = 14 * big_a - 3 * big_b - 2 * big_c
            wc = -5 * big_a + big_b + big_c
            out.append(theta * a + t2 * wc + t3 * wb + t4 * wa)
        return out


def _f(*xs: Fr | int) -> tuple[float, ...]:
    return tuple(float(x) for x in xs)


EULER = ButcherTableau("euler", 1, c=_f(0), a=((),), b=_f(1))

MIDPOINT = ButcherTableau("midpoint", 2, c=_f(0, Fr(1, 2)), a=((), _f(Fr(1, 2))), b=_f(0, 1))

# Classical 4th-order Runge-Kutta (Kutta 1901).
RK4 = ButcherTableau(
    "rk4", 4,
    c=_f(0, Fr(1, 2), Fr(1, 2), 1),
    a=((), _f(Fr(1, 2)), _f(0, Fr(1, 2)), _f(0, 0, 1)),
    b=_f(Fr(1, 6), Fr(1, 3), Fr(1, 3), Fr(1, 6)),
)

# Bogacki & Shampine (1989), 3(2) pair with FSAL.
_BS_B = (Fr(2, 9), Fr(1, 3), Fr(4, 9), Fr(0))
_BS_BHAT = (Fr(7, 24), Fr(1, 4), Fr(1, 3), Fr(1, 8))
BOSH3 = ButcherTableau(
    "bosh3", 3,
    c=_f(0, Fr(1, 2), Fr(3, 4), 1),
    a=((), _f(Fr(1, 2)), _f(0, Fr(3, 4)), _f(*_BS_B[:3])),
    b=_f(*_BS_B),
    b_err=_f(*(x - y for x, y in zip(_BS_B, _BS_BHAT, strict=True))),
    error_order=2,
    fsal=True,
)

# Dormand & Prince (1980), 5(4) pair with FSAL; c_mid from Shampine (1986) for
# 4th-order dense output at the step midpoint. The error estimate is Dormand and
# Prince's (1980) own: y1 - y1_hat with their 4th-order b_hat (5179/57600, ...,
# 1/40), as in Hairer's DOPRI5 code and scipy's RK45. torchdiffeq's dopri5 uses
# Shampine's (1986) alternative b_hat (1951/21600, ..., 1/60) instead; the two
# estimates accept different steps, so NFE at one tolerance differ between the two
# libraries by the estimator as well as by the controller and the initial step.
_DP_B = (Fr(35, 384), Fr(0), Fr(500, 1113), Fr(125, 192), Fr(-2187, 6784), Fr(11, 84), Fr(0))
_DP_BHAT = (Fr(5179, 57600), Fr(0), Fr(7571, 16695), Fr(393, 640), Fr(-92097, 339200),
            Fr(187, 2100), Fr(1, 40))
DOPRI5 = ButcherTableau(
    "dopri5", 5,
    c=_f(0, Fr(1, 5), Fr(3, 10), Fr(4, 5), Fr(8, 9), 1, 1),
    a=(
        (),
        _f(Fr(1, 5)),
        _f(Fr(3, 40), Fr(9, 40)),
        _f(Fr(44, 45), Fr(-56, 15), Fr(32, 9)),
        _f(Fr(19372, 6561), Fr(-25360, 2187), Fr(64448, 6561), Fr(-212, 729)),
        _f(Fr(9017, 3168), Fr(-355, 33), Fr(46732, 5247), Fr(49, 176), Fr(-5103, 18656)),
        _f(*_DP_B[:6]),
    ),
    b=_f(*_DP_B),
    b_err=_f(*(x - y for x, y in zip(_DP_B, _DP_BHAT, strict=True))),
    error_order=4,
    fsal=True,
    c_mid=_f(Fr(6025192743, 30085553152) / 2, 0, Fr(51252292925, 65400821598) / 2,
             Fr(-2691868925, 45128329728) / 2, Fr(187940372067, 1594534317056) / 2,
             Fr(-1776094331, 19743644256) / 2, Fr(11237099, 235043384) / 2),
)

# Cash & Karp (1990), 5(4) pair without FSAL: 6 stages, 5th-order solution
# propagated (local extrapolation), the 4th-order one only for the error estimate.
_CK_B = (Fr(37, 378), Fr(0), Fr(250, 621), Fr(125, 594), Fr(0), Fr(512, 1771))
_CK_BHAT = (Fr(2825, 27648), Fr(0), Fr(18575, 48384), Fr(13525, 55296), Fr(277, 14336),
            Fr(1, 4))
CASH_KARP = ButcherTableau(
    "cash_karp", 5,
    c=_f(0, Fr(1, 5), Fr(3, 10), Fr(3, 5), 1, Fr(7, 8)),
    a=(
        (),
        _f(Fr(1, 5)),
        _f(Fr(3, 40), Fr(9, 40)),
        _f(Fr(3, 10), Fr(-9, 10), Fr(6, 5)),
        _f(Fr(-11, 54), Fr(5, 2), Fr(-70, 27), Fr(35, 27)),
        _f(Fr(1631, 55296), Fr(175, 512), Fr(575, 13824), Fr(44275, 110592), Fr(253, 4096)),
    ),
    b=_f(*_CK_B),
    b_err=_f(*(x - y for x, y in zip(_CK_B, _CK_BHAT, strict=True))),
    error_order=4,
)
