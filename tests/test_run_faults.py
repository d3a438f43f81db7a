"""Runs under faults: kill -9 at seeded points and `--resume` end like the uninterrupted run; planted pickles never run;
`--overwrite` never deletes what it should not; a run folder is locked and bound to the inputs it was made from.

Every command runs in a child forked from one driver process that imported videolights once (`cli` fixture), so a
command costs its own work and not the ~7 s of importing torch, datasets and accelerate; a child that is killed with
SIGKILL dies exactly as a `kill -9`-ed `videolights train` would."""
import json, os, pickle, random, shutil, subprocess, sys
from pathlib import Path

import pytest

TINY_BLOCKS = dict(video_blocks=(("slowfast", 24, 1.0), ("clip", 16, 0.5), ("blip", 8, 0.25)),
                   text_blocks=(("clip", 16, 1.0), ("blip", 8, 0.5)))
ENV = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", TQDM_DISABLE="1", MPLBACKEND="Agg")
# 16 train queries in batches of 4: 4 optimizer steps per epoch, 2 epochs; with --save-every 3 the state is saved at
# steps 3 (inside epoch 1), 4 (end of epoch 1), 6 (inside epoch 2) and 8 (end of the run): saves number 1 to 4
RUN = ["--preset", "tiny", "--set", "train.n_epoch=2", "--set", "train.bsz=4"]

DRIVER = r'''
import json, os, signal, sys, traceback
from pathlib import Path
import torch
import videolights.cli, videolights.train.loop, videolights.train.runs  # imported once; each job runs in a fork
import matplotlib.pyplot as plt
torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))])  # the first optimizer imports torch._dynamo (seconds)
# the training curve is not what these tests check, and drawing it costs more than the tiny run's training
videolights.train.loop.plot_history = lambda history, title="", path=None: plt.figure()

def install(kill):
    "Make this process SIGKILL itself at the n-th time it reaches the point `kill['at']`."
    seen = {"n": 0}
    def hit():
        seen["n"] += 1
        if seen["n"] == kill["n"]:
            os.kill(os.getpid(), signal.SIGKILL)
    if kill["at"] == "step":  # before the n-th optimizer update of this process
        step = torch.optim.AdamW.step
        def hooked(self, *a, **k):
            hit()
            return step(self, *a, **k)
        torch.optim.AdamW.step = hooked
    elif kill["at"] == "rename":  # in the n-th state save, before the rename of the new state into place
        replace = os.replace
        def hooked(src, dst, *a, **k):
            if Path(src).name == ".state.tmp":
                hit()
            return replace(src, dst, *a, **k)
        os.replace = hooked
    elif kill["at"] == "write":  # in the n-th state save, after weights and optimizer, before train_state.json
        runs, save_tree = videolights.train.runs, videolights.train.runs.save_tree
        def hooked(folder, name, tree):
            if name == "train_state":
                hit()
            return save_tree(folder, name, tree)
        runs.save_tree = hooked

def child(job, out, err):
    fd_out, fd_err = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd_out, 1)
    os.dup2(fd_err, 2)
    try:
        if job.get("kill"):
            install(job["kill"])
        rc = videolights.cli.main(job["argv"])
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    except BaseException:
        traceback.print_exc()
        rc = 99
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)

for line in sys.stdin:
    job = json.loads(line)
    out, err = job["log"] + ".out", job["log"] + ".err"
    pid = os.fork()
    if pid == 0:
        child(job, out, err)
    _, status = os.waitpid(pid, 0)
    res = {"rc": os.waitstatus_to_exitcode(status), "out": Path(out).read_text(), "err": Path(err).read_text()}
    print(json.dumps(res), flush=True)
'''


