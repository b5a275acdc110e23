"""parallax: a JAX-first scientific computing workbench.

Doors:
  * ``from parallax.kernels import pde, nn`` — pure kernels for research code;
  * ``parallax.registry`` — each kernel with its torch twin, cases, tolerances and peers;
  * ``parallax.parity`` / ``parallax.bench`` — JAX against torch, in numbers;
  * ``parallax.sharding`` — meshes, logical axes, halos and distributed FFTs.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
