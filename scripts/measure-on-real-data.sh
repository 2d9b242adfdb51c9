#!/usr/bin/env bash
# Measures exodetect on real micrographs as a user would, with the exodetect command only: the VISN
# negative-stain TEM set in ../shared/datasets/visn-train (never part of the project; no test uses it),
# laid out as folders a facility would have (images, the set's COCO file, dataset.json with each image's
# nm/px from its burned-in 200 nm bar; training-container/tools/prepare_real_dataset.py).
#   bash scripts/measure-on-real-data.sh [WORK_DIR] [EPOCHS]
# Runs: full (train on 200, evaluate on the 56 held out), few-shot (30 images split 20/10 by the state
# machine, from scratch and fine-tuned from the bundled model, then refit on all 30 by default; evaluated on the same 56), the bundled model
# zero-shot on the 56 and on all 256, also with --size-gate 80,500 (the experts left the small round
# particles under ~80 nm unlabelled), and self-training: the few-shot model's detections on the other 170 images
# (labels hidden) as pseudo-labels beside the 30. EPOCHS left out: the trainer's default (40, 80 from 100 images).
# ~90 minutes on 2 cores. Last line: one JSON object.
set -euo pipefail
shopt -s inherit_errexit
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-/tmp/exodetect-real}"
epochs="${2:-}"  # empty: the trainer chooses by the set's size
exo() { node "$root/bin/exodetect.js" "$@"; }
mkdir -p "$work"
/usr/bin/python3 "$root/training-container/tools/prepare_real_dataset.py" --out "$work/data" >&2
figures() { # metrics.json of exodetect evaluate -> the figures we report
  node -e 'const m=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).evaluation;
    console.log(JSON.stringify({ap50:m.ap50,ap50_95:m.ap50_95,precision:m.precision,recall:m.recall,f1:m.f1,threshold:m.threshold,median_diameter_error_nm:m.diameter_median_abs_error_nm,images:m.n_images,objects:m.n_objects,
      sizing_vs_expert_outlines:{n:m.sizing_n,outline:{median_abs_rel_error:m.outline_diameter_median_abs_rel_error,median_abs_error_nm:m.outline_diameter_median_abs_error_nm,median_rel_bias:m.outline_diameter_median_rel_bias,within_10pct:m.outline_diameter_within_10pct},
        box:{median_abs_rel_error:m.box_diameter_median_abs_rel_error,median_abs_error_nm:m.box_diameter_median_abs_error_nm,median_rel_bias:m.box_diameter_median_rel_bias,within_10pct:m.box_diameter_within_10pct}}}))' "$1"
}
train_and_evaluate() { # name dataset init-from [store] -> {train..., test...}
  local name="$1" dataset="$2" init="$3" store="${4:-$work/$1/s3}"
  rm -rf "$work/$name"; mkdir -p "$work/$name"
  local t0; t0=$(date +%s)
  exo train "$work/data/$dataset" --name "visn-$name" --init-from "$init" ${epochs:+--epochs "$epochs"} --data-dir "$store" --out "$work/$name/record" \
    --hyperparameter class_names=particle > "$work/$name/train.txt"
  local t1; t1=$(date +%s)
  cat "$work/$name/train.txt" >&2
  local version; version=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).model_version)' "$work/$name/record/metrics.json")
  exo evaluate "$work/data/test-56" --model "$version" --data-dir "$store" --out "$work/$name/test" >&2
  node -e 'const [,a,b,m,s]=process.argv; const v=JSON.parse(require("fs").readFileSync(m,"utf8"));
    console.log(JSON.stringify({init_from:a,epochs:v.epochs,minutes:Math.round((Number(s))/6)/10,validation:{ap50:v.validation.ap50,f1:v.validation.f1,images:v.validation.n_images},refit_images:v.refit?v.refit.images:null,test_56:JSON.parse(b)}))' \
    "$init" "$(figures "$work/$name/test/metrics.json")" "$work/$name/record/metrics.json" "$((t1 - t0))"
}
full=$(train_and_evaluate full train-200 default)
few_scratch=$(train_and_evaluate fewshot-scratch fewshot-30 none)
few_default=$(train_and_evaluate fewshot-default fewshot-30 default)
# Self-training (README "Self-training"): the few-shot model runs the other 170 of the 200 as a batch (their
# labels hidden); its detections at its own threshold (what the batch kept) become pseudo-labels beside the 30 annotated images, and a new
# model trains on both. Validation stays the same 10 annotated images; the figures are on the same 56.
few_version=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).model_version)' "$work/fewshot-default/record/metrics.json")
rm -rf "$work/selftrain-batch" "$work/data/selftrain-30/pseudo-labels"
exo run "$work/data/unlabelled-170" --model "$few_version" --data-dir "$work/fewshot-default/s3" --batch unlabelled-170 --replace --out "$work/selftrain-batch" >&2
exo export-annotations "$work/selftrain-batch" --format coco --images "$work/data/unlabelled-170" \
  --out "$work/data/selftrain-30/pseudo-labels/unlabelled-170" >&2
# As a user's second `exodetect train` would: in the same store, fine-tuned from the few-shot model (the teacher).
selftrain=$(train_and_evaluate selftrain selftrain-30 "$few_version" "$work/fewshot-default/s3")
exo evaluate "$work/data/test-56" --model default --data-dir "$work/zero/s3" --out "$work/zero/test" >&2
exo evaluate "$work/data/all" --model default --data-dir "$work/zero/s3" --out "$work/zero/all" >&2
exo evaluate "$work/data/test-56" --model default --size-gate 80,500 --data-dir "$work/zero/s3" --out "$work/zero/test-gated" >&2
exo evaluate "$work/data/all" --model default --size-gate 80,500 --data-dir "$work/zero/s3" --out "$work/zero/all-gated" >&2
echo "{\"full_200\":$full,\"fewshot_30_scratch\":$few_scratch,\"fewshot_30_from_bundled\":$few_default,\"selftrain_30_plus_170_pseudo_labelled\":$selftrain,\"bundled_zero_shot\":{\"test_56\":$(figures "$work/zero/test/metrics.json"),\"all_256\":$(figures "$work/zero/all/metrics.json"),\"test_56_80_500nm\":$(figures "$work/zero/test-gated/metrics.json"),\"all_256_80_500nm\":$(figures "$work/zero/all-gated/metrics.json")}}"
