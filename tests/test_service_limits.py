"""Issue 15: nobody unauthenticated makes the service write, and nothing grows without bound.

Live uvicorn on 127.0.0.1 in the test process (``LiveApp``), small limits, every wait bounded."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import httpx
import pytest
from hypothesis import example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from service_helpers import (
    LiveApp,
    closed_by_peer,
    decoded_frames,
    make_clip,
    multipart,
    read_one_response,
    read_response,
    wait_for,
)
from typer.testing import CliRunner

from sammask.cli import app as cli_app
from sammask.service.app import ServiceConfig
from sammask.service.http import ConnectionLimits
from sammask.service.layout import JobFiles
from sammask.service.scheduler import MAX_ATTEMPTS, Scheduler, _Running
from sammask.service.store import JobState, JobStore
from sammask.service.worker import run_job

TOKEN = "limits-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def clip(davis_seq, tmp_path_factory):
    return make_clip(davis_seq("hike"), tmp_path_factory.mktemp("lim") / "clip", 4)


def _empty(folder: Path) -> bool:
    return not any(folder.iterdir())


def _raw_headers(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_a_post_without_the_token_is_refused_from_its_headers_and_its_connection_closed(tmp_path: Path) -> None:
    """Defect 1: 401 before any body byte is read, connection closed, nothing written."""
    data = tmp_path / "data"
    with LiveApp(ServiceConfig(data_dir=data, token=TOKEN, max_upload_mb=16)) as live:
        for auth in ({}, {"Authorization": "Bearer wrong-token-0123456789"}):
            s = live.connect()
            s.sendall(
                _raw_headers(
                    "POST", "/v1/jobs", {**auth, "Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(15 << 20)}
                )
            )
            answer = read_response(s)  # returns only because the server closes the connection
            s.close()
            assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
            assert b"connection: close" in answer.lower()
        assert _empty(data / "incoming") and _empty(data / "jobs")


def test_an_accepted_upload_is_streamed_once_into_the_job_folder_and_the_limit_holds_without_content_length(
    clip, tmp_path: Path, monkeypatch
) -> None:
    """Defect 1: no temporary copy (an empty TMPDIR stays empty); a chunked body over the limit is 413."""
    spool = tmp_path / "tmp"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    video, tracks = clip
    data = tmp_path / "data"
    with LiveApp(ServiceConfig(data_dir=data, token=TOKEN, max_upload_mb=2, workers=1)) as live:
        live.svc.scheduler.workers = 0  # keep the job queued: its input is inspected below
        body, ctype = multipart(
            [
                ("video", "clip.mp4", video.read_bytes()),
                ("tracks", "gt.txt", tracks.read_bytes()),
                ("settings", None, b'{"segmenter": "box"}'),
            ]
        )
        resp = httpx.post(live.url + "/v1/jobs", content=body, headers={**AUTH, "Content-Type": ctype}, timeout=30)
        assert resp.status_code == 201, resp.text
        files = JobFiles.of(data, resp.json()["id"])
        assert files.video.read_bytes() == video.read_bytes() and files.tracks.read_bytes() == tracks.read_bytes()
        assert _empty(spool)

        def chunks():  # no Content-Length: the limit must hold on the bytes as they arrive
            head, _ = multipart([("video", "big.mp4", b"")])
            yield head[: head.index(b"\r\n\r\n") + 4]
            for _ in range(48):
                yield b"\0" * (64 << 10)

        big = httpx.post(live.url + "/v1/jobs", content=chunks(), headers={**AUTH, "Content-Type": ctype}, timeout=30)
        assert big.status_code == 413, big.text
        assert _empty(data / "incoming") and len(list((data / "jobs").iterdir())) == 1 and _empty(spool)


def test_queue_size_admission_is_atomic_under_concurrent_submissions(clip, tmp_path: Path) -> None:
    """Defect 2: 12 submissions whose bodies are all in flight at once: 3 slots, 9 answered 503 before their body."""
    video, tracks = clip
    data = tmp_path / "data"
    body, ctype = multipart(
        [("video", "clip.mp4", video.read_bytes()), ("tracks", "gt.txt", tracks.read_bytes()), ("settings", None, b'{"segmenter": "box"}')]
    )
    head = _raw_headers("POST", "/v1/jobs", {**AUTH, "Content-Type": ctype, "Content-Length": str(len(body))})
    with LiveApp(ServiceConfig(data_dir=data, token=TOKEN, queue_size=3, workers=1)) as live:
        live.svc.scheduler.workers = 0  # nothing leaves the queue during the test
        socks = [live.connect() for _ in range(12)]
        for s in socks:
            s.sendall(head + body[:100])  # every body started, none finished
        refused = wait_for(lambda: (c := [s for s in socks if closed_by_peer(s)]) and len(c) >= 9 and c, 20.0, what="9 submissions refused")
        assert len(refused) == 9 and live.svc.admission._reserved == 3
        answers = []
        for s in socks:
            if s not in refused:
                s.sendall(body[100:])
                answers.append(read_one_response(s))
            s.close()
        assert all(a.startswith(b"HTTP/1.1 201") for a in answers), [a[:100] for a in answers]
        assert live.svc.store.count(JobState.QUEUED) == 3
        over = httpx.post(live.url + "/v1/jobs", content=body, headers={**AUTH, "Content-Type": ctype}, timeout=30)
        assert over.status_code == 503 and over.headers["retry-after"] == "10"


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_a_masks_zip_is_bounded_in_unpacked_size_and_members_before_anything_is_unpacked(clip, tmp_path: Path, monkeypatch) -> None:
    """Defect 3: a 2 MiB masks.jsonl in a few-KiB zip with --max-unpack-mb 1 is 422; so are more
    members than the limit (lowered here to 64: the real one, 100 000, would take seconds to build)."""
    from sammask.errors import ExportError
    from sammask.export import packed

    monkeypatch.setattr(packed, "MAX_ZIP_MEMBERS", 64)
    video, _ = clip
    bomb = _zip({"meta.json": b"{}", "masks.jsonl": b"\n" * (2 << 20)})
    many = _zip({"meta.json": b"{}", "masks.jsonl": b"\n", **{f"{i:05d}.png": b"" for i in range(100)}})
    assert len(bomb) < 16 << 10
    data = tmp_path / "data"
    with LiveApp(ServiceConfig(data_dir=data, token=TOKEN, max_unpack_mb=1)) as live:
        for archive, words in ((bomb, "over the limit"), (many, "102 members")):
            resp = httpx.post(
                live.url + "/v1/jobs", headers=AUTH, timeout=30, files={"video": ("v.mp4", video.read_bytes()), "masks": ("m.zip", archive)}
            )
            assert resp.status_code == 422 and resp.json()["detail"].startswith("masks:"), resp.text
            assert words in resp.json()["detail"]
        assert _empty(data / "incoming") and _empty(data / "jobs")
    (tmp_path / "masks.zip").write_bytes(bomb)  # the worker checks again before unpacking
    with pytest.raises(ExportError, match="limit"):
        packed.stage_masks_upload(tmp_path / "masks.zip", tmp_path / "out", 1 << 20)
    assert not (tmp_path / "out").exists()
    # a member whose header understates its size is refused as it is unpacked (the folder removed)
    liar = bytearray(_zip({"meta.json": b"{}", "masks.jsonl": b"\n" * (2 << 20)}))
    for sig, field in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):  # uncompressed size: central dir, local header
        at = liar.find(sig, liar.find(b"masks.jsonl") - 60 if sig == b"PK\x03\x04" else 0)
        while at >= 0:
            name_len = int.from_bytes(liar[at + (28 if sig == b"PK\x01\x02" else 26) :][:2], "little")
            start = at + (46 if sig == b"PK\x01\x02" else 30)
            if bytes(liar[start : start + name_len]) == b"masks.jsonl":
                liar[at + field : at + field + 4] = (10).to_bytes(4, "little")
            at = liar.find(sig, at + 4)
    (tmp_path / "liar.zip").write_bytes(bytes(liar))
    assert packed.check_masks_zip(tmp_path / "liar.zip", 1 << 20) < 100
    with pytest.raises(ExportError):
        packed.stage_masks_upload(tmp_path / "liar.zip", tmp_path / "out2", 1 << 20)
    assert not (tmp_path / "out2").exists()


def test_video_path_is_taken_at_submission_without_following_links(clip, davis_seq, tmp_path: Path) -> None:
    """Defect 4: swapping the file for a symlink after the 201 changes nothing; links on any component are 403."""
    video, tracks = clip
    root, data = tmp_path / "allowed", tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "v.mp4").write_bytes(video.read_bytes())
    other, _ = make_clip(davis_seq("bus"), tmp_path / "outside", 2)
    (root / "linkdir").symlink_to(root / "sub")
    (root / "link.mp4").symlink_to(other)
    with LiveApp(ServiceConfig(data_dir=data, token=TOKEN, allow_root=root, workers=1)) as live:
        live.svc.scheduler.workers = 0  # queued until the swap is done
        post = lambda path: httpx.post(
            live.url + "/v1/jobs",
            headers=AUTH,
            timeout=30,
            data={"video_path": path, "settings": '{"segmenter": "box"}'},
            files={"tracks": ("gt.txt", tracks.read_bytes())},
        )
        for bad in ("link.mp4", "linkdir/v.mp4", "sub/../sub/v.mp4", str(tmp_path / "outside" / "video.mp4")):
            assert post(bad).status_code == 403, bad
        assert post("sub/nothing.mp4").status_code == 404
        resp = post(str(root / "sub" / "v.mp4"))  # absolute below the root: allowed
        assert resp.status_code == 201, resp.text
        (root / "sub" / "v.mp4").unlink()
        (root / "sub" / "v.mp4").symlink_to(other)  # the swap
        live.svc.scheduler.workers = 1
        live.svc.scheduler.wake()
        job_id = resp.json()["id"]
        done = wait_for(
            lambda: (j := httpx.get(f"{live.url}/v1/jobs/{job_id}", headers=AUTH).json())["state"] in ("done", "failed") and j,
            120.0,
            0.1,
            "the job",
        )
        assert done["state"] == "done", done
        assert done["report"]["frames"] == 4  # the submitted clip (4 frames), not the swapped-in one (2)
        assert len(decoded_frames(JobFiles.of(data, job_id).output)) == 4


def test_nul_bytes_and_malformed_strings_are_422_naming_the_field(clip, tmp_path: Path) -> None:
    """Defect 6: no 500, no reset connection; the message names the field."""
    _, tracks = clip
    with (
        LiveApp(ServiceConfig(data_dir=tmp_path / "data", token=TOKEN, allow_root=tmp_path)) as live,
        httpx.Client(base_url=live.url, headers=AUTH, timeout=30) as c,
    ):
        cases = [
            ({"video_path": "a\0b.mp4"}, "video_path"),
            ({"video_path": "x.mp4", "settings": '{"detect": "fa\\u0000ces"}'}, "settings.detect"),
            ({"video_path": "x.mp4", "settings": '{"segmenter": "box\\u0007"}'}, "settings.segmenter"),
            ({"video_path": "x.mp4", "settings": "[1, 2"}, "settings"),
            ({"video_path": "x.mp4", "settings": b'{"segmenter": "\xff"}'}, "settings"),
        ]
        for fields, name in cases:
            resp = c.post("/v1/jobs", data=fields, files={"tracks": ("gt.txt", tracks.read_bytes())})
            assert resp.status_code == 422, (fields, resp.text)
            assert resp.json()["detail"].startswith(name), resp.text
        body, ctype = multipart([("video_path", None, b"x.mp4"), ("bogus\x01", None, b"1")])
        assert c.post("/v1/jobs", content=body, headers={"Content-Type": ctype}).status_code == 422
        assert c.get("/v1/jobs").status_code == 200  # the same keep-alive client still works


def test_no_absolute_server_path_reaches_a_client(clip, tmp_path: Path) -> None:
    """Defect 7: job JSON, report and errors name files relative to the job; the allow-root never appears."""
    video, tracks = clip
    root, data = tmp_path / "allowed", tmp_path / "data"
    root.mkdir()
    (root / "v.mp4").write_bytes(video.read_bytes())
    (root / "broken.mp4").write_bytes(b"not a video")
    with (
        LiveApp(ServiceConfig(data_dir=data, token=TOKEN, allow_root=root)) as live,
        httpx.Client(base_url=live.url, headers=AUTH, timeout=30) as c,
    ):
        ids = [
            c.post(
                "/v1/jobs",
                data={"video_path": p, "settings": '{"segmenter": "box", "save_masks": true}'},
                files={"tracks": ("gt.txt", tracks.read_bytes())},
            ).json()["id"]
            for p in ("v.mp4", "broken.mp4")
        ]
        for job_id in ids:
            wait_for(lambda j=job_id: c.get(f"/v1/jobs/{j}").json()["state"] in ("done", "failed"), 120.0, 0.1, "job")
        texts = [c.get("/v1/jobs").text, c.get(f"/v1/jobs/{ids[0]}/report").text, c.get("/").text]
        assert c.get(f"/v1/jobs/{ids[1]}").json()["state"] == "failed"
        report = c.get(f"/v1/jobs/{ids[0]}/report").json()
        assert report["output"] == "result/output.mp4"
        for text in texts:
            for secret in (str(tmp_path), str(root), str(data), "/tmp/"):
                assert secret not in text, (secret, text[:2000])


def test_slow_clients_are_dropped_and_connections_capped(tmp_path: Path) -> None:
    """Defect 8: half-sent headers and stalled bodies are closed after their timeouts; past the cap, at once."""
    quick = ConnectionLimits(header_timeout_s=0.5, body_idle_s=0.5, keep_alive_s=0.5, max_connections=100)
    data = tmp_path / "data"
    with LiveApp(ServiceConfig(data_dir=data, token=TOKEN), quick) as live:
        halves = [live.connect() for _ in range(40)]
        for s in halves:
            s.sendall(b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # headers never finished
        stalled = live.connect()
        stalled.sendall(
            _raw_headers("POST", "/v1/jobs", {**AUTH, "Content-Type": "multipart/form-data; boundary=b", "Content-Length": "100000"})
            + b"--b\r\n"
        )
        idle = live.connect()
        idle.sendall(_raw_headers("GET", "/healthz", {}))
        wait_for(lambda: all(closed_by_peer(s) for s in [*halves, stalled, idle]), 30.0, 0.1, "every slow connection to be closed")
        wait_for(lambda: _empty(data / "incoming"), 10.0, what="the stalled upload to be removed")
        assert httpx.get(live.url + "/healthz").status_code == 200
    capped = ConnectionLimits(header_timeout_s=600, max_connections=5)
    with LiveApp(ServiceConfig(data_dir=tmp_path / "data2", token=TOKEN), capped) as live:
        held = [live.connect() for _ in range(5)]
        for s in held:
            s.sendall(b"GET /healthz HTTP/1.1\r\n")
        wait_for(lambda: len(live.server.server_state.connections) == 5, 10.0, what="5 connections")
        extra = live.connect()
        wait_for(lambda: closed_by_peer(extra), 10.0, what="the 6th connection to be closed")
        assert not any(closed_by_peer(s) for s in held)  # the header timeout (600 s) did not close them
        for s in held:
            s.close()


def test_cross_site_requests_cannot_change_jobs_and_a_public_host_needs_a_token(clip, tmp_path: Path) -> None:
    """Defect 9: without a token, Origin / Sec-Fetch-Site / Host are checked; serve refuses 0.0.0.0 without one."""
    video, tracks = clip
    data = tmp_path / "data"
    files = {"video": ("v.mp4", video.read_bytes()), "tracks": ("gt.txt", tracks.read_bytes())}
    with LiveApp(ServiceConfig(data_dir=data)) as live, httpx.Client(base_url=live.url, timeout=30) as c:
        live.svc.scheduler.workers = 0
        for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}, {"Host": "evil.example"}):
            resp = c.post("/v1/jobs", files=files, headers=headers)
            assert resp.status_code == 403, (headers, resp.text)
        assert c.get("/v1/jobs", headers={"Host": "rebound.example:8080"}).status_code == 403
        assert _empty(data / "incoming") and _empty(data / "jobs")
        same = c.post("/v1/jobs", files=files, headers={"Origin": live.url, "Sec-Fetch-Site": "same-origin"})
        assert same.status_code == 201, same.text
    result = CliRunner().invoke(cli_app, ["serve", "--data-dir", str(tmp_path / "d2"), "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "--token" in result.output


def test_named_tokens_see_only_their_own_jobs(clip, tmp_path: Path) -> None:
    """Defect 10: alice and bob each see their jobs only (404 for the other's); the admin sees all."""
    video, tracks = clip
    tokens = tmp_path / "tokens"
    tokens.write_text("# clients\nalice alice-token-0123456789\nbob bob-token-0123456789\nops ops-token-0123456789 admin\n")
    who = {n: {"Authorization": f"Bearer {n}-token-0123456789"} for n in ("alice", "bob", "ops")}
    files = {"video": ("v.mp4", video.read_bytes()), "tracks": ("gt.txt", tracks.read_bytes())}
    with LiveApp(ServiceConfig(data_dir=tmp_path / "data", tokens_file=tokens)) as live, httpx.Client(base_url=live.url, timeout=30) as c:
        live.svc.scheduler.workers = 0
        a = c.post("/v1/jobs", files=files, headers={**who["alice"], "Idempotency-Key": "k1"}).json()["id"]
        b = c.post("/v1/jobs", files=files, headers={**who["bob"], "Idempotency-Key": "k1"}).json()["id"]
        assert a != b  # one key, two clients: two jobs
        assert [j["id"] for j in c.get("/v1/jobs", headers=who["alice"]).json()["jobs"]] == [a]
        assert [j["id"] for j in c.get("/v1/jobs", headers=who["bob"]).json()["jobs"]] == [b]
        assert {j["id"] for j in c.get("/v1/jobs", headers=who["ops"]).json()["jobs"]} == {a, b}
        assert c.get(f"/v1/jobs/{a}", headers=who["bob"]).status_code == 404
        assert c.delete(f"/v1/jobs/{a}", headers=who["bob"]).status_code == 404
        assert c.get(f"/v1/jobs/{a}", headers=who["alice"]).json()["state"] == "queued"
        assert c.delete(f"/v1/jobs/{b}", headers=who["ops"]).status_code == 200
        assert c.get("/v1/jobs", headers={"Authorization": "Bearer nobody-0123456789abc"}).status_code == 401


def test_a_failed_job_keeps_only_its_worker_log(tmp_path: Path) -> None:
    """Defect 13: after the last worker death, and after a bad masks zip, only worker.log is left."""
    data = tmp_path / "data"
    store = JobStore(data)
    for job_id in ("a" * 32, "b" * 32):
        store.create(job_id=job_id, settings={"segmenter": "box"}, video_path="input/video", filename="v", idempotency_key=None)
        files = JobFiles.of(data, job_id)
        files.input_dir.mkdir(parents=True)
        files.video.write_bytes(b"v")
        files.work.mkdir()
        files.log.write_text("what happened\n")
    (JobFiles.of(data, "b" * 32).input_dir / "masks.zip").write_bytes(b"not a zip")
    sched = Scheduler(store, data, workers=1, retention_s=None)
    for _ in range(MAX_ATTEMPTS):
        rec = store.claim_next()
        assert rec is not None and rec.id == "a" * 32
        proc = subprocess.Popen([sys.executable, "-c", "import os; os._exit(9)"])
        proc.wait()
        sched._running[rec.id] = _Running(proc, rec.attempts)
        sched._reap()
    assert store.get("a" * 32).state is JobState.FAILED
    rec = store.claim_next()
    assert rec is not None and rec.id == "b" * 32
    assert run_job(data, rec.id, rec.attempts, 1 << 20) == 0
    for job_id in ("a" * 32, "b" * 32):
        files = JobFiles.of(data, job_id)
        assert store.get(job_id).state is JobState.FAILED
        assert [p.name for p in files.root.iterdir()] == ["worker.log"], job_id
        assert files.log.read_text() == "what happened\n"


def _tree(tmp: Path) -> tuple[Path, Path]:
    """root/{a/{f, b/f}, f, la -> a, lf -> a/f, lout -> ../outside, a/lup -> ..}; outside/f."""
    root, outside = tmp / "root", tmp / "outside"
    (root / "a" / "b").mkdir(parents=True)
    outside.mkdir()
    for f in (root / "f", root / "a" / "f", root / "a" / "b" / "f", outside / "f"):
        f.write_bytes(b"x")
    (root / "la").symlink_to(root / "a")
    (root / "lf").symlink_to(root / "a" / "f")
    (root / "lout").symlink_to(outside)
    (root / "a" / "lup").symlink_to(root)
    return root, outside


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return _tree(tmp_path_factory.mktemp("tree"))[0]


@hsettings(max_examples=200, deadline=None)
@given(
    parts=st.lists(st.sampled_from(["a", "b", "f", "la", "lf", "lout", "lup", "..", ".", "", "zz"]), min_size=1, max_size=5),
    absolute=st.booleans(),
)
@example(parts=["", "f"], absolute=False)  # once found by chance: "/f" is outside the root, not root/f
def test_open_under_yields_only_regular_files_reached_without_links_or_dotdot(tree: Path, parts, absolute) -> None:
    """Property (defect 4): whatever the path, the file opened is the one its components name
    literally below the root, with no link and no ``..`` on the way; anything else is refused."""
    from sammask.service.uploads import RequestRefused, open_under

    path = "/".join(parts)
    if absolute:
        path = str(tree) + "/" + path
    literal = [p for p in parts if p not in ("", ".")]
    expected = None
    outside_root = not absolute and path.startswith("/")  # ["", "f"] joins to "/f": the filesystem's root
    if literal and ".." not in literal and not outside_root:
        here = tree
        for p in literal:
            here = here / p
            if not os.path.lexists(here) or os.path.islink(here):
                here = None
                break
        if here is not None and here.is_file():
            expected = os.stat(here)
    try:
        fd = open_under(tree, path)
    except RequestRefused as exc:
        assert expected is None, (path, exc.detail)
        assert exc.status in (403, 404, 422)
        return
    try:
        got = os.fstat(fd)
    finally:
        os.close(fd)
    assert expected is not None, path
    assert (got.st_dev, got.st_ino) == (expected.st_dev, expected.st_ino)


def test_tokens_file_errors_name_the_line_and_short_or_shared_tokens_are_refused(tmp_path: Path) -> None:
    from sammask.errors import ConfigError
    from sammask.service.auth import Tokens

    bad = tmp_path / "tokens"
    for text, words in (
        ("alice\n", "line 1"),
        ("# c\nbob tok-0123456789abcdef root\n", "line 2"),
        ("a short\n", "16 characters"),
        ("a same-0123456789abc\nb same-0123456789abc\n", "own token"),
    ):
        bad.write_text(text)
        with pytest.raises(ConfigError, match=words):
            Tokens.build(None, bad)
    bad.write_text("alice alice-0123456789abcdef\n")
    tokens = Tokens.build("admin-0123456789abcdef", bad)
    assert tokens.authenticate("Bearer alice-0123456789abcdef").name == "alice"
    assert tokens.authenticate("Bearer admin-0123456789abcdef").admin
    assert tokens.authenticate("Basic alice-0123456789abcdef") is None and tokens.authenticate(None) is None
