"""The trainer end to end, as SageMaker runs it: tiny synthetic data, seconds per run."""
import json
import os
import re
import signal
import subprocess
import time
from typing import Dict

import numpy as np
import onnx
import torch

from conftest import REPO_ROOT, TINY_HP, PACKAGE_ROOT, make_tree, run_trainer, trainer_cmd, write_hp
from exodetect_train.export import CONTRACT, load_init_weights, save_torch_model
from exodetect_train.model import ExoNet, ExportModel, FlipAveraged

LOG_LINE = re.compile(r"^epoch=(\d+) train_loss=\d+\.\d{4} val_ap50=\d\.\d{4} val_f1=\d\.\d{4} lr=\d\.\d{6} epoch_time_s=\d+\.\d$")
METRIC_KEYS = {"precision", "recall", "f1", "ap50", "ap50_95", "diameter_median_abs_error_nm", "n_images", "n_objects", "threshold", "best_f1_threshold",
               "sizing_n", "outline_diameter_median_abs_rel_error", "outline_diameter_median_abs_error_nm", "outline_diameter_median_rel_bias",
               "outline_diameter_within_10pct", "box_diameter_median_abs_rel_error", "box_diameter_median_abs_error_nm",
               "box_diameter_median_rel_bias", "box_diameter_within_10pct"}


def contract_metadata_keys(format_version="2"):
    """The metadata keys of model_contract.json (inference reads the same file) that a model of this format
    version carries: `exodetect.outline` only with the outline output (version 2)."""
    keys = set(CONTRACT["metadata_keys"].values())
    return keys if format_version == "2" else keys - {CONTRACT["metadata_keys"]["outline"]}


def run_onnx_in_node(model_path, x, tmp):
    inp, out = os.path.join(tmp, "in.f32"), os.path.join(tmp, "out.f32")
    x.astype(np.float32).tofile(inp)
    r = subprocess.run(["node", os.path.join(PACKAGE_ROOT, "tests", "ort_run.mjs"), model_path, inp,
                        ",".join(map(str, x.shape)), out], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    info["arrays"] = {name: np.fromfile(out if i == 0 else out.replace(".f32", f".{name}.f32"), np.float32).reshape(dims)
                      for i, (name, dims) in enumerate(info["outputs"].items())}
    return np.fromfile(out, np.float32).reshape(info["dims"]), info


def load_exported(model_dir):
    """model.pt as the trainer wrote it, and the network it holds (float32, eval mode)."""
    state = torch.load(os.path.join(model_dir, "model.pt"))
    net = ExoNet(state["arch"]["num_classes"], state["arch"]["width"], state["arch"]["outline_rays"])
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state["state_dict"].items()})
    return state, net.eval()


def validation_crop(base, name="synth_00000.png"):
    """A 96x128 corner of a validation image (not the export's 128x160: the graph's H, W are dynamic)."""
    from exodetect_train.transforms import read_image
    return read_image(os.path.join(base, "input", "data", "validation", "images", name))[:96, :128]


