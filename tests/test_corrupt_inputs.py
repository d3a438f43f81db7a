"""Every kind of file a user hands the CLI, broken in every usual way, gives one line naming it.

A generated matrix: each kind of input (submission, ground truth, annotations, video / text feature npz, checkpoint
config and weights, the original's `.ckpt`, config JSON, video) is cut to 0 bytes, to 1 byte and to half its size,
gets bytes that are not UTF-8 (in the middle of a text file, over the header of a binary one), and is replaced by a
folder. Each case runs the command that reads that file, in this process (`videolights.cli.main`), and must give exit
code 2, exactly one line on stderr naming the file, no traceback, no output and no change to anything that was there.
Then the reverse (a file where a folder is expected), failed writes (a full disk, no permission), `--set` values of
the wrong type, start > end windows, `--debug`, and `predict --nms -0.5` on a dataset.
"""
import errno, json, os, pathlib, shutil, sys, tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from videolights.cli import main  # noqa: E402

N_RECORDS = 40  # submission / ground-truth records: enough for every code path, fast to score


def _snapshot(root: Path) -> dict:
    "Every file and folder under `root` -> its bytes (None for a folder)."
    return {p: (None if p.is_dir() else p.read_bytes()) for p in sorted(root.rglob("*"))}


def _write_records(path: Path, recs: list):
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    "One correct file of every kind, and where each command writes (`out/`, empty)."
    import torch
    from data_parity_inputs import write_inputs
    from videolights.core.config import VideoLightsConfig
    from videolights.model.checkpoint import save_checkpoint
    from videolights.model.convert import to_official
    from videolights.model.videolights import build_model
    from videolights.testing.tiny import make_test_video

    d = tmp_path_factory.mktemp("corrupt")
    gt = [json.loads(line) for line in open(ROOT / "data/qvhighlights/highlight_val_release.jsonl")][:N_RECORDS]
    sub = [json.loads(line) for line in open(ROOT / "data/examples/qvhighlights_val_example_submission.jsonl")]
    f = dict(gt=_write_records(d / "gt.jsonl", gt), sub=_write_records(d / "sub.jsonl", sub[:N_RECORDS]))
    ann, vdirs, tdirs, recs = write_inputs("qvhighlights", d / "layout")
    f.update(ann=Path(ann), vdirs=vdirs, tdirs=tdirs)
    f["video_npz"] = Path(vdirs[0]) / f"{recs[0]['vid']}.npz"  # the first video: the one a dim check used to trust
    f["text_npz"] = Path(tdirs[0]) / f"qid{recs[0]['qid']}.npz"
    cfg = VideoLightsConfig.from_preset("tiny")
    torch.manual_seed(0)
    model = build_model(cfg)
    f["ckpt"] = save_checkpoint(d / "ckpt", model, cfg)
    to_official(model, cfg, path=d / "official.ckpt", epoch=1)
    f["official"] = d / "official.ckpt"
    f["config"] = cfg.save(d / "config.json")
    clip_blip = 'data.video_blocks=[["clip",20],["blip",16]]', 'data.text_blocks=[["clip",16],["blip",16]]'
    vcfg = VideoLightsConfig.from_preset("tiny", *clip_blip)  # blocks a raw video can give (checked before any model)
    f["demo"] = save_checkpoint(d / "demo", build_model(vcfg), vcfg)
    f["video"] = make_test_video(d / "video.mp4", seconds=8, fps=4, size=32, seed=1)
    (d / "out").mkdir()
    return d, f


def _build_argv(f, out):
    return ["data", "build", "--preset", "qvhighlights", "--video-feats", *map(str, f["vdirs"]), "--text-feats",
            *map(str, f["tdirs"]), "--annotations", f"train={f['ann']}", "--out", str(out / "ds")]


def _eval_argv(f, out):
    return ["eval", "--submission", f["sub"], "--gt", f["gt"], "--out", out / "m.json"]


def _to_official_argv(f, out):
    return ["convert", "--to-official", "--checkpoint", f["ckpt"], "--out", out / "x.ckpt"]


def _predict_argv(f, out):
    return ["predict", f["video"], "a dog", "--checkpoint", f["demo"], "--device", "cpu", "--frame-size", "32",
            "--json", out / "rec.json"]


