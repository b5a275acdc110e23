"""Declarative name and layout rules between JAX parameter names and torch ``state_dict`` keys.

A rule pairs a JAX name pattern with a torch key pattern and says how the array's layout differs.
Patterns are dotted names with placeholders: ``{i}`` matches one segment (``[^.]+``) and
``{*rest}`` matches one or more segments; placeholders must appear on both sides. The first rule
whose JAX pattern matches a name wins.

Layouts (torch array = transform(JAX array)):

==================  =============================  =======================================
constructor         JAX                            torch
==================  =============================  =======================================
``same``            any                            identical (a rename only)
``norm``            ``scale`` / ``bias``           ``weight`` / ``bias`` (a rename only)
``linear``          Dense kernel ``(in, out)``     ``nn.Linear.weight`` ``(out, in)``
``conv``            ``(*spatial, in, out)`` (HWIO) ``(out, in, *spatial)`` (OIHW)
``pointwise_conv``  Dense kernel ``(in, out)``     ``nn.ConvNd(k=1).weight`` ``(out, in, 1..)``
``fused``           several leaves ``q, k, v``     one tensor, parts concatenated on ``axis``
``spectral``        complex ``(..)``               complex ``(..)`` or ``view_as_real`` ``(.., 2)``
==================  =============================  =======================================

Fused parts may have different sizes (grouped-query attention): on import the sizes come from the
JAX target's leaves, so no sizes are written in the rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Rule",
    "Rules",
    "conv",
    "fused",
    "linear",
    "norm",
    "pattern_matches",
    "pointwise_conv",
    "same",
    "spectral",
]

_PLACEHOLDER = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)\}")


def _compile(pattern: str) -> tuple[re.Pattern[str], frozenset[str]]:
    out, pos, names = [], 0, set()
    for m in _PLACEHOLDER.finditer(pattern):
        out.append(re.escape(pattern[pos : m.start()]))
        star, name = m.group(1), m.group(2)
        out.append(f"(?P<{name}>{'.+' if star else '[^.]+'})")
        names.add(name)
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile("".join(out) + r"\Z"), frozenset(names)


def pattern_matches(pattern: str, name: str) -> bool:
    """Whether a rule pattern (``{i}`` one segment, ``{*rest}`` several) matches ``name``."""
    return _compile(pattern)[0].match(name) is not None


def _fill(pattern: str, groups: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: groups[m.group(2)], pattern)


@dataclass(frozen=True)
class Rule:
    """One JAX pattern <-> one torch pattern, with the layout transform between them.

    ``perm``: torch array = ``jax_array.transpose(perm)``; ``expand``: then ``expand`` trailing
    axes of size 1 are appended (a Dense kernel as a kernel-size-1 conv); ``part``: this leaf is
    part number ``part`` of a torch tensor fused along ``axis``; ``complex_as_real``: torch holds
    a complex leaf as ``torch.view_as_real`` (a trailing axis of 2).
    """

    jax: str
    torch: str
    perm: tuple[int, ...] | None = None
    expand: int = 0
    part: int | None = None
    axis: int = 0
    complex_as_real: bool = False
    _jax_re: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _torch_re: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        jre, jnames = _compile(self.jax)
        tre, tnames = _compile(self.torch)
        if jnames != tnames:
            raise ValueError(
                f"rule {self.jax!r} <-> {self.torch!r}: placeholders differ "
                f"({sorted(jnames)} vs {sorted(tnames)})"
            )
        if self.expand and self.part is not None:
            raise ValueError(f"rule {self.jax!r}: a fused part cannot also be expanded")
        object.__setattr__(self, "_jax_re", jre)
        object.__setattr__(self, "_torch_re", tre)

    def torch_name(self, jax_name: str) -> str | None:
        m = self._jax_re.match(jax_name)
        return None if m is None else _fill(self.torch, m.groupdict())

    # -- layout -------------------------------------------------------------------------------
    def torch_layout_shape(self, jax_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of this leaf in torch layout (the part, if fused)."""
        shape = jax_shape if self.perm is None else tuple(jax_shape[p] for p in self.perm)
        shape = (*shape, 2) if self.complex_as_real else shape
        return (*shape, *(1,) * self.expand)

    def to_torch(self, x: np.ndarray) -> np.ndarray:
        if self.perm is not None:
            x = np.transpose(x, self.perm)
        if self.complex_as_real:
            x = np.stack([np.real(x), np.imag(x)], axis=-1)
        if self.expand:
            x = x.reshape((*x.shape, *(1,) * self.expand))
        return np.ascontiguousarray(x)

    def from_torch(self, t: np.ndarray, jax_shape: tuple[int, ...]) -> np.ndarray:
        del jax_shape  # the layout alone determines the inverse
        if self.expand:
            t = t.reshape(t.shape[: t.ndim - self.expand])
        if self.complex_as_real:
            t = t[..., 0] + 1j * t[..., 1]
        if self.perm is not None:
            t = np.transpose(t, np.argsort(self.perm))
        return np.ascontiguousarray(t)


