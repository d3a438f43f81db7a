"""SlowFast features (`videolights.apps.slowfast` + the `slowfast` block of `apps.features`): the architecture
against pytorchvideo's independent definition on the same random weights, the official shape (one 2304-d row per
clip; HERO's extra clip), frames as ffmpeg's `fps=30` filter picks them, and the checkpoint pickle policy."""
import os, pickle
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _randomise(net, seed=0):
    "Non-trivial BN statistics and scales, so that a mix-up of any two BN tensors shows."
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            for t, lo, hi in ((m.running_mean, -0.2, 0.2), (m.running_var, 0.5, 1.5), (m.weight, 0.5, 1.5), (m.bias, -0.2, 0.2)):
                t.data.copy_(torch.rand(t.shape, generator=g) * (hi - lo) + lo)
    return net.eval()


@pytest.mark.slow
def test_architecture_matches_pytorchvideo():
    "Full-width SlowFast-R50: every parameter lines up with pytorchvideo's, and the pooled 2304-d features agree."
    from slowfast_reference import pytorchvideo_slowfast
    from videolights.apps.slowfast import SlowFast, slowfast_inputs
    torch.manual_seed(0)
    ref = _randomise(pytorchvideo_slowfast(), seed=1)
    ours = SlowFast(width=64).eval()
    theirs = [(k, v) for k, v in ref.state_dict().items() if not k.startswith("blocks.6.")]  # the classifier
    mine = list(ours.state_dict().items())
    assert len(mine) == len(theirs)
    for (k1, v1), (k2, v2) in zip(mine, theirs):
        assert v1.shape == v2.shape, (k1, k2)
        v1.copy_(v2)
    clips = torch.randint(0, 256, (1, 32, 224, 224, 3), dtype=torch.uint8)
    with torch.no_grad():
        xs = slowfast_inputs(clips)
        want = list(xs)  # pytorchvideo writes into the list it is given
        for blk in ref.blocks[:6]:  # stem, res2..res5 with fusions, the pathway average pools + concat
            want = blk(want)
        got = ours(xs)
    assert got.shape == (1, 2304) and tuple(want.shape) == (1, 2304, 1, 1, 1)
    torch.testing.assert_close(got, want.flatten(1), rtol=1e-4, atol=1e-4)
    assert float(got.std()) > 1e-3  # not a degenerate constant


def test_planted_payload_is_refused(tmp_path):
    "A checkpoint pickle that would run a command on load is refused before anything runs; no file appears."
    from videolights.apps.slowfast import load_slowfast
    from videolights.core.errors import VideoLightsError
    flag = tmp_path / "planted"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {flag}",))
    p = tmp_path / "SLOWFAST_8x8_R50.pkl"
    p.write_bytes(pickle.dumps({"blobs": {"conv1_w": np.zeros((64, 3, 1, 7, 7), np.float32), "x": Payload()}}, protocol=2))
    with pytest.raises(VideoLightsError, match="posix.system|os.system|nt.system"):
        load_slowfast(p)
    assert not flag.exists()


def test_frames_at_30fps_match_ffmpeg(tmp_path):
    "The 30-fps frames the SlowFast block decodes are ffmpeg's `fps=30,scale,crop` frames, bit for bit, and as many."
    from test_features import ffmpeg_filter_graph
    from videolights.testing.tiny import make_test_video
    from videolights.apps.features import read_frames_at, probe_video, clip_times
    for secs, fps, n_ffmpeg in ((3.5, 25, 106), (2.9, 30, 87), (3.3, 25, 98)):  # 3.52 s, 2.9 s, 3.28 s of frames
        v = make_test_video(tmp_path / f"v{secs}.mp4", seconds=secs, fps=fps, size=48, height=40)
        ref = ffmpeg_filter_graph(v, 30, 32)
        n = len(clip_times(probe_video(v)["duration"], 1 / 30))  # what SlowFastEncoder takes as the frame count
        assert n == len(ref) == n_ffmpeg
        np.testing.assert_array_equal(read_frames_at(v, (np.arange(n) + 0.5) / 30, 32), ref)


def test_official_shape_and_extra_clip(tmp_path):
    "One row per clip, 36 x width dims (2304 at the released width 64); ceil(d / 2) clips where CLIP has round(d / 2)."
    from videolights.testing.tiny import make_test_video, make_tiny_slowfast
    from videolights.apps.features import SlowFastEncoder, clip_times
    enc = SlowFastEncoder(str(make_tiny_slowfast(tmp_path / "sf.pkl", width=8)), device="cpu")
    assert enc.video_dim == 288
    v = make_test_video(tmp_path / "v.mp4", seconds=6.5, fps=30, size=48)
    f = enc.encode_video(v, clip_len=2.0, frame_size=32)
    assert f.shape == (4, 288) and f.dtype == np.float32  # ceil(6.5 / 2) = 4
    assert len(clip_times(6.5, 2.0)) == 3  # CLIP / BLIP-2: floor(3.25 + 0.5): the original's extra SlowFast clip
    np.testing.assert_array_equal(f, f.astype(np.float16).astype(np.float32))  # float16 values, as HERO stores
    assert not np.allclose(f[0], f[1])  # the clips differ (colour changes every 2 s)
