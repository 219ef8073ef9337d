#!/usr/bin/env bash
# One device call: sam2nb on a real GPU at full size, against each tracker's own library:
# SAM 2.1 against Meta's predictor, the transformers trackers (tiny@hf, EdgeTAM, the SAM 3
# tracker) against transformers' own loop. Random weights time like trained ones.
# (The project's copy of ../shared/tools/gpu-check.sh, kept in step with today's options.)
#
# Prepare here once (from the project root; .whl and .media are ignored by git):
#   ../shared/tools/device-wheels.sh .whl psutil tqdm imageio-ffmpeg ipywidgets pyarrow pillow \
#     transformers timm safetensors huggingface-hub tokenizers
#   mkdir -p .media && cp ../shared/data/bedroom.mp4 scripts/gpu-check.sh \
#     ../shared/tools/batch_probe.py .media/
# Run it with the device tool: command "bash .media/gpu-check.sh", carry [".whl", ".media"],
# timeout_s 560. The whole run stays under ~9 minutes.
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl 2>&1 | tail -2
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee "$OUT/gpu.txt"
timeout 60 python3 -m sam2nb info 2>&1 | tee -a "$OUT/gpu.txt"
timeout 30 python3 -m sam2nb models 2>&1 | tee -a "$OUT/gpu.txt"
echo "== tests that exercise the CUDA paths (sam2's, and transformers' trackers on the GPU)"
timeout 170 python3 -m pytest -q -x -m "not browser" -k "cuda or gpu or oracle or dtype" \
  tests tests/model/test_hf_tracker.py 2>&1 | tail -8 | tee "$OUT/tests.txt"
echo "== full-size SAM 2.1 against the official predictor"
timeout 200 python3 -m sam2nb bench --model tiny large --dtype bf16 --compile off \
  --objects 1 3 10 --frames 60 --video .media/bedroom.mp4 --weights random \
  --csv "$OUT/bench.csv" --plots "$OUT" 2>&1 | tail -30 | tee "$OUT/bench.txt"
echo "== full-size transformers trackers against transformers' own loop"
timeout 170 python3 -m sam2nb bench --model tiny@hf edgetam sam3 --dtype bf16 --compile off \
  --objects 1 3 --frames 30 --video .media/bedroom.mp4 --weights random \
  --csv "$OUT/bench-hf.csv" 2>&1 | tail -30 | tee "$OUT/bench-hf.txt"
echo "== does batching objects pay on a GPU? sam2's per-object loop vs its legacy batched predictor"
timeout 60 python3 .media/batch_probe.py .media/bedroom.mp4 1024 30 cuda 2>&1 | grep objects | tee "$OUT/batch.txt"
