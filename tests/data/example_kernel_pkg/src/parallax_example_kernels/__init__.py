"""An example kernel package: logistic growth by explicit Euler, its torch twin in ``twins``."""

from parallax_example_kernels._logistic import logistic_rollout as logistic_rollout

__all__ = ["logistic_rollout"]