def test_tiny_training_end_to_end_and_onnx_matches_pytorch(tmp_path):
    base = make_tree(str(tmp_path / "ml"))
    r = run_trainer(base, dict(TINY_HP, epochs="3"))
    assert r.returncode == 0, r.stderr[-3000:]
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("epoch=")]
    assert [int(LOG_LINE.match(ln).group(1)) for ln in lines] == [1, 2, 3], lines
    assert re.search(r"^epochs: 3 \(epochs=3\)$", r.stdout, re.M), r.stdout  # the schedule line exodetect train reads

    model_dir = os.path.join(base, "model")
    assert sorted(os.listdir(model_dir)) == ["card.md", "metrics.json", "model.onnx", "model.pt"]
    with open(os.path.join(model_dir, "metrics.json")) as f:
        m = json.load(f)
    assert set(m) == {"format", "version", "model_version", "dataset_fingerprint", "epochs", "score_threshold",
                      "nm_per_px", "crops_per_image", "tta", "half_scale_pass", "validation", "refit", "annotations"}
    assert m["refit"] is None
    assert m["crops_per_image"] == 2 and m["tta"] is False and m["half_scale_pass"] is False
    assert m["format"] == "exodetect-metrics" and m["version"] == 1 and m["epochs"] == 3 and m["nm_per_px"] == 3.0
    assert set(m["validation"]) == METRIC_KEYS
    assert m["validation"]["n_images"] == 2 and m["validation"]["threshold"] == m["score_threshold"]
    assert m["annotations"]["images"] == 6 and m["annotations"]["skipped"] == 0

    model = onnx.load(os.path.join(model_dir, "model.onnx"))
    meta = {p.key: p.value for p in model.metadata_props}
    assert set(meta) == contract_metadata_keys()
    # The outline head is on by default: format 2, a second output.
    assert meta["exodetect.format"] == "exodetect-detections" and meta["exodetect.format_version"] == "2"
    assert meta["exodetect.outline"] == "star-convex 32 rays"
    assert json.loads(meta["exodetect.class_names"]) == ["exosome"]
    assert float(meta["exodetect.nm_per_px"]) == 3.0
    assert float(meta["exodetect.score_threshold"]) == m["score_threshold"]
    assert meta["exodetect.dataset_fingerprint"] == m["dataset_fingerprint"]
    assert [i.name for i in model.graph.input] == ["images"] and [o.name for o in model.graph.output] == ["detections", "outlines"]
    assert 13 <= model.opset_import[0].version <= 17

    # Same input through PyTorch and onnxruntime-node; dynamic H, W (not the export's 128x160) and N=2.
    _, net = load_exported(model_dir)
    a = validation_crop(base)
    b = validation_crop(base, "synth_00001.png") * 0.5
    x = np.stack([a, b])[:, None].astype(np.float32)
    with torch.no_grad():
        ref, ref_outlines = (t.numpy() for t in ExportModel(net, 50)(torch.from_numpy(x)))
    got, info = run_onnx_in_node(os.path.join(model_dir, "model.onnx"), x, str(tmp_path))
    got_outlines = info["arrays"]["outlines"]
    assert info["dims"] == [2, 50, 6] and info["outputs"]["outlines"] == [2, 50, 64]
    assert np.all(np.diff(got[:, :, 4], axis=1) <= 1e-7), "detections sorted by score"
    # Compare everything above a threshold that keeps at least 10 detections per image (so the check is not vacuous).
    for i in range(2):
        thr = min(m["score_threshold"], float(np.sort(ref[i, :, 4])[-12]))
        want = ref[i][ref[i, :, 4] >= thr + 1e-5]
        have = got[i][got[i, :, 4] >= thr - 1e-5]
        assert len(want) >= 9
        want_outlines = ref_outlines[i][ref[i, :, 4] >= thr + 1e-5]
        have_outlines = got_outlines[i][got[i, :, 4] >= thr - 1e-5]
        for d, outline in zip(want, want_outlines):
            diff = np.abs(have - d).max(axis=1)
            assert diff.min() <= 1e-3, (d, have[np.argmin(diff)])
            # The same detection's outline, vertex by vertex, within 1e-3 px.
            assert np.abs(have_outlines[np.argmin(diff)] - outline).max() <= 1e-3


def test_tta_auto_on_a_small_set_is_the_flip_averaged_network_and_empty_crops_follow_the_set_size(tmp_path):
    base = make_tree(str(tmp_path / "ml"))
    # tta and crops_per_image empty: both decided by the set's size (6 images: flip-averaged, 16 crops).
    hp = {k: v for k, v in TINY_HP.items() if k not in ("crops_per_image", "tta")}
    r = run_trainer(base, dict(hp, epochs="1"))
    assert r.returncode == 0, r.stderr[-3000:]
    # 4 training images: 320 crops an epoch would be 80 an image; at most 16.
    assert "crops: 16 per image per epoch, 64 per epoch (crops_per_image empty: chosen for 4 training images)" in r.stdout
    model_dir = os.path.join(base, "model")
    with open(os.path.join(model_dir, "metrics.json")) as f:
        m = json.load(f)
    assert m["tta"] is True and m["crops_per_image"] == 16
    with open(os.path.join(model_dir, "card.md")) as f:
        card = f.read()
    assert "Test-time augmentation inside the graph" in card and "| `crops_per_image` | `empty: 16` |" in card
    assert "| `tta` | `auto: True` |" in card and "| `refit` | `False` |" in card
    # The split step gave the validation channel, so the trainer's own hold-out fraction played no part.
    assert "| `val_fraction` | `0.2` (unused: the validation channel was given) |" in card
    _, net = load_exported(model_dir)
    x = validation_crop(base)[None, None].astype(np.float32)
    with torch.no_grad():
        averaged = ExportModel(FlipAveraged(net), 50)(torch.from_numpy(x))[0].numpy()[0]
        single = ExportModel(net, 50)(torch.from_numpy(x))[0].numpy()[0]
    got, _ = run_onnx_in_node(os.path.join(model_dir, "model.onnx"), x, str(tmp_path))
    top = averaged[:10]
    assert np.abs(got[0][:10] - top).max() <= 1e-3
    assert np.abs(single[:10] - top).max() > 1e-2  # the averaged model is not the single pass


