"""`python -m hotmess.cli` is the `hotmess` command."""

import sys

from hotmess.cli import main

sys.exit(main())
