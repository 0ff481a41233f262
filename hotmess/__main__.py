"""`python -m hotmess` is the `hotmess` command."""

import sys

from hotmess.cli import main

sys.exit(main())
