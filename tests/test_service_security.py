"""Security of the job service (a real server on 127.0.0.1 with a token, a 1 MiB upload limit and
an ``--allow-root``, a queue of 2): 401 without the token, 413 over the limit, no path traversal through
``video_path`` or upload names, a non-video upload fails its job (not the server), bad settings 422."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from sammask.service.layout import JobFiles
from service_helpers import Server, make_clip, wait_for

TOKEN = "s3cret-token-0123456789"


@pytest.fixture(scope="module")
def setup(davis_seq, tmp_path_factory):
    root = tmp_path_factory.mktemp("sec")
    allowed = root / "allowed"
    video, tracks = make_clip(davis_seq("hike"), allowed / "clip", 6)
    outside = root / "outside.mp4"
    outside.write_bytes(video.read_bytes())
    (allowed / "escape.mp4").symlink_to(outside)
    srv = Server(root / "data", "--token", TOKEN, "--max-upload-mb", "1", "--allow-root", str(allowed), "--queue-size", "2").start()
    yield {"server": srv, "allowed": allowed, "tracks": tracks, "root": root}
    srv.stop()


@pytest.fixture()
def client(setup):
    with httpx.Client(base_url=setup["server"].url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30.0) as c:
        yield c


def post_path(client: httpx.Client, tracks: Path, video_path: str, settings: dict | None = None) -> httpx.Response:
    return client.post(
        "/v1/jobs",
        files={"tracks": ("gt.txt", tracks.read_bytes())},
        data={"video_path": video_path, "settings": json.dumps(settings or {"segmenter": "box"})},
    )


def wait_terminal(client: httpx.Client, job_id: str) -> dict:
    return wait_for(
        lambda: (j := client.get(f"/v1/jobs/{job_id}").json())["state"] in ("done", "failed") and j, 60, 0.1, f"job {job_id} to finish"
    )


def test_token_required_on_the_api_but_not_on_health_and_page(setup) -> None:
    url = setup["server"].url
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}, {"Authorization": TOKEN}):
        for method, path in (
            ("GET", "/v1/jobs"),
            ("GET", "/v1/jobs/" + "0" * 32),
            ("POST", "/v1/jobs"),
            ("DELETE", "/v1/jobs/" + "0" * 32),
        ):
            resp = httpx.request(method, url + path, headers=headers, timeout=10)
            assert resp.status_code == 401, (method, path, headers)
            assert resp.headers["www-authenticate"] == "Bearer"
    assert httpx.get(url + "/healthz", timeout=10).status_code == 200
    page = httpx.get(url + "/", timeout=10)
    assert page.status_code == 200 and "sammask jobs" in page.text
    schema = httpx.get(url + "/openapi.json", timeout=10).json()
    assert {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/events", "/v1/jobs/{job_id}/result"} <= set(schema["paths"])
    assert "JobSettings" in schema["components"]["schemas"]
    assert httpx.get(url + "/docs", timeout=10).status_code == 200
    assert httpx.get(url + "/v1/jobs", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).status_code == 200


def test_upload_over_the_limit_is_413_and_leaves_nothing(setup, client: httpx.Client) -> None:
    before = client.get("/v1/jobs").json()["jobs"]
    resp = client.post("/v1/jobs", files={"video": ("big.mp4", b"\0" * (1536 * 1024)), "tracks": ("gt.txt", setup["tracks"].read_bytes())})
    assert resp.status_code == 413
    assert client.get("/v1/jobs").json()["jobs"] == before
    assert not any((setup["server"].data_dir / "incoming").iterdir())


def test_video_path_must_stay_under_allow_root(setup, client: httpx.Client) -> None:
    tracks, allowed = setup["tracks"], setup["allowed"]
    for path in ("../outside.mp4", str(setup["root"] / "outside.mp4"), "escape.mp4", "clip/../../outside.mp4", "/etc/passwd"):
        resp = post_path(client, tracks, path)
        assert resp.status_code == 403, (path, resp.text)
    assert post_path(client, tracks, "clip/missing.mp4").status_code == 404
    ok = post_path(client, tracks, "clip/video.mp4")
    assert ok.status_code == 201, ok.text
    job = wait_terminal(client, ok.json()["id"])
    assert job["state"] == "done" and job["report"]["frames"] == 6
    assert (allowed / "clip" / "video.mp4").is_file()  # a server-side input is never deleted
    client.delete(f"/v1/jobs/{job['id']}")
    assert (allowed / "clip" / "video.mp4").is_file()


def test_upload_names_are_never_paths_and_a_non_video_fails_its_job(setup, client: httpx.Client) -> None:
    data_dir = setup["server"].data_dir
    resp = client.post(
        "/v1/jobs",
        files={
            "video": ("../../../evil.mp4", b"this is not a video at all\n" * 10),
            "tracks": ("../../tracks.txt", setup["tracks"].read_bytes()),
        },
        data={"settings": json.dumps({"segmenter": "box"})},
    )
    assert resp.status_code == 201, resp.text
    job = resp.json()
    assert job["filename"] == "evil.mp4"
    assert not (data_dir.parent / "evil.mp4").exists() and not (data_dir / "evil.mp4").exists()
    done = wait_terminal(client, job["id"])
    assert done["state"] == "failed"
    assert done["error"].startswith("MediaError") and "video" in done["error"]
    assert client.get("/healthz").status_code == 200
    files = JobFiles.of(data_dir, job["id"])
    assert not files.input_dir.exists() and not files.work.exists() and not files.checkpoint.exists()
    assert client.get(f"/v1/jobs/{job['id']}/result").status_code == 409
    bad_masks = client.post("/v1/jobs", data={"video_path": "clip/video.mp4"}, files={"masks": ("../m.zip", b"not a zip archive")})
    assert bad_masks.status_code == 422 and "a COCO .json or a MOTS .txt" in bad_masks.json()["detail"]  # checked at submission


def test_bad_requests_are_422_and_unknown_jobs_404(setup, client: httpx.Client) -> None:
    tracks = setup["tracks"]
    for settings in ({"strength": 9}, {"colour": "red"}, {"preset": "warp"}, {"segmenter": "nope"}):
        resp = post_path(client, tracks, "clip/video.mp4", settings)
        assert resp.status_code == 422, (settings, resp.text)
    no_tracks = client.post("/v1/jobs", data={"video_path": "clip/video.mp4", "settings": '{"classes": "face"}'})
    assert no_tracks.status_code == 422 and "classes" in no_tracks.json()["detail"]  # classes filter tracks only
    both = client.post(
        "/v1/jobs", data={"video_path": "clip/video.mp4"}, files={"tracks": ("gt.txt", tracks.read_bytes()), "masks": ("m.zip", b"PK")}
    )
    assert both.status_code == 422  # tracks and masks
    assert client.post("/v1/jobs", files={"tracks": ("gt.txt", tracks.read_bytes())}).status_code == 422  # no video
    assert client.get("/v1/jobs/" + "f" * 32).status_code == 404
    assert client.get("/v1/jobs/..%2F..%2Fjobs.sqlite").status_code in (404, 422)
    assert os.path.isfile(setup["server"].data_dir / "jobs.sqlite")


def test_a_full_queue_answers_503_with_retry_after(setup, client: httpx.Client) -> None:
    answers = [post_path(client, setup["tracks"], "clip/video.mp4", {"segmenter": "grabcut"}) for _ in range(5)]
    codes = [a.status_code for a in answers]
    assert 503 in codes and codes.count(201) >= 2, codes
    assert all(a.headers["retry-after"] == "10" for a in answers if a.status_code == 503)
    for a in answers:
        if a.status_code == 201:
            assert client.delete(f"/v1/jobs/{a.json()['id']}").status_code in (200, 204)
