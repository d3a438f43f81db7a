"""`videolights data download` and `convert --official` end to end on miniature archives laid out like the real ones.

Only `videolights.apps.download.transport` (the one function that touches the network) is replaced, by a local copy
that honours its contract (append to the `.part` file after the bytes it holds); resume, verification, the lock file,
safe extraction, the builder and the converter all run for real."""
import dataclasses
import hashlib
import io
import json
import lzma
import tarfile
from pathlib import Path
import numpy as np
import pytest
import torch
from videolights.apps import download as dl
from videolights.commands.conversion import convert_command
from videolights.commands.datasets import data_command
from videolights.core.errors import VideoLightsError
from videolights.data.store import load_dataset, read_manifest
from videolights.model.checkpoint import load_checkpoint

MODEL_FIX = Path(__file__).parent / "fixtures" / "model"
DIMS = {"slowfast_features": 8, "clip_features": 4, "blip_video_features": 6, "clip_text_features": 4,
        "blip_aug_text_features_openai": 6}


def qvhl_records(split, n=4, seed=0):
    rng = np.random.default_rng(seed + (split == "val"))
    recs = []
    for i in range(n):
        vid, dur = f"{split}_vid{i}", 20.0
        recs.append(dict(qid=1000 * (split == "val") + i, query=f"query {i}", duration=dur, vid=vid,
                         relevant_windows=[[2.0, 8.0]], relevant_clip_ids=[1, 2, 3],
                         saliency_scores=rng.integers(0, 5, (3, 3)).tolist()))
    return recs


def mini_archive(path, top="features", extra=None):
    "A tar.gz laid out like qvhighlights_features.tar.gz: `features/<the original's folder names>/*.npz`."
    rng = np.random.default_rng(0)
    files = {}
    for split in ("train", "val"):
        for r in qvhl_records(split):
            for f in ("slowfast_features", "clip_features", "blip_video_features"):
                files[f"{top}/{f}/{r['vid']}.npz"] = {"features": rng.standard_normal((10, DIMS[f])).astype("float32")}
            for f in ("clip_text_features", "blip_aug_text_features_openai"):
                files[f"{top}/{f}/qid{r['qid']}.npz"] = {"last_hidden_state": rng.standard_normal((5, DIMS[f])).astype("float32")}
    with tarfile.open(path, "w:gz") as tf:
        for name, arrays in sorted(files.items()):
            buf = io.BytesIO()
            np.savez(buf, **arrays)
            add(tf, name, buf.getvalue())
        for name, data in (extra or {}).items():
            add(tf, name, data)
    return Path(path)


def add(tf, name, data):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    tf.addfile(ti, io.BytesIO(data))


class LocalCopy:
    "The transport replaced by a local copy: `url -> bytes`, appended to `part` after what it holds."

    def __init__(self, files, fail_after=None):
        self.files, self.fail_after, self.starts = files, fail_after, []

    def __call__(self, url, part):
        part = Path(part)
        start = part.stat().st_size if part.exists() else 0
        self.starts.append((url, start))
        data = self.files[url][start:]
        if self.fail_after is not None:
            data = data[: self.fail_after]
        with open(part, "ab") as f:
            f.write(data)
        if self.fail_after is not None:
            raise VideoLightsError(f"offline or unreachable: cannot fetch {url} (cut); run again to resume")


@pytest.fixture
def mini(tmp_path, monkeypatch):
    "The `qvhighlights` source with miniature files (the real folder names, kind and preset) and their bytes by URL."
    src = dl.SOURCES["qvhighlights"]
    ann, files = {}, {}
    for split in ("train", "val"):
        data = "".join(json.dumps(r) + "\n" for r in qvhl_records(split)).encode()
        url = f"https://example.org/{split}.jsonl"
        ann[split] = dl.Remote(url, f"highlight_{split}_release.jsonl", len(data), hashlib.sha256(data).hexdigest())
        files[url] = data
    arch = mini_archive(tmp_path / "src.tar.gz").read_bytes()
    files[src.archive.url] = arch
    mini_src = dataclasses.replace(src, archive=dataclasses.replace(src.archive, approx_size=len(arch)), annotations=ann)
    monkeypatch.setitem(dl.SOURCES, "qvhighlights", mini_src)
    return mini_src, files


