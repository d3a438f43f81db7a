"""Seconds per training step of videolights vs the original VideoLights, at the paper's QVHighlights config on CPU.

One training step = forward + all losses (`build_criterion`) + weighted sum + backward + `clip_grad_norm_(0.1)` + AdamW step,
on one realistic padded batch (bsz 32, QVHighlights-like lengths: most videos 75 clips, queries of 6-32 tokens, 1-3 windows,
3-rater saliency; built with `videolights.testing.parity.collate_arrays`). Each side runs in its own worker process (so the peak RSS
of each is its own); the parent sends the steps to the workers in turn, so both see the same machine load (ratio).

With `--reference PATH` (a checkout of github dpaul06/VideoLights, kept outside this repository) the original runs on the
same batch, with the same initial weights (`videolights.model.convert.to_official`) and the original's own `build_model` /
`SetCriterion`. The original's one hard-coded `.cuda()` is neutralised in its worker when no GPU is present.
Each step reports wall time and the worker's process CPU time; on a shared machine the CPU time (with `--threads 1`)
is the load-robust measure of work, the wall time at `--threads 2` the one that matters on an idle machine.

    .venv/bin/python benchmarks/train_step.py [--reference PATH/TO/VideoLights] [--threads 2] [--repeats 5]
        [--set model.use_sdpa=false ...] [--variants faithful,batched,bf16,compile] [--compile] [--bf16] [--forward]
        [--profile FILE]

The last line printed is JSON: {"median_step_s", "peak_rss_mb", "bsz", ...} for ours (+ "reference_*" and "ratio").
"""
import argparse, json, os, random, statistics, subprocess, sys, time
from pathlib import Path
import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def make_batch(cfg, bsz, seed):
    "A QVHighlights-like padded batch in the batch contract (random L2-normalised features, real label rules)."
    import torch
    from videolights.data.batching import saliency_qvhl, sample_span_targets, join_blocks, tef
    from videolights.testing.parity import collate_arrays
    rng, g = random.Random(seed), np.random.default_rng(seed)
    samples = []
    for i in range(bsz):
        L = 75 if rng.random() < 0.85 else rng.randint(20, 74)         # most QVHighlights videos are 150 s = 75 clips
        Lt = min(32, max(4, int(g.normal(14, 6))))                       # CLIP tokens of a ~11-word query
        v = join_blocks([g.standard_normal((L, d), dtype=np.float32) for _, d in cfg.data.video_blocks], cfg.data.max_v_l, True)
        v = np.concatenate([v, tef(L)], 1)
        t = join_blocks([g.standard_normal((Lt, d), dtype=np.float32) for _, d in cfg.data.text_blocks], cfg.data.max_q_l, True)
        nw, ids, wins = rng.randint(1, 3), [], []
        for _ in range(nw):
            st = rng.randrange(0, max(1, L - 6)); ed = min(L, st + rng.randint(1, 12))
            wins.append([2 * st, 2 * ed]); ids += [c for c in range(st, ed) if c not in ids]
        scores = [[rng.randint(0, 4) for _ in range(3)] for _ in ids]
        for s in scores: s[0] = max(s[0], 1)                             # relevant clips have a non-zero score
        pos, neg, sal, idx = saliency_qvhl(ids, scores, L, rng)
        samples.append(dict(meta={"qid": i, "vid": f"v{i}", "duration": 2.0 * L, "relevant_windows": wins}, video_feat=v,
                            query_feat=t, span_labels=sample_span_targets(wins, L, cfg.data.clip_len, cfg.data.max_windows, rng),
                            saliency_pos_labels=pos, saliency_neg_labels=neg, saliency_all_labels=sal, saliency_pos_index=idx))
    return collate_arrays(samples)


def peak_rss_mb():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KiB on Linux


