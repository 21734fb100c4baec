"""``python -m cnn_core.worker RUN_ID``: train one queued run folder (see cnn_core/worker/process.py)."""
import sys

from cnn_core.worker.process import main

sys.exit(main())
