#!/usr/bin/env bash
# The Python client's test environment: a venv under ~/.cache with httpx, pytest and setuptools (to install
# the client from its pyproject). Idempotent and safe to run concurrently; prints the venv's python.
# .ci/run runs it before the tests; test/client/python.test.ts runs it too (instant once done).
set -euo pipefail
venv="${DIFFUSEKIT_PYTHON_VENV:-$HOME/.cache/diffusekit-python/venv}"
requirements='httpx>=0.27,<1 pytest>=8,<9 setuptools>=70.1'
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [ "$(cat "$venv/.requirements" 2>/dev/null)" != "$requirements" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  # shellcheck disable=SC2086
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $requirements >&2
  echo "$requirements" > "$venv/.requirements"
fi
echo "$venv/bin/python"
