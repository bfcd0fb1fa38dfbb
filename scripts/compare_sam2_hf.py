"""Official ``sam2`` vs SAM 2 through ``transformers`` on the same weights (issue 19, docs/benchmarks.md).

A random-init official SAM 2.1-tiny (``build_sam2_model(random_init=True)``, seeded) is converted
to the ``transformers`` layout (:func:`to_transformers`: key renames of the two published
layouts, written here from the two state dicts; every ``Sam2VideoModel`` key must be produced
with its shape, loaded strictly), then both run our ``video`` strategy on the same frames and box
prompts of pingpong-720p (input 1024, torch fp32, 5 tracks, stride 1):

- equality: image features (``forward_image`` vs ``get_image_features``), and per frame and track
  the mask IoU and the share of differing pixels, on the prompted first frame and propagated frames;
- speed: seconds per frame of each strategy in the same process, alternating, frame 0 warms up;
- install weight: ``du`` of the ``sam2`` package + the packages only it needs vs ``transformers``.

Usage::

    PYTHONPATH=src nice -n 10 python scripts/compare_sam2_hf.py --frames 3
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_families import cpu, load
from bench_sam2 import load_frames, tracks_for

RENAMES: list[tuple[str, str]] = [
    (r"^image_encoder\.trunk\.", "vision_encoder.backbone."),
    (r"^image_encoder\.neck\.convs\.(\d+)\.conv\.", r"vision_encoder.neck.convs.\1."),
    (r"^sam_mask_decoder\.", "mask_decoder."),
    (r"^sam_prompt_encoder\.", "prompt_encoder."),
    (r"output_upscaling\.0\.", "upscale_conv1."),
    (r"output_upscaling\.1\.", "upscale_layer_norm."),
    (r"output_upscaling\.3\.", "upscale_conv2."),
    (r"mask_downscaling\.0\.", "mask_embed.conv1."),
    (r"mask_downscaling\.1\.", "mask_embed.layer_norm1."),
    (r"mask_downscaling\.3\.", "mask_embed.conv2."),
    (r"mask_downscaling\.4\.", "mask_embed.layer_norm2."),
    (r"mask_downscaling\.6\.", "mask_embed.conv3."),
    (r"pe_layer\.positional_encoding_gaussian_matrix$", "shared_embedding.positional_embedding"),
    (r"patch_embed\.proj\.", "patch_embed.projection."),
    (r"^memory_encoder\.out_proj\.", "memory_encoder.projection."),
    (r"^memory_encoder\.pix_feat_proj\.", "memory_encoder.feature_projection."),
    (r"^memory_encoder\.fuser\.", "memory_encoder.memory_fuser."),
    (r"\.dwconv\.", ".depthwise_conv."),
    (r"\.pwconv(\d)\.", r".pointwise_conv\1."),
    (r"\.gamma$", ".scale"),
    (r"\.out_proj\.", ".o_proj."),
    (r"\.norm_final_attn\.", ".layer_norm_final_attn."),
    (r"\.norm(\d*)\.", r".layer_norm\1."),
    (r"^maskmem_tpos_enc$", "memory_temporal_positional_encoding"),
    (r"^no_mem_embed$", "no_memory_embedding"),
    (r"^no_mem_pos_enc$", "no_memory_positional_encoding"),
    (r"^no_obj_ptr$", "no_object_pointer"),
    (r"^no_obj_embed_spatial$", "occlusion_spatial_embedding_parameter"),
    (r"^obj_ptr_tpos_proj\.", "temporal_positional_encoding_projection_layer."),
    (r"^obj_ptr_proj\.", "object_pointer_proj."),
]
"""Official -> transformers module renames (regex, applied in order)."""


def to_transformers(state: dict) -> dict:
    """Official SAM 2 state dict -> ``Sam2VideoModel`` state dict (same tensors)."""
    out: dict = {}
    mlp_sizes: dict[str, int] = {}
    for key in state:  # numbered MLP layers: how many per MLP
        m = re.match(r"((?:.*\.)?(?:mlp|iou_prediction_head|pred_obj_score_head|output_hypernetworks_mlps\.\d+|obj_ptr_proj))\.layers\.(\d+)\.", key)
        if m:
            mlp_sizes[m.group(1)] = max(mlp_sizes.get(m.group(1), 0), int(m.group(2)) + 1)
    down = [int(m.group(1)) for k in state if (m := re.match(r"memory_encoder\.mask_downsampler\.encoder\.(\d+)\.", k))]
    last_down = max(down) if down else -1
    points = []
    for key, value in state.items():
        m = re.match(r"sam_prompt_encoder\.point_embeddings\.(\d+)\.weight$", key)
        if m:
            points.append((int(m.group(1)), value))
            continue
        new = key
        m = re.match(r"(.*)\.layers\.(\d+)\.(weight|bias)$", key)
        if m and m.group(1) in mlp_sizes:
            i, n = int(m.group(2)), mlp_sizes[m.group(1)]
            part = "proj_in" if i == 0 else "proj_out" if i == n - 1 else f"layers.{i - 1}"
            new = f"{m.group(1)}.{part}.{m.group(3)}"
        m = re.match(r"memory_encoder\.mask_downsampler\.encoder\.(\d+)\.(.*)$", new)
        if m:
            i = int(m.group(1))
            part = "final_conv" if i == last_down else f"layers.{i // 3}.conv" if i % 3 == 0 else f"layers.{i // 3}.layer_norm"
            new = f"memory_encoder.mask_downsampler.{part}.{m.group(2)}"
        for pattern, repl in RENAMES:
            new = re.sub(pattern, repl, new)
        out[new] = value
    out["prompt_encoder.point_embed.weight"] = __import__("torch").cat([v for _, v in sorted(points, key=lambda p: p[0])])
    out["shared_image_embedding.positional_embedding"] = out["prompt_encoder.shared_embedding.positional_embedding"]
    return out


def du_mb(paths: list[Path]) -> float:
    total = 0
    for p in paths:
        if p.exists():
            total += int(subprocess.run(["du", "-sb", str(p)], capture_output=True, text=True, check=True).stdout.split()[0])
    return round(total / 1e6, 1)


def install_weight() -> dict:
    import importlib.util

    site = Path(importlib.util.find_spec("transformers").origin).parent.parent
    only_sam2 = ["sam2", "hydra", "iopath", "omegaconf", "antlr4", "portalocker"]
    sam2 = [p for name in only_sam2 for p in site.glob(f"{name}*") if p.is_dir()]
    hf = [p for p in site.glob("transformers*") if p.is_dir()]
    return {"sam2_package_and_its_own_deps_MB": du_mb(sam2), "sam2_paths": sorted(p.name for p in sam2),
            "transformers_MB": du_mb(hf)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=3, help="frames after the warm-up frame")
    ap.add_argument("--tracks", type=int, default=5)
    ap.add_argument("--no-reprompt", action="store_true",
                    help="never re-prompt on drift (random weights drift on every frame): compares propagated masks")
    args = ap.parse_args()
    import numpy as np
    import torch
    import transformers as T

    from sammask.segmentation.base import FramePrompts, TrackPrompt
    from sammask.segmentation.hf_video import HFVideoStrategy
    from sammask.segmentation.sam2.model import build_sam2_model
    from sammask.segmentation.sam2.options import Sam2Options
    from sammask.segmentation.sam2.video import VideoStrategy

    print(json.dumps({"row": "cpu", **cpu(), "torch_threads": torch.get_num_threads()}), flush=True)
    print(json.dumps({"row": "install", **install_weight()}), flush=True)
    torch.manual_seed(0)
    off = build_sam2_model("sam2.1_hiera_tiny", checkpoint=None, image_size=1024, random_init=True)
    hf = T.Sam2VideoModel(T.Sam2VideoConfig()).eval()  # the defaults are SAM 2.1 hiera-tiny
    mapped = to_transformers(off.state_dict())
    want = hf.state_dict()
    missing, extra = sorted(set(want) - set(mapped)), sorted(set(mapped) - set(want))
    bad = [k for k in want if k in mapped and tuple(mapped[k].shape) != tuple(want[k].shape)]
    print(json.dumps({"row": "convert", "keys": len(want), "missing": missing[:5], "unexpected": extra[:5],
                      "shape_mismatch": bad[:5]}), flush=True)
    hf.load_state_dict(mapped, strict=True)

    frames = load_frames(args.frames + 1)
    tracks = tracks_for(len(frames), args.tracks)
    feed = [FramePrompts(i, np.asarray(f), [TrackPrompt(d.track_id, tuple(d.bbox)) for d in tracks.on_frame(i)])
            for i, f in enumerate(frames)]
    with torch.inference_mode():
        from sammask.segmentation.sam2.model import preprocess_frame

        x = preprocess_frame(feed[0].image, 1024, "cpu")[None]
        a = off.forward_image(x)["backbone_fpn"]  # conv_s0 / conv_s1 already applied to levels 0 / 1
        b = [t.permute(1, 2, 0).reshape(ref.shape) for t, ref in zip(hf.get_image_features(x).fpn_hidden_states, a)]
        feat = [float((p - q).abs().max() / q.abs().max()) for p, q in zip(a, b)]
    print(json.dumps({"row": "features", "max_abs_diff_over_max_abs": [f"{v:.2e}" for v in feat]}), flush=True)

    if args.no_reprompt:
        import sammask.segmentation.hf_video as hv
        import sammask.segmentation.sam2.video as ov

        ov.drifted = hv.drifted = lambda mask, bbox, iou: False
    settings = Sam2Options(strategy="video", runtime="torch", precision="fp32")
    s_off, s_hf = VideoStrategy(off, settings), HFVideoStrategy(hf, "sam2-hf")
    s_off._reset()
    s_hf._reset()
    t_off, t_hf, rows = [], [], []
    for fp in feed:
        l0 = load()
        t0 = time.perf_counter()
        m_off = s_off.process(fp)
        t1 = time.perf_counter()
        m_hf = s_hf.process(fp)
        t2 = time.perf_counter()
        t_off.append(t1 - t0)
        t_hf.append(t2 - t1)
        for tid in m_off.masks:
            p = m_off.masks[tid] if m_off.masks[tid] is not None else np.zeros(fp.image.shape[:2], bool)
            q = m_hf.masks[tid] if m_hf.masks[tid] is not None else np.zeros(fp.image.shape[:2], bool)
            union = (p | q).sum()
            rows.append({"frame": fp.frame_idx, "track": tid, "iou": round(float((p & q).sum() / union) if union else 1.0, 5),
                         "differing_px": int((p != q).sum()), "px_off": int(p.sum()), "px_hf": int(q.sum()),
                         "score_off": round(m_off.scores.get(tid, -1), 4), "score_hf": round(m_hf.scores.get(tid, -1), 4)})
        print(json.dumps({"row": "frame", "frame": fp.frame_idx, "s_official": round(t1 - t0, 2), "s_transformers": round(t2 - t1, 2),
                          "reprompts": [s_off.reprompt_count, s_hf.reprompt_count], "load": [l0, load()],
                          "state_bytes": [s_off.retained().tensor_bytes, s_hf.retained().tensor_bytes],
                          "masks": [r for r in rows if r["frame"] == fp.frame_idx]}), flush=True)
    n = max(len(feed) - 1, 1)
    print(json.dumps({"row": "summary", "frames": len(feed), "tracks": args.tracks,
                      "s_per_frame_official": round(sum(t_off[1:]) / n, 2), "s_per_frame_transformers": round(sum(t_hf[1:]) / n, 2),
                      "first_frame_s": [round(t_off[0], 2), round(t_hf[0], 2)],
                      "min_iou": min(r["iou"] for r in rows), "max_differing_px": max(r["differing_px"] for r in rows),
                      "pid": os.getpid()}), flush=True)


if __name__ == "__main__":
    main()
