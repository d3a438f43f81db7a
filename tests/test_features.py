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


def ffmpeg_filter_graph(path, fps: float, size: int) -> np.ndarray:
    """The original's frame pipeline (`run_on_video/data_utils.py`: ffmpeg `fps`, `scale` short side to `size`, centre
    `crop`, rgb24), run by libavfilter, ffmpeg's own filter library, through PyAV's filter graph."""
    import av
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        h, w = s.codec_context.height, s.codec_context.width
        W, H = (size, int(h * size / w)) if h >= w else (int(w * size / h), size)
        g = av.filter.Graph()
        prev = g.add_buffer(template=s)
        for name, arg in (("fps", f"fps={fps}"), ("scale", f"{W}:{H}"),
                          ("crop", f"{size}:{size}:{int((W - size) / 2)}:{int((H - size) / 2)}"), ("format", "rgb24")):
            f = g.add(name, arg)
            prev.link_to(f)
            prev = f
        prev.link_to(g.add("buffersink"))
        g.configure()
        out = []
        for fr in [*c.decode(s), None]:
            g.push(fr)
            while True:
                try:
                    out.append(g.pull().to_ndarray())
                except (av.BlockingIOError, av.EOFError):
                    break
    return np.stack(out)


def test_frames_match_ffmpeg_pipeline(tmp_path):
    """`read_clip_frames` picks and converts the same frames, bit for bit, as ffmpeg's fps/scale/crop filters.

    No ffmpeg binary is installed here or on CI; libavfilter is the library that binary runs these filters with."""
    from videolights.testing.tiny import make_test_video
    from videolights.apps.features import read_clip_frames
    for secs, (w, h) in ((6, (64, 64)), (7, (80, 48)), (6.875, (48, 80))):
        v = make_test_video(tmp_path / f"v{secs}.mp4", seconds=secs, fps=8, size=w, height=h)
        ours, ref = read_clip_frames(v, size=32)[0][:, 0], ffmpeg_filter_graph(v, 0.5, 32)
        assert ours.shape == ref.shape and len(ref) >= 3, (secs, ours.shape, ref.shape)
        np.testing.assert_array_equal(ours, ref)
