# Sourced by scripts/run and scripts/test: make .venv on first use, reuse it after.
#
# Dependencies are (re)installed when pyproject.toml or this file changes; the editable install
# (strict mode: a link tree, so pytest and type checkers see parallax.kernels and
# parallax.sharding) is relinked when the set of source files changes.
# torch comes from pyproject.toml's `torch` extra (the tested range). PARALLAX_TORCH replaces it
# with another requirement (e.g. PARALLAX_TORCH="torch==2.14.0"), installed without the extra.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PARALLAX_TORCH="${PARALLAX_TORCH:-}"

_pick_python() {
  for py in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$py" ] || continue
    if command -v "$py" >/dev/null 2>&1 &&
      "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$py"
      return 0
    fi
  done
  echo "parallax: needs Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

_hash() { sha256sum | cut -c1-16; }

# What the installed dependencies depend on: a change reinstalls them.
_deps_hash() { cat "$ROOT/pyproject.toml" "$ROOT/scripts/_bootstrap.sh" <(echo "$PARALLAX_TORCH") | _hash; }

bootstrap() {
  local log="$VENV/.bootstrap.log"
  if [ ! -x "$VENV/bin/python" ]; then
    local py
    py="$(_pick_python)"
    echo "parallax: creating $VENV with $py" >&2
    "$py" -m venv "$VENV"
  fi
  local pip=("$VENV/bin/python" -m pip --disable-pip-version-check)
  local deps_want deps_have files_want files_have
  deps_want="$(_deps_hash)"
  deps_have="$(cat "$VENV/.parallax-deps" 2>/dev/null || true)"
  if [ "$deps_want" != "$deps_have" ]; then
    echo "parallax: installing dependencies into .venv (first run takes a few minutes; log: $log)" >&2
    local extras="dev,docs,peers,export,onnx,tensorboard,cpu-fft"
    {
      "${pip[@]}" install --upgrade pip setuptools wheel &&
        if [ -n "$PARALLAX_TORCH" ]; then "${pip[@]}" install "$PARALLAX_TORCH"; else extras="torch,$extras"; fi &&
        "${pip[@]}" install -e "$ROOT[$extras]" --config-settings editable_mode=strict
    } >"$log" 2>&1 || { tail -30 "$log" >&2; echo "parallax: install failed (see $log)" >&2; return 1; }
    echo "$deps_want" >"$VENV/.parallax-deps"
  fi
  files_want="$(cd "$ROOT" && find src kernels sharding \( -name '*.py' -o -name '*.cc' -o -name '*.h' \) | LC_ALL=C sort | _hash)"
  files_have="$(cat "$VENV/.parallax-files" 2>/dev/null || true)"
  if [ "$files_want" != "$files_have" ]; then
    "${pip[@]}" install -q --no-deps --no-build-isolation -e "$ROOT" \
      --config-settings editable_mode=strict >"$log.relink" 2>&1 ||
      { tail -30 "$log.relink" >&2; return 1; }
    echo "$files_want" >"$VENV/.parallax-files"
  fi
}
