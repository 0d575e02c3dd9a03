#!/usr/bin/env bash
# The GPU check (issue 15; docs/gpu.md, "GPU check"): ONE call on the GPU machine, from the repository root,
# after `node bench/gpu-prepare.mjs` here (its printed list is the call's `carry`). Budget: about 10 minutes.
#   1. what the machine has (GPU, driver, nvcc, cmake, Python/PyTorch, Node)
#   2. builds the engine with the CUDA backend for this GPU's architecture only (sm_90 on an H200), linked,
#      from the carried pinned sdist with our patches: sd-cli always, the Node addon too when Node is there
#   3. writes the synthetic SD 1.5 and SDXL base checkpoints (f16) from the carried layouts
#   4. diffusekit's engine on the GPU: SD 1.5 512x512 20 steps (twice: the same seed must give the same
#      bytes) and SDXL 1024x1024 4 steps; seconds per step and VAE decode from the engine's own log lines
#   5. with Node: bench/gpu-check.mjs checks the Pipeline contract on the GPU (abort within one step,
#      progress, determinism, dispose() returning the GPU memory: the device's reported free memory)
#   6. diffusers on the same GPU (fp16, SDPA, random weights from config, same sizes and steps)
# Results: bench/results/gpu-check-<date>.json and .log, copied to $OUT when set (the device call's output).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS=$ROOT/bench/results
WORK=${GPU_CHECK_WORK:-/tmp/diffusekit-gpu-check}
CARRY=$ROOT/bench/.gpu-carry
mkdir -p "$RESULTS" "$WORK"
LOG=$RESULTS/gpu-check-$STAMP.log
JSON=$RESULTS/gpu-check-$STAMP.json
exec > >(tee "$LOG") 2>&1
declare -A R
phase() { echo; echo "== $1 ($(date -u +%T))"; }
finish() {
  {
    echo "{"
    local first=1
    for k in "${!R[@]}"; do
      [ $first -eq 1 ] || echo ","
      first=0
      printf '  "%s": %s' "$k" "${R[$k]}"
    done
    echo; echo "}"
  } > "$JSON"
  [ -f "$WORK/diffusers.json" ] && cp "$WORK/diffusers.json" "$RESULTS/gpu-check-$STAMP-diffusers.json"
  [ -f "$WORK/pipeline.json" ] && cp "$WORK/pipeline.json" "$RESULTS/gpu-check-$STAMP-pipeline.json"
  if [ -n "${OUT:-}" ]; then cp "$RESULTS"/gpu-check-"$STAMP"* "$OUT"/ 2>/dev/null; fi
  echo "results: $JSON"
}
trap finish EXIT
q() { printf '"%s"' "$(echo "$1" | tr -d '"\\' | tr '\n' ' ' | sed 's/ *$//')"; }

phase "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.free --format=csv,noheader || echo "no nvidia-smi"
R[gpu]=$(q "$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)")
NVCC=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null || true)
R[nvcc]=$(q "$([ -n "$NVCC" ] && "$NVCC" --version | tail -1)")
R[cmake]=$(q "$(cmake --version 2>/dev/null | head -1)")
R[python]=$(q "$(python3 -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1 | tail -1)")
NODE=$(command -v node || true)
R[node]=$(q "${NODE:+$($NODE --version)}")
echo "nvcc: ${R[nvcc]}  node: ${R[node]}  python: ${R[python]}"
ARCH=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '.')
ARCH=${ARCH:-90}
R[cudaArchitecture]=$(q "${ARCH}-real")
[ -d "$CARRY" ] || { echo "no bench/.gpu-carry: run node bench/gpu-prepare.mjs on the CPU machine and carry its list"; exit 1; }

