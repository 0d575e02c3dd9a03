#!/usr/bin/env bash
# The evaluation of ggml's own OpenVINO and ZenDNN backends as a second CPU path (README.md beside this file):
# builds the pinned engine's ggml with its OpenVINO backend against the registry's openvino wheel, probes the
# registries for ZenDNN, and runs bench.cpp on SD 1.5 graph pieces. A manual study, not part of CI or
# `npm run bench`: bash bench/ggml-backends/build.sh [work dir, default /tmp/ggml-backends]
# Uses nice -n 19 and -j2 (shared machine).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
W="${1:-/tmp/ggml-backends}"
mkdir -p "$W"; cp "$HERE/bench.cpp" "$HERE/run_bench.sh" "$HERE/sd15_flops.py" "$W/"; cd "$W"
# the pinned engine release (engine.json), fetched by the normal build into ~/.cache/diffusekit/engine
TARBALL="$HOME/.cache/diffusekit/engine/$(node -p "require('$ROOT/engine.json').pypi.file")"
[ -f "$TARBALL" ] || (cd "$ROOT" && node -e "import('./scripts/engine-source.mjs').then((m) => m.resolveEngineSource())")
rm -rf pristine && mkdir pristine && tar xzf "$TARBALL" -C pristine
SRC="$(echo "$W"/pristine/*/vendor/stable-diffusion.cpp/ggml)"

# 0. system deps: cmake, ninja, g++, plus OpenCL headers + ICD loader (ggml-openvino's
#    CMakeLists does find_package(OpenCL REQUIRED) and includes intel_gpu/ocl/ocl.hpp)
if ! dpkg -s opencl-headers ocl-icd-opencl-dev >/dev/null 2>&1; then
  apt-get update -qq && nice -n 19 apt-get install -y -q cmake ninja-build g++ opencl-headers ocl-icd-opencl-dev
fi

# 1. OpenVINO from PyPI (wheel ships include/, cmake/ (OpenVINOConfig + TBBConfig), libs/)
[ -x venv/bin/python ] || python3 -m venv venv
venv/bin/python -c 'import openvino' 2>/dev/null || nice -n 19 venv/bin/pip install -q openvino
OV_PKG=$(venv/bin/python -c 'import openvino,os;print(os.path.dirname(openvino.__file__))')
OV_CMAKE=$OV_PKG/cmake
echo "OpenVINO $(venv/bin/python -c 'import openvino;print(openvino.__version__)') at $OV_PKG"

# 2. ZenDNN availability probe (PyPI wheels; no build possible, see REPORT.md)
mkdir -p zendnn-probe
( cd zendnn-probe
  for p in zentorch zentf; do ls $p-*.whl >/dev/null 2>&1 || nice -n 19 pip download -q --no-deps $p -d . || true; done
  for w in *.whl; do echo "== $w"; python3 -m zipfile -l "$w" | grep -E '\.(so|h|hpp)' | grep -v '\.py' || true; done ) > zendnn-probe/listing.txt 2>&1 || true

# 3. copy pinned ggml, apply the one build fix
rm -rf ggml && cp -r "$SRC" ggml
# FIX: ggml-openvino/CMakeLists.txt includes "${OpenVINO_DIR}/../3rdparty/tbb/lib/cmake/TBB/TBBConfig.cmake"
# (layout of the OpenVINO archive distribution). The PyPI wheel puts TBBConfig.cmake next to
# OpenVINOConfig.cmake, so use find_package(TBB) pointed at OpenVINO_DIR instead.
sed -i 's|^include("${OpenVINO_DIR}/../3rdparty/tbb/lib/cmake/TBB/TBBConfig.cmake")|find_package(TBB REQUIRED CONFIG HINTS "${OpenVINO_DIR}" "${OpenVINO_DIR}/../3rdparty/tbb/lib/cmake/TBB")|' \
    ggml/src/ggml-openvino/CMakeLists.txt
grep -n 'TBB' ggml/src/ggml-openvino/CMakeLists.txt

# 4. configure + build ggml (library only) with OpenVINO + CPU backends
nice -n 19 cmake -S ggml -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DGGML_OPENVINO=ON -DGGML_CPU=ON -DGGML_NATIVE=ON \
  -DGGML_BUILD_TESTS=OFF -DGGML_BUILD_EXAMPLES=OFF -DBUILD_SHARED_LIBS=ON -DGGML_CCACHE=OFF \
  -DOpenVINO_DIR="$OV_CMAKE"
nice -n 19 cmake --build build -j2

# 5. benchmark harness
nice -n 19 g++ -O2 -std=c++17 bench.cpp -o bench -Iggml/include \
  -Lbuild/src -Lbuild/src/ggml-openvino \
  -Wl,-rpath,"$W/build/src" -Wl,-rpath,"$W/build/src/ggml-openvino" -Wl,-rpath,"$OV_PKG/libs" \
  -lggml -lggml-base -lggml-cpu -lggml-openvino

echo "build OK: $W/bench   (run: ./bench -r 7 -t 2 | tee bench-results.txt)"

# 6. FLOP split of the SD 1.5 UNet by op class, then the measurements (~25 min on 2 busy cores)
python3 sd15_flops.py
if [ "${RUN_BENCH:-1}" = 1 ]; then ./run_bench.sh; fi
