"""Parity of `videolights.evaluation.metrics` with the OFFICIAL evaluation scripts.

The fixtures in tests/fixtures/eval/ hold only the metrics that the official scripts printed (Moment-DETR
`standalone_eval/eval.py` = `md_*`, the VideoLights variant = `vl_*`, the VideoLights TVSum / YouTube-HL loop = `hd_*`)
for submissions generated deterministically by tools/eval_submissions.py; they were made once, outside the
repository, by a script that ran the official code (see the eval notebook). Here the same submissions are
regenerated and every metric is compared.
"""
import json, sys, warnings
from pathlib import Path
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from eval_submissions import make_submission, make_charades_submission, make_hd_submission  # noqa: E402
from videolights.evaluation.metrics import eval_submission, hd_video_ap
from videolights.core.io import load_jsonl  # noqa: E402

FIX = ROOT / "tests/fixtures/eval"
TOL = 1e-4
VAL = ROOT / "data/qvhighlights/highlight_val_release.jsonl"


def _flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict): out.update(_flat(v, f"{prefix}{k}/"))
        else: out[f"{prefix}{k}"] = v
    return out


@pytest.fixture(scope="module")
def val_gt():
    return load_jsonl(VAL)


_cache = {}
def _ours(gt, kind):
    if kind not in _cache:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _cache[kind] = eval_submission(make_submission(gt, kind, seed=0), gt)
    return _cache[kind]


QV_FIXTURES = sorted(p.name for p in FIX.glob("md_*.json")) + sorted(p.name for p in FIX.glob("vl_*.json") if "charades" not in p.name)


@pytest.mark.parametrize("name", QV_FIXTURES)
def test_qvhighlights_parity(name, val_gt):
    fx = json.loads((FIX / name).read_text())
    assert fx["error"] is None and fx["metrics"]
    ours, ref = _flat(_ours(val_gt, fx["kind"])), _flat(fx["metrics"])
    missing = set(ref) - set(ours)
    assert not missing, f"keys of the official output missing here: {sorted(missing)[:5]}"
    diffs = {k: abs(ours[k] - ref[k]) for k in ref}
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] <= TOL, f"{name}: {worst} ours={ours[worst]} official={ref[worst]}"
    if name.startswith("vl_"):  # the VideoLights variant is our output format: same keys, same order
        assert list(_ours(val_gt, fx["kind"])) == list(fx["metrics"])
        assert list(_ours(val_gt, fx["kind"])["brief"]) == list(fx["metrics"]["brief"])
        assert set(ours) == set(ref)


@pytest.mark.parametrize("kind", ["jitter", "random"])
def test_charades_parity(kind):
    fx = json.loads((FIX / f"vl_charades_{kind}.json").read_text())
    gt = load_jsonl(ROOT / "data/charades_sta/charades_sta_test_tvr_format.jsonl")
    ours = eval_submission(make_charades_submission(gt, kind, seed=0), gt, dataset="charades")
    ours = json.loads(json.dumps(ours))
    assert list(ours["brief"]) == list(fx["metrics"]["brief"])
    fo, fr = _flat(ours), _flat(fx["metrics"])
    assert set(fo) == set(fr)
    for k in fr: assert abs(fo[k] - fr[k]) <= TOL, (k, fo[k], fr[k])


HD_FIXTURES = sorted(p.name for p in FIX.glob("hd_*.json"))


@pytest.mark.parametrize("name", HD_FIXTURES)
def test_tvsum_youtube_parity(name):
    fx = json.loads((FIX / name).read_text())
    gt = load_jsonl(ROOT / "data" / fx["file"])
    dataset = "tvsum" if "tvsum" in fx["file"] else "youtube"
    sub = make_hd_submission(gt, seed=0, noise=fx["noise"])
    for dom, ref in fx["per_domain_map"].items():
        aps = [hd_video_ap(s["pred_saliency_scores"], d["label"], dataset) for s, d in zip(sub, gt) if d["domain"] == dom]
        assert abs(np.nanmean(aps) - ref) <= 1e-6, (dom, np.nanmean(aps), ref)
    m = eval_submission(sub, gt, dataset=dataset)
    for dom, ref in fx["per_domain_map"].items():
        assert abs(m["per_domain"][dom]["mAP"] / 100 - ref) <= TOL
    assert abs(m["brief"]["mAP"] / 100 - np.mean(list(fx["per_domain_map"].values()))) <= TOL


def test_fixtures_present():
    assert len(list(FIX.glob("md_*.json"))) >= 8 and len(list(FIX.glob("vl_*.json"))) >= 8 and HD_FIXTURES
