# Sourced by scripts/dashboard and scripts/test: create or reuse .venv with everything installed.
# Reinstalls only when pyproject.toml changes (a stamp file keyed by its hash).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

find_python() {
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "error: simlib needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

ensure_venv() {  # $1: the extras to install, e.g. "all" or "all,dev"
  local extras="$1" py stamp want
  if [ ! -x .venv/bin/python ]; then
    py="$(find_python)"
    echo "creating .venv with $("$py" --version)" >&2
    "$py" -m venv .venv
  fi
  # the stamp holds "<hash of pyproject.toml> <installed extras>": reinstall only if
  # pyproject changed or an extra we need is missing (scripts/test installs a superset)
  want="$(.venv/bin/python -c 'import hashlib; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest()[:16])')"
  stamp=".venv/.simlib-installed"
  local have="" have_extras="" extra missing=0
  [ -f "$stamp" ] && read -r have have_extras < "$stamp" || true
  for extra in ${extras//,/ }; do
    case ",$have_extras," in *",$extra,"*) ;; *) missing=1 ;; esac
  done
  if [ "$have" != "$want" ] || [ "$missing" = 1 ]; then
    echo "installing llm-knowledge-sim[$extras] (package simlib) into .venv (first run takes a few minutes)" >&2
    .venv/bin/python -m pip install --quiet --upgrade pip >&2
    .venv/bin/python -m pip install --quiet -e ".[$extras]" >&2
    echo "$want $extras" > "$stamp"
  fi
}

ensure_chromium() {  # Debian's chromium, for chart export and browser tests (never a downloaded browser)
  if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then return 0; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian chromium (chart export, browser tests)" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
  else
    echo "note: chromium not found and not root: PNG/SVG/PDF export and browser tests will be skipped." >&2
    echo "      install it with: sudo apt-get install chromium" >&2
  fi
}
