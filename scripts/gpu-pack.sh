#!/usr/bin/env bash
# Packs what scripts/gpu-bench.sh needs on a GPU machine without dotnet into parts of at most 60 MiB under
# out/gpu-part1 .. out/gpu-partN (ignored folders; the device tool carries one per call):
#   base.tar.xz  the .NET host and Microsoft.NETCore.App runtime, libonnxruntime.so, libonnxruntime_providers_shared.so
#   app.tar.xz   the node executable built by ./edgeactors (managed assemblies only; no Skia/LightGBM/other RIDs)
#   cuda.xz      libonnxruntime_providers_cuda.so (xz -9: 284 MB -> 186 MB)
#   r16.xz       models/ResNet18.onnx with its weights rounded to FP16 precision (stored as FP32; xz halves it): the
#                same network and the same amount of work, so the same throughput, in half the transfer
# Work files go to $WORK (default /tmp/gpuprep); existing cuda.xz / r16.xz / base.tar.xz there are reused.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK=${WORK:-/tmp/gpuprep}
mkdir -p "$WORK"
ort=$(ls -d ~/.nuget/packages/microsoft.ml.onnxruntime.gpu.linux/*/runtimes/linux-x64/native | tail -1)
app="$root/out/edgeactors"
[ -x "$app/edgeactors" ] || { echo "build first: ./edgeactors bench inference --help" >&2; exit 1; }

if [ ! -s "$WORK/cuda.xz" ]; then xz -9 -T2 -c "$ort/libonnxruntime_providers_cuda.so" > "$WORK/cuda.xz"; fi
if [ ! -s "$WORK/base.tar.xz" ]; then
  d=$(dirname "$(readlink -f "$(which dotnet)")")
  rm -rf "$WORK/base" && mkdir -p "$WORK/base/dotnet/shared/Microsoft.NETCore.App" "$WORK/base/native"
  cp -a "$d/dotnet" "$d/host" "$WORK/base/dotnet/"
  cp -a "$d"/shared/Microsoft.NETCore.App/10.* "$WORK/base/dotnet/shared/Microsoft.NETCore.App/"
  cp "$ort/libonnxruntime.so" "$ort/libonnxruntime_providers_shared.so" "$WORK/base/native/"
  tar -cf - -C "$WORK/base" . | xz -6 -T2 > "$WORK/base.tar.xz"
fi
if [ ! -s "$WORK/r16.xz" ]; then
  echo "r16.xz missing: round the weights with an ONNX tool of your choice (see this script's header)" >&2
  exit 1
fi
rm -rf "$WORK/appdir" && mkdir -p "$WORK/appdir/app"
(cd "$app" && tar -cf - --exclude=./runtimes --exclude=./models --exclude=./.build-stamp .) | tar -x -C "$WORK/appdir/app"
tar -cf - -C "$WORK/appdir" app | xz -6 -T2 > "$WORK/app.tar.xz"

rm -rf "$WORK/parts" && mkdir -p "$WORK/parts"
tar -cf - -C "$WORK" base.tar.xz app.tar.xz cuda.xz r16.xz | split -b 60M -d -a 1 - "$WORK/parts/part."
rm -rf "$root"/out/gpu-part*
i=1
for p in "$WORK"/parts/part.*; do
  mkdir -p "$root/out/gpu-part$i"
  mv "$p" "$root/out/gpu-part$i/"
  i=$((i + 1))
done
du -sh "$root"/out/gpu-part*
