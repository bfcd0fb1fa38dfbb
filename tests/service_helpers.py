"""Helpers of the service and batch tests: short clips cut from shared DAVIS sequences, a real
``sammask serve`` subprocess on 127.0.0.1, and frame-by-frame comparison of decoded outputs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from sammask.media import VideoReader
from sammask.media.trim import trim_video
from sammask.tracks import Tracks
from sammask.tracks.io import read_tracks
from sammask.tracks.mot import write_mot


def make_clip(seq_dir: Path, dest: Path, frames: int) -> tuple[Path, Path]:
    """Cut the first ``frames`` frames of a DAVIS sequence (lossless) and its gt.txt boxes.

    Returns:
        ``(video, tracks)`` under ``dest`` (``video.mp4`` and ``gt.txt``, MOT format).
    """
    dest.mkdir(parents=True, exist_ok=True)
    video, tracks = dest / "video.mp4", dest / "gt.txt"
    assert trim_video(seq_dir / "video.mp4", video, frames) == frames
    full = read_tracks(seq_dir / "gt.txt")
    write_mot(Tracks.from_detections(d for d in full if d.frame_idx < frames), tracks)
    return video, tracks


def decoded_frames(path: Path) -> list[np.ndarray]:
    """Every frame of a video as (H, W, 3) uint8 RGB."""
    with VideoReader(path) as reader:
        return [f.image for f in reader]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``sammask serve`` as a subprocess on 127.0.0.1 (its own process group, so kill -9 takes its workers)."""

    def __init__(self, data_dir: Path, *args: str) -> None:
        self.data_dir = data_dir
        self.args = args
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / f"{data_dir.name}-server.log"

    def start(self, timeout_s: float = 30.0) -> Server:
        import httpx

        # `python -m sammask`: the checkout this interpreter imports, not whatever `sammask` is on PATH
        cmd = [
            sys.executable,
            "-m",
            "sammask",
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *self.args,
        ]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"server exited: {self.log.read_text()[-2000:]}"
            try:
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server did not start in {timeout_s} s: {self.log.read_text()[-2000:]}")

    def kill9(self) -> None:
        """SIGKILL the server process only (its workers must die with it: PR_SET_PDEATHSIG)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None


def wait_for(predicate, timeout_s: float, interval_s: float = 0.05, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value (returned) or ``timeout_s`` passes (fails)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); read its state
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class LiveApp:
    """The service app under uvicorn (with :class:`~sammask.service.http.GuardedH11Protocol`) in a
    thread of the test process, on 127.0.0.1: the app's state is inspectable and limits can be small."""

    def __init__(self, config, limits=None) -> None:
        import threading

        import uvicorn

        from sammask.service.app import create_app
        from sammask.service.http import ConnectionLimits, uvicorn_config

        self.app = create_app(config)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn_config(self.app, "127.0.0.1", self.port, limits or ConnectionLimits(), log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):  # -> LiveApp
        self.thread.start()
        wait_for(lambda: self.server.started, 30.0, what="uvicorn to start")
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)

    @property
    def svc(self):
        return self.app.state.svc

    def connect(self) -> socket.socket:
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        return s


def closed_by_peer(s: socket.socket) -> bool:
    """True once the server closed ``s`` (EOF or reset); consumes any response bytes."""
    s.setblocking(False)
    try:
        while True:
            data = s.recv(65536)
            if not data:
                return True
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True
    finally:
        s.setblocking(True)


def read_response(s: socket.socket, timeout_s: float = 10.0) -> bytes:
    """Everything the server sends on ``s`` until it closes the connection (bounded by ``timeout_s``)."""
    s.settimeout(timeout_s)
    out = b""
    try:
        while chunk := s.recv(65536):
            out += chunk
    except ConnectionResetError:
        pass
    return out


def read_one_response(s: socket.socket, timeout_s: float = 30.0) -> bytes:
    """One HTTP response (headers and a ``Content-Length`` body) from ``s``, leaving the connection open."""
    s.settimeout(timeout_s)
    out = b""
    while b"\r\n\r\n" not in out:
        chunk = s.recv(65536)
        if not chunk:
            return out
        out += chunk
    head, _, rest = out.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0)
    while len(rest) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    return head + b"\r\n\r\n" + rest


def multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "sammask-test-boundary") -> tuple[bytes, str]:
    """A ``multipart/form-data`` body of ``(name, filename or None, data)`` parts and its Content-Type."""
    out = b""
    for name, filename, data in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        out += f"--{boundary}\r\nContent-Disposition: {disp}\r\n\r\n".encode() + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"