class Driver:
    "`videolights` commands run in children forked from one process that imported the package once."

    def __init__(self, logs: Path):
        self.logs, self.n = logs, 0
        self.p = subprocess.Popen([sys.executable, "-c", DRIVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  env=ENV)

    def __call__(self, *argv, kill=None) -> dict:
        self.n += 1
        job = {"argv": [str(a) for a in argv], "kill": kill, "log": str(self.logs / f"job{self.n}")}
        self.p.stdin.write(json.dumps(job) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        assert line, "the driver process died"
        return json.loads(line)

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=60)


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    d = Driver(tmp_path_factory.mktemp("logs"))
    yield d
    d.close()


def ok(r):
    assert r["rc"] == 0, r["err"][-3000:]
    return r


def one_line_error(r, *needles):
    "The command failed with exit code 2 and one error line (no traceback) that contains every needle."
    assert r["rc"] == 2, (r["rc"], r["err"][-3000:])
    assert "Traceback" not in r["err"], r["err"][-3000:]
    lines = [l for l in r["err"].splitlines() if "error:" in l]
    assert len(lines) == 1 and lines[0].startswith("videolights "), r["err"]
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    from videolights.data.synthetic import make_synthetic
    return make_synthetic("small", out=tmp_path_factory.mktemp("ds") / "tiny16", n_train=16, n_val=8, **TINY_BLOCKS)


@pytest.fixture(scope="module")
def reference(cli, ds, tmp_path_factory):
    "The uninterrupted run (8 steps, state saved 4 times)."
    out = tmp_path_factory.mktemp("ref") / "run"
    ok(cli("train", *RUN, "--dataset", ds, "--output-dir", out, "--save-every", 3))
    return out


def weights(d):
    from safetensors.torch import load_file
    return load_file(str(Path(d) / "model.safetensors"))


def assert_same_run(a: Path, b: Path):
    "Same final weights (bitwise), best metrics and per-epoch log; no state or lock debris beside the state."
    wa, wb = weights(a / "last"), weights(b / "last")
    assert wa.keys() == wb.keys() and all((wa[k] == wb[k]).all() for k in wa)
    assert json.loads((a / "metrics.json").read_text()) == json.loads((b / "metrics.json").read_text())
    assert (a / "log.jsonl").read_text() == (b / "log.jsonl").read_text()
    assert sorted(p.name for p in b.iterdir() if p.name.startswith(".")) == [".videolights.lock"]


def state_step(run: Path) -> int:
    return json.loads((run / "state" / "train_state.json").read_text())["tree"]["train_state"]["step"]


_rng = random.Random(18)  # the seeded kill points (issue #18), drawn among the points of each kind
_steps = _rng.sample(range(4, 9), 2)  # optimizer updates after the first saved state
KILLS = {
    "before-first-state": ([], dict(at="step", n=1)),
    f"before-update-{_steps[0]}": ([], dict(at="step", n=_steps[0])),
    f"before-update-{_steps[1]}": ([], dict(at="step", n=_steps[1])),
    "between-renames": ([], dict(at="rename", n=_rng.randint(2, 4))),  # saves 2-4 replace an earlier state
    "mid-save": ([], dict(at="write", n=_rng.randint(2, 4))),
    "log-written-no-state": (["--save-every", "0"], dict(at="write", n=1)),  # end of epoch 1, first save
}


@pytest.mark.parametrize("name", list(KILLS))
def test_kill_then_resume_is_the_uninterrupted_run(cli, ds, reference, tmp_path, name):
    "kill -9 at a seeded point, then `--resume` (no other option): the run ends bitwise like the uninterrupted one."
    extra, kill = KILLS[name]
    out = tmp_path / "run"
    r = cli("train", *RUN, "--dataset", ds, "--output-dir", out, "--save-every", 3, *extra, kill=kill)
    assert r["rc"] == -9, (kill, r["rc"], r["err"][-2000:])
    assert (out / "run.json").exists() and not (out / "train_summary.json").exists()
    if name == "log-written-no-state":
        assert (out / "log.jsonl").exists() and not (out / "state").exists()
    if name == "between-renames":
        assert not (out / "state").exists() and (out / ".state.old" / "train_state.json").exists()
    ok(cli("train", "--output-dir", out, "--resume"))
    assert_same_run(reference, out)


def test_save_every_is_kept_across_resume(cli, ds, reference, tmp_path):
    "A resumed run keeps saving at the recorded --save-every (its dataset also comes from run.json)."
    out = tmp_path / "run"
    assert cli("train", *RUN, "--dataset", ds, "--output-dir", out, "--save-every", 3, kill=dict(at="step", n=5))["rc"] == -9
    assert state_step(out) == 4                                     # saved at the end of epoch 1
    assert cli("train", "--output-dir", out, "--resume", kill=dict(at="step", n=3))["rc"] == -9   # killed before step 7
    assert state_step(out) == 6                                     # step 6 was saved: --save-every 3 still holds
    assert json.loads((out / "run.json").read_text())["save_every"] == 3
    ok(cli("train", "--output-dir", out, "--resume"))
    assert_same_run(reference, out)


class Payload:
    "A pickle that creates the folder `path` when it is unpickled."

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.mkdir, (self.path,))


