"""CLIP features of `videolights.apps.features` equal the original's CLIP code (extract_feature/clip/model.py) on the same
tiny random weights: fixture made by running the original outside the repo (numbers only, see the .json)."""
import json, os
from pathlib import Path
import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
FX = Path(__file__).parent / "fixtures" / "features"


def test_clip_matches_original(tmp_path):
    from videolights.testing.tiny import make_tiny_clip
    from videolights.apps.features import ClipEncoder
    z = np.load(FX / "clip_original_tiny.npz"); meta = json.loads((FX / "clip_original_tiny.json").read_text())
    enc = ClipEncoder(str(make_tiny_clip(tmp_path / "clip", seed=0)), device="cpu")
    np.testing.assert_allclose(enc.encode_images(z["frames"]), z["image"], atol=1e-5)  # projected image embedding
    for i, t in enumerate(enc.encode_texts(meta["texts"])):
        np.testing.assert_allclose(t["last_hidden_state"], z[f"text{i}_last_hidden_state"], atol=1e-5)  # ln_final, unprojected
        np.testing.assert_allclose(t["pooler_output"], z[f"text{i}_pooler_output"], atol=1e-5)  # projected EOT


def test_frames_match_ffmpeg_pipeline(tmp_path):
    "The fixture's frames (written by read_clip_frames at fixture time) are reproduced exactly."
    from videolights.testing.tiny import make_test_video
    from videolights.apps.features import read_clip_frames
    z = np.load(FX / "clip_original_tiny.npz")
    v = make_test_video(tmp_path / "v.mp4", seconds=6, fps=8, size=80, height=48)
    np.testing.assert_array_equal(read_clip_frames(v, size=z["frames"].shape[1])[0][:, 0], z["frames"])
