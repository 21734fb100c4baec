#!/usr/bin/env bash
# The one prepared check for a machine with a GPU: the device-dependent unit tests, then fast vs
# seed (auto precision, 3 seeds, whole processes), one fast job's breakdown, and bench, side by
# side. Run from the repository root with TensorFlow's GPU build (requirements-gpu.txt) and
# CNN_DATA_DIR pointing at the data:   bash benchmarks/gpu_figures.sh 2>&1 | tee gpu_figures.log
set -euo pipefail
export TF_CPP_MIN_LOG_LEVEL=2
python -c "from cnn_core.worker.devices import hardware_line; print('hardware:', hardware_line())"
python -c "from cnn_core.worker.devices import resolve_device, resolve_precision; \
print('auto precision:', resolve_precision('auto', resolve_device('auto')))"
python -m pytest -q -x tests/test_jobs.py tests/test_training.py tests/test_model.py
python benchmarks/fast_vs_seed.py --seeds 0 1 2 || echo "fast_vs_seed: over target (see above)"
python benchmarks/job_breakdown.py --preset fast --repeats 3
python -m cnn_core bench --repeats 5 --precision auto --json