# kind -> (the file to break, the command that reads it (files, output folder) -> argv, whether the file is text)
KINDS = {
    "submission": (lambda f: f["sub"], _eval_argv, True),
    "ground_truth": (lambda f: f["gt"], _eval_argv, True),
    "annotations": (lambda f: f["ann"], _build_argv, True),
    "video_npz": (lambda f: f["video_npz"], _build_argv, False),
    "text_npz": (lambda f: f["text_npz"], _build_argv, False),
    "checkpoint_config": (lambda f: f["ckpt"] / "config.json", _to_official_argv, True),
    "checkpoint_weights": (lambda f: f["ckpt"] / "model.safetensors", _to_official_argv, False),
    "official_ckpt": (lambda f: f["official"], lambda f, o: ["convert", "--checkpoint", f["official"], "--out", o / "c"], False),
    "config_json": (lambda f: f["config"], lambda f, o: ["train", "--config", f["config"], "--output-dir", o / "run"], True),
    "video": (lambda f: f["video"], _predict_argv, False),
}
BREAKS = ("empty", "one_byte", "half", "not_utf8", "folder")


def _break(path: Path, how: str, text: bool):
    "Replace the file at `path` by its broken form `how`."
    data = path.read_bytes()
    path.unlink()
    if how == "folder":
        path.mkdir()
        return
    garbage = b"\xff\xfe\xc3\x28\x80"
    mid = len(data) // 3
    broken = {"empty": b"", "one_byte": data[:1], "half": data[: len(data) // 2],
              "not_utf8": data[:mid] + garbage + data[mid:] if text else garbage * 4 + data[len(garbage) * 4:]}[how]
    path.write_bytes(broken)


def _run(capsys, argv) -> tuple:
    "Exit code, stdout and stderr of `videolights ARGV` run in this process."
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _assert_one_line(rc, err, culprit):
    lines = err.strip().splitlines()
    assert rc == 2, (rc, err)
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    assert str(culprit) in lines[0], (str(culprit), lines[0])


@pytest.mark.parametrize("how", BREAKS)
@pytest.mark.parametrize("kind", list(KINDS))
def test_broken_file(base, capsys, kind, how):
    d, f = base
    target, argv, text = KINDS[kind]
    path = target(f)
    original = path.read_bytes()
    before = _snapshot(d)
    _break(path, how, text)
    try:
        rc, _, err = _run(capsys, argv(f, d / "out"))
    finally:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
        path.write_bytes(original)
    _assert_one_line(rc, err, path)
    assert _snapshot(d) == before  # no output, no temporary, nothing that was there deleted or changed


def test_file_where_a_folder_is_expected(base, capsys, tmp_path):
    "The reverse: a file given where a folder is read or written, each one line naming it."
    d, f = base
    a_file = f["gt"]
    cases = [
        (["convert", "--to-official", "--checkpoint", a_file, "--out", tmp_path / "x.ckpt"], a_file),
        (["data", "build", "--video-feats", a_file, "--text-feats", *f["tdirs"], "--annotations", f"train={f['ann']}",
          "--out", tmp_path / "ds"], a_file),
        (["data", "info", a_file], a_file),
        (["eval", "--submission", f["sub"], "--gt", f["gt"], "--out", a_file / "m.json"], a_file),
        (["convert", "--checkpoint", f["official"], "--out", a_file], a_file),  # a folder is never written over a file
        (["train", "--config", f["config"], "--output-dir", tmp_path / "run", "--set", "train.bsz=abc"], "train.bsz"),
    ]
    before = _snapshot(d)
    for argv, culprit in cases:
        rc, _, err = _run(capsys, argv)
        _assert_one_line(rc, err, culprit)
    assert _snapshot(d) == before and not list(tmp_path.iterdir())


def _raise(e):
    "A stand-in for a library call that fails with `e`."
    def fail(*a, **k):
        raise e
    return fail


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES])
def test_failed_writes_name_the_output(base, capsys, tmp_path, monkeypatch, code):
    """A full disk or a missing permission while the output is written: one line naming the output (not its hidden
    temporary), nothing left behind. The errors are raised the way the kernel raises them: ENOSPC from write() (no
    file name), EACCES from open() (the temporary's name)."""
    d, f = base
    before = _snapshot(d)
    write_text, why = pathlib.Path.write_text, os.strerror(code)

    def failing_write_text(self, *a, **k):
        if self.name.startswith(".m.json."):  # the temporary of `--out m.json`
            raise OSError(code, why, *([] if code == errno.ENOSPC else [str(self)]))
        return write_text(self, *a, **k)

    monkeypatch.setattr(pathlib.Path, "write_text", failing_write_text)
    rc, _, err = _run(capsys, ["eval", "--submission", f["sub"], "--gt", f["gt"], "--out", tmp_path / "m.json"])
    _assert_one_line(rc, err, tmp_path / "m.json")
    assert why in err and ".m.json." not in err and not list(tmp_path.iterdir())
    monkeypatch.undo()
    import videolights.model.hub as C  # where the checkpoint files are written

    monkeypatch.setattr(C, "save_file", _raise(OSError(code, why, *([] if code == errno.ENOSPC else ["x"]))))
    if code == errno.EACCES:  # a folder one may not write into: the temporary folder cannot be made
        monkeypatch.setattr(tempfile, "mkdtemp", _raise(PermissionError(code, why, str(tmp_path / ".conv.tmp"))))
    rc, _, err = _run(capsys, ["convert", "--checkpoint", f["official"], "--out", tmp_path / "conv"])
    _assert_one_line(rc, err, tmp_path / "conv")
    assert why in err and not list(tmp_path.iterdir())
    assert _snapshot(d) == before  # the inputs are untouched


