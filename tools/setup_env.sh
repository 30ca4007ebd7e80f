#!/usr/bin/env bash
# Build (or verify) the project's Python environment in .venv/ — idempotent.
#
# A second run with everything in place only checks a stamp and a short import probe (seconds).
#
# Environment variables (all optional):
#   CMAE_PYTHON        interpreter used to create the venv            (default: python3.11, then python3)
#   CMAE_VENV          venv location                                   (default: <repo>/.venv)
#   CMAE_TORCH_SPEC    pip requirement(s) for torch/torchvision        (default: torch==2.14.1 torchvision==0.29.1)
#   CMAE_TORCH_PIP_ARGS extra pip arguments for the torch install, e.g.
#                      "--index-url https://download.pytorch.org/whl/cu121" on a GPU cluster
#   CMAE_WHEEL_CACHE   where the compiled mmcv wheel is cached         (default: ~/.cache/cmae-mm/wheels)
#   CMAE_MMCV_CUDA     1 to compile mmcv's CUDA ops as well (needs nvcc; default: 0 = CPU ops only)
#   MAX_JOBS           parallel compile jobs for mmcv                   (default: nproc)
#
# The mmcv wheel is cached under $CMAE_WHEEL_CACHE/mmcv-2.1.0/torch-<version>[-cuda]/ so a wheel built
# against one torch is never installed next to another (that fails with undefined symbols).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CMAE_VENV:-$ROOT/.venv}"
TORCH_SPEC="${CMAE_TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1}"
TORCH_PIP_ARGS="${CMAE_TORCH_PIP_ARGS:-}"
WHEEL_CACHE="${CMAE_WHEEL_CACHE:-$HOME/.cache/cmae-mm/wheels}"
MMCV_VERSION=2.1.0
MMCV_CUDA="${CMAE_MMCV_CUDA:-0}"
export MAX_JOBS="${MAX_JOBS:-$(nproc)}"
STAMP="$VENV/.cmae-env-stamp"

log() { printf '[setup_env %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# Everything that decides what gets installed goes into the stamp.
stamp_value() {
  cat "$ROOT/requirements/runtime.txt" "$ROOT/requirements/tests.txt" "$ROOT/tools/setup_env.sh" \
      "$ROOT/pyproject.toml" | sha256sum | cut -c1-16
  echo "$TORCH_SPEC|$TORCH_PIP_ARGS|$MMCV_CUDA"
}

probe() {
  "$VENV/bin/python" - <<'EOF'
import torch
import mmcv, mmcv.ops, mmengine, mmpretrain, mmdet, mmseg, timm, cmae_mm  # noqa: F401
from mmcv.ops import nms
boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]])
dets, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
assert keep.tolist() == [0, 2], keep
print(f'torch {torch.__version__} | mmcv {mmcv.__version__} (ops ok) | mmengine {mmengine.__version__} | '
      f'mmpretrain {mmpretrain.__version__} | mmdet {mmdet.__version__} | mmseg {mmseg.__version__} | '
      f'timm {timm.__version__}')
EOF
}

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(stamp_value)" ]] && probe >/dev/null 2>&1; then
  log "environment up to date: $VENV"
  exit 0
fi

PYTHON="${CMAE_PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
  PYTHON="$(command -v python3.11 || command -v python3)"
fi
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating venv $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

log "build tools"
"${PIP[@]}" install -q --upgrade pip 'setuptools>=77.0.3,<81' wheel ninja

log "torch: $TORCH_SPEC $TORCH_PIP_ARGS"
# shellcheck disable=SC2086
"${PIP[@]}" install -q $TORCH_PIP_ARGS $TORCH_SPEC

log "runtime requirements (without mmcv and the OpenMMLab packages that need it)"
grep -vE '^(mmpretrain|mmdet|mmsegmentation)==' "$ROOT/requirements/runtime.txt" > "$VENV/.req-base.txt"
"${PIP[@]}" install -q -r "$VENV/.req-base.txt"

TORCH_VERSION="$("$VENV/bin/python" -c 'import torch; print(torch.__version__.replace("+", "_"))')"
SUFFIX=""; [[ "$MMCV_CUDA" == 1 ]] && SUFFIX="-cuda"
MMCV_DIR="$WHEEL_CACHE/mmcv-$MMCV_VERSION/torch-$TORCH_VERSION$SUFFIX"
if ! ls "$MMCV_DIR"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
  log "building mmcv $MMCV_VERSION with ops against torch $TORCH_VERSION (about 17 min on 2 cores) -> $MMCV_DIR"
  BUILD="$(mktemp -d)"
  trap 'rm -rf "$BUILD"' EXIT
  "${PIP[@]}" download -q --no-deps --no-binary :all: --no-build-isolation "mmcv==$MMCV_VERSION" -d "$BUILD"
  tar -xzf "$BUILD"/mmcv-"$MMCV_VERSION".tar.gz -C "$BUILD"
  SRC="$BUILD/mmcv-$MMCV_VERSION"
  # torch >= 2.13 headers require C++20; mmcv's setup.py hard-codes -std=c++17 (CXXFLAGS cannot override it).
  sed -i 's/-std=c++17/-std=c++20/g' "$SRC/setup.py"
  grep -q -- '-std=c++20' "$SRC/setup.py" || { log "could not patch -std in mmcv setup.py"; exit 1; }
  if [[ "$MMCV_CUDA" == 1 ]]; then export FORCE_CUDA=1; else export FORCE_CUDA=0 CUDA_HOME=""; fi
  mkdir -p "$MMCV_DIR"
  MMCV_WITH_OPS=1 "${PIP[@]}" wheel -q --no-build-isolation --no-deps "$SRC" -w "$BUILD/wheel"
  mv "$BUILD"/wheel/mmcv-"$MMCV_VERSION"-*.whl "$MMCV_DIR"/
fi
log "installing cached mmcv wheel from $MMCV_DIR"
"${PIP[@]}" install -q --no-deps --force-reinstall "$MMCV_DIR"/mmcv-"$MMCV_VERSION"-*.whl
# mmcv's own light dependencies (its wheel was installed without resolving them).
"${PIP[@]}" install -q addict packaging Pillow pyyaml yapf

log "OpenMMLab packages, test tools and cmae_mm (editable)"
"${PIP[@]}" install -q -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT"
if "$VENV/bin/python" -c 'import transformers' 2>/dev/null; then
  log "transformers is installed and breaks 'import mmpretrain.models'; removing it"
  "${PIP[@]}" uninstall -y -q transformers
fi

probe
stamp_value > "$STAMP"
log "environment ready: $VENV"