PLANTED = ["run.json", "config.json", "state/model.safetensors", "state/optimizer.json", "state/optimizer.safetensors",
           "state/rng_0.json", "state/rng_0.safetensors", "state/train_state.json", "state/custom_checkpoint_1.pkl"]


def test_payload_is_live(tmp_path):
    "The control: unpickling the payload does create its marker (so the tests below could fail)."
    pickle.loads(pickle.dumps(Payload(tmp_path / "ran")))
    assert (tmp_path / "ran").is_dir()


@pytest.mark.parametrize("planted", PLANTED)
def test_planted_pickle_never_runs(cli, reference, tmp_path, planted):
    """Every file `--resume` reads, replaced by a pickle whose loading would create a marker: one-line refusal naming the
    file, and no marker. `custom_checkpoint_1.pkl` stands for a state folder of the old pickle format (Accelerate's)."""
    run, marker = tmp_path / "run", tmp_path / "PAYLOAD_RAN"
    shutil.copytree(reference, run)
    if planted.endswith(".pkl"):  # the old format: the state folder holds Accelerate's pickles only
        shutil.rmtree(run / "state")
        (run / "state").mkdir()
        for f in ("custom_checkpoint_0.pkl", "custom_checkpoint_1.pkl", "random_states_0.pkl", "optimizer.bin"):
            (run / "state" / f).write_bytes(pickle.dumps(Payload(marker)))
    else:
        (run / planted).write_bytes(pickle.dumps(Payload(marker)))
    r = cli("train", "--output-dir", run, "--resume")
    one_line_error(r, Path(planted).name)
    assert not marker.exists()


