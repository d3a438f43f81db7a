"""Compare SlowFast features extracted here with released ones (e.g. QVHighlights' `slowfast_features`), per clip.

For a user who has the original videos and the released features; nothing here is run by the tests, and no claim of
equality is made: HERO decoded with the ffmpeg binary of its Docker image, ran the network on a GPU in float16-stored
output, and small differences (codec versions, resampling, GPU arithmetic) are expected. The script reports how
close the two are:

    python tools/check_official_features.py --videos VIDEOS_DIR --released RELEASED/slowfast_features \\
        --slowfast-model SLOWFAST_8x8_R50.pkl [--limit 20] [--block slowfast] [--device cuda]

For each video with a released file it extracts the block, aligns rows (the shorter length), and prints the
per-video mean / min cosine similarity of the clip rows, the row counts, and a summary over all videos.
"""
import argparse, sys
from pathlib import Path

import numpy as np


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    "Cosine similarity of matching rows of `a` and `b` (cut to the shorter)."
    n = min(len(a), len(b))
    a, b = a[:n].astype(np.float64), b[:n].astype(np.float64)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return (a * b).sum(1) / np.maximum(den, 1e-12)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", required=True, help="folder of the original videos ({vid}.mp4, ...)")
    ap.add_argument("--released", required=True, help="folder of released {vid}.npz files of one block")
    ap.add_argument("--block", default="slowfast", choices=("slowfast", "clip", "blip"))
    ap.add_argument("--slowfast-model", help="SLOWFAST_8x8_R50.pkl (block slowfast)")
    ap.add_argument("--model", help="CLIP / BLIP-2 id or dir (blocks clip, blip)")
    ap.add_argument("--limit", type=int, default=20, help="videos to compare (0: all)")
    ap.add_argument("--frame-size", type=int, default=224, help="decode size (224, as HERO and the original)")
    ap.add_argument("--device", default=None)
    a = ap.parse_args(argv)
    from videolights.apps.features import FeatureExtractor
    from videolights.apps.pretrain_data import VIDEO_EXTS

    model = a.slowfast_model if a.block == "slowfast" else a.model
    models = {a.block: model} if model else None
    fx = FeatureExtractor((a.block,), models=models, frame_size=a.frame_size, device=a.device)
    vids = sorted(p for p in Path(a.videos).iterdir() if p.suffix.lower() in VIDEO_EXTS)
    vids = [p for p in vids if (Path(a.released) / f"{p.stem}.npz").exists()][: a.limit or None]
    if not vids:
        print(f"no video in {a.videos} has a released file in {a.released}", file=sys.stderr)
        return 2
    means = []
    for p in vids:
        ours = fx.encode_video(p)[a.block]
        theirs = np.load(Path(a.released) / f"{p.stem}.npz")["features"]
        cos = cosine_rows(ours, theirs)
        means.append(cos.mean())
        rows = f"rows ours {len(ours)} released {len(theirs)}"
        print(f"{p.stem}: {rows}; cosine mean {cos.mean():.4f} min {cos.min():.4f}")
    m = np.asarray(means)
    print(f"summary over {len(m)} videos: per-video mean cosine: mean {m.mean():.4f}, median {np.median(m):.4f}, "
          f"min {m.min():.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
