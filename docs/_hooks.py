"""MkDocs hooks.

- Each API page gets a "Notes" section: the module docstrings of its package's modules (the
  math, the method and the papers behind the functions the page lists; public modules the
  package does not re-export), found on disk so that a new module appears without editing the
  page.
- The generated BENCHMARKS.md at the repository root is published as a page.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

RESULTS_PAGE = "benchmarks/results.md"
NOT_YET = """# Benchmark results

No benchmark run is published yet. `BENCHMARKS.md` is generated on an idle machine as the
[Benchmarks guide](../guides/benchmarks.md#publish-the-results) describes; this page shows it.
"""
_ROOT = re.compile(r"^::: (parallax[\w.]*)\s*$", re.M)
_MIN_LINES = 3  # a one-line summary says nothing the function docstrings do not


def on_files(files: Files, config: Any) -> Files:
    source = Path(config.config_file_path).parent / "BENCHMARKS.md"
    text = source.read_text() if source.is_file() else NOT_YET
    files.append(File.generated(config, RESULTS_PAGE, content=text))
    return files


def _title(doc: str) -> str:
    """The docstring's summary up to its first colon or full stop, without markup."""
    summary = re.split(r":\s|\.\s|\.$| \(", doc.strip().split("\n\n")[0].replace("\n", " "))[0]
    return re.sub(r":\w+:|`", "", summary).strip()


def _notes(package: str, rendered: set[str]) -> str:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return ""
    blocks = []
    for path in sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text()))
        private = path.stem.startswith("_")
        if path.stem in {"__init__", "__main__"} or not doc:
            continue
        if private and doc.count("\n") + 1 < _MIN_LINES:
            continue
        title = _title(doc).replace('"', "'")
        if f"{package}.{path.stem}" in rendered:
            continue
        # a private module's docstring only; a public module's public members are API too
        members = "      members: false\n" if private else ""
        blocks.append(
            f"::: {package}.{path.stem}\n    options:\n{members}"
            f'      heading_level: 3\n      heading: "{title}"\n      toc_label: "{title}"\n'
        )
    return "\n## Notes\n\n" + "\n".join(blocks) if blocks else ""


def on_page_markdown(markdown: str, page: Page, **kwargs: Any) -> str:
    root = _ROOT.search(markdown)
    if not page.file.src_uri.startswith("api/") or root is None:
        return markdown
    return markdown + "\n" + _notes(root.group(1), set(_ROOT.findall(markdown)))
