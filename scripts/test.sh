#!/usr/bin/env bash
# Set up, then run the whole test suite (the same command CI runs).
source "$(dirname "$0")/setup.sh"
exec "$PY" -m pytest "$@"
