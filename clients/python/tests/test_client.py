"""The Python client against a real diffusekit server on a real port (tiny synthetic models, 64x64, 1 step)."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import List, Tuple

import pytest

from diffusekit_client import ApiError, AsyncClient, Client, DiffusekitConnectionError, JobEvent, verify_webhook

TINY = {"width": 64, "height": 64, "num_inference_steps": 1}


def png_size(data: bytes) -> Tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def png_text(data: bytes) -> str:
    """The tEXt/iTXt chunks of a PNG, joined (the parameters the server writes)."""
    out, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind in (b"tEXt", b"iTXt"):
            out.append(body.decode("latin-1"))
        pos += 12 + length
    return "\n".join(out)


def solid_png(width: int, height: int, rgb: Tuple[int, int, int]) -> str:
    """A PNG of one colour, as base64 (no imaging library needed)."""
    row = b"\x00" + bytes(rgb) * width
    chunk = lambda kind, body: struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b"")
    return base64.b64encode(data).decode("ascii")


def test_generate_waits_for_processing_jobs_and_returns_images_with_seeds(server_url: str, api_key: str) -> None:
    events: List[JobEvent] = []
    with Client(server_url, api_key) as client:
        result = client.generate("text2img", {**TINY, "prompt": "a red barn", "seed": 1234, "samples": 2}, on_event=events.append)
    assert result.job["status"] == "success"
    assert [image.seed for image in result.images] == [1234, 1235]
    for image in result.images:
        assert image.content_type == "image/png"
        assert png_size(image.content or b"") == (64, 64)
    assert "Seed: 1234" in png_text(result.images[0].content or b"")
    states = [e.data["status"] for e in events if e.type == "state"]
    assert states[0] == "processing" and states[-1] == "success"


def test_polling_and_the_image_endpoints(server_url: str, api_key: str) -> None:
    image, white = solid_png(64, 64, (200, 80, 40)), solid_png(64, 64, (255, 255, 255))
    with Client(server_url, api_key) as client:
        polled = client.generate("img2img", {**TINY, "prompt": "x", "init_image": image, "strength": 0.5, "seed": 3}, wait="poll")
        assert polled.images[0].seed == 3
        inpainted = client.generate("inpaint", {**TINY, "prompt": "x", "init_image": image, "mask_image": white, "seed": 4})
        assert png_size(inpainted.images[0].content or b"") == (64, 64)
        outpainted = client.generate("outpaint", {**TINY, "prompt": "x", "init_image": image, "left": 16, "seed": 5})
        assert png_size(outpainted.images[0].content or b"") == (80, 64)
        upscaled = client.generate("super_resolution", {"init_image": image, "scale": 2}, download=False)
        assert upscaled.images[0].content is None
        content, _ = client.download(upscaled.images[0].url)
        assert png_size(content) == (128, 128)


def test_fetch_cancel_system_load_and_typed_errors(server_url: str, api_key: str) -> None:
    with Client(server_url, api_key) as client:
        queued = client.text2img({"prompt": "a long one", "width": 256, "height": 256, "num_inference_steps": 30})
        cancelled = client.cancel(queued["id"])
        # A running job stops within a step; on a busy machine that can outlast the cancel call's short wait.
        deadline = time.monotonic() + 60
        while cancelled["status"] == "processing" and time.monotonic() < deadline:
            time.sleep(0.2)
            cancelled = client.fetch(queued["id"])
        assert cancelled["status"] == "error" and cancelled.get("cancelled") is True and cancelled.get("code") == "cancelled"
        assert [job["id"] for job in client.jobs(limit=2)][0] == queued["id"]
        load = client.system_load()
        assert load["status"] == "success" and "checkpoint" in [m["role"] for m in load["models"]]
        with pytest.raises(ApiError) as invalid:
            client.text2img({"prompt": "x", "width": 63})
        assert (invalid.value.status, invalid.value.code) == (400, "invalid_request") and "width" in invalid.value.message
        with pytest.raises(ApiError) as missing:
            client.fetch(999_999)
        assert (missing.value.status, missing.value.code) == (404, "job_not_found")
        with pytest.raises(ApiError) as refused:
            client.list_keys()
        assert (refused.value.status, refused.value.code) == (403, "forbidden")
    with Client(server_url) as anonymous:
        with pytest.raises(ApiError) as unauthorized:
            anonymous.system_load()
        assert (unauthorized.value.status, unauthorized.value.code) == (401, "unauthorized")
    with Client("http://127.0.0.1:1") as unreachable:
        with pytest.raises(DiffusekitConnectionError):
            unreachable.system_load()


def test_keys_with_the_admin_key(server_url: str, admin_key: str) -> None:
    with Client(server_url, admin_key) as admin:
        created = admin.create_key({"name": "python-temporary"})
        assert created["key"].startswith("dk_")
        assert "python-temporary" in [k["name"] for k in admin.list_keys()]
        assert admin.revoke_key(name="python-temporary")["already_revoked"] is False


def test_async_client_generate_events_and_cancel_on_task_cancel(server_url: str, api_key: str) -> None:
    async def run() -> None:
        async with AsyncClient(server_url, api_key) as client:
            result = await client.generate("text2img", {**TINY, "prompt": "async", "seed": 77})
            assert result.images[0].seed == 77 and png_size(result.images[0].content or b"") == (64, 64)
            # A timeout while the job still runs cancels it on the server.
            seen: List[int] = []
            with pytest.raises(asyncio.TimeoutError):
                await client.generate("text2img", {"prompt": "too long", "width": 256, "height": 256, "num_inference_steps": 30}, timeout=0.5, on_event=lambda e: seen.append(e.data.get("id", 0)))
            job_id = seen[0]
            for _ in range(300):
                state = await client.fetch(job_id)
                if state["status"] != "processing":
                    break
                await asyncio.sleep(0.2)
            assert state["status"] == "error" and state.get("code") == "cancelled"

    asyncio.run(run())


def test_verify_webhook_on_the_servers_signed_webhook(server_url: str, api_key: str, webhook_secret: str) -> None:
    received: List[Tuple[bytes, str]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append((body, self.headers.get("X-Diffusekit-Signature", "")))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    hook = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        with Client(server_url, api_key) as client:
            job = client.text2img({**TINY, "prompt": "signed", "seed": 9, "webhook": f"http://127.0.0.1:{hook.server_port}/hook", "track_id": "py"})
        deadline = time.monotonic() + 60
        while not received and time.monotonic() < deadline:
            time.sleep(0.1)
        body, signature = received[0]
        assert json.loads(body)["id"] == job["id"]
        assert verify_webhook(body, signature, webhook_secret)
        assert verify_webhook(body.decode("utf-8"), signature, webhook_secret)
        assert not verify_webhook(body.replace(b"success", b"failure"), signature, webhook_secret)
        assert not verify_webhook(body, signature, webhook_secret + "x")
        assert not verify_webhook(body, None, webhook_secret)
    finally:
        hook.shutdown()
