#!/usr/bin/env bash
# The main job, end to end: set up, then train an RNN built from primitives and print its loss.
source "$(dirname "$0")/setup.sh"
exec "$PY" examples/01_rnn_from_primitives.py "$@"
