#!/usr/bin/env bash
# Issue 21's measurements for a GPU machine, in two calls. Prepare on your own machine first, from the project root:
# ../shared/device/prepare.sh  (fills the ignored .device/: wheels the GPU image lacks and the rendered 192-clip demo
# corpus). Then, on the GPU machine, from the project root with .device carried along, one call right after the
# other (a device command may run 600 s at most, and an idle machine goes back within a minute):
#   bash benchmarks/gpu_session.sh tests      (the whole suite with CUDA present, then training from a held cache;
#                                              step limits 450-510 s)
#   bash benchmarks/gpu_session.sh measure    (extraction goals, a profile, probe plan; step limits 420 s)
# The limits add up to about as much as a session's 15 minutes of device time, start included, and runs take less:
# run `tests` first (the suite is the issue's gate), `measure` with what is left.
# Every log goes to /tmp/gpu and is packed into $OUT/all.tar after each step (a run cut short returns what it
# finished). Commit the outputs under benchmarks/results/ with the GPU named (machine.txt names it).
set -u
export PYTHONUNBUFFERED=1
R=$(cd "$(dirname "$0")/.." && pwd); D=$R/.device; L=/tmp/gpu; OUT=${OUT:-/tmp/gpu-out}; mkdir -p $L "$OUT"
[ -d "$D/whl" ] && [ -d "$D/data/synthetic" ] || { echo "run ../shared/device/prepare.sh first (.device/ missing)"; exit 2; }
pack() { tar cf "$OUT/all.tar" -C /tmp gpu; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $D/whl/*.whl >$L/install.log 2>&1
export PYTHONPATH=/tmp/site:$R
mkdir -p /tmp/bin; printf '#!/bin/bash\nexec python3 -c "import sys; sys.argv[0]=\\"probe\\"; from probe.cli import main; main()" "$@"\n' >/tmp/bin/probe
chmod +x /tmp/bin/probe; export PATH=/tmp/bin:$PATH
cd "$R"; C=$D/data/synthetic
{ nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0)); print(torch.__config__.show())"; lscpu | head -25; git log --oneline -1 2>/dev/null; } >$L/machine.txt 2>&1
WHAT=${1:-tests}
step() { local name=$1 limit=$2 rc; shift 2; echo "== $name ($(date +%T), limit ${limit}s)"; timeout "$limit" "$@" >$L/$name.log 2>&1; rc=$?; echo "rc=$rc" | tee -a $L/$name.log; tail -15 $L/$name.log; pack; return $rc; }

if [ "$WHAT" = tests ]; then
# The whole suite with CUDA present (the issue's goal; the CUDA-only tests included: pinned copies, bit-identical
# reruns), failures printed (-rfE); SLURM and the optional extras are absent there and their tests say so.
if ! step suite 300 python3 -m pytest -q -p no:cacheprovider -n 14 --timeout 240 -rfE; then
  # A guess to check, not a fix: the CPU-only tests that failed there (batched = one at a time within 1e-4, a
  # resumed cache bit-identical) pass on this project's AMD VM; torch's CPU BLAS is MKL, whose results may depend on
  # memory alignment and kernel choice on Intel CPUs unless its conditional numerical reproducibility is on. The
  # same tests under MKL_CBWR tell whether that is the cause (machine.txt names the CPU and torch's BLAS).
  step tests_cbwr 60 env MKL_CBWR=AUTO,STRICT python3 -m pytest -q -p no:cacheprovider -n 4 -rfE \
    tests/test_whisper_batching.py tests/test_pipeline.py::test_killed_extraction_resumes_to_the_same_cache
fi
# Training from a cache held on the GPU: probe run --all --probes all, 3 seeds, 30 epochs, on a cache of
# whisper-medium's shape (1000 clips of 1-4 s: about 6 GiB of frames); frames/s and the share waiting for data.
step gpu_train 150 python3 benchmarks/gpu_train.py --clips 1000 --seconds 1 4 --out $L/gpu_train.txt
else
# The goals: whisper-medium pad30 and wav2vec2-large / xls-r-300m length-bucketed, bf16, the loop beside each.
step gpu_extract 300 python3 benchmarks/gpu_extract.py --corpus-dir $C --clips 192 \
  --models whisper-medium,wav2vec2-large,xls-r-300m --precisions bf16 --batch-size 32 --shard-size 64 \
  --epochs 3 --out $L/gpu_extract.txt
# Where the time of a batch goes on the GPU (CPU launch time and CUDA time per operator).
step profile 45 python3 benchmarks/extract_profile.py --model whisper-medium --device cuda --precision bf16 \
  --clips 64 --batch-size 32 --repeats 2 --out $L/extract_profile.txt
# probe plan timed on this GPU: extraction and training (every head, 3 seeds) of the demo corpus from rates
# measured here; the paper grid needs the nine corpora's files, which the GPU machine does not have.
step plan 75 probe plan --model whisper-medium,wav2vec2-large,xls-r-300m --corpus synthetic --data-root $D/data \
  --device cuda --precision bf16 --batch-size 32 --time-clips 64 --probes all --seeds 3
fi
echo "== done $(date +%T)"; pack
