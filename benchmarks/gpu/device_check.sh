#!/usr/bin/env bash
# One prepared run on a lent GPU machine (JAX and no TensorFlow there; keras, namex, optree and tomli_w travel as
# wheels in .whl/, the competition zip in .devdata/). Each folder .devdata/kernels/NAME/ holds a kernel script
# built here exactly as a push builds it, e.g.
#   python -m kaggle_digits push --dry-run --user devcheck --minutes 3 --timeout-minutes 5 --submissions-dir S
#   cp S/kernels-*/kaggle-digits/bundle/* .devdata/kernels/minutes3/
# and is run as Kaggle runs it (the deadline from its -t). Then benchmarks/gpu/speeds.py times every kit model.
# Writes NAME.log, NAME_manifest.json, NAME_submission.csv, NAME_ensemble.json, NAME_config.toml and speeds.json
# to $OUT (commit a kernel's submission with its manifest under submissions/gpu/NAME/).
# Issue 31's check: the kernel of a default push, unchanged, its 60-minute default budget capped by -t to what the
# device time allows (the time-to-accuracy table: one kernel per budget), e.g.
#   python -m kaggle_digits push --dry-run --user devcheck --timeout-minutes 4 --submissions-dir S   # -> gpu4min
#   python -m kaggle_digits push --dry-run --user devcheck --timeout-minutes 8 --submissions-dir S   # -> gpu8min
# (KERNEL_TIMEOUT below must exceed the longest -t; SPEED_SECONDS=0 skips the speed table)
set -o pipefail
ROOT=$PWD
OUT=${OUT:-/tmp/device-out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$ROOT KERAS_BACKEND=jax PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import jax, keras, sys; print('python', sys.version.split()[0], 'jax', jax.__version__, 'keras', keras.__version__, jax.devices())" || exit 1
python3 -m zipfile -e "$ROOT/.devdata/digit-recognizer.zip" /tmp/kin || exit 1
lscpu | grep "Model name"
start=$(date +%s)
for kernel in .devdata/kernels/*/; do
  name=$(basename "$kernel")
  echo "== kernel $name: $(grep -o "'timeout_seconds': [0-9]*" "$kernel/kaggle_digits_kernel.py") =="
  t0=$(date +%s)
  KAGGLE_DIGITS_INPUT=/tmp/kin KAGGLE_DIGITS_WORKING=/tmp/kout-$name timeout ${KERNEL_TIMEOUT:-330} python3 "$kernel/kaggle_digits_kernel.py" 2>&1 \
    | grep -v -E "^[0-9]+/[0-9]+ - |^Epoch [0-9]+/" | tee "$OUT/$name.log"
  echo "kernel $name exit ${PIPESTATUS[0]} after $(( $(date +%s) - t0 )) s"
  cp "/tmp/kout-$name/kernel_manifest.json" "$OUT/${name}_manifest.json" 2>/dev/null
  cp "/tmp/kout-$name/submission.csv" "$OUT/${name}_submission.csv" 2>/dev/null
  cp "/tmp/kout-$name/run/ensemble.json" "$OUT/${name}_ensemble.json" 2>/dev/null
  cp "/tmp/kout-$name/run/config.toml" "$OUT/${name}_config.toml" 2>/dev/null
  python3 -c "import pandas as pd; f=pd.read_csv('/tmp/kout-$name/submission.csv'); print('submission', f.shape, f.Label.value_counts().sort_index().tolist())"
done
echo "== speeds =="
[ "${SPEED_SECONDS:-150}" = 0 ] || timeout 200 python3 benchmarks/gpu/speeds.py --out "$OUT/speeds.json" --seconds ${SPEED_SECONDS:-150} \
  --models "${SPEED_MODELS:-cnn_fast,cnn_gru,cnn,cnn_gru_deep,cnn_small}" --precisions "${SPEED_PRECISIONS:-auto,float32,float16}"
echo "done after $(( $(date +%s) - start )) s"