def test_output_folder_not_writable(base, capsys, tmp_path, monkeypatch):
    "The output's folder refuses the temporary file (as for a non-root user in a read-only folder)."
    _, f = base
    monkeypatch.setattr(tempfile, "mkstemp", _raise(PermissionError(errno.EACCES, "Permission denied", str(tmp_path))))
    rc, _, err = _run(capsys, ["eval", "--submission", f["sub"], "--gt", f["gt"], "--out", tmp_path / "m.json"])
    _assert_one_line(rc, err, tmp_path / "m.json")
    assert "Permission denied; choose a folder you can write to" in err


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder(base, capsys, tmp_path):
    d, f = base
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        rc, _, err = _run(capsys, ["eval", "--submission", f["sub"], "--gt", f["gt"], "--out", ro / "m.json"])
    finally:
        ro.chmod(0o755)
    _assert_one_line(rc, err, ro / "m.json")
    assert "Permission denied" in err and not list(ro.iterdir())


@pytest.mark.parametrize("value, needle", [
    ("train.bsz=abc", "train.bsz='abc' must be a whole number (int)"),
    ("train.lr=nan", "train.lr='nan' must be a finite number"),
    ("train.lr=inf", "train.lr='inf' must be a finite number"),
    ("model.fra=maybe", "model.fra='maybe' must be true or false (bool)"),
    ("data.video_blocks=3", "data.video_blocks='3' must be a list of [name, dim] pairs"),
])
def test_set_values_by_type(capsys, tmp_path, value, needle):
    rc, _, err = _run(capsys, ["train", "--preset", "tiny", "--set", value, "--output-dir", tmp_path / "run"])
    _assert_one_line(rc, err, needle)
    assert not (tmp_path / "run").exists()


def test_config_file_values_by_type(base, capsys, tmp_path):
    "A hand-edited config.json: NaN (JSON allows it) and a number written as a string are named with the field."
    _, f = base
    for field, value, needle in (("lr", float("nan"), "train.lr=nan must be a finite number"),
                                 ("bsz", "32", "train.bsz='32' must be a whole number")):
        d = json.loads(f["config"].read_text())
        d["train"][field] = value
        (tmp_path / "c.json").write_text(json.dumps(d))
        rc, _, err = _run(capsys, ["train", "--config", tmp_path / "c.json", "--output-dir", tmp_path / "run"])
        _assert_one_line(rc, err, needle)
    assert not (tmp_path / "run").exists()


def test_bad_records_name_file_and_qid(base, capsys, tmp_path):
    "start > end, a string among the saliency scores, a clip id outside the video: the file and the qid are named."
    _, f = base
    sub = [json.loads(line) for line in f["sub"].read_text().splitlines()]
    gt = [json.loads(line) for line in f["gt"].read_text().splitlines()]
    q = sub[3]["qid"]
    cases = [
        ("sub", 3, {"pred_relevant_windows": [[10, 4, 0.9]]}, "'pred_relevant_windows' window 1 [10.0, 4.0, 0.9] has start > end"),
        ("sub", 3, {"pred_saliency_scores": ["x"] + sub[3]["pred_saliency_scores"][1:]}, "must be a list of finite numbers"),
        ("sub", 3, {"pred_relevant_windows": [[0, float("nan"), 0.9]]}, "with finite numbers"),
        ("gt", 3, {"relevant_clip_ids": [80] + gt[3]["relevant_clip_ids"][1:]}, "relevant clip id 80 >= 75 clips"),
        ("gt", 3, {"relevant_windows": [[30, 10]]}, "'relevant_windows' window 1 [30.0, 10.0] has start > end"),
    ]
    for which, i, change, needle in cases:
        recs = [dict(r) for r in (sub if which == "sub" else gt)]
        recs[i].update(change)
        p = _write_records(tmp_path / f"{which}.jsonl", recs)
        args = {"sub": f["sub"], "gt": f["gt"], which: p}
        rc, _, err = _run(capsys, ["eval", "--submission", args["sub"], "--gt", args["gt"], "--out", tmp_path / "m.json"])
        _assert_one_line(rc, err, p)
        assert f"qid {q}" in err and needle in err, err
    assert not (tmp_path / "m.json").exists()
    # `--allow-inverted` scores an inverted window as the official script does
    recs = [dict(r) for r in sub]
    recs[3]["pred_relevant_windows"] = [[10, 4, 0.9]]
    p = _write_records(tmp_path / "inv.jsonl", recs)
    assert _run(capsys, ["eval", "--submission", p, "--gt", f["gt"], "--allow-inverted"])[0] == 0


