#!/usr/bin/env bash
# Creates .venv (Python >= 3.11) and installs the project into it, with the extras given as
# arguments (e.g. "dev"); reinstalls only when pyproject.toml changed. Compiles the catalogs.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "Python 3.11 or newer is needed (found: $("$PYTHON" --version 2>&1)). Set PYTHON=…" >&2
  exit 2
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
extras=$(IFS=,; echo "$*")
target="."
[ -n "$extras" ] && target=".[$extras]"
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)-${extras:-base}"
if [ ! -e "$stamp" ]; then
  echo "Setting up .venv (the first time takes a minute or two)…" >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  # The package maps data/ to bot/shipped, so setuptools installs it with an import hook and
  # says so in a multi-line "Editable installation" warning that pip prints: not for operators.
  PYTHONWARNINGS="ignore:Editable installation" \
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$target"
  touch "$stamp"
fi
PYBABEL=.venv/bin/pybabel scripts/i18n.sh compile >/dev/null 2>&1 || PYBABEL=.venv/bin/pybabel scripts/i18n.sh compile
