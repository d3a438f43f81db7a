"""Data pipeline: builder round trip, bad input, CLI, and batch parity with the original pipeline (stored fixtures)."""
import json, os, random, sys, subprocess
from pathlib import Path
import numpy as np, pytest, torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from data_parity_inputs import CASES, BSZ, RANDOM_SEED, write_inputs, flatten_batch, select_records  # noqa: E402
from videolights.core.config import VideoLightsConfig, override
from videolights.core.errors import VideoLightsError  # noqa: E402
from videolights.data.store import build_dataset, load_dataset, read_annotations  # noqa: E402
from videolights.commands.datasets import data_command as cli_main  # noqa: E402
from videolights.data.batching import VideoLightsDataset, collate, make_loader, sample_features  # noqa: E402

FIX = Path(__file__).resolve().parent / "fixtures" / "data"
KIND = {"qvhighlights": "qvhighlights", "charades": "charades", "tvsum": "tvsum"}
PRESET = {"qvhighlights": "qvhighlights", "charades": "charades", "tvsum": "tvsum"}


def _build(kind, tmp):
    ann, vdirs, tdirs, recs = write_inputs(kind, tmp / "layout")
    _, _, clip_len, max_v_l, max_q_l, domain = CASES[kind]
    recs = read_annotations(ann, KIND[kind], domain=domain)
    vb = [Path(d).name for d in vdirs]; tb = [Path(d).name for d in tdirs]
    out = build_dataset({"train": recs}, vdirs, tdirs, tmp / "ds", vb, tb, kind=KIND[kind])
    dd = load_dataset(out)
    cfg = VideoLightsConfig.from_preset(PRESET[kind], f"data.max_v_l={max_v_l}", f"data.max_q_l={max_q_l}",
                                   f"data.clip_len={clip_len}")
    cfg.data.video_blocks = tuple(tuple(b) for b in dd.manifest["video_blocks"])
    cfg.data.text_blocks = tuple(tuple(b) for b in dd.manifest["text_blocks"])
    return dd, cfg, recs


@pytest.mark.parametrize("kind", list(CASES))
def test_batch_parity_with_original(kind, tmp_path):
    "Same files + same annotations + the original's random stream -> identical model inputs and targets."
    ref = dict(np.load(FIX / f"parity_{kind}.npz"))
    if kind == "tvsum":  # the original carries a dummy [[0, 0]] span per sample; the batch contract omits spans for HD-only data
        for k in [k for k in ref if k.endswith("spans")]:
            assert not ref[k].any() or k.endswith("n_spans"); del ref[k]
    dd, cfg, recs = _build(kind, tmp_path)
    assert [str(q) for q in dd["train"]["qid"]] == list(ref["qids"])
    ds = VideoLightsDataset(dd, "train", cfg, rng=random.Random(RANDOM_SEED))  # one stream, like the global `random`
    loader = make_loader(ds, cfg, batch_size=BSZ, shuffle=False)
    got = {}
    for i, b in enumerate(loader): got.update(flatten_batch(i, b["model_inputs"], b["targets"]))
    assert sorted(got) == sorted(k for k in ref if k != "qids")
    for k in got:
        assert got[k].shape == ref[k].shape, (k, got[k].shape, ref[k].shape)
        assert got[k].dtype == ref[k].dtype, (k, got[k].dtype, ref[k].dtype)
        np.testing.assert_array_equal(got[k], ref[k], err_msg=k)


def test_parity_cases_cover_edges():
    "The fixtures exercise > max_windows shuffling, a clip id equal to L, truncation and TVSum's 20 raters."
    q = select_records("qvhighlights")
    assert any(len(r["relevant_windows"]) > 5 for r in q) and any(max(r["relevant_clip_ids"]) == 74 for r in q)
    ref = dict(np.load(FIX / "parity_qvhighlights.npz"))
    assert ref["b0_src_vid"].shape[1] == 75 and ref["b0_src_txt"].shape[1] == 32
    assert (ref["b0_spans"][:, 0] + ref["b0_spans"][:, 1] / 2 > 1).any() or (ref["b1_spans"][:, 0] + ref["b1_spans"][:, 1] / 2 > 1).any()
    t = dict(np.load(FIX / "parity_tvsum.npz"))
    assert t["b0_saliency_pos_labels"].shape == (4, 1) and t["b0_saliency_all_labels"].max() <= 12


