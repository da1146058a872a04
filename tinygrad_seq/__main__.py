"""`python -m tinygrad_seq ...` is the `tinygrad-seq` command line."""
import sys

from .cli import main

sys.exit(main())
