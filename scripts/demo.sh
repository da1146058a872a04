#!/usr/bin/env bash
# The main job, end to end: set up, then `tinygrad-seq demo` (about two minutes): train a
# character-level LSTM on Python's own documentation, sample text, draw its gradient flow.
source "$(dirname "$0")/setup.sh"
exec .venv/bin/tinygrad-seq demo "$@"