def test_roundtrip_values(tmp_path):
    "Stored features are the npz values, bit for bit, per block; queries point at their video."
    dd, cfg, recs = _build("qvhighlights", tmp_path)
    lay = tmp_path / "layout"
    v = dd["videos"].with_format("numpy")[0]
    for b in ("slowfast", "clip", "blip"):
        a = np.load(lay / "video" / b / f"{v['vid']}.npz")["features"]
        n = v[f"v_{b}"].shape[0]
        np.testing.assert_array_equal(v[f"v_{b}"], a[:n])
    q = dd["train"].with_format("numpy")[3]
    a = np.load(lay / "text" / "clip" / f"qid{q['qid']}.npz")["last_hidden_state"]
    np.testing.assert_array_equal(q["t_clip"], a[:len(q["t_clip"])])
    assert dd["videos"][int(q["video_idx"])]["vid"] == q["vid"]
    assert (tmp_path / "ds" / "README.md").read_text().count("slowfast") >= 1


def test_block_ablation_without_rebuild(tmp_path):
    "Dropping a video block by name reads the remaining blocks from the same dataset."
    dd, cfg, _ = _build("qvhighlights", tmp_path)
    full = sample_features(VideoLightsDataset(dd, "train", cfg)[0])[0]
    cfg2 = override(cfg, ['data.video_blocks=[["clip", 8], ["blip", 6]]'])
    part = sample_features(VideoLightsDataset(dd, "train", cfg2)[0])[0]
    assert part.shape[1] == 8 + 6 + 2
    np.testing.assert_array_equal(part[:, :14], full[:, 12:26][: len(part)])
    with pytest.raises(VideoLightsError, match="i3d"):
        VideoLightsDataset(dd, "train", override(cfg, ['data.video_blocks=[["i3d", 8]]']))


def test_bad_inputs(tmp_path):
    ann, vdirs, tdirs, recs = write_inputs("qvhighlights", tmp_path / "l")
    rs = read_annotations(ann)
    vid = rs[0]["vid"]
    os.remove(Path(vdirs[1]) / f"{vid}.npz")
    with pytest.raises(VideoLightsError, match=f"vid={vid}.*{Path(vdirs[1]).name}"):
        build_dataset({"train": rs}, vdirs, tdirs, tmp_path / "o1")
    ann, vdirs, tdirs, recs = write_inputs("qvhighlights", tmp_path / "l2")
    np.savez(Path(vdirs[0]) / f"{rs[2]['vid']}.npz", features=np.zeros((75, 5), np.float32))
    with pytest.raises(VideoLightsError, match="dim 5 .*dim 12"):
        build_dataset({"train": rs}, vdirs, tdirs, tmp_path / "o2")
    ann, vdirs, tdirs, recs = write_inputs("qvhighlights", tmp_path / "l3")
    bad = np.ones((3, 8), np.float32); bad[1, 2] = np.nan
    np.savez(Path(tdirs[0]) / f"qid{rs[1]['qid']}.npz", last_hidden_state=bad)
    with pytest.raises(VideoLightsError, match=f"qid{rs[1]['qid']}.npz.*NaN"):
        build_dataset({"train": rs}, vdirs, tdirs, tmp_path / "o3")
    assert not (tmp_path / "o3").exists()


def test_corrupt_dataset_refused(tmp_path):
    dd, cfg, _ = _build("charades", tmp_path)
    p = tmp_path / "ds"
    (p / "videolights_data.json").unlink()
    with pytest.raises(VideoLightsError, match="videolights_data.json is missing"):
        load_dataset(p)
    with pytest.raises(VideoLightsError, match="not found"):
        load_dataset(tmp_path / "nothing")


