#!/usr/bin/env bash
# The GPU run (benchmarks/gpu/README.md): install acnet onto this machine's own torch without
# downloading anything, then measure every CUDA path in one call.
#
#   benchmarks/gpu/run.sh [gpu_run.py run options]     e.g. --budget 480, --only bench,capi
#
# ACNET_GPU_RUN_INSTALL=1 (default) installs with pip; 0 skips it (acnet already installed);
# dry-run asks pip to build and resolve the editable install without installing (the CPU test).
# PYTHON picks the interpreter (default python3: on the GPU machine, the one that holds torch).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1

# Every package the run needs must import already: pip runs with --no-deps and --no-index.
if [ "${ACNET_GPU_RUN_INSTALL:-1}" = 0 ]; then
  "$PY" benchmarks/gpu/gpu_run.py check-imports || exit 2
else
  "$PY" benchmarks/gpu/gpu_run.py check-imports --install || exit 2
fi

case "${ACNET_GPU_RUN_INSTALL:-1}" in
  0) echo "run.sh: not installing (ACNET_GPU_RUN_INSTALL=0)" ;;
  dry-run) "$PY" -m pip install --dry-run --no-deps --no-build-isolation --no-index -q -e . \
             || { echo "run.sh: error: pip could not build the editable install of acnet (see above)" >&2; exit 2; } ;;
  *) "$PY" -m pip install --no-deps --no-build-isolation --no-index -q -e . \
       || { echo "run.sh: error: pip could not install acnet from $(pwd) without downloading (see above)" >&2; exit 2; }
     "$PY" -c "import acnet, sys; print(f'run.sh: acnet {acnet.__version__} installed for {sys.executable}')" || exit 2 ;;
esac

exec "$PY" benchmarks/gpu/gpu_run.py run "$@"
