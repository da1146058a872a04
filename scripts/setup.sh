# Sourced by demo.sh and test.sh: makes .venv with tinygrad_seq and its test tools, and makes sure
# the Graphviz `dot` program is installed (apt-get, with sudo when not root). test.sh sets
# SETUP_BROWSER=1: the explorer's browser tests also need Debian's chromium and chromium-driver.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
updated=""
apt_install() {
  if [ -z "$updated" ]; then
    $sudo apt-get update -qq
    updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

missing=()
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} with apt-get"
  apt_install "${missing[@]}"
fi

browser=()
if [ "${SETUP_BROWSER:-0}" = 1 ]; then
  [ -x /usr/bin/chromium ] || browser+=(chromium)
  [ -x /usr/bin/chromedriver ] || browser+=(chromium-driver)
fi
if [ ${#browser[@]} -gt 0 ]; then
  echo "installing ${browser[*]} with apt-get (for the explorer's browser tests)"
  # not fatal: where Debian's packages are not to be had, those tests say why they skip
  # (under CI, where they must run, they fail instead)
  apt_install "${browser[@]}" || echo "could not install ${browser[*]}: the browser tests will skip"
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import tinygrad_seq, pytest, hypothesis, numba, graphviz, selenium" \
    >/dev/null 2>&1 || [ pyproject.toml -nt .venv/.installed ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test]'
  touch .venv/.installed
fi
PY=.venv/bin/python