@dataclass(frozen=True)
class Rules:
    """A rule table: ordered rules (first match wins) and torch keys to ignore (buffers that
    have no JAX counterpart, such as ``*.num_batches_tracked``), as patterns."""

    rules: tuple[Rule, ...]
    ignore: tuple[str, ...] = ()

    @classmethod
    def of(cls, *items: Rule | Iterable[Rule], ignore: Sequence[str] = ()) -> Rules:
        flat: list[Rule] = []
        for it in items:
            flat.extend([it] if isinstance(it, Rule) else it)
        return cls(tuple(flat), tuple(ignore))

    def find(self, jax_name: str) -> tuple[Rule, str] | None:
        for r in self.rules:
            t = r.torch_name(jax_name)
            if t is not None:
                return r, t
        return None

    def ignored(self, torch_key: str) -> bool:
        return any(_compile(p)[0].match(torch_key) for p in self.ignore)

    def prefixed(self, jax_prefix: str = "", torch_prefix: str = "") -> Rules:
        """The same table for a submodule: every pattern gets the given prefixes."""
        return Rules(
            tuple(
                Rule(
                    jax_prefix + r.jax,
                    torch_prefix + r.torch,
                    r.perm,
                    r.expand,
                    r.part,
                    r.axis,
                    r.complex_as_real,
                )
                for r in self.rules
            ),
            tuple(torch_prefix + p for p in self.ignore),
        )

    def __add__(self, other: Rules) -> Rules:
        return Rules(self.rules + other.rules, self.ignore + other.ignore)


def same(jax: str, torch: str) -> Rule:
    """Same layout, maybe another name."""
    return Rule(jax, torch)


def norm(jax: str, torch: str) -> Rule:
    """A norm's ``scale`` (flax) is torch's ``weight``; same layout. Eps is not a parameter:
    both sides must be built with the same explicit eps."""
    return Rule(jax, torch)


def linear(jax: str, torch: str) -> Rule:
    """Dense kernel ``(in, out)`` <-> ``nn.Linear.weight`` ``(out, in)``."""
    return Rule(jax, torch, perm=(1, 0))


def conv(jax: str, torch: str, ndim: int) -> Rule:
    """Conv kernel ``(*spatial, in, out)`` (WIO / HWIO) <-> torch ``(out, in, *spatial)``."""
    return Rule(jax, torch, perm=(ndim + 1, ndim, *range(ndim)))


def pointwise_conv(jax: str, torch: str, ndim: int) -> Rule:
    """Dense kernel ``(in, out)`` <-> a kernel-size-1 torch ConvNd weight ``(out, in, 1, ...)``
    with ``ndim`` trailing ones."""
    return Rule(jax, torch, perm=(1, 0), expand=ndim)


def fused(
    jax_parts: Sequence[str], torch: str, *, axis: int = 0, kind: str = "linear"
) -> tuple[Rule, ...]:
    """Several JAX leaves stored as one torch tensor, concatenated along torch ``axis`` in the
    given order: e.g. ``wq, wk, wv`` kernels ``(embed, *)`` <-> ``in_proj_weight`` (rows
    ``[q; k; v]``, ``axis=0``) with ``kind="linear"``, or biases with ``kind="same"``."""
    perm = {"linear": (1, 0), "same": None}[kind]
    return tuple(Rule(j, torch, perm=perm, part=i, axis=axis) for i, j in enumerate(jax_parts))


def spectral(jax: str, torch: str, *, as_real: bool = False) -> Rule:
    """Complex spectral weights; ``as_real`` when torch keeps them as ``view_as_real``."""
    return Rule(jax, torch, complex_as_real=as_real)
