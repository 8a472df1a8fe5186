#!/usr/bin/env bash
# Quick start:  ./run.sh main   (build the head asset and rig: out/head_rig.blend, out/contact_sheet.png; then
#                                capture the shared selfie clip: out/capture.blend, out/capture.csv, out/capture_preview.mp4)
#               ./run.sh test   (the test suite)
# Each sets up .venv/ from requirements.txt first (again whenever requirements.txt changes).
set -euo pipefail
cd "$(dirname "$0")"

setup() {
  local stamp=.venv/.requirements.sha256
  local want
  want=$(sha256sum requirements.txt | cut -d' ' -f1)
  if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setting up .venv (Python 3.11, pinned requirements; a few minutes the first time)" >&2
    python3.11 -m venv .venv
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
    echo "$want" > "$stamp"
  fi
}

case "${1:-}" in
  main)
    setup
    shift
    .venv/bin/python -m blender_addon.main "$@"
    exec .venv/bin/python -m blender_addon.capture \
      "${FACECAP_SHARED:-../shared}/media/real/mediapipe_selfie_segmentation_web.mp4" \
      --out out/capture.blend --csv out/capture.csv --preview out/capture_preview.mp4
    ;;
  test)
    setup
    shift
    exec .venv/bin/python -m pytest -q "$@" tests
    ;;
  *)
    echo "usage: ./run.sh main | test" >&2
    exit 2
    ;;
esac