def test_feature_dim_blames_the_odd_file(base, capsys, tmp_path):
    "The first video's file has the wrong dim: it is the one named, not the next video."
    import numpy as np
    _, f = base
    lay = tmp_path / "layout"
    shutil.copytree(Path(f["ann"]).parent, lay)
    first = lay / Path(f["video_npz"]).relative_to(Path(f["ann"]).parent)
    np.savez(first, features=np.ones((75, 5), np.float32))
    vdirs = [lay / Path(v).relative_to(Path(f["ann"]).parent) for v in f["vdirs"]]
    tdirs = [lay / Path(t).relative_to(Path(f["ann"]).parent) for t in f["tdirs"]]
    rc, _, err = _run(capsys, ["data", "build", "--video-feats", *vdirs, "--text-feats", *tdirs, "--annotations",
                               f"train={lay / Path(f['ann']).name}", "--out", tmp_path / "ds"])
    _assert_one_line(rc, err, first)
    assert "has dim 5 but expected dim 12" in err and not (tmp_path / "ds").exists()


def test_debug_shows_the_traceback(base, capsys, monkeypatch):
    _, f = base
    argv = ["eval", "--submission", f["sub"].parent, "--gt", f["gt"]]
    rc, _, err = _run(capsys, ["--debug", *argv])
    assert rc == 2 and err.startswith("Traceback") and err.strip().splitlines()[-1].endswith("is a folder; expected a file")
    monkeypatch.setenv("VIDEOLIGHTS_DEBUG", "1")
    assert "Traceback" in _run(capsys, argv)[2]
    monkeypatch.setenv("VIDEOLIGHTS_DEBUG", "0")
    assert "Traceback" not in _run(capsys, argv)[2]


def test_predict_negative_nms_disables_nms_on_a_dataset(base, capsys, tmp_path):
    "`predict --dataset ... --nms -0.5` keeps every window, as without NMS (it used to keep one per query)."
    import torch
    from videolights.core.config import VideoLightsConfig
    from videolights.data.store import build_dataset
    from videolights.model.checkpoint import save_checkpoint
    from videolights.model.videolights import build_model

    _, f = base
    ds = build_dataset({"val": f["ann"]}, f["vdirs"], f["tdirs"], tmp_path / "ds")  # blocks named by their folders
    blocks = 'data.video_blocks=[["slowfast",12],["clip",8],["blip",6]]', 'data.text_blocks=[["clip",8],["blip",6]]'
    cfg = VideoLightsConfig.from_preset("tiny", *blocks)
    torch.manual_seed(0)
    ck = save_checkpoint(tmp_path / "ck", build_model(cfg), cfg)
    wins = {}
    for nms in (None, "-0.5"):
        out = tmp_path / f"p{nms}.jsonl"
        extra = ["--nms", nms] if nms else []
        rc, _, err = _run(capsys, ["predict", "--dataset", ds, "--checkpoint", ck, "--device", "cpu", "--out", out, *extra])
        assert rc == 0, err
        wins[nms] = [len(json.loads(line)["pred_relevant_windows"]) for line in out.read_text().splitlines()]
    n = len(f["ann"].read_text().splitlines())
    assert wins["-0.5"] == wins[None] == [cfg.model.num_queries] * n
    rc, _, err = _run(capsys, ["predict", "--dataset", ds, "--checkpoint", ck, "--out", tmp_path / "x.jsonl", "--nms", "nan"])
    _assert_one_line(rc, err, "nms_thd='nan' must be a finite number")
