# Sourced by scripts/test and scripts/dev: create or refresh .venv from pyproject.toml + requirements.lock.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$py" -m venv .venv
fi
stamp=.venv/.lwf-installed
want="$(cat pyproject.toml requirements.lock | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade "pip==26.3"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e ".[dev,cdk]"
  echo "$want" > "$stamp"
fi
export PATH="$root/.venv/bin:$PATH"
