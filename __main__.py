"""`python -m verigym` runs the command line."""

import sys

from verigym.cli import main

sys.exit(main())
