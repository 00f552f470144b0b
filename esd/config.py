"""Tolerances and iteration budgets shared by the solvers (one place to tune them)."""

# Newton on the self-consistent equations (log form): converged when the residual is
# within NEWTON_TOL of the size of the log terms summed (their rounding floor); a step
# that cannot lower a residual below NEWTON_FLOOR of that size ends the iteration.
NEWTON_TOL = 2e-15
NEWTON_FLOOR = 1e-13
NEWTON_MAX_ITER = 80
# Residual above which a point counts as failed (edges converge only linearly).
NEWTON_ACCEPT = 1e-8
# Halvings of a Newton step before the solve is declared stuck.
MAX_BACKTRACK = 30
# A solution counts as being on the wrong side of the real axis beyond this.
BRANCH_TOL = 1e-9
# Imaginary part of log z used while continuing along the real axis (then polished at 0).
REAL_AXIS_DELTA = 1e-8
# Maximal step halvings in a continuation path before giving up.
MAX_PATH_HALVINGS = 40
# Trapezoid quadrature of Gaussian expectations: half-width of the z range.
QUAD_ZMAX = 9.0
# Real-axis grids longer than this per thread are split across Numba's threads.
POINTS_PER_THREAD = 256