phase "python packages (carried wheels)"
python3 -m pip install --quiet --no-index --no-deps --target "$WORK/py" "$CARRY"/wheels/*.whl && export PYTHONPATH=$WORK/py${PYTHONPATH:+:$PYTHONPATH}
python3 -c 'import diffusers; print("diffusers", diffusers.__version__)' || R[diffusers]='"not importable"'

phase "engine source and build (CUDA, sm_${ARCH}, linked)"
T0=$(date +%s)
ENGINE=$WORK/engine
if [ ! -f "$ENGINE/.diffusekit-patched" ]; then
  rm -rf "$ENGINE" && mkdir -p "$ENGINE"
  tar xJf "$CARRY/engine/engine.tar.xz" -C "$ENGINE"
  for p in $(python3 -c "import json;print(' '.join(json.load(open('engine.json'))['patches']))"); do
    patch -p1 --forward --silent -d "$ENGINE" -i "$ROOT/$p" || { echo "patch $p failed"; exit 1; }
  done
  touch "$ENGINE/.diffusekit-patched"
fi
BUILD=$ROOT/build/gpu-check
NODE_ARGS=()
TARGETS=(sd-cli)
if [ -n "$NODE" ] && [ -d node_modules/node-addon-api ]; then
  NODE_INC=$(dirname "$(dirname "$NODE")")/include/node
  if [ -f "$NODE_INC/node_api.h" ]; then
    NODE_ARGS=(-DCMAKE_JS_INC="$NODE_INC" -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$ROOT/build/Release")
    TARGETS+=(diffusekit)
  else
    echo "node is there but has no headers in $NODE_INC: the Node addon is not built"
  fi
fi
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDIFFUSEKIT_ENGINE_DIR="$ENGINE" -DDIFFUSEKIT_BACKEND=cuda \
  ${NVCC:+-DCMAKE_CUDA_COMPILER=$NVCC} -DCMAKE_CUDA_ARCHITECTURES="${ARCH}-real" "${NODE_ARGS[@]}" > "$WORK/cmake.log" 2>&1 \
  || { tail -30 "$WORK/cmake.log"; R[build]='"configure failed"'; exit 1; }
cmake --build "$BUILD" --target "${TARGETS[@]}" -j "$(nproc)" > "$WORK/build.log" 2>&1 || { tail -40 "$WORK/build.log"; R[build]='"build failed"'; exit 1; }
R[buildSeconds]=$(( $(date +%s) - T0 ))
R[build]=$(q "${TARGETS[*]}")
SDCLI=$(find "$BUILD" -name sd-cli -type f -perm -u+x | head -1)
echo "built ${TARGETS[*]} in ${R[buildSeconds]} s: $SDCLI"

phase "synthetic checkpoints"
T0=$(date +%s)
for a in sd1 sdxl; do
  [ -f "$WORK/$a.safetensors" ] || python3 bench/gpu_models.py checkpoint "$CARRY/layouts/$a.json" "$WORK/$a.safetensors" || exit 1
done
R[checkpointSeconds]=$(( $(date +%s) - T0 ))
ls -la "$WORK"/*.safetensors

# Seconds per step: sampling time / steps; VAE decode: the engine's own line. Both programs print these words.
engine_run() { # name model size steps seed
  local name=$1 model=$2 size=$3 steps=$4 seed=$5
  "$SDCLI" -m "$model" -p "a lighthouse at dusk, detailed" -W "$size" -H "$size" --steps "$steps" --cfg-scale 7 \
    --seed "$seed" --sampling-method euler --diffusion-fa -o "$WORK/$name.png" -v > "$WORK/$name.log" 2>&1
  local rc=$?
  local sampling decode
  sampling=$(grep -oE 'sampling completed, taking [0-9.]+s' "$WORK/$name.log" | tail -1 | grep -oE '[0-9.]+')
  decode=$(grep -oE 'decode_first_stage completed, taking [0-9.]+s' "$WORK/$name.log" | tail -1 | grep -oE '[0-9.]+')
  local per=null
  [ -n "$sampling" ] && per=$(python3 -c "print(round($sampling / $steps, 4))")
  R[$name]="{\"exit\": $rc, \"size\": $size, \"steps\": $steps, \"secondsPerStep\": $per, \"samplingSeconds\": ${sampling:-null}, \"vaeDecodeSeconds\": ${decode:-null}, \"sha256\": \"$(sha256sum "$WORK/$name.png" 2>/dev/null | cut -c1-64)\"}"
  echo "$name: exit $rc, ${per} s/step, decode ${decode:-?} s"
  grep -E "CUDA|Using .* backend|ggml_cuda_init|Device 0" "$WORK/$name.log" | head -5
}

phase "diffusekit engine (sd-cli) on the GPU"
engine_run sd15_512_a "$WORK/sd1.safetensors" 512 20 42
engine_run sd15_512_b "$WORK/sd1.safetensors" 512 20 42
A=$(sha256sum "$WORK/sd15_512_a.png" 2>/dev/null | cut -c1-64); B=$(sha256sum "$WORK/sd15_512_b.png" 2>/dev/null | cut -c1-64)
R[deterministic]=$([ -n "$A" ] && [ "$A" = "$B" ] && echo true || echo false)
echo "same seed, same bytes: ${R[deterministic]}"
engine_run sdxl_1024 "$WORK/sdxl.safetensors" 1024 4 42

phase "Pipeline contract on the GPU (Node)"
if [ -f "$ROOT/build/Release/diffusekit.node" ] && [ -n "$NODE" ]; then
  "$NODE" bench/gpu-check.mjs "$WORK/sd1.safetensors" "$WORK/pipeline.json" && R[pipeline]='"see -pipeline.json"' || R[pipeline]='"failed: see the log"'
else
  echo "SKIPPED: no Node.js with headers on this machine, so no addon: abort, progress and dispose are unchecked"
  R[pipeline]='"skipped: no Node.js"'
fi

phase "diffusers on the same GPU"
python3 bench/gpu_models.py diffusers "$WORK/diffusers.json" || R[diffusers]='"failed: see the log"'
