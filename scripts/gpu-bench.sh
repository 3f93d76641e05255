#!/usr/bin/env bash
# GPU measurement of `bench inference` on a machine without dotnet (see scripts/gpu-pack.sh, which builds the parts):
# reassembles the parts (.NET runtime, the node executable, ONNX Runtime with its CUDA provider, ResNet18.onnx),
# then runs, each under its own time limit and all within BUDGET seconds:
#   1. bench inference --models resnet18,mlp (raw + actor sweeps, p99 at 80 %), uint8 input, pinned I/O binding
#   2. ResNet18 raw only with FP16
#   3. ResNet18 raw only the old way (float input, pageable GC memory, no I/O binding)
#   4. ResNet18 raw + actor with FP16
#   5. ResNet18 raw only with CUDA graphs (expected to fail to load: inputs are in pinned host memory)
# with nvidia-smi sampling utilisation every 500 ms; everything goes under $OUT.
#   PARTS=/tmp/eaparts OUT=/tmp/out bash scripts/gpu-bench.sh        QUICK=1: tiny CPU-sized runs (to test the script)
set -u
PARTS=${PARTS:-/tmp/eaparts}
OUT=${OUT:-/tmp/ea-out}
W=${W:-/tmp/ea}
BUDGET=${BUDGET:-430}
start=$(date +%s)
mkdir -p "$OUT" "$W"
log() { echo "[gpu-bench $(( $(date +%s) - start ))s] $*" | tee -a "$OUT/script.log"; }

unxz_to() { # file.xz -> stdout
  if command -v xz >/dev/null 2>&1; then xz -d -T0 -c "$1"
  else python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer, 1<<20)" "$1"; fi
}

if [ ! -x "$W/app/edgeactors" ]; then
  log "reassembling $(ls "$PARTS" | wc -l) parts ($(du -sh "$PARTS" | cut -f1))"
  cat "$PARTS"/part.* | tar -x -C "$W" || { log "parts do not form the tar"; exit 2; }
  unxz_to "$W/base.tar.xz" | tar -x -C "$W" && unxz_to "$W/app.tar.xz" | tar -x -C "$W" || { log "base/app extraction failed"; exit 2; }
  mkdir -p "$W/app/runtimes/linux-x64/native" "$W/app/models"
  cp "$W"/native/*.so "$W/app/runtimes/linux-x64/native/"
  unxz_to "$W/cuda.xz" > "$W/app/runtimes/linux-x64/native/libonnxruntime_providers_cuda.so" &
  unxz_to "$W/r16.xz" > "$W/app/models/ResNet18.onnx" &
  wait
  rm -f "$W"/*.xz
  log "extracted: $(du -sh "$W" | cut -f1)"
fi
export DOTNET_ROOT="$W/dotnet"
export DOTNET_CLI_TELEMETRY_OPTOUT=1
cuda_dirs=$(find /opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13 /opt/torch/.venv/lib/python3.12/site-packages/nvidia/cudnn \
  -name 'lib*.so*' -printf '%h\n' 2>/dev/null | sort -u | tr '\n' ':')
export LD_LIBRARY_PATH="${cuda_dirs}${LD_LIBRARY_PATH:-}"
APP="$W/app/edgeactors"
cd "$W/app"

nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
nvidia-smi --query-gpu=timestamp,utilization.gpu,utilization.memory,memory.used,power.draw --format=csv -lms 500 > "$OUT/smi.csv" 2>&1 &
smi=$!

step() { # name, limit, args...
  local name=$1 limit=$2; shift 2
  local left=$(( BUDGET - ($(date +%s) - start) ))
  if [ "$left" -lt 20 ]; then log "skipped $name: budget spent"; return; fi
  [ "$limit" -gt "$left" ] && limit=$left
  log "start $name (limit ${limit}s): $*"
  echo "### $(date -u +%T) $name" >> "$OUT/smi.csv"
  timeout -k 5 "$limit" "$APP" bench inference "$@" > "$OUT/$name.log" 2>&1
  log "end $name: rc=$? $(grep -c '^RESULT' "$OUT/$name.log") RESULT lines"
  grep '^RESULT' "$OUT/$name.log" | tee -a "$OUT/results.txt"
}

if [ "${QUICK:-0}" = 1 ]; then
  step quick 120 --models mlp --seconds 0.3 --max-batch-mlp 64 --label quick --out "$OUT/benchmarks.md"
  step quick-raw 60 --models resnet18 --seconds 0.3 --max-batch-resnet18 2 --raw-only
else
  step main 230 --models resnet18,mlp --seconds 2 --label gpu-h200 --out "$OUT/benchmarks.md"
  step fp16-raw 45 --models resnet18 --seconds 1 --raw-only --fp16
  step pageable-float-raw 45 --models resnet18 --seconds 1 --raw-only --input float --pinned-io off --max-batch-resnet18 512
  step fp16-actor 75 --models resnet18 --seconds 1.5 --fp16 --label gpu-h200-fp16 --out "$OUT/benchmarks-fp16.md"
  step cuda-graphs-raw 25 --models resnet18 --seconds 1 --raw-only --cuda-graphs --max-batch-resnet18 64
fi
kill $smi 2>/dev/null
log "done"