def leftovers(folder):
    return sorted(p.name for p in Path(folder).iterdir()) if Path(folder).exists() else []


def test_download_builds_a_dataset_train_reads(mini, tmp_path, monkeypatch, capsys):
    src, files = mini
    monkeypatch.setattr(dl, "transport", LocalCopy(files))
    assert data_command(["download", "qvhighlights", "--out", str(tmp_path / "qvhl")]) == 0
    m = read_manifest(tmp_path / "qvhl")
    assert m["video_blocks"] == [["slowfast", 8], ["clip", 4], ["blip", 6]]
    assert m["text_blocks"] == [["clip", 4], ["blip", 6]] and m["kind"] == "qvhighlights"
    dd = load_dataset(tmp_path / "qvhl")
    assert sorted(dd["train"]["qid"]) == ["0", "1", "2", "3"] and len(dd["val"]) == 4
    cache = tmp_path / "qvhl-download"
    lock = dl.read_lock(cache)
    assert lock[src.archive.name]["sha256"] == hashlib.sha256(files[src.archive.url]).hexdigest()
    assert leftovers(cache) == ["annotations", "qvhighlights_features", dl.LOCK]  # the archive is gone once extracted


def test_resume_after_a_cut_transfer(mini, tmp_path, monkeypatch):
    src, files = mini
    for url in (r.url for r in src.annotations.values()):  # annotations first, uncut
        monkeypatch.setattr(dl, "transport", LocalCopy(files))
        dl.fetch(next(r for r in src.annotations.values() if r.url == url), tmp_path / "c" / "annotations")
    half = len(files[src.archive.url]) // 2
    monkeypatch.setattr(dl, "transport", LocalCopy(files, fail_after=half))
    with pytest.raises(VideoLightsError, match="run again to resume"):
        dl.download_dataset("qvhighlights", tmp_path / "out", cache=tmp_path / "c")
    assert (tmp_path / "c" / f"{src.archive.name}.part").stat().st_size == half
    good = LocalCopy(files)
    monkeypatch.setattr(dl, "transport", good)
    dl.download_dataset("qvhighlights", tmp_path / "out", cache=tmp_path / "c")
    assert good.starts == [(src.archive.url, half)]  # it continued after the bytes it had
    assert read_manifest(tmp_path / "out")["counts"]


def run_refused(argv, capsys):
    "A refused CLI run: exit code 2 through the dispatcher and a one-line message."
    from videolights.cli import main
    capsys.readouterr()  # drop what earlier steps printed
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    return err