def test_resume_after_interruption(tmp_path, monkeypatch):
    "A build that dies half way resumes from its finished chunks and gives the same dataset."
    import videolights.data.store as D
    ann, vdirs, tdirs, recs = write_inputs("charades", tmp_path / "l")
    rs = read_annotations(ann, "charades")
    calls = {"n": 0}; orig = D.read_text_block
    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 6: raise KeyboardInterrupt
        return orig(*a, **k)
    monkeypatch.setattr(D, "read_text_block", flaky)
    with pytest.raises(KeyboardInterrupt):
        build_dataset({"train": rs}, vdirs, tdirs, tmp_path / "o", chunk=2, kind="charades")
    assert not (tmp_path / "o").exists() and (tmp_path / ".o.partial").exists()
    monkeypatch.setattr(D, "read_text_block", orig)
    build_dataset({"train": rs}, vdirs, tdirs, tmp_path / "o", chunk=2, kind="charades")
    assert not (tmp_path / ".o.partial").exists()
    assert len(load_dataset(tmp_path / "o")["train"]) == len(rs)


def test_cli_build_and_info(tmp_path, capsys):
    ann, vdirs, tdirs, recs = write_inputs("qvhighlights", tmp_path / "l")
    rc = cli_main(["build", "--preset", "qvhighlights", "--video-feats", *vdirs, "--text-feats", *tdirs,
                   "--annotations", f"train={ann}", "--out", str(tmp_path / "ds")])
    assert rc == 0
    assert cli_main(["info", str(tmp_path / "ds")]) == 0
    info = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert info["video_blocks"] == [["slowfast", 12], ["clip", 8], ["blip", 6]] and info["splits"] == {"train": len(recs)}


def test_labels_deterministic_across_workers(tmp_path):
    "Per-sample seeding: the same labels with 0 and 2 workers, different labels in another epoch."
    dd, cfg, _ = _build("charades", tmp_path)
    def run(nw, epoch):
        dl = make_loader(dd, cfg, "train", shuffle=True, seed=3, batch_size=4, num_workers=nw)
        dl.set_epoch(epoch)
        return [torch.cat([b["targets"]["saliency_pos_labels"], b["targets"]["saliency_neg_labels"]], 1) for b in dl]
    a, b, c = run(0, 0), run(2, 0), run(0, 1)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(x.shape == y.shape and torch.equal(x, y) for x, y in zip(a, c))


def test_accelerate_sharding_same_labels(tmp_path):
    "Two Accelerate shards see disjoint batches whose samples carry the labels of the single-process loader."
    from accelerate.data_loader import prepare_data_loader
    dd, cfg, _ = _build("charades", tmp_path)
    def labels(dl, epoch):
        dl.set_epoch(epoch); out = {}
        for b in dl:
            for m, p, n in zip(b["meta"], b["targets"]["saliency_pos_labels"], b["targets"]["saliency_neg_labels"]):
                out[m["qid"]] = (p.tolist(), n.tolist())
        return out
    single = labels(make_loader(dd, cfg, "train", shuffle=True, seed=5, batch_size=5), 1)  # 10 queries: 1 batch per shard
    shards = [labels(prepare_data_loader(make_loader(dd, cfg, "train", shuffle=True, seed=5, batch_size=5),
                                         num_processes=2, process_index=k, put_on_device=False), 1) for k in (0, 1)]
    assert not set(shards[0]) & set(shards[1]) and set(shards[0]) | set(shards[1]) == set(single)
    assert all(single[q] == lab for s in shards for q, lab in s.items())


def test_epoch_advances_without_set_epoch(tmp_path):
    dd, cfg, _ = _build("charades", tmp_path)
    dl = make_loader(dd, cfg, "train", shuffle=True, seed=1, batch_size=10)
    a = [m["qid"] for b in dl for m in b["meta"]]; b_ = [m["qid"] for b in dl for m in b["meta"]]
    dl.set_epoch(0); c = [m["qid"] for b in dl for m in b["meta"]]
    assert a != b_ and a == c and sorted(a) == sorted(b_)


def test_cli_synth_and_dispatcher(tmp_path):
    "`videolights data synth` and `videolights data info` through the console-script dispatcher."
    from videolights.cli import main
    out = tmp_path / "syn"
    assert main(["data", "synth", "--out", str(out), "--n-train", "6", "--n-val", "3"]) == 0
    dd = load_dataset(out)
    assert dd.manifest["splits"] == {"train": 6, "val": 3} and "synthetic" in (out / "README.md").read_text()
    assert main(["data", "synth", "--out", str(out), "--n-train", "6", "--n-val", "3"]) == 2   # exists, no --overwrite
    assert main(["data", "info", str(tmp_path / "missing")]) == 2


