"""ONNX dynamic-int8 feature error vs torch fp32 over random-init seeds (issue 20).

Usage: PYTHONPATH=src python scripts/int8_seed_spread.py FIRST_SEED END_SEED  (run from the repo root)
"""
import os
import sys
import tempfile

sys.path.insert(0, "tests")
import torch
from sam2_helpers import SMALL_INPUT, build_random_model
from sammask.segmentation.sam2.options import Sam2Options
from sammask.segmentation.sam2.runtime import build_encoder_runtime
os.environ["SAMMASK_EXPORT_CACHE"] = tempfile.mkdtemp()
torch.manual_seed(1)
x = torch.randn(1, 3, SMALL_INPUT, SMALL_INPUT)
for seed in range(int(sys.argv[1]), int(sys.argv[2])):
    m = build_random_model(seed=seed)
    with torch.inference_mode():
        ref = [f.clone() for f in m.forward_image(x)["backbone_fpn"]]
    errs = []
    for _ in range(2):
        rt = build_encoder_runtime(m, Sam2Options(input_size=SMALL_INPUT, runtime="onnx", precision="int8", crop=False))
        with torch.inference_mode():
            out = rt.forward_image(x)["backbone_fpn"]
        errs.append([round(float((g - w).norm() / w.norm()), 4) for g, w in zip(out, ref)])
    print("seed", seed, "rel L2 per level (2 builds):", errs, flush=True)
