"""``python -m cnn_core``: the command-line interface (see cnn_core/cli.py)."""

from cnn_core.cli import main
from cnn_core.common.exiting import exit_now

exit_now(main())