def test_truncated_archive_is_refused_and_nothing_is_left(mini, tmp_path, monkeypatch, capsys):
    src, files = mini
    arch = files[src.archive.url]
    # cut short by the transfer: the README size check refuses it
    monkeypatch.setattr(dl, "transport", LocalCopy({**files, src.archive.url: arch[: len(arch) // 2]}))
    err = run_refused(["data", "download", "qvhighlights", "--out", str(tmp_path / "a")], capsys)
    assert "cut or wrong" in err and not (tmp_path / "a").exists()
    assert leftovers(tmp_path / "a-download") == ["annotations"]
    # cut by a few bytes, within the size tolerance: extraction finds it cut and deletes it
    monkeypatch.setitem(dl.SOURCES, "qvhighlights", dataclasses.replace(src, archive=dataclasses.replace(src.archive, approx_size=None)))
    monkeypatch.setattr(dl, "transport", LocalCopy({**files, src.archive.url: arch[:-100]}))
    err = run_refused(["data", "download", "qvhighlights", "--out", str(tmp_path / "b")], capsys)
    assert "cut short" in err and not (tmp_path / "b").exists()
    assert leftovers(tmp_path / "b-download") == ["annotations"]


def test_hash_mismatch_against_the_lock_file(mini, tmp_path, monkeypatch, capsys):
    src, files = mini
    monkeypatch.setattr(dl, "transport", LocalCopy(files))
    dl.download_dataset("qvhighlights", tmp_path / "one", cache=tmp_path / "c")
    import shutil
    shutil.rmtree(tmp_path / "c" / "qvhighlights_features")  # a later download of the same archive ...
    other = mini_archive(tmp_path / "other.tar.gz", extra={"features/readme.txt": b"changed"}).read_bytes()
    monkeypatch.setitem(dl.SOURCES, "qvhighlights", dataclasses.replace(src, archive=dataclasses.replace(src.archive, approx_size=None)))
    monkeypatch.setattr(dl, "transport", LocalCopy({**files, src.archive.url: other}))  # ... gets other bytes
    err = run_refused(["data", "download", "qvhighlights", "--out", str(tmp_path / "two"), "--cache", str(tmp_path / "c")], capsys)
    assert "first download recorded" in err and not (tmp_path / "two").exists()
    assert leftovers(tmp_path / "c") == ["annotations", dl.LOCK]


@pytest.mark.parametrize("member", ["../evil.npz", "/tmp/evil.npz", "features/../../evil.npz"])
def test_unsafe_members_are_refused(mini, tmp_path, monkeypatch, capsys, member):
    src, files = mini
    bad = mini_archive(tmp_path / "bad.tar.gz", extra={member: b"x"}).read_bytes()
    monkeypatch.setitem(dl.SOURCES, "qvhighlights", dataclasses.replace(src, archive=dataclasses.replace(src.archive, approx_size=None)))
    monkeypatch.setattr(dl, "transport", LocalCopy({**files, src.archive.url: bad}))
    err = run_refused(["data", "download", "qvhighlights", "--out", str(tmp_path / "out")], capsys)
    assert "refused" in err and repr(member) in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.npz").exists()
    assert leftovers(tmp_path / "out-download") == ["annotations"]  # no archive, no extraction, no lock


def test_a_link_out_of_the_archive_is_refused(tmp_path):
    p = tmp_path / "l.tar"
    with tarfile.open(p, "w") as tf:
        ti = tarfile.TarInfo("features/link")
        ti.type, ti.linkname = tarfile.SYMTYPE, "../../etc/passwd"
        tf.addfile(ti)
    with pytest.raises(VideoLightsError, match="a link to"):
        dl.safe_extract(p, tmp_path / "out")
    assert leftovers(tmp_path) == ["l.tar"]


def test_offline_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    err = run_refused(["data", "download", "tvsum", "--out", str(tmp_path / "t")], capsys)
    assert err.startswith("videolights data: error: offline")
    err = run_refused(["convert", "--official", "VideoLights-B-pt", "--out", str(tmp_path / "c")], capsys)
    assert "offline" in err and not (tmp_path / "c").exists()


def test_convert_official_by_name(tmp_path, monkeypatch, capsys):
    "`convert --official` on a checkpoint the original's own train.py wrote, served under the README's link."
    meta = json.loads((MODEL_FIX / "original_train_best.json").read_text())
    raw = lzma.decompress((MODEL_FIX / "original_train_best.ckpt.xz").read_bytes())
    ck = dl.official_checkpoint("VideoLights-B-pt", "qvhighlights")
    monkeypatch.setattr(dl, "transport", LocalCopy({ck.remote.url: raw}))
    assert convert_command(["--official", "VideoLights-B-pt", "--out", str(tmp_path / "m")]) == 0
    model, cfg, info = load_checkpoint(tmp_path / "m")
    x = {k: torch.tensor(v) for k, v in meta["inputs"].items()}
    with torch.no_grad():
        out = model(**x)
    for k, v in meta["outputs"].items():
        assert torch.allclose(out[k], torch.tensor(v), atol=1e-5), k
    extra = info["provenance"]["extra"]
    assert extra["official"] == "VideoLights-B-pt" and extra["sha256"] == hashlib.sha256(raw).hexdigest()
    card = (tmp_path / "m" / "README.md").read_text()
    assert "split: test" in card and "value: 70.36" in card and "not re-measured" in card
    assert dl.read_lock(tmp_path / "m-download")[ck.remote.name]["sha256"] == extra["sha256"]
    # a later download with other bytes is refused against the lock file
    (tmp_path / "m-download" / ck.remote.name).unlink()
    monkeypatch.setattr(dl, "transport", LocalCopy({ck.remote.url: raw[:100] + bytes([raw[100] ^ 1]) + raw[101:]}))
    err = run_refused(["convert", "--official", "VideoLights-B-pt", "--out", str(tmp_path / "m2"),
                       "--cache", str(tmp_path / "m-download")], capsys)
    assert "first download recorded" in err and not (tmp_path / "m2").exists()
