"""Dormand–Prince 5(4) constants shared by :mod:`parallax.kernels.ode._dopri5` and its torch twin.

NumPy-only (see :mod:`parallax.kernels`): the Butcher tableau (Hairer, Nørsett & Wanner,
*Solving ODEs I*, Table II.5.2), the embedded-error and dense-output weights, and the status
codes a solve returns.
"""

from __future__ import annotations

__all__ = [
    "ERROR_ORDER",
    "MAX_STEPS_REACHED",
    "NONFINITE",
    "RUNNING",
    "STATUS_MESSAGES",
    "STEP_SIZE_UNDERFLOW",
    "SUCCESS",
    "A",
    "C",
    "D",
    "E",
]

SUCCESS = 0
MAX_STEPS_REACHED = 1
STEP_SIZE_UNDERFLOW = 2
NONFINITE = 3
RUNNING = -1
STATUS_MESSAGES = {
    SUCCESS: "success",
    MAX_STEPS_REACHED: "max_steps reached before the last save time",
    STEP_SIZE_UNDERFLOW: "step size underflow (the problem is too stiff or singular)",
    NONFINITE: "non-finite values (NaN/Inf) in the vector field",
}

# Stage times c_i and stage weights a_ij; row 7 is the 5th-order solution b (FSAL).
C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
# b - b_hat (5th minus embedded 4th order weights), stages 1..7.
E = (71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40)
# Dense output coefficients of HNW's DOPRI5 (CONTD5), stages 1..7.
D = (
    -12715105075 / 11282082432,
    0.0,
    87487479700 / 32700410799,
    -10690763975 / 1880347072,
    701980252875 / 199316789632,
    -1453857185 / 822651844,
    69997945 / 29380423,
)
# The order k of the error estimate in the controller's exponents (β / k).
ERROR_ORDER = 5
