"""``python -m cnn_core``: the command-line interface (see cnn_core/cli.py)."""
import sys

from cnn_core.cli import main

sys.exit(main())