def test_moving_average_weights_are_the_ones_exported(tmp_path):
    base = make_tree(str(tmp_path / "ml"))
    r = run_trainer(base, dict(TINY_HP, epochs="1", ema_half_life_epochs="0.5"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert re.search(r"^weights: a moving average, half-life 0.5 epochs \(decay 0\.\d{5} a step\)$", r.stdout, re.M), r.stdout
    ckpt = torch.load(os.path.join(base, "checkpoints", "last.pt"), weights_only=False)
    exported = torch.load(os.path.join(base, "model", "model.pt"))["state_dict"]
    half = lambda v: v.half() if v.is_floating_point() else v  # model.pt stores float16
    averaged, last_step = ckpt["ema"]["module"], ckpt["model"]
    assert ckpt["ema"]["updates"] > 0
    # One epoch: the best epoch is the only one, and its weights are the average, not the last step's.
    assert all(torch.equal(exported[k], half(averaged[k])) for k in exported)
    assert not all(torch.equal(exported[k], half(last_step[k])) for k in exported)


def kill_once_checkpointed(base: str, hp: Dict[str, str], checkpoint: str, timeout_s: float) -> int:
    """Starts the trainer on `base`, kills it (SIGKILL: a spot interruption at its worst, no chance to clean up) as
    soon as `checkpoint` exists, and returns the epoch that checkpoint holds."""
    write_hp(base, hp)
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    p = subprocess.Popen(trainer_cmd(base), cwd=PACKAGE_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.time() + timeout_s
    while not os.path.exists(checkpoint) and p.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert p.returncode == -signal.SIGKILL, "the run finished before it could be interrupted"
    return int(torch.load(checkpoint, weights_only=False)["epoch"])


def assert_same_weights_as_an_uninterrupted_run(base: str, hp: Dict[str, str], other_base: str) -> None:
    """CPU training is deterministic: the model `base` shipped after a resume equals an uninterrupted run's."""
    other = make_tree(other_base)
    r = run_trainer(other, hp)
    assert r.returncode == 0, r.stderr[-3000:]
    s1 = torch.load(os.path.join(base, "model", "model.pt"))["state_dict"]
    s2 = torch.load(os.path.join(other, "model", "model.pt"))["state_dict"]
    assert all(torch.equal(s1[k], s2[k]) for k in s1)


def test_resume_after_interruption_finishes_like_an_uninterrupted_run(tmp_path):
    # With a moving average of the weights: its state is part of the checkpoint.
    hp = dict(TINY_HP, epochs="6", ema_half_life_epochs="1")
    base = make_tree(str(tmp_path / "a"))
    ckpt = os.path.join(base, "checkpoints", "last.pt")
    done = kill_once_checkpointed(base, hp, ckpt, timeout_s=60)
    assert not os.path.exists(os.path.join(base, "model", "model.onnx"))
    assert 1 <= done < 6

    r = run_trainer(base)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"resumed from {ckpt} after epoch {done}" in r.stdout
    epochs = [int(LOG_LINE.match(ln).group(1)) for ln in r.stdout.splitlines() if ln.startswith("epoch=")]
    assert epochs == list(range(done + 1, 7))
    card = open(os.path.join(base, "model", "card.md")).read()
    assert all(f"epoch={e} " in card for e in range(1, 7))

    assert_same_weights_as_an_uninterrupted_run(base, hp, str(tmp_path / "b"))


REFIT_LINE = re.compile(r"^refit_epoch=(\d+) refit_loss=\d+\.\d{4} lr=\d\.\d{6} epoch_time_s=\d+\.\d$")


def test_refit_trains_again_on_all_images_and_ships_that_model(tmp_path):
    base = make_tree(str(tmp_path / "ml"))  # 4 train + 2 validation images: under 100, so auto refits
    r = run_trainer(base, dict(TINY_HP, epochs="2", refit="auto"))
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout.splitlines()
    assert [int(LOG_LINE.match(ln).group(1)) for ln in out if ln.startswith("epoch=")] == [1, 2]
    assert any(ln.startswith("refit: training again on all 6 images (4 train + 2 validation), 2 epochs from the same start, keeping the last") for ln in out), r.stdout
    assert [int(REFIT_LINE.match(ln).group(1)) for ln in out if ln.startswith("refit_epoch=")] == [1, 2]
    assert "refit crops: 2 per image per epoch, 12 per epoch" in r.stdout

    model_dir = os.path.join(base, "model")
    assert sorted(os.listdir(model_dir)) == ["card.md", "metrics.json", "model.onnx", "model.pt", "validated.onnx"]
    m = json.load(open(os.path.join(model_dir, "metrics.json")))
    truth = [json.load(open(os.path.join(base, "input", "data", c, "truth.json"))) for c in ("train", "validation")]
    objects = sum(len(i["objects"]) for t in truth for i in t["images"])
    refit = m["refit"]
    assert {k: refit[k] for k in ("images", "objects", "epochs", "crops_per_image", "held_out_check_model")} == \
        {"images": 6, "objects": objects, "epochs": 2, "crops_per_image": 2, "held_out_check_model": "validated.onnx"}
    assert m["validation"]["n_images"] == 2 and refit["validated_threshold"] == m["validation"]["threshold"]
    assert re.search(rf"^refit threshold: {m['score_threshold']} \(the validated model finds {refit['threshold_matched_detections']} objects above "
                     rf"{refit['validated_threshold']} on the 4 training images; the refit finds as many above {m['score_threshold']}\)$", r.stdout, re.M), r.stdout
    card = open(os.path.join(model_dir, "card.md")).read()
    assert "**Refit.**" in card and "refit_epoch=2 " in card

    # model.onnx is the refit (model.pt's weights); validated.onnx is another network, the validated run's.
    state, net = load_exported(model_dir)
    x = validation_crop(base)[None, None].astype(np.float32)
    with torch.no_grad():
        ref = ExportModel(net, 50)(torch.from_numpy(x))[0].numpy()[0]
    shipped = run_onnx_in_node(os.path.join(model_dir, "model.onnx"), x, str(tmp_path))[0][0]
    validated = run_onnx_in_node(os.path.join(model_dir, "validated.onnx"), x, str(tmp_path))[0][0]
    assert np.abs(shipped[:10] - ref[:10]).max() <= 1e-3
    assert np.abs(validated[:10] - shipped[:10]).max() > 1e-2
    # Each carries its own threshold: the validated run's, and the refit's matched to it.
    thresholds = {name: float({p.key: p.value for p in onnx.load(os.path.join(model_dir, name)).metadata_props}["exodetect.score_threshold"])
                  for name in ("model.onnx", "validated.onnx")}
    assert thresholds == {"model.onnx": m["score_threshold"], "validated.onnx": refit["validated_threshold"]}
    assert float(state["score_threshold"]) == m["score_threshold"]

    # Off, or a set of 100 images or more under auto: no refit.
    off = make_tree(str(tmp_path / "off"))
    r_off = run_trainer(off, dict(TINY_HP, epochs="1", refit="false"))
    assert r_off.returncode == 0 and "refit_epoch=" not in r_off.stdout
    assert not os.path.exists(os.path.join(off, "model", "validated.onnx"))


def test_refit_resumes_after_an_interruption_like_an_uninterrupted_run(tmp_path):
    hp = dict(TINY_HP, epochs="4", refit="true")
    base = make_tree(str(tmp_path / "a"))
    refit_ckpt = os.path.join(base, "checkpoints", "refit.pt")
    done = kill_once_checkpointed(base, hp, refit_ckpt, timeout_s=120)
    assert 1 <= done < 4

    r = run_trainer(base)
    assert r.returncode == 0, r.stderr[-3000:]
    # The validated run is not trained again; the refit goes on where it stopped.
    assert not any(ln.startswith("epoch=") for ln in r.stdout.splitlines())
    assert f"resumed from {refit_ckpt} after epoch {done}" in r.stdout
    assert [int(REFIT_LINE.match(ln).group(1)) for ln in r.stdout.splitlines() if ln.startswith("refit_epoch=")] == list(range(done + 1, 5))

    assert_same_weights_as_an_uninterrupted_run(base, hp, str(tmp_path / "b"))


def test_non_finite_loss_stops_with_a_failure_file(tmp_path):
    base = make_tree(str(tmp_path / "ml"), n_val=0)
    net = ExoNet(1, 8)
    with torch.no_grad():
        net.heat_head[-1].weight.fill_(float("nan"))  # a corrupt starting model
    save_torch_model(net, str(tmp_path / "bad.pt"), ["exosome"], 3.0)
    r = run_trainer(base, dict(TINY_HP, init_from=str(tmp_path / "bad.pt")))
    assert r.returncode != 0
    failure = open(os.path.join(base, "output", "failure")).read()
    assert "non-finite loss" in failure and "epoch 1 step 1" in failure
    assert not os.path.exists(os.path.join(base, "model", "model.onnx"))


def test_bad_annotations_over_the_limit_fail_with_the_list(tmp_path):
    base = make_tree(str(tmp_path / "ml"))
    truth = os.path.join(base, "input", "data", "train", "truth.json")
    with open(truth) as f:
        doc = json.load(f)
    doc["problems"] = [{"file": "labels/synth_00001.txt", "line": 4, "problem": "box [180.0, 60.0, 190.0, 70.0] outside the 128x128 image"},
                       {"file": "labels/synth_00001.txt", "line": 5, "problem": "unknown class id 5 (classes.txt has 1)"}]
    with open(truth, "w") as f:
        json.dump(doc, f)
    r = run_trainer(base, dict(TINY_HP, max_bad_annotation_fraction="0.01"))
    assert r.returncode != 0
    failure = open(os.path.join(base, "output", "failure")).read()
    assert "max_bad_annotation_fraction" in failure
    assert "labels/synth_00001.txt:4: box [180.0, 60.0, 190.0, 70.0] outside the 128x128 image" in failure
    assert "labels/synth_00001.txt:5: unknown class id 5" in failure


def test_unknown_hyperparameter_fails_clearly(tmp_path):
    base = make_tree(str(tmp_path / "ml"), n_train=2, n_val=0)
    r = run_trainer(base, {"epochs": "1", "learning_rate": "0.1"})
    assert r.returncode != 0
    failure = open(os.path.join(base, "output", "failure")).read()
    assert "unknown hyperparameter(s) 'learning_rate'" in failure and "allowed:" in failure


def test_init_from_loads_matching_weights(tmp_path):
    src = ExoNet(1, 8)
    save_torch_model(src, str(tmp_path / "model.pt"), ["exosome"], 2.0)
    same = ExoNet(1, 8)
    info = load_init_weights(same, str(tmp_path))  # a folder holding model.pt works too
    assert info["skipped"] == 0
    assert torch.allclose(same.s8[0][0].weight, src.s8[0][0].weight, atol=1e-3)
    two = ExoNet(2, 8)
    info2 = load_init_weights(two, str(tmp_path / "model.pt"))
    assert info2["skipped"] == 2  # heatmap head weight and bias: new class count


def test_outline_head_learns_the_true_outlines_of_synthetic_vesicles(tmp_path):
    """Fine-tuned from the bundled model for a few epochs on micrographs whose outlines the generator knows, the head's
    polygons size the held-out vesicles within a few percent of their true area-equivalent diameter, where their boxes
    (the membrane widened by the labelling margin) read a fifth too large. (The ONNX graph's outlines match PyTorch's: the test above.)"""
    from dataclasses import replace as dc_replace
    from exodetect_train.synth import SynthConfig, write_dataset
    base = str(tmp_path / "ml")
    cfg = dc_replace(SynthConfig(), width=256, height=256, nm_per_px=2.0, coverage=(0.1, 0.15))
    write_dataset(os.path.join(base, "input", "data", "train"), 12, cfg, seed=1, labels="truth")
    write_dataset(os.path.join(base, "input", "data", "validation"), 4, cfg, seed=2, labels="truth")
    hp = dict(TINY_HP, epochs="4", crop_size="256", crops_per_image="4", batch_size="8", width="24", nm_per_px="2.0",
              lr="0.002", max_detections="100", init_from=os.path.join(REPO_ROOT, "models", "default", "model.pt"))
    r = run_trainer(base, hp)
    assert r.returncode == 0, r.stderr[-3000:]
    with open(os.path.join(base, "model", "metrics.json")) as f:
        v = json.load(f)["validation"]
    # Most vesicles are found at the recommended threshold (on ~30 validation objects it leans on the prior of 0.5).
    assert v["sizing_n"] >= 20 and v["recall"] > 0.75, v
    assert v["outline_diameter_median_abs_rel_error"] <= 0.06, v
    assert abs(v["outline_diameter_median_rel_bias"]) <= 0.04, v
    assert v["outline_diameter_within_10pct"] >= 0.6, v
    assert v["box_diameter_median_rel_bias"] >= 0.15, v  # the boxes alone are far off: the head does the work
