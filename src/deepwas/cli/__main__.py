"""``python -m deepwas.cli``: the command line (as torchrun runs it)."""

import sys

from deepwas.cli import main

sys.exit(main())
