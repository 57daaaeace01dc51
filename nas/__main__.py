"""`python -m nas ...` is the same as the installed `nas` command."""
import sys

from nas.cli import main

sys.exit(main())
