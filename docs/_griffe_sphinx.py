"""A griffe extension: parallax's reStructuredText docstring markup as Markdown for mkdocstrings.

The docstrings are written for reading in the source and in ``help()``: Google sections
(``Args:``) with Sphinx roles and directives. mkdocstrings renders Markdown, so at load time
this rewrites

- ``:math:`x``` to inline math and ``.. math::`` blocks to display math (``pymdownx.arithmatex``);
- ``:func:`` / ``:class:`` / ``:mod:`` / ``:meth:`` / ``:attr:`` / ``:data:`` / ``:exc:`` /
  ``:obj:`` to cross-references (``~a.b`` shows ``b``), resolved in the scope of the documented
  object; a target in parallax that the site does not render, or a name found nowhere, fails
  the strict build; a target outside parallax (jax, numpy, torch, ...) stays code;
- a paragraph ending in ``::`` and the indented block after it to a code block;
- a docs page named as ````docs/guides/name.md```` to a link to it (the page's title declares
  the anchor ``{ #docs-guides-name }``; a page that does not fails the strict build).
"""

from __future__ import annotations

import builtins
import re
import textwrap
from typing import Any

import griffe

_INLINE_MATH = re.compile(r":math:`([^`]+)`")
_ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|exc|obj):`(~?)\.?([^`]+)`")
_MATH_BLOCK = re.compile(r"^(\s*)\.\. math::[ \t]*(.*)$")
_LITERAL_INTRO = re.compile(r"^(\s*)(.*?)::\s*$")
_DOCS_PAGE = re.compile(r"``docs/([\w/-]+)\.md``")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _take_indented(lines: list[str], start: int, base: int) -> tuple[list[str], int]:
    """Lines from ``start`` indented deeper than ``base`` (blank lines inside kept)."""
    block: list[str] = []
    i = start
    while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > base):
        block.append(lines[i])
        i += 1
    while block and not block[-1].strip():
        block.pop()
        i -= 1
    return block, i


def _blocks(text: str) -> str:
    """``.. math::`` to ``$$`` blocks and ``::`` literal blocks to fenced code."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if m := _MATH_BLOCK.match(line):
            pad, first = m.group(1), m.group(2)
            body, i = _take_indented(lines, i + 1, len(pad))
            rows = [first] if first.strip() else []
            rows += textwrap.dedent("\n".join(body)).splitlines()
            out += ["", f"{pad}$$", *(f"{pad}{r}" for r in rows if r.strip()), f"{pad}$$", ""]
            continue
        m = _LITERAL_INTRO.match(line)
        if m and i + 1 < len(lines) and not lines[i + 1].strip():
            pad, intro = m.group(1), m.group(2)
            body, j = _take_indented(lines, i + 1, len(pad))
            if body:
                if intro.strip():
                    out.append(f"{pad}{intro}:")
                code = textwrap.dedent("\n".join(body)).strip("\n").splitlines()
                out += ["", f"{pad}```", *(f"{pad}{c}" if c else "" for c in code), f"{pad}```"]
                i = j
                continue
        out.append(line)
        i += 1
    return "\n".join(out)


# Roots of names that are not parallax's: a role naming them renders as code.
_EXTERNAL = {"jax", "jnp", "lax", "np", "numpy", "torch", "equinox", "eqx", "flax", "nnx"}
_EXTERNAL |= {"optax", "orbax", "scipy", "tyro", "etils", "epath", "pytest", "typing"}
_EXTERNAL |= set(dir(builtins))


class UnresolvedRole(LookupError):
    """A role names something that is neither in parallax nor outside it: a typo."""


def _target(obj: griffe.Object, name: str) -> str | None:
    """The full path of ``name`` as seen from ``obj``, or None outside parallax. Raises
    :class:`UnresolvedRole` for a name that resolves nowhere."""
    if name.split(".")[0] == "parallax":
        return name
    head, _, rest = name.partition(".")
    scope: griffe.Object | None = obj
    while scope is not None:
        try:
            resolved = scope.resolve(head)
        except griffe.NameResolutionError:
            scope = scope.parent
            continue
        full = f"{resolved}.{rest}" if rest else resolved
        return full if full.split(".")[0] == "parallax" else None
    # a method or attribute named from its module's docstring: a class of that module has it
    module = obj if isinstance(obj, griffe.Module) else obj.module
    for member in module.members.values():
        if isinstance(member, griffe.Class) and head in member.members:
            return f"{member.path}.{name}"
    if head in _EXTERNAL:
        return None
    raise UnresolvedRole(name)


def _public(path: str) -> bool:
    return not any(part.startswith("_") for part in path.split("."))


class _Site:
    """Which parallax paths the site renders: public modules and what they re-export."""

    def __init__(self, modules: griffe.ModulesCollection) -> None:
        self.modules = modules
        self.linked: set[str] = set()  # the targets of the links written so far

    def get(self, path: str) -> griffe.Object | griffe.Alias | None:
        try:
            return self.modules.get_member(path)
        except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            return None

    def link(self, path: str) -> str | None:
        """``path`` itself, a private submodule's definition of a lazily exported name, or None
        where the object exists but only in a private module that nothing public re-exports."""
        if self.get(path) is None:
            parent, _, name = path.rpartition(".")
            module = self.get(parent)
            if isinstance(module, griffe.Module):
                for sub in module.modules.values():
                    if sub.name.startswith("_") and name in sub.members:
                        return f"{sub.path}.{name}"
            return path  # unknown: left to fail the strict build
        parts = path.split(".")
        first = next((i for i, p in enumerate(parts) if p.startswith("_")), None)
        if first is None:
            return path
        # parallax.pkg._mod.Name[.member]: rendered when parallax.pkg re-exports Name
        if first + 1 >= len(parts):
            return None
        exporter = self.get(".".join(parts[:first]))
        name = parts[first + 1]
        member = exporter.members.get(name) if exporter is not None else None
        target = ".".join(parts[: first + 2])
        if isinstance(member, griffe.Alias) and member.target_path == target:
            return path
        return None


def _roles(obj: griffe.Object, text: str, site: _Site) -> str:
    def link(m: re.Match[str]) -> str:
        short, name = m.group(1), m.group(2)
        shown = name.rsplit(".", 1)[-1] if short else name
        try:
            full = _target(obj, name)
        except UnresolvedRole:
            where = f"{obj.relative_filepath}:{obj.lineno}" if obj.lineno else obj.path
            griffe.logger.warning(f"{where}: {m.group(0)} names nothing in {obj.path}'s scope")
            full = None
        href = site.link(full) if full is not None else None
        if href is None:
            return f"`{shown}`"
        site.linked.add(href)
        return f"[`{shown}`][{href}]"

    text = _INLINE_MATH.sub(lambda m: "\\(" + m.group(1) + "\\)", text)
    text = _DOCS_PAGE.sub(lambda m: f"[`docs/{m.group(1)}.md`][{_page_id(m.group(1))}]", text)
    return _ROLE.sub(link, text)


def _page_id(page: str) -> str:
    """The anchor a docs page declares on its title (``# Title { #docs-guides-name }``)."""
    return "docs-" + page.replace("/", "-")


def _record_fields(cls: griffe.Class) -> list[str]:
    """The undocumented fields of a dataclass: its signature (the ``__init__`` griffe's
    ``dataclasses`` extension has made by now) lists them."""
    if "dataclass" not in cls.labels or "__init__" not in cls.members:
        return []
    return [
        name
        for name, member in cls.members.items()
        if not member.is_alias and member.is_attribute and member.docstring is None
    ]


class SphinxMarkup(griffe.Extension):
    """Rewrite each docstring once every module is loaded (names resolve across modules), then
    drop the undocumented fields of dataclasses that nothing links to (each would be a heading
    saying only what the class signature above it says). Runs after griffe's ``dataclasses``
    extension (listed before it in mkdocs.yml), which builds the signatures from the fields."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        site = _Site(loader.modules_collection)
        objects: list[griffe.Object] = []
        self._walk(pkg, set(), site, objects)
        for cls in objects:
            if isinstance(cls, griffe.Class):
                for name in _record_fields(cls):
                    if f"{cls.path}.{name}" not in site.linked:
                        cls.del_member(name)

    def _walk(
        self, obj: griffe.Object, seen: set[int], site: _Site, objects: list[griffe.Object]
    ) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        objects.append(obj)
        if obj.docstring is not None:
            obj.docstring.value = _roles(obj, _blocks(obj.docstring.value), site)
        for member in obj.members.values():
            if not member.is_alias:
                self._walk(member, seen, site, objects)  # type: ignore[arg-type]
