#!/usr/bin/env bash
# segkit's two commands, for a fresh Debian/Ubuntu machine with Python 3.11+:
#   ./run.sh demo   set up, then write (or rewrite) the demo report in reports/demo/ (index.html, report.pdf, ...)
#   ./run.sh test   set up with the test tools, then run the whole test suite
# Set-up is idempotent: a second run only checks. Nothing is downloaded at run time.
set -euo pipefail
cd "$(dirname "$0")"

VENV=${SEGKIT_VENV:-.venv}
PYTHON=${PYTHON:-python3}

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

need_python() {
  "$PYTHON" - <<'PY' || { echo "segkit needs Python >= 3.11 (found: $("$PYTHON" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2; exit 1; }
import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY
}

# System packages: pango for WeasyPrint (PDF) with HarfBuzz's font subsetter (without it WeasyPrint
# subsets each CJK font with fontTools: the PDF took 34 s instead of about 12 s at 1M customers), a CJK
# font for Chinese charts; for the tests also poppler (PDF text and pages), Chromium (the HTML report in a
# real browser), PostgreSQL and Java (Spark).
system_packages() {
  local wanted=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk)
  [ "${1:-}" = test ] && wanted+=(poppler-utils chromium postgresql)
  # Spark (tests/test_spark.py) needs a Java runtime; any installed one will do
  [ "${1:-}" = test ] && ! command -v java >/dev/null && wanted+=(openjdk-17-jre-headless)
  command -v dpkg >/dev/null || { say "not a Debian/Ubuntu system: install ${wanted[*]} with your package manager"; return 0; }
  local missing=()
  for pkg in "${wanted[@]}"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if sudo -n true 2>/dev/null; then sudo="sudo -n"; else
      say "please install: sudo apt-get install -y ${missing[*]} (continuing without them)"; return 0; fi
  fi
  say "installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # matplotlib caches its font list; drop it so that a newly installed CJK font is seen
  rm -rf "${HOME:-/root}/.cache/matplotlib"
}

python_env() {
  local extras=$1 stamp
  [ -x "$VENV/bin/python" ] || { say "creating $VENV"; "$PYTHON" -m venv "$VENV"; }
  stamp="$VENV/.segkit-$extras-$(cat pyproject.toml | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    say "installing segkit[$extras] into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e ".[$extras]"
    touch "$stamp"
  fi
}

case "${1:-}" in
  demo)
    need_python; system_packages; python_env postgres,excel
    shift
    "$VENV/bin/segkit" report --params params/demo.yaml --force "$@"
    ;;
  test)
    need_python; system_packages test; python_env postgres,excel,dev,spark
    shift
    # one worker per core (pytest-xdist); the tests of the shared reports stay together on one of them;
    # the 25 slowest tests are listed at the end, to keep the suite under its 20 minutes
    exec "$VENV/bin/python" -m pytest -n "${SEGKIT_TEST_WORKERS:-auto}" --dist loadgroup --durations=25 "$@"
    ;;
  *)
    echo "usage: ./run.sh demo [report options] | ./run.sh test [pytest options]" >&2; exit 2 ;;
esac
