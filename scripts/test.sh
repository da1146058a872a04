#!/usr/bin/env bash
# Set up (with Chromium for the explorer's browser tests), then run the whole test suite (the
# same command CI runs).
SETUP_BROWSER=1
source "$(dirname "$0")/setup.sh"
exec "$PY" -m pytest "$@"