def worker(a):
    "Build one side, then answer commands read from stdin (`step`, `fwd1`, `fwd32`, `profile`, `done`) with JSON lines."
    import torch
    torch.set_num_threads(a.threads)
    from videolights.core.config import VideoLightsConfig
    from videolights.model.videolights import build_model
    from videolights.criterion.losses import build_criterion
    from videolights.train.loop import make_optimizer
    cfg = VideoLightsConfig.from_preset("qvhighlights", *a.set)
    batch = make_batch(cfg, a.bsz, a.seed)
    inp, tgt = batch["model_inputs"], batch["targets"]
    torch.manual_seed(a.seed)
    model = build_model(cfg)
    if a.side == "reference":
        sys.path.insert(0, str(Path(a.reference).resolve()))
        if not torch.cuda.is_available(): torch.Tensor.cuda = lambda self, *args, **kw: self   # its one hard-coded .cuda()
        from video_lights.model import build_model as orig_build
        from videolights.model.convert import to_official, official_options
        ref, crit = orig_build(official_options(cfg))
        ref.load_state_dict(to_official(model, cfg)); model = ref
    else: crit = build_criterion(cfg)
    model.train()
    opt = make_optimizer(model, cfg)   # the trainer's AdamW (one parameter group), for both sides
    fwd = torch.compile(model) if a.compile else model
    amp = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if a.bf16 else (lambda: torch.autocast("cpu", enabled=False))

    def step():
        with amp(): out = fwd(**inp)
        out = {k: (v.float() if torch.is_tensor(v) and v.is_floating_point() else v) for k, v in out.items()}
        losses = crit(out, tgt, 0)
        total = sum(crit.weight_dict[k] * v for k, v in losses.items() if k in crit.weight_dict)
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
        opt.step()
        return float(total.detach())

    def infer(b):
        m_inp = {k: v[:b] for k, v in inp.items()}
        model.eval()
        with torch.no_grad(), amp(): fwd(**m_inp)
        model.train()

    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "step":
            t, c = time.perf_counter(), time.process_time(); loss = step()
            print(json.dumps({"s": time.perf_counter() - t, "cpu_s": time.process_time() - c, "loss": loss}), flush=True)
        elif cmd == "evalloss":   # deterministic (eval mode, no dropout): both sides must agree
            model.eval()
            with torch.no_grad():
                out = model(**inp); l = crit(out, tgt, 0)
                total = sum(crit.weight_dict[k] * v for k, v in l.items() if k in crit.weight_dict)
            model.train(); print(json.dumps({"loss": float(total)}), flush=True)
        elif cmd.startswith("fwd"):
            b = int(cmd[3:]); t = time.perf_counter(); infer(b); print(json.dumps({"s": time.perf_counter() - t}), flush=True)
        elif cmd.startswith("profile"):
            from torch.profiler import profile, ProfilerActivity
            with profile(activities=[ProfilerActivity.CPU]) as p: step()
            tab = p.key_averages().table(sort_by="self_cpu_time_total", row_limit=int(cmd.split()[1]) if " " in cmd else 25)
            print(json.dumps({"table": tab}), flush=True)
        elif cmd == "flops":   # matrix-product FLOPs of one training step (forward + losses + backward), counted by torch
            from torch.utils.flop_counter import FlopCounterMode
            fc = FlopCounterMode(display=False)
            with fc: step()
            print(json.dumps({"gflop": fc.get_total_flops() / 1e9}), flush=True)
        elif cmd == "gemm":    # sustained fp32 matrix-product rate at this thread count, on the step's large shapes
            rates = []
            for m, k, n in ((a.bsz * 76, 256, 1024), (a.bsz * 76, 1024, 256), (a.bsz * 75, 3586, 256), (2048, 2048, 2048)):
                x, w = torch.randn(m, k), torch.randn(k, n)
                for _ in range(3): x @ w
                t = time.perf_counter()
                for _ in range(10): x @ w
                rates.append(2 * m * k * n * 10 / (time.perf_counter() - t) / 1e9)
            print(json.dumps({"gflops": max(rates), "all": [round(r, 1) for r in rates]}), flush=True)
        elif cmd == "peak":
            print(json.dumps({"peak_rss_mb": peak_rss_mb()}), flush=True)
        elif cmd == "done": return


