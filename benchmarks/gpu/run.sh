#!/usr/bin/env bash
# The GPU run (benchmarks/gpu/README.md): install acnet onto this machine's own torch without
# downloading anything, then measure every CUDA path in one call.
#
#   benchmarks/gpu/run.sh --commit SHA [gpu_run.py run options]     e.g. --budget 480, --only bench,capi
#
# ACNET_GPU_RUN_INSTALL=1 (default) installs with pip; 0 skips it (acnet already installed, or a rerun);
# dry-run asks pip to build and resolve the editable install without installing.
# A failed install is a warning: every step imports acnet from this checkout (PYTHONPATH); only the
# tests step, which runs the installed `acnet`, needs it.
# PYTHON picks the interpreter (default python3: on the GPU machine, the one that holds torch).
set -uo pipefail
# --budget counts from here: the install is inside it.
export ACNET_GPU_RUN_STARTED=${ACNET_GPU_RUN_STARTED:-$(date +%s.%N)}
cd "$(dirname "$0")/../.." || exit 2
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1

# Every package the run needs must import already: pip runs with --no-deps and --no-index.
if [ "${ACNET_GPU_RUN_INSTALL:-1}" = 0 ]; then
  "$PY" benchmarks/gpu/gpu_run.py check-imports || exit 2
else
  "$PY" benchmarks/gpu/gpu_run.py check-imports --install || exit 2
fi

not_installed() {
  echo "run.sh: warning: $1; going on: every step imports acnet from $(pwd) through PYTHONPATH" \
       "(the tests step, which runs the installed acnet, may fail)" >&2
}
case "${ACNET_GPU_RUN_INSTALL:-1}" in
  0) echo "run.sh: not installing (ACNET_GPU_RUN_INSTALL=0)" ;;
  dry-run) "$PY" -m pip install --dry-run --no-deps --no-build-isolation --no-index -q -e . \
             || not_installed "pip could not build the editable install of acnet (see above)" ;;
  *) if "$PY" -m pip install --no-deps --no-build-isolation --no-index -q -e .; then
       "$PY" -c "import acnet, sys; print(f'run.sh: acnet {acnet.__version__} installed for {sys.executable}')"
     else
       not_installed "pip could not install acnet from $(pwd) without downloading (see above)"
     fi ;;
esac

exec "$PY" benchmarks/gpu/gpu_run.py run "$@"
