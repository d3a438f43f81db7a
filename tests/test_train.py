"""End-to-end tests of `videolights train` / `pretrain`: learning, exact resume, bad input, and the main job on the embedded synthetic dataset."""
import json, os, subprocess, sys
from pathlib import Path

import pytest

TINY_BLOCKS = dict(video_blocks=(("slowfast", 24, 1.0), ("clip", 16, 0.5), ("blip", 8, 0.25)),
                   text_blocks=(("clip", 16, 1.0), ("blip", 8, 0.5)))
ENV = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", TQDM_DISABLE="1", MPLBACKEND="Agg")
_EXE = Path(sys.executable).parent / "videolights"
CMD = [str(_EXE)] if _EXE.exists() else [sys.executable, "-c", "import sys; from videolights.cli import main; sys.exit(main())"]


@pytest.fixture(scope="session")
def tiny_ds(tmp_path_factory):
    "48 train / 24 val synthetic queries with the `tiny` preset's feature blocks."
    from videolights.data.synthetic import make_synthetic
    return make_synthetic("small", out=tmp_path_factory.mktemp("ds") / "tiny", n_train=48, n_val=24, **TINY_BLOCKS)


def run(cmd, args, check=True):
    r = subprocess.run(cmd + args, capture_output=True, text=True, env=ENV)
    if check: assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r


def train(cmd, out, ds, *extra, check=True):
    return run(cmd, ["train", "--preset", "tiny", "--dataset", str(ds), "--output-dir", str(out), "--set", "train.n_epoch=3", *extra], check)


def weights(d):
    from safetensors.torch import load_file
    return load_file(str(Path(d) / "model.safetensors"))


def assert_same_run(a, b):
    "Same final weights (bitwise), same best metrics and the same per-epoch log."
    wa, wb = weights(a / "last"), weights(b / "last")
    assert wa.keys() == wb.keys()
    for k in wa: assert (wa[k] == wb[k]).all(), k
    assert json.loads((a / "metrics.json").read_text()) == json.loads((b / "metrics.json").read_text())
    assert (a / "log.jsonl").read_text() == (b / "log.jsonl").read_text()


@pytest.fixture(scope="session")
def reference_run(tiny_ds, tmp_path_factory):
    "An uninterrupted 3-epoch tiny run (6 steps per epoch), the reference of the resume tests."
    out = tmp_path_factory.mktemp("ref") / "run"
    train(CMD, out, tiny_ds)
    return out


