"""Speed of the hub detector (transformers RT-DETR) on real frames with RANDOM weights.

No pretrained detector weights can be downloaded here, so the architectures are built from
transformers' configs with random init: the numbers are seconds per frame only (cost does not
depend on the weight values); the boxes are meaningless. Two sizes: ``RTDetrConfig()`` defaults
(the RT-DETR R50vd layout, ``PekingU/rtdetr_r50vd``) and the same with a ResNet-18vd backbone
(basic blocks, depths 2-2-2-2, 3 decoder layers: the ``rtdetr_r18vd`` layout). Input 640x640 as
the published processors. Each model is saved with ``save_pretrained`` and loaded through
:class:`sammask.detection.hub.HubDetector` (the path users take), then run on the first
``--frames`` frames of a clip (median of the timed calls after 2 warm-ups).

Usage (under ``flock /tmp/sammask-bench.lock``)::

    python scripts/bench_hub_detector.py [--clip pedestrians-1080p] [--frames 12]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import av

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"


def main() -> None:
    import torch
    from transformers import RTDetrConfig, RTDetrForObjectDetection, RTDetrImageProcessor, RTDetrResNetConfig

    from sammask.detection.hub import HubDetector, HubDetectorOptions

    ap = argparse.ArgumentParser()
    ap.add_argument("--clip", default="pedestrians-1080p")
    ap.add_argument("--frames", type=int, default=12)
    args = ap.parse_args()
    with av.open(str(DATA / f"{args.clip}.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(args.frames), c.decode(video=0))]
    r18 = RTDetrConfig(
        backbone_config=RTDetrResNetConfig(layer_type="basic", depths=[2, 2, 2, 2], hidden_sizes=[64, 128, 256, 512],
                                           downsample_in_bottleneck=False, out_features=["stage2", "stage3", "stage4"]),
        encoder_in_channels=[128, 256, 512], decoder_layers=3,
    )
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, clip {args.clip}, {len(frames)} frames")
    print("| model (random weights) | parameters | s/frame (median) | frames/s |")
    print("|---|---:|---:|---:|")
    for name, cfg in (("RT-DETR R18vd layout", r18), ("RT-DETR R50vd layout (RTDetrConfig defaults)", RTDetrConfig())):
        torch.manual_seed(0)
        model = RTDetrForObjectDetection(cfg)
        with tempfile.TemporaryDirectory() as tmp:
            model.save_pretrained(tmp)
            RTDetrImageProcessor().save_pretrained(tmp)
            det = HubDetector(HubDetectorOptions(model=tmp, min_score=0.5))
        times = []
        for i, img in enumerate(frames):
            t0 = time.perf_counter()
            det.detect(img)
            if i >= 2:
                times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        n_params = sum(p.numel() for p in model.parameters())
        print(f"| {name} | {n_params / 1e6:.1f} M | {med:.3f} | {1 / med:.2f} |")


if __name__ == "__main__":
    main()
