"""``python -m trigdeploy`` runs the CLI."""

import sys

from trigdeploy.cli import main

sys.exit(main())