# extra variants of our side, timed interleaved with the others (`--variants faithful,bf16,compile`)
VARIANTS = {"faithful": ["--set", "model.batched_neg_pass=false", "--set", "model.use_sdpa=false",
                         "--set", "model.quirk_neg_full_decoder=true"],   # the original's code path in our model
            "batched": ["--set", "model.batched_neg_pass=true"],    # our defaults plus the 2B batched negative pass
            "bf16": ["--bf16"], "compile": ["--compile"], "compile+bf16": ["--compile", "--bf16"]}


class Side:
    "A worker process for one side."
    def __init__(self, name, a, extra=()):
        argv = [sys.executable, __file__, "--worker", "reference" if name == "reference" else "ours",
                "--threads", str(a.threads), "--bsz", str(a.bsz), "--seed", str(a.seed)]
        if name == "reference": argv += ["--reference", a.reference]
        else:
            argv += sum([["--set", s] for s in a.set], [])
            argv += ["--compile"] * a.compile + ["--bf16"] * a.bf16 + list(extra)
        env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.name = name
    def ask(self, cmd):
        self.p.stdin.write(cmd + "\n"); self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line: raise RuntimeError(f"{self.name} worker died (command {cmd!r})")
        return json.loads(line)
    def wait_ready(self): return json.loads(self.p.stdout.readline())
    def close(self):
        self.p.stdin.write("done\n"); self.p.stdin.flush(); self.p.wait()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reference", default=None, help="checkout of the original VideoLights (outside this repo) to time as well")
    ap.add_argument("--threads", type=int, default=2); ap.add_argument("--bsz", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5, help="timed steps per side (after --warmup)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--seed", type=int, default=2018)
    ap.add_argument("--set", action="append", default=[], help="config override for our side, e.g. model.batched_neg_pass=false")
    ap.add_argument("--compile", action="store_true", help="torch.compile our model")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast for our forward (losses in fp32)")
    ap.add_argument("--variants", default="", help="comma list of extra variants of ours to time in the same run: "
                    + ", ".join(VARIANTS))
    ap.add_argument("--forward", action="store_true", help="also time inference forward at bsz 1 and bsz")
    ap.add_argument("--floor", action="store_true", help="also count each side's FLOPs per step and measure this machine's "
                    "fp32 matrix-product rate at --threads: the floor = FLOPs / rate, and ours as a fraction of it")
    ap.add_argument("--profile", default=None, help="write a torch.profiler table (top ops by self CPU) of one step of ours here")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker: a.side = a.worker; return worker(a)
    if a.reference and Path(a.reference).resolve().is_relative_to(Path(__file__).resolve().parents[1]):
        ap.error("--reference must point outside this repository")
    variants = [v for v in a.variants.split(",") if v]
    for v in variants:
        if v not in VARIANTS: ap.error(f"--variants: unknown {v!r}, choose from {sorted(VARIANTS)}")
    sides = [Side("ours", a)] + ([Side("reference", a)] if a.reference else []) + [Side(v, a, VARIANTS[v]) for v in variants]
    for s in sides: s.wait_ready()
    eval_loss = {s.name: s.ask("evalloss")["loss"] for s in sides}   # before any update: same weights on both sides
    times = {s.name: [] for s in sides}; cpu = {s.name: [] for s in sides}; losses = {}
    for i in range(a.warmup + a.repeats):
        for s in (sides if i % 2 == 0 else sides[::-1]):     # alternate the order: neither side always runs first
            r = s.ask("step")
            if i >= a.warmup: times[s.name].append(r["s"]); cpu[s.name].append(r["cpu_s"])
            print(f"step {i} {s.name}: {r['s']:.3f} s wall, {r['cpu_s']:.3f} s cpu", file=sys.stderr, flush=True)
            losses.setdefault(s.name, r["loss"])
    fwd = {}
    if a.forward:
        for b in (1, a.bsz):
            for s in sides: s.ask(f"fwd{b}")                   # warm-up
            ft = {s.name: [] for s in sides}
            for _ in range(a.repeats):
                for s in sides: ft[s.name].append(s.ask(f"fwd{b}")["s"])
            for n, v in ft.items(): fwd[f"{n}_fwd_bsz{b}_s"] = round(statistics.median(v), 4)
    peaks = {s.name: s.ask("peak")["peak_rss_mb"] for s in sides}       # before the profiler adds its own memory
    floor = {}
    if a.floor:
        gemm = sides[0].ask("gemm")
        floor["gemm_gflops"] = round(gemm["gflops"], 1)
        for s in sides:
            g = s.ask("flops")["gflop"]
            floor[f"{s.name}_gflop_per_step"] = round(g, 1)
            floor[f"{s.name}_floor_s"] = round(g / gemm["gflops"], 4)       # all matrix products at the best measured rate
        print(f"GEMM rate {gemm['gflops']:.1f} GFLOP/s (shapes: {gemm['all']}); " + ", ".join(
            f"{s.name} {floor[s.name + '_gflop_per_step']} GFLOP/step, floor {floor[s.name + '_floor_s']} s" for s in sides))
    if a.profile:
        Path(a.profile).write_text(sides[0].ask("profile 30")["table"])
    for s in sides: s.close()
    load = os.getloadavg()[0]
    for n in times: print(f"{n:12s} step s: " + " ".join(f"{t:.3f}" for t in times[n]) + "  cpu s: "
                          + " ".join(f"{t:.3f}" for t in cpu[n]) + f"  first loss {losses[n]:.6f}")
    med = lambda v: round(statistics.median(v), 4)
    res = {"median_step_s": med(times["ours"]), "median_step_cpu_s": med(cpu["ours"]), "peak_rss_mb": round(peaks["ours"], 1), "bsz": a.bsz,
           "threads": a.threads, "repeats": a.repeats, "overrides": a.set, "compile": a.compile, "bf16": a.bf16,
           "loss_first_step": losses["ours"], "eval_loss": eval_loss["ours"], "loadavg_1min": round(load, 2), **{k: v for k, v in fwd.items() if k.startswith("ours")}, **floor}
    if a.floor: res["fraction_of_floor"] = round(floor["ours_floor_s"] / res["median_step_s"], 3)
    for v in variants:
        res[f"{v}_median_step_s"], res[f"{v}_median_step_cpu_s"] = med(times[v]), med(cpu[v])
        res[f"{v}_peak_rss_mb"] = round(peaks[v], 1)
        res[f"{v}_loss_first_step"], res[f"{v}_eval_loss"] = losses[v], eval_loss[v]
        res.update({k: val for k, val in fwd.items() if k.startswith(v + "_fwd")})
    if a.reference:
        res.update(reference_median_step_s=med(times["reference"]), reference_median_step_cpu_s=med(cpu["reference"]),
                   ratio_cpu=round(statistics.median(cpu["reference"]) / statistics.median(cpu["ours"]), 3),
                   reference_peak_rss_mb=round(peaks["reference"], 1), reference_loss_first_step=losses["reference"], reference_eval_loss=eval_loss["reference"],
                   ratio=round(statistics.median(times["reference"]) / statistics.median(times["ours"]), 3),
                   **{k: v for k, v in fwd.items() if k.startswith("reference")})
        print(f"original / ours = {res['ratio']:.2f}x wall, {res['ratio_cpu']:.2f}x process CPU time (load average {load:.1f})")
    print(json.dumps(res))


if __name__ == "__main__":
    sys.exit(main())
