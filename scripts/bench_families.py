"""SAM families and open-vocabulary detectors on CPU, one run (issue 19, docs/benchmarks.md).

Random-init weights at the published architectures (nothing can be downloaded here; speed does
not depend on the weights, masks are meaningless). Clip: the first N+1 frames of
pingpong-720p.mp4 (1280x720), 5 tracks (the player + 4 fixed boxes spread over the frame) at
stride 1, image strategy; frame 0 warms up and is not in the bare figure.

Rows (``--rows``, default all):

- ``sam2:SIZE:RUNTIME:PRECISION``: official sam2.1_hiera_tiny (sam2 package) at input SIZE;
- ``sam2-hf`` / ``samhq`` / ``sam3`` / ``edgetam``: the transformers families at their published
  size (1024 / 1024 / 1008 / 1024), the default runtime (``auto``: OpenVINO), bf16; a family whose
  modules do not import (EdgeTAM needs ``timm`` + a working ``torchvision``) is reported as not
  runnable;
- ``edgetam:SIZE:RUNTIME:PRECISION``: EdgeTAM (RepViT-M1, named explicitly: the default
  ``EdgeTamVisionConfig`` builds ResNet-50) at input SIZE on one encoder runtime;
- ``sam3det``: SAM 3's detector (``Sam3Model``, 1008 px, what ``text:`` detection would run):
  seconds per 720p frame, processor + vision encoder once + one detector forward per phrase
  (2 phrases), torch fp32;
- ``owlv2`` / ``gdino``: seconds per 720p frame of OWLv2 base-patch16 (960 px) and Grounding DINO
  tiny (800 px shorter side), processor + model, 2 phrases;
- ``deface``: deface 1.5 (its CLI, defaults) on the same trimmed clip, frames/s end to end.

Each row prints one JSON line with the 1-minute load average before and after. Usage::

    PYTHONPATH=src:/tmp/deface-deps nice -n 10 python scripts/bench_families.py --frames 8
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sam2 import VIDEO, bare_run, load_frames, tracks_for

from sammask.media.types import EncodeOptions
from sammask.segmentation.families import FAMILIES, missing_requirement
from sammask.segmentation.sam2.segmenter import Sam2Segmenter
from sammask.settings import RedactSettings, Sam2Settings


def load() -> float:
    return round(os.getloadavg()[0], 2)


def cpu() -> dict:
    out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    info = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    flags = [f for f in info.get("Flags", "").split() if f.startswith(("avx", "amx", "fma"))]
    return {"model": info.get("Model name", "").strip(), "cpus": info.get("CPU(s)", "").strip(), "flags": flags}


def hf_model(family: str, size: int = 1024):
    import torch
    import transformers as T

    torch.manual_seed(0)
    if family == "edgetam":  # the published RepViT-M1 encoder (the default config builds resnet50)
        backbone = {
            "model_type": "timm_wrapper",
            "architecture": "repvit_m1",
            "num_classes": 0,  # see tests/hf_sam_helpers.py
            "model_args": {"in_chans": 3, "features_only": True, "out_indices": [0, 1, 2, 3]},
        }
        feats = [[size // 4] * 2, [size // 8] * 2, [size // 16] * 2]
        cfg = T.EdgeTamConfig(
            vision_config={"backbone_config": backbone, "backbone_feature_sizes": feats}, prompt_encoder_config={"image_size": size}
        )
    else:
        cfg = {"sam2-hf": T.Sam2Config, "samhq": T.SamHQConfig, "sam3": T.Sam3TrackerConfig}[family]()
    return getattr(T, FAMILIES[family].model_class)(cfg).eval()


def seg_row(name: str, seg, frames, tracks, clip: Path, tmp: Path) -> dict:
    from sammask.pipeline import redact

    l0 = load()
    bare_total, first = bare_run(seg, frames, tracks)
    bare = (bare_total - first) / max(len(frames) - 1, 1)
    settings = RedactSettings(segmenter="sam2", stride=1, encode=EncodeOptions(preset="medium"))
    t0 = time.perf_counter()
    report = redact(clip, tracks, tmp / f"{name}.mp4", settings, segmenter=seg)
    e2e = time.perf_counter() - t0
    return {
        "row": name,
        "frames": len(frames),
        "bare_s_per_frame": round(bare, 3),
        "first_frame_s": round(first, 2),
        "e2e_fps": round(len(frames) / e2e, 3),
        "e2e_s": round(e2e, 1),
        "stage_seconds": {k: round(v, 2) for k, v in report.stage_seconds.items()},
        "load": [l0, load()],
    }


def detector_row(kind: str, frames) -> dict:
    import numpy as np
    import torch
    import transformers as T

    torch.manual_seed(0)
    if kind == "owlv2":
        model = T.Owlv2ForObjectDetection(T.Owlv2Config(vision_config={"image_size": 960, "patch_size": 16})).eval()
        proc = T.Owlv2ImageProcessorPil(size={"height": 960, "width": 960})
        ids = torch.randint(1, 1000, (2, 16))
        extra = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    else:
        model = T.GroundingDinoForObjectDetection(T.GroundingDinoConfig()).eval()
        proc = T.GroundingDinoImageProcessorPil()
        ids = torch.randint(1000, 2000, (1, 8))
        extra = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}
    l0 = load()
    times = []
    for img in frames[:4]:
        t0 = time.perf_counter()
        x = proc(images=np.asarray(img), return_tensors="pt")
        with torch.inference_mode():
            model(**{k: v for k, v in x.items() if k in ("pixel_values", "pixel_mask")}, **extra)
        times.append(time.perf_counter() - t0)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    return {
        "row": kind,
        "params_M": round(params, 1),
        "input": tuple(x["pixel_values"].shape[-2:]),
        "first_s": round(times[0], 2),
        "s_per_frame": round(sum(times[1:]) / len(times[1:]), 3),
        "load": [l0, load()],
    }


def sam3_detector_row(frames) -> dict:
    import numpy as np
    import torch
    import transformers as T

    torch.manual_seed(0)
    model = T.Sam3Model(T.Sam3Config()).eval()
    proc = T.Sam3ImageProcessor()
    phrases = [torch.randint(1000, 2000, (1, 8)) for _ in range(2)]  # 2 phrases, 8 tokens each
    l0 = load()
    times = []
    for img in frames[:4]:
        t0 = time.perf_counter()
        x = proc(images=np.asarray(img), return_tensors="pt")
        with torch.inference_mode():
            vis = model.get_vision_features(pixel_values=x["pixel_values"])
            for ids in phrases:
                model(vision_embeds=vis, input_ids=ids, attention_mask=torch.ones_like(ids))
        times.append(time.perf_counter() - t0)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    return {
        "row": "sam3det",
        "params_M": round(params, 1),
        "input": tuple(x["pixel_values"].shape[-2:]),
        "first_s": round(times[0], 2),
        "s_per_frame": round(sum(times[1:]) / len(times[1:]), 3),
        "load": [l0, load()],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=8, help="frames after the warm-up frame")
    ap.add_argument(
        "--rows",
        nargs="*",
        default=[
            "cpu",
            "deface",
            "sam2:1024:openvino:bf16",
            "sam2:512:openvino:bf16",
            "sam2:1024:torch:bf16",
            "sam2-hf",
            "samhq",
            "edgetam",
            "sam3",
            "owlv2",
            "gdino",
        ],
    )
    args = ap.parse_args()
    from sammask.media import trim_video

    frames = load_frames(args.frames + 1)
    tracks = tracks_for(len(frames), 5)
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        clip = tmp / "clip.mp4"
        trim_video(VIDEO, clip, len(frames))
        for row in args.rows:
            if row == "cpu":
                res = {"row": "cpu", **cpu()}
            elif row == "deface":
                l0 = load()
                t0 = time.perf_counter()
                proc = subprocess.run(
                    [str(Path(sys.executable).parent / "deface"), str(clip), "-o", str(tmp / "deface.mp4")],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                dt = time.perf_counter() - t0
                res = {
                    "row": "deface 1.5 (CLI defaults)",
                    "rc": proc.returncode,
                    "frames": len(frames),
                    "e2e_fps": round(len(frames) / dt, 3),
                    "e2e_s": round(dt, 1),
                    "load": [l0, load()],
                }
                if proc.returncode:
                    res["stderr"] = proc.stderr.strip().splitlines()[-1:]
            elif row.startswith("sam2:"):
                from sammask.segmentation.sam2.model import build_sam2_model

                _, size, runtime, precision = row.split(":")
                model = build_sam2_model("sam2.1_hiera_tiny", checkpoint=None, image_size=int(size), random_init=True)
                t0 = time.perf_counter()
                seg = Sam2Segmenter(Sam2Settings(input_size=int(size), runtime=runtime, precision=precision, crop=False), model=model)
                build = time.perf_counter() - t0
                res = {**seg_row(row, seg, frames, tracks, clip, tmp), "build_s": round(build, 1)}
            elif row in ("sam2-hf", "samhq", "sam3", "edgetam") or row.startswith("edgetam:"):
                family, size, runtime, precision = row.split(":") if ":" in row else (row, "", "auto", "bf16")
                missing = missing_requirement(family)
                if missing is not None:
                    res = {"row": row, "skipped": f"Python module '{missing}' does not import"}
                else:
                    model = hf_model(family, int(size)) if size else hf_model(family)
                    t0 = time.perf_counter()
                    seg = Sam2Segmenter(Sam2Settings(runtime=runtime, precision=precision, crop=False), model=model)
                    build = time.perf_counter() - t0
                    size = seg.strategy.image_size  # before seg_row: redact closes the segmenter
                    res = {**seg_row(row, seg, frames, tracks, clip, tmp), "input": size, "build_s": round(build, 1)}
            elif row in ("owlv2", "gdino"):
                res = detector_row(row, frames)
            elif row == "sam3det":
                res = sam3_detector_row(frames)
            else:
                raise SystemExit(f"unknown row {row}")
            print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