def test_tiny_run_learns(reference_run, tiny_ds):
    "Loss falls and the best checkpoint beats the untrained model (same seed) on the official metrics."
    from videolights.core.config import VideoLightsConfig
    from videolights.model.videolights import build_model
    from videolights.train import loop as T
    from accelerate.utils import set_seed
    out = reference_run
    for f in ("config.json", "metrics.json", "log.jsonl", "training_curve.png", "train_summary.json", "best_val_preds.jsonl",
              "best/model.safetensors", "best/provenance.json", "last/metrics.json", "state"):
        assert (out / f).exists(), f
    rows = [json.loads(l) for l in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [6, 12, 18] and all("eval" in r for r in rows)
    assert rows[-1]["loss_overall"] < 0.7 * rows[0]["loss_overall"]
    cfg = VideoLightsConfig.load(out / "config.json")
    acc = T._make_accelerator(cfg); set_seed(cfg.train.seed); model = build_model(cfg)
    _, va, gt = T.load_splits(cfg, tiny_ds)
    untrained, _ = T.evaluate(model, T._loader(va, cfg, 24, False), gt, cfg, acc)
    best = json.loads((out / "metrics.json").read_text())
    assert T.selection_score(best["brief"], cfg) > T.selection_score(untrained["brief"], cfg) + 1
    # 18 steps on 24 val queries: the best checkpoint (chosen by the MR selection score, above) must beat the untrained
    # model on R1@0.5, and the saliency head, which learns first, must rank better at the last evaluation than untrained.
    # Single MR numbers at this size are a few queries (1/24 = 4.2 points) and move with the dropout random stream;
    # MR learning proper is checked by the slow 640-step main-job test.
    assert best["brief"]["MR-full-R1@0.5"] > untrained["brief"]["MR-full-R1@0.5"]
    last = rows[-1]["eval"].get("brief", rows[-1]["eval"])
    assert last["HL-min-VeryGood-Hit1"] > untrained["brief"]["HL-min-VeryGood-Hit1"]
    summ = json.loads((out / "train_summary.json").read_text())
    assert summ["status"] == "completed" and summ["steps"] == 18 and summ["processes"] == 1


@pytest.mark.parametrize("stop", [6, 8], ids=["after-epoch-1", "mid-epoch-2"])
def test_resume_is_exact(reference_run, tiny_ds, tmp_path, videolights_cmd, stop):
    "A run stopped by --max-steps (at an epoch end or inside an epoch) and resumed equals the uninterrupted run."
    out = tmp_path / "run"
    r = train(videolights_cmd, out, tiny_ds, "--max-steps", str(stop))
    summ = json.loads((out / "train_summary.json").read_text())
    assert summ["status"] == "max_steps" and summ["steps"] == stop and "--resume" in summ["resume_hint"]
    run(videolights_cmd, ["train", "--output-dir", str(out), "--resume", "--dataset", str(tiny_ds)])
    assert json.loads((out / "train_summary.json").read_text())["status"] == "completed"
    assert_same_run(reference_run, out)


CRASH = """
import os, sys, torch
n = {"steps": 0}
orig = torch.optim.AdamW.step
def step(self, *a, **k):
    n["steps"] += 1
    if n["steps"] == 10: os._exit(17)   # killed before the 10th update (inside epoch 2)
    return orig(self, *a, **k)
torch.optim.AdamW.step = step
from videolights.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_resume_after_crash(reference_run, tiny_ds, tmp_path, videolights_cmd):
    "A process killed mid-epoch resumes from the last periodic state (--save-every) and still ends like the uninterrupted run."
    out = tmp_path / "run"
    r = train([sys.executable, "-c", CRASH], out, tiny_ds, "--save-every", "4", check=False)
    assert r.returncode == 17, r.stderr[-2000:]
    assert not (out / "train_summary.json").exists() and (out / "state").exists()
    run(videolights_cmd, ["train", "--output-dir", str(out), "--resume", "--dataset", str(tiny_ds)])
    assert_same_run(reference_run, out)


def test_existing_run_is_not_overwritten(reference_run, tiny_ds, videolights_cmd):
    before = (reference_run / "log.jsonl").read_text()
    r = train(videolights_cmd, reference_run, tiny_ds, check=False)
    assert r.returncode == 2 and "already holds a training run" in r.stderr
    assert (reference_run / "log.jsonl").read_text() == before


def test_dataset_dims_do_not_fit(tiny_ds, tmp_path, videolights_cmd):
    r = run(videolights_cmd, ["train", "--preset", "synthetic", "--dataset", str(tiny_ds), "--output-dir", str(tmp_path / "o")], check=False)
    assert r.returncode == 2 and "does not fit the config" in r.stderr and "slowfast" in r.stderr, r.stderr[-2000:]
    assert "Traceback" not in r.stderr


def test_init_from_checkpoint_of_another_config(reference_run, tiny_ds, tmp_path, videolights_cmd):
    r = train(videolights_cmd, tmp_path / "o", tiny_ds, "--set", "model.hidden_dim=16", "--init-from", str(reference_run / "best"), check=False)
    assert r.returncode == 2 and "another config" in r.stderr and "model.hidden_dim=32" in r.stderr, r.stderr[-2000:]
    assert not (tmp_path / "o" / "best").exists()


def test_unwritable_output_dir(tiny_ds, tmp_path, videolights_cmd):
    (tmp_path / "file").write_text("not a directory")
    r = train(videolights_cmd, tmp_path / "file" / "run", tiny_ds, check=False)
    assert r.returncode == 2 and "is not writable" in r.stderr and "--output-dir" in r.stderr


def nan_copy(ds, out):
    "A copy of `ds` whose video features are all NaN."
    import numpy as np
    from videolights.data.store import load_dataset, save_dataset
    dd = load_dataset(ds)
    dd["videos"] = dd["videos"].map(lambda r: {"v_slowfast": np.full_like(np.asarray(r["v_slowfast"], np.float32), np.nan)})
    return save_dataset(dd, out, {k: v for k, v in dd.manifest.items() if k not in ("splits", "n_videos", "complete", "format_version")})


def test_nan_loss_stops_and_keeps_last_good_state(tiny_ds, tmp_path, videolights_cmd):
    "Training that meets a NaN loss stops with the step and query ids; checkpoints, state and log of the last good epoch stay."
    out = tmp_path / "run"
    train(videolights_cmd, out, tiny_ds, "--max-steps", "6")             # one good epoch
    keep = {f: (out / f).read_bytes() for f in ("log.jsonl", "last/model.safetensors", "best/model.safetensors", "state/model.safetensors")}
    bad = nan_copy(tiny_ds, tmp_path / "nan_ds")
    r = run(videolights_cmd, ["train", "--output-dir", str(out), "--resume", "--dataset", str(bad)], check=False)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "training stopped at epoch 2, optimizer step 7, batch 0 of the epoch" in r.stderr and "queries [" in r.stderr
    assert "NaN" in r.stderr and "last good checkpoint" in r.stderr and "Traceback" not in r.stderr
    for f, b in keep.items(): assert (out / f).read_bytes() == b, f


def test_pretrain_then_finetune(tiny_ds, tmp_path, videolights_cmd):
    "`videolights pretrain` on a pretraining corpus, then `train --init-from` its best checkpoint."
    from videolights.data.synthetic import make_synthetic
    corpus = make_synthetic("small", out=tmp_path / "corpus", n_train=32, n_val=16, variant="pretrain", **TINY_BLOCKS)
    run(videolights_cmd, ["pretrain", "--preset", "tiny", "--dataset", str(corpus), "--output-dir", str(tmp_path / "pt"), "--set", "train.n_epoch=1"])
    assert (tmp_path / "pt" / "best" / "model.safetensors").exists()
    train(videolights_cmd, tmp_path / "ft", tiny_ds, "--init-from", str(tmp_path / "pt" / "best"), "--max-steps", "2")
    prov = json.loads((tmp_path / "ft" / "last" / "provenance.json").read_text())
    assert prov["extra"]["step"] == 2
    r = run(videolights_cmd, ["pretrain", "--preset", "tiny"], check=False)
    assert r.returncode == 2 and "--dataset" in r.stderr


@pytest.mark.slow
def test_main_job_synthetic(tmp_path, videolights_cmd):
    """The README's first command (`videolights train --preset synthetic`) learns far above chance.

    The preset stops after 30 epochs or 8 minutes, whichever comes first, so what it reaches depends on the machine's load.
    To make the floor independent of the load, this test runs the preset for a fixed 640 steps (20 epochs of 32 steps;
    `train.max_minutes` lifted): training is seeded and deterministic on CPU. Measured (R1@0.5 / VeryGood HIT@1 / mAP)
    on this project's 2-core machine: train.seed 2018 (the default, this test) 55.0 / 81.5 / 21.7, seed 1 65.0 / 80.5 /
    27.3, seed 2 69.0 / 80.5 / 30.3. The floors sit about 10 points (mAP 7) under the lowest seed: the seeds spread by
    14 / 1 / 9 points, and a CPU of another kind rounds differently and moves the run like another seed would, while a
    bug that halves what the model learns falls below them. Chance (random submission) is about 8-11 R1@0.5, 13-20
    HIT@1 and 7 mAP."""
    out = tmp_path / "synth"
    r = run(videolights_cmd, ["train", "--preset", "synthetic", "--output-dir", str(out), "--set", "train.n_epoch=20",
                              "--set", "train.max_minutes=40"])
    m = json.loads((out / "metrics.json").read_text())["brief"]
    assert m["MR-full-R1@0.5"] > 45 and m["HL-min-VeryGood-Hit1"] > 70 and m["MR-full-mAP"] > 15, m
    summ = json.loads((out / "train_summary.json").read_text())
    assert summ["status"] == "completed" and summ["steps"] == 640
    for f in ("config.json", "best/model.safetensors", "last/model.safetensors", "log.jsonl", "training_curve.png"): assert (out / f).exists()
    assert "MR-full-R1@0.5" in r.stdout and "best epoch" in r.stdout

TINY_MODEL = ["--set", "model.hidden_dim=32", "--set", "model.nheads=4", "--set", "model.dim_feedforward=64", "--set", "model.enc_layers=1",
              "--set", "model.dec_layers=2", "--set", "model.num_queries=5", "--set", "model.contrastive_hdim=16"]


@pytest.fixture(scope="session")
def tiny_tvsum(tmp_path_factory):
    "Two TVSum domains (real annotations: 4 train + 1 val video each) with random 24-d video and 16-d text features."
    import numpy as np
    from videolights.core.io import load_jsonl
    from videolights.data.layout import write_npz_layout
    from videolights.data.store import build_dataset
    root, rng = tmp_path_factory.mktemp("tvsum"), np.random.default_rng(0)
    data = Path(__file__).resolve().parents[1] / "data" / "tvsum"
    ann, recs = {}, []
    for split in ("train", "val"):
        rs = [r for r in load_jsonl(data / f"tvsum_{split}.jsonl") if r["domain"] in ("BK", "BT")]
        ann[split] = root / f"{split}.jsonl"; ann[split].write_text("".join(json.dumps(r) + "\n" for r in rs)); recs += rs
    d = write_npz_layout(root / "feats", {r["vid"]: {"i3d": rng.standard_normal((len(r["label"]), 24)).astype("float32")} for r in recs},
                         {r["qid"]: {"clip": rng.standard_normal((6, 16)).astype("float32")} for r in recs}, kind="tvsum")
    return build_dataset(ann, [d["video"]["i3d"]], [d["text"]["clip"]], root / "ds", kind="tvsum")


def test_tvsum_per_domain(tiny_tvsum, tmp_path, videolights_cmd):
    "`--preset tvsum` trains and evaluates each domain on its own and averages; `--domain` runs one."
    common = ["train", "--preset", "tvsum", "--dataset", str(tiny_tvsum), "--set", 'data.video_blocks=[["i3d",24]]',
              "--set", 'data.text_blocks=[["clip",16]]', "--set", "train.n_epoch=2", "--set", "train.eval_every=1", *TINY_MODEL]
    r = run(videolights_cmd, common + ["--output-dir", str(tmp_path / "all")])
    m = json.loads((tmp_path / "all" / "metrics.json").read_text())
    assert set(m["brief"]) == {"mAP", "BK-mAP", "BT-mAP"} and set(m["per_domain"]) == {"BK", "BT"}
    assert abs(m["brief"]["mAP"] - (m["brief"]["BK-mAP"] + m["brief"]["BT-mAP"]) / 2) < 0.01
    for dom in ("BK", "BT"):
        dm = json.loads((tmp_path / "all" / dom / "metrics.json").read_text())
        assert dm["brief"]["mAP"] == m["brief"][f"{dom}-mAP"]
        assert json.loads((tmp_path / "all" / dom / "config.json").read_text())["data"]["domain"] == dom
        assert (tmp_path / "all" / dom / "best" / "model.safetensors").exists()
    run(videolights_cmd, common + ["--domain", "BT", "--output-dir", str(tmp_path / "bt")])
    assert json.loads((tmp_path / "bt" / "metrics.json").read_text())["brief"] == json.loads((tmp_path / "all" / "BT" / "metrics.json").read_text())["brief"]


@pytest.mark.parametrize("flag", ["loss.quirk_contrastive_sum_padding=false", "loss.quirk_padded_saliency=false"])
def test_quirk_fixed_losses_train(tiny_ds, tmp_path, videolights_cmd, flag):
    "Switching a loss quirk off must train (the text mask reaches the criterion); the ablations rely on it."
    out = tmp_path / "q"
    run(videolights_cmd, ["train", "--preset", "tiny", "--dataset", str(tiny_ds), "--output-dir", str(out),
                          "--set", flag, "--max-steps", "2"])
    assert json.loads((out / "config.json").read_text())["loss"][flag.split(".")[1].split("=")[0]] is False
    assert (out / "last" / "model.safetensors").exists()


def test_bf16_autocast_trains(reference_run, tiny_ds, tmp_path):
    "`train.mixed_precision=bf16` (the speed option of benchmarks/train_step.py) trains through Accelerate's autocast on CPU: losses stay finite and close to fp32 but not equal (autocast is on), weights are saved in float32."
    import math
    out = tmp_path / "bf16"
    train(CMD, out, tiny_ds, "--set", "train.mixed_precision=bf16", "--set", "train.n_epoch=1")
    row = json.loads((out / "log.jsonl").read_text().splitlines()[0])
    ref = json.loads((reference_run / "log.jsonl").read_text().splitlines()[0])
    assert row["step"] == ref["step"] == 6 and math.isfinite(row["loss_overall"])
    assert row["loss_overall"] != ref["loss_overall"]                               # bf16 matmuls: not the fp32 numbers
    # bf16 moves this first-epoch loss by 1.6e-4 .. 1.8e-3 relative over train.seed 2018, 1, 2, 3, 4 (measured): 5e-3
    assert abs(row["loss_overall"] - ref["loss_overall"]) < 5e-3 * ref["loss_overall"]
    import torch
    assert all(v.dtype == torch.float32 for k, v in weights(out / "last").items() if v.is_floating_point())
