"""Batches/s of the on-disk dataset + collate vs reading per-sample npz files as the original pipeline does.

Same data, same machine: the synthetic small preset (or `--n-train` queries of it) is written in the official npz
layout, built into a dataset from that layout with `videolights.data.store.build_dataset`, and then read by
(a) `videolights.data.batching.make_loader` over the Arrow dataset, and
(b) a per-sample npz reader that does what the original's dataset class does (np.load of every feature file of every
    sample, L2-normalise, cut, concatenate, TEF), with the same targets (`collate_arrays`); with `--original DIR` also the original's own
    StartEndDataset + start_end_collate (imported from the clone at DIR, outside this repository).
Each is warmed up for one epoch (so the OS page cache holds the files for both) and timed over `--epochs` epochs.

    .venv/bin/python benchmarks/data_loading.py [--n-train 500] [--bsz 32] [--epochs 2] [--original PATH/TO/VideoLights]

The last line is JSON.
"""
import argparse, json, os, random, sys, tempfile, time, types
from pathlib import Path
import numpy as np, torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from videolights.core.config import VideoLightsConfig
from videolights.data.layout import read_text_block, read_video_block, write_npz_layout
from videolights.data.store import build_dataset, load_dataset
from videolights.data.batching import VideoLightsDataset, make_loader, join_blocks, tef
from videolights.data.batching import sample_span_targets, saliency_qvhl
from videolights.testing.parity import collate_arrays
from videolights.data.synthetic import make_synthetic


class NpzDataset(torch.utils.data.Dataset):
    "Per-sample npz reading, as the original dataset class does (same outputs as VideoLightsDataset)."
    def __init__(self, recs, vdirs, tdirs, cfg):
        self.recs, self.vdirs, self.tdirs, self.c = recs, vdirs, tdirs, cfg.data
    def __len__(self): return len(self.recs)
    def __getitem__(self, i):
        r, c = self.recs[i], self.c; rng = random.Random(i)
        v = join_blocks([read_video_block(d, r["vid"]) for d in self.vdirs], c.max_v_l, True)
        L = len(v); v = np.concatenate([v, tef(L)], 1)
        t = join_blocks([read_text_block(d, r["qid"]) for d in self.tdirs], c.max_q_l, True)
        s = dict(meta=r, video_feat=v, query_feat=t,
                 span_labels=sample_span_targets(r["relevant_windows"], L, 2.0, c.max_windows, rng))
        s["saliency_pos_labels"], s["saliency_neg_labels"], s["saliency_all_labels"], s["saliency_pos_index"] = \
            saliency_qvhl(r["relevant_clip_ids"], r["saliency_scores"], L, rng)
        return s


def timeit(loader, epochs):
    for _ in loader: pass                       # warm-up epoch (page cache, imports)
    t, n = time.perf_counter(), 0
    for _ in range(epochs):
        for _ in loader: n += 1
    return n / (time.perf_counter() - t)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-train", type=int, default=500); ap.add_argument("--bsz", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=2); ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--original", default=None, help="path of the original VideoLights clone (optional)")
    ap.add_argument("--dims", default="synthetic", choices=("synthetic", "real"),
                    help="feature dims: the synthetic preset's (256+128+128 / 128+128) or QVHighlights' (2304+512+768 / 512+768, random values)")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    cfg = VideoLightsConfig.from_preset("synthetic")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        dd = make_synthetic("small", n_train=a.n_train, n_val=1)
        V = {r["vid"]: {n: r[f"v_{n}"] for n in ("slowfast", "clip", "blip")} for r in dd["videos"].with_format("numpy")}
        tr = dd["train"].with_format("numpy")
        T = {str(r["qid"]): {n: r[f"t_{n}"] for n in ("clip", "blip")} for r in tr}
        if a.dims == "real":   # same records and lengths, QVHighlights' feature dims
            cfg = VideoLightsConfig.from_preset("qvhighlights")
            g = np.random.default_rng(0); vd_, td_ = dict(cfg.data.video_blocks), dict(cfg.data.text_blocks)
            V = {v: {n: g.standard_normal((len(b["clip"]), vd_[n]), dtype=np.float32) for n in b} for v, b in V.items()}
            T = {q: {n: g.standard_normal((len(b["clip"]), td_[n]), dtype=np.float32) for n in b} for q, b in T.items()}
        dirs = write_npz_layout(tmp / "feats", V, T)
        recs = [json.loads(r) for r in dd["train"]["record"]]
        ann = tmp / "train.jsonl"; ann.write_text("".join(json.dumps(r) + "\n" for r in recs))
        vd, td = [str(d) for d in dirs["video"].values()], [str(d) for d in dirs["text"].values()]
        build_dataset({"train": ann}, vd, td, tmp / "ds", ["slowfast", "clip", "blip"], ["clip", "blip"])
        ours = make_loader(load_dataset(tmp / "ds"), cfg, "train", shuffle=True, seed=0, batch_size=a.bsz, num_workers=a.workers)
        from videolights.data.store import read_annotations
        npz = torch.utils.data.DataLoader(NpzDataset(read_annotations(ann), vd, td, cfg), batch_size=a.bsz, shuffle=True,
                                          collate_fn=collate_arrays, num_workers=a.workers)
        res = {"dims": a.dims, "n_queries": a.n_train, "bsz": a.bsz, "workers": a.workers, "video_dim": cfg.v_feat_dim, "text_dim": cfg.t_feat_dim}
        res["ours_batches_per_s"] = timeit(ours, a.epochs)
        res["npz_batches_per_s"] = timeit(npz, a.epochs)
        if a.original:
            sys.path.insert(0, a.original); sys.modules.setdefault("torchtext", types.SimpleNamespace(vocab=None))
            from video_lights.start_end_dataset import StartEndDataset, start_end_collate
            ods = StartEndDataset("hl", str(ann), vd, td, max_q_l=32, max_v_l=75, ctx_mode="video_tef", clip_len=2)
            ol = torch.utils.data.DataLoader(ods, batch_size=a.bsz, shuffle=True, collate_fn=start_end_collate, num_workers=a.workers)
            res["original_batches_per_s"] = timeit(ol, a.epochs)
    res["speedup_vs_npz"] = res["ours_batches_per_s"] / res["npz_batches_per_s"]
    if "original_batches_per_s" in res: res["speedup_vs_original"] = res["ours_batches_per_s"] / res["original_batches_per_s"]
    print(f"on-disk dataset: {res['ours_batches_per_s']:.1f} batches/s; per-sample npz: {res['npz_batches_per_s']:.1f} batches/s; "
          f"ratio {res['speedup_vs_npz']:.1f}x" + (f"; original pipeline: {res['original_batches_per_s']:.1f} batches/s, ratio "
          f"{res['speedup_vs_original']:.1f}x" if "original_batches_per_s" in res else ""))
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in res.items()}))


if __name__ == "__main__":
    main()