def test_float16_storage_and_unlabelled_split(tmp_path):
    "float16 features load as float32 inputs; a split without labels (QVHighlights test) gives targets None."
    from videolights.data.synthetic import make_synthetic
    d16 = make_synthetic("small", n_train=4, n_val=2, feat_dtype="float16")
    d32 = make_synthetic("small", n_train=4, n_val=2)
    cfg = VideoLightsConfig.from_preset("synthetic")
    b16 = next(iter(make_loader(d16, cfg, "train", batch_size=4))); b32 = next(iter(make_loader(d32, cfg, "train", batch_size=4)))
    assert b16["model_inputs"]["src_vid"].dtype == torch.float32
    assert (b16["model_inputs"]["src_vid"] - b32["model_inputs"]["src_vid"]).abs().max() < 2e-3
    ann = tmp_path / "highlight_test_release.jsonl"
    ann.write_text("".join(l for l in open(Path(__file__).resolve().parents[1] / "data/qvhighlights/highlight_test_release.jsonl").readlines()[:3]))
    recs = read_annotations(ann)
    from videolights.data.layout import write_npz_layout
    rng = np.random.default_rng(0)
    dirs = write_npz_layout(tmp_path / "f", {r["vid"]: {"sf": rng.standard_normal((75, 4)).astype(np.float32)} for r in recs},
                            {r["qid"]: {"ct": rng.standard_normal((9, 3)).astype(np.float32)} for r in recs})
    build_dataset({"test": recs}, list(dirs["video"].values()), list(dirs["text"].values()), tmp_path / "ds")
    dd = load_dataset(tmp_path / "ds")
    cfg = VideoLightsConfig.from_preset("qvhighlights", 'data.video_blocks=[["sf", 4]]', 'data.text_blocks=[["ct", 3]]')
    b = next(iter(make_loader(dd, cfg, "test", batch_size=3)))
    assert b["targets"] is None and b["model_inputs"]["src_vid"].shape == (3, 75, 6)
    assert [m["qid"] for m in b["meta"]] == [json.loads(l)["qid"] for l in ann.read_text().splitlines()]


def test_cli_build_charades_txt(tmp_path):
    "Charades-STA from the TALL txt + csv through the CLI equals the build from the VideoLights jsonl."
    recs = [json.loads(l) for l in open(Path(__file__).resolve().parents[1] / "data/charades_sta/charades_sta_train_tvr_format.jsonl")][:6]
    txt_lines = open(Path(__file__).resolve().parents[1] / "data/charades_sta/charades_sta_train.txt").read().splitlines()[:6]
    (tmp_path / "charades_sta_train.txt").write_text("\n".join(txt_lines) + "\n")
    from videolights.data.layout import write_npz_layout
    rng = np.random.default_rng(0)
    dirs = write_npz_layout(tmp_path / "f", {r["vid"]: {"slowfast": rng.standard_normal((30, 4)).astype(np.float32)} for r in recs},
                            {r["qid"]: {"clip": rng.standard_normal((9, 3)).astype(np.float32)} for r in recs}, kind="charades")
    csv = Path(__file__).resolve().parents[1] / "data/charades_sta/Charades_v1_train.csv"
    assert cli_main(["build", "--preset", "charades", "--video-feats", str(dirs["video"]["slowfast"]), "--text-feats",
                     str(dirs["text"]["clip"]), "--annotations", str(tmp_path / "charades_sta_train.txt"),
                     "--charades-csv", str(csv), "--out", str(tmp_path / "ds")]) == 0
    dd = load_dataset(tmp_path / "ds")
    assert dd.manifest["kind"] == "charades" and dd.manifest["clip_len"] == 1.0
    assert [int(q) for q in dd["train"]["qid"]] == [r["qid"] for r in recs]
    np.testing.assert_allclose([w[0] for w in dd["train"]["relevant_windows"]], [r["relevant_windows"][0] for r in recs])