def test_old_pickle_state_is_refused_by_name(cli, reference, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    shutil.rmtree(run / "state")
    (run / "state").mkdir()
    (run / "state" / "custom_checkpoint_1.pkl").write_bytes(b"\x80\x04N.")
    line = one_line_error(cli("train", "--output-dir", run, "--resume"), "pickle format of earlier versions",
                          "--init-from")
    assert str(run / "last") in line


def test_resume_is_bound_to_its_dataset_and_config(cli, ds, reference, tmp_path):
    "Another dataset or a changed config field is refused, naming what differs; budgets may change."
    from videolights.data.synthetic import make_synthetic
    other = make_synthetic("small", out=tmp_path / "other", n_train=12, n_val=8, **TINY_BLOCKS)
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    before = {f: (run / f).read_bytes() for f in ("run.json", "log.jsonl", "state/model.safetensors")}
    one_line_error(cli("train", "--output-dir", run, "--resume", "--dataset", other), "differs", "videolights_data.json",
                   "train/data-00000-of-00001.arrow")
    one_line_error(cli("train", "--output-dir", run, "--resume", "--set", "model.hidden_dim=16"),
                   "model.hidden_dim=16 (the run's: 32)")
    one_line_error(cli("train", "--output-dir", run, "--resume", "--seed", 5), "train.seed=5 (the run's: 2018)")
    one_line_error(cli("train", "--output-dir", run, "--resume", "--preset", "tiny"), "train.bsz=8 (the run's: 4)")
    one_line_error(cli("train", "--output-dir", run, "--resume", "--overwrite"), "not both")
    one_line_error(cli("train", "--output-dir", tmp_path / "none", "--resume"), "--resume needs --output-dir")
    for f, b in before.items():
        assert (run / f).read_bytes() == b, f
    moved = tmp_path / "moved"
    shutil.copytree(ds, moved)
    rec = json.loads((run / "run.json").read_text())
    rec["dataset"]["path"] = str(tmp_path / "gone")
    (run / "run.json").write_text(json.dumps(rec))
    one_line_error(cli("train", "--output-dir", run, "--resume"), "pass --dataset with its new location")
    # a finished run resumed on a moved copy of its dataset, with a larger budget: accepted
    ok(cli("train", "--output-dir", run, "--resume", "--dataset", moved, "--set", "train.max_minutes=30"))


def test_overwrite_checks_inputs_before_touching_the_old_run(cli, reference, ds, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    files = sorted(p.relative_to(run) for p in run.rglob("*") if p.is_file())
    before = {f: (run / f).read_bytes() for f in files}
    one_line_error(cli("train", *RUN, "--dataset", ds, "--output-dir", run, "--overwrite", "--init-from", tmp_path / "nope"),
                   "nope", "not found")
    one_line_error(cli("train", "--preset", "synthetic", "--dataset", ds, "--output-dir", run, "--overwrite"),
                   "does not fit the config")
    assert sorted(p.relative_to(run) for p in run.rglob("*") if p.is_file()) == files
    assert all((run / f).read_bytes() == b for f, b in before.items())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no `.run.new-*` / `.run.old-*` left


def test_overwrite_replaces_a_run(cli, reference, ds, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    (run / "notes-of-the-old-run.txt").write_text("old")
    one_line_error(cli("train", *RUN, "--dataset", ds, "--output-dir", run), "already holds a training run", "--overwrite")
    ok(cli("train", *RUN, "--dataset", ds, "--output-dir", run, "--overwrite", "--max-steps", 1))
    assert not (run / "notes-of-the-old-run.txt").exists() and state_step(run) == 1
    assert json.loads((run / "train_summary.json").read_text())["steps"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def build(out, tmp_path, *flag):
    "`videolights data build` argv into `out` (the feature folders exist; the folder policy is checked before reading)."
    feats = [tmp_path / "feats" / b for b in ("slowfast", "clip", "blip")]
    for f in feats:
        f.mkdir(parents=True, exist_ok=True)
    return ["data", "build", "--preset", "tiny", "--video-feats", *feats, "--text-feats", *feats[1:],
            "--annotations", f"train={tmp_path / 'train.jsonl'}", "--out", out, *flag]


def test_foreign_folders_are_never_replaced(cli, reference, ds, tmp_path):
    "`train`, `convert` and `data build` refuse, with and without --overwrite, a folder that is not theirs."
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("years of work")
    for flag in ([], ["--overwrite"]):
        one_line_error(cli("train", *RUN, "--dataset", ds, "--output-dir", home, *flag), "thesis.tex", "not written by videolights")
        one_line_error(cli("convert", "--checkpoint", tmp_path / "any.ckpt", "--out", home, *flag), "thesis.tex")
        one_line_error(cli(*build(home, tmp_path, *flag)), "thesis.tex")
    assert sorted(p.name for p in home.iterdir()) == ["thesis.tex"] and (home / "thesis.tex").read_text() == "years of work"
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    one_line_error(cli("convert", "--checkpoint", tmp_path / "any.ckpt", "--out", run, "--overwrite"),
                   "holds a training run, not a checkpoint")
    one_line_error(cli(*build(run, tmp_path, "--overwrite")), "holds a training run, not a dataset")
    one_line_error(cli(*build(ds, tmp_path)), "already holds a dataset", "--overwrite")
    assert (run / "log.jsonl").read_text() == (reference / "log.jsonl").read_text()


def test_convert_overwrite(cli, reference, tmp_path):
    "`convert --out` replaces a checkpoint only with --overwrite, a file (--to-official) too."
    ckpt = tmp_path / "model_best.ckpt"
    ok(cli("convert", "--to-official", "--checkpoint", reference / "best", "--out", ckpt))
    one_line_error(cli("convert", "--to-official", "--checkpoint", reference / "best", "--out", ckpt), "already exists",
                   "--overwrite")
    ok(cli("convert", "--to-official", "--checkpoint", reference / "best", "--out", ckpt, "--overwrite"))
    ok(cli("convert", "--checkpoint", ckpt, "--out", tmp_path / "ours"))
    one_line_error(cli("convert", "--checkpoint", ckpt, "--out", tmp_path / "ours"), "already holds a checkpoint")
    ok(cli("convert", "--checkpoint", ckpt, "--out", tmp_path / "ours", "--overwrite"))
    w = weights(tmp_path / "ours")
    assert all((w[k] == v).all() for k, v in weights(reference / "best").items())


def test_second_writer_is_locked_out(cli, reference, ds, tmp_path):
    "While a process writes into a run folder, a second `train` into it stops at once, naming the holder's pid."
    from videolights.core.io import locked_dir
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    with locked_dir(run):  # this test process stands for the first `train`
        one_line_error(cli("train", "--output-dir", run, "--resume"), f"pid {os.getpid()}")
        one_line_error(cli("train", *RUN, "--dataset", ds, "--output-dir", run, "--overwrite"), f"pid {os.getpid()}")
    assert (run / "log.jsonl").read_text() == (reference / "log.jsonl").read_text()
