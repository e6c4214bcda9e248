#!/usr/bin/env bash
# The GPU benchmarks of issue 13 in one go (kernel + epoch + whole fit), for a lent CUDA machine:
#
#     bash benchmarks/gpu.sh [cuda|cpu] [OUTDIR]
#
# cuda (default): benchmarks/genome_scale.py's epoch (kernels and whole epoch, float64 and
# float32; GS_SNPS variants, default 1,100,000, G^T filled with noise of the panel's ranks by
# --quick-build: same bytes and flops as the real eigendecompositions, built in a minute;
# the epoch read with the page cache warm and, with O_DIRECT, from the disk) and
# benchmarks/whole_fit.py (simulate, LD store, linear and MLP fits on WF_CHROMS, default
# 21,22) on the GPU, sized to finish within about 5 minutes on an H100/H200 with 16 cores.
# cpu: the same steps at toy sizes on the CPU, so the script is tested where no GPU is
# (tests/test_benchmarks.py). JSON lines go to OUTDIR/gpu.jsonl (default $OUT, else
# ./gpu-results), logs to OUTDIR/gpu.log. Needs only numpy, scipy, pandas, pyarrow, torch
# (the GPU image's python3 has them); deepwas runs from src/ without installing.
set -euo pipefail
DEV=${1:-cuda}
DIR=${2:-${OUT:-gpu-results}}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
[ -x "$ROOT/.venv/bin/python" ] && [ -z "${PYTHON:-}" ] && PY="$ROOT/.venv/bin/python"
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$DIR"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/deepwas-gpu.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
case "$DEV" in
  cuda*) GS=(--n-snps "${GS_SNPS:-1100000}") WF=(--chroms "${WF_CHROMS:-21,22}") ;;
  cpu) GS=(--n-snps 3000 --chroms 22 --threads 1 --peak-n 512) WF=(--chroms 22 --n-snps 2000 --n-pop 600 --epochs 2 --threads 1) ;;
  *) echo "gpu.sh: error: device '$DEV' is neither cuda[:N] nor cpu" >&2; exit 2 ;;
esac
{
  "$PY" - "$DEV" <<'PYEOF'
import json, sys, torch
dev = sys.argv[1]
ok = dev == "cpu" or torch.cuda.is_available()
name = torch.cuda.get_device_name(torch.device(dev)) if ok and dev != "cpu" else None
print(json.dumps({"benchmark": "gpu.sh", "device": dev, "torch": torch.__version__, "gpu": name}))
sys.exit(0 if ok else 3)
PYEOF
  for dtype in float64 float32; do
    "$PY" "$ROOT/benchmarks/genome_scale.py" --device "$DEV" --dtype "$dtype" \
      --work "$WORK/genome" --quick-build --modes prefetch-warm,direct-cold "${GS[@]}"
  done
  "$PY" "$ROOT/benchmarks/whole_fit.py" --device "$DEV" --work "$WORK/whole" "${WF[@]}"
} > >(tee "$DIR/gpu.jsonl") 2> >(tee "$DIR/gpu.log" >&2)
