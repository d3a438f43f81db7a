"""Hub conventions: `from_pretrained(save_pretrained(model))` gives identical outputs (also for a model converted from a
checkpoint the original's own train.py wrote), the files are today's checkpoint files plus a model card, `push_to_hub`
uploads them (the Hub call replaced), and every failure is one line."""
import hashlib
import json
import lzma
from pathlib import Path
from types import SimpleNamespace
import pytest
import torch
from huggingface_hub import HfApi, ModelCard
from videolights.apps.predictor import Predictor
from videolights.core.config import VideoLightsConfig
from videolights.core.errors import VideoLightsError
from videolights.model.checkpoint import load_checkpoint, save_checkpoint
from videolights.model.convert import from_official
from videolights.model.videolights import VideoLights, build_model

MODEL_FIX = Path(__file__).parent / "fixtures" / "model"


def tiny_inputs(cfg, B=2, Lt=5, Lv=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    txt, vid = torch.randn(B, Lt, cfg.t_feat_dim, generator=g), torch.randn(B, Lv, cfg.v_feat_dim, generator=g)
    tm, vm = torch.ones(B, Lt), torch.ones(B, Lv)
    tm[1, 3:], vm[1, 6:] = 0, 0
    return dict(src_txt=txt, src_txt_mask=tm, src_vid=vid, src_vid_mask=vm)


def assert_same_outputs(a, b, x):
    with torch.no_grad():
        oa, ob = a.eval()(**x), b.eval()(**x)
    for k in ("pred_logits", "pred_spans", "saliency_scores", "saliency_scores_mr"):
        assert torch.equal(oa[k], ob[k]), k


@pytest.fixture
def tiny():
    cfg = VideoLightsConfig.from_preset("tiny")
    torch.manual_seed(0)
    return build_model(cfg).eval(), cfg


def test_round_trip_gives_identical_outputs_and_todays_files(tiny, tmp_path):
    model, cfg = tiny
    model.save_pretrained(tmp_path / "hub")
    save_checkpoint(tmp_path / "ckpt", model, cfg)
    names = sorted(p.name for p in (tmp_path / "hub").iterdir())
    assert names == ["README.md", "config.json", "metrics.json", "model.safetensors", "provenance.json"]
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == names  # save_checkpoint writes the card too
    for f in ("config.json", "model.safetensors", "README.md"):  # byte for byte what save_checkpoint writes
        assert (tmp_path / "hub" / f).read_bytes() == (tmp_path / "ckpt" / f).read_bytes(), f
    back = VideoLights.from_pretrained(tmp_path / "hub")
    assert type(back) is VideoLights and not back.training and back.cfg == cfg
    assert_same_outputs(model, back, tiny_inputs(cfg))
    m2, cfg2, _ = load_checkpoint(tmp_path / "hub")  # the old loader reads what save_pretrained wrote
    assert_same_outputs(model, m2, tiny_inputs(cfg))
    pred = Predictor.from_pretrained(str(tmp_path / "hub"), device="cpu")
    assert pred.cfg == cfg and pred.path == str(tmp_path / "hub")
    assert_same_outputs(model, pred.model, tiny_inputs(cfg))


def test_round_trip_of_a_model_converted_from_the_originals_checkpoint(tmp_path):
    meta = json.loads((MODEL_FIX / "original_train_best.json").read_text())
    raw = lzma.decompress((MODEL_FIX / "original_train_best.ckpt.xz").read_bytes())
    assert hashlib.sha256(raw).hexdigest() == meta["sha256"]
    (tmp_path / "model_best.ckpt").write_bytes(raw)
    model, cfg = from_official(tmp_path / "model_best.ckpt")
    model.save_pretrained(tmp_path / "hub")
    back = VideoLights.from_pretrained(tmp_path / "hub")
    x = {k: torch.tensor(v) for k, v in meta["inputs"].items()}
    assert_same_outputs(model, back, x)
    with torch.no_grad():  # and still the original model's outputs
        out = back(**x)
    for k, v in meta["outputs"].items():
        assert torch.allclose(out[k], torch.tensor(v), atol=1e-5), k
    back.save_pretrained(tmp_path / "again")  # a loaded model keeps its metrics and provenance
    assert json.loads((tmp_path / "again" / "provenance.json").read_text()) == back.hub_info["provenance"]


def test_model_card_metadata(tiny, tmp_path):
    model, cfg = tiny
    model.hub_info = {"metrics": {"brief": {"MR-full-R1@0.5": 55.5, "HD-HIT@1": 60.0}}, "provenance": {}}
    model.save_pretrained(tmp_path / "hub")
    card = ModelCard.load(tmp_path / "hub" / "README.md")
    assert card.data.library_name == "videolights" and "highlight-detection" in card.data.tags
    assert card.data.datasets == ["videolights-synthetic"]
    got = {(r.metric_name, r.metric_value, r.dataset_split, r.task_type) for r in card.data.eval_results}
    assert got == {("MR-full-R1@0.5", 55.5, "val", "moment-retrieval"), ("HD-HIT@1", 60.0, "val", "highlight-detection")}
    assert "## Feature set" in card.text and "| video | `slowfast` | 24 |" in card.text and "## Parity" in card.text


def test_push_to_hub_uploads_the_checkpoint_files(tiny, monkeypatch):
    model, cfg = tiny
    calls = {}

    def create_repo(self, repo_id, **kw):
        calls["repo"] = repo_id
        return SimpleNamespace(repo_id=repo_id)

    def upload_folder(self, *, repo_id, folder_path, **kw):
        folder = Path(folder_path)
        calls["files"] = {p.name: p.read_bytes() for p in folder.iterdir()}
        calls["upload"] = (repo_id, kw.get("repo_type"))
        return f"https://huggingface.co/{repo_id}/commit/0"

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    url = model.push_to_hub("someone/videolights-tiny")
    assert url.endswith("/commit/0") and calls["repo"] == "someone/videolights-tiny"
    assert calls["upload"] == ("someone/videolights-tiny", "model")
    files = calls["files"]
    assert sorted(files) == ["README.md", "config.json", "metrics.json", "model.safetensors", "provenance.json"]
    assert VideoLightsConfig.from_dict(json.loads(files["config.json"])) == cfg
    assert files["README.md"].startswith(b"---\n") and b"library_name: videolights" in files["README.md"]


def test_failures_are_one_line(tiny, tmp_path):
    model, _ = tiny
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(VideoLightsError, match="not written by videolights"):
        model.save_pretrained(foreign)
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    for bad in ("someone/not-cached", str(tmp_path / "nope")):
        with pytest.raises(VideoLightsError) as e:
            VideoLights.from_pretrained(bad)
        assert "\n" not in str(e.value) and ("offline" in str(e.value) or "not found" in str(e.value))
    (tmp_path / "cut").mkdir()
    model.save_pretrained(tmp_path / "cut")
    (tmp_path / "cut" / "model.safetensors").write_bytes(b"\0" * 10)
    with pytest.raises(VideoLightsError, match="cannot be read"):
        VideoLights.from_pretrained(tmp_path / "cut")
