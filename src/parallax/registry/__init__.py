"""The kernel registry, a catalogue: each kernel's name, JAX function, torch twin, input cases
and tolerance tables.

Adding a kernel: write the JAX function (``kernels/``), its twin (``kernels/<family>/twins``),
and ``register(KernelSpec(...))`` in ``parallax/registry/<family>.py``. A package of your own
registers its kernels the same way from a module it names in the ``parallax.kernels``
entry-point group (``[project.entry-points."parallax.kernels"] mylab = "mylab.kernels"`` in its
pyproject.toml); the registry imports it on first lookup. Parity
(:func:`parallax.parity.run_parity`, on the public :func:`parallax.parity.compare`), goldens,
bench, the CLI and the generic pytest checks (jit, vmap, grad, parity, golden) all read from
here. Physics checks are tests (tests/physics), timing peers live in
:mod:`parallax.bench.peers`.
"""

from parallax.registry._cases import normal as normal
from parallax.registry._cases import scalar as scalar
from parallax.registry._cases import uniform as uniform
from parallax.registry._registry import ENTRY_POINT_GROUP as ENTRY_POINT_GROUP
from parallax.registry._registry import KernelPluginWarning as KernelPluginWarning
from parallax.registry._registry import UnknownKernelError as UnknownKernelError
from parallax.registry._registry import get as get
from parallax.registry._registry import names as names
from parallax.registry._registry import register as register
from parallax.registry._registry import specs as specs
from parallax.registry._spec import DTYPES as DTYPES
from parallax.registry._spec import FAMILIES as FAMILIES
from parallax.registry._spec import Case as Case
from parallax.registry._spec import CaseFactory as CaseFactory
from parallax.registry._spec import KernelSpec as KernelSpec
from parallax.registry._spec import Tolerance as Tolerance
from parallax.registry._spec import numpy_dtype as numpy_dtype
from parallax.registry._spec import resolve as resolve

__all__ = [
    "DTYPES",
    "ENTRY_POINT_GROUP",
    "FAMILIES",
    "Case",
    "CaseFactory",
    "KernelPluginWarning",
    "KernelSpec",
    "Tolerance",
    "UnknownKernelError",
    "get",
    "names",
    "normal",
    "numpy_dtype",
    "register",
    "resolve",
    "scalar",
    "specs",
    "uniform",
]
