"""``python -m cnn_core.worker RUN_ID``: train one queued run folder (see cnn_core/worker/process.py)."""
from cnn_core.common.exiting import exit_now
from cnn_core.worker.process import main

exit_now(main())
