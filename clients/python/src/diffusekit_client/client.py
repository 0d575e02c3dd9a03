"""The synchronous client."""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, Iterator, List, Literal, Optional, Tuple

import httpx

from . import _common as common
from .errors import ApiError, DiffusekitConnectionError
from .types import (
    CreateKeyRequest,
    Img2ImgRequest,
    Img2VideoRequest,
    InpaintRequest,
    JobResponse,
    OutpaintRequest,
    SuperResolutionRequest,
    Text2ImgRequest,
    Text2VideoRequest,
    ControlnetRequest,
)


class Client:
    """A client of a diffusekit server's v6 API. ``key`` is sent as ``Authorization: Bearer``.

    Use it as a context manager (or call ``close()``); ``timeout`` is httpx's (seconds per request).
    """

    def __init__(self, base_url: str, key: Optional[str] = None, *, timeout: float = 120.0, http: Optional[httpx.Client] = None) -> None:
        self.base_url = common.normalize_base_url(base_url)
        self._key = key
        self._http = http or httpx.Client(timeout=timeout)
        self._own_http = http is None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._own_http:
            self._http.close()

    # One method per job endpoint: the answer is success, processing (queued or running) or a raised ApiError.
    def text2img(self, body: Text2ImgRequest) -> JobResponse:
        return self.submit("text2img", body)

    def img2img(self, body: Img2ImgRequest) -> JobResponse:
        return self.submit("img2img", body)

    def inpaint(self, body: InpaintRequest) -> JobResponse:
        return self.submit("inpaint", body)

    def outpaint(self, body: OutpaintRequest) -> JobResponse:
        return self.submit("outpaint", body)

    def controlnet(self, body: ControlnetRequest) -> JobResponse:
        return self.submit("controlnet", body)

    def super_resolution(self, body: SuperResolutionRequest) -> JobResponse:
        return self.submit("super_resolution", body)

    def text2video(self, body: Text2VideoRequest) -> JobResponse:
        return self.submit("text2video", body)

    def img2video(self, body: Img2VideoRequest) -> JobResponse:
        return self.submit("img2video", body)

    def submit(self, endpoint: str, body: Any) -> JobResponse:
        return self.request("POST", common.endpoint_path(endpoint), body)

    def fetch(self, job_id: int) -> JobResponse:
        """The current state of a job (fetch_result)."""
        return self.request("POST", f"/api/v6/images/fetch/{int(job_id)}", {})

    def cancel(self, job_id: int) -> JobResponse:
        """Cancels a job (queued: at once; running: within a step) and returns its state."""
        return self.request("POST", f"/api/v6/images/cancel/{int(job_id)}", {})

    def jobs(self, limit: Optional[int] = None) -> List[JobResponse]:
        """The caller's newest jobs (a key: its own), newest first, as fetch answers them."""
        return (self.request("POST", "/api/v6/images/jobs", {} if limit is None else {"limit": int(limit)}))["jobs"]

    def system_load(self) -> Dict[str, Any]:
        return self.request("POST", "/api/v6/system_load", {})

    # Key management: the admin key only.
    def create_key(self, body: CreateKeyRequest) -> Dict[str, Any]:
        return self.request("POST", "/api/v6/keys/create", body)

    def list_keys(self) -> List[Dict[str, Any]]:
        return self.request("POST", "/api/v6/keys/list", {})["keys"]

    def revoke_key(self, *, id: Optional[str] = None, name: Optional[str] = None) -> Dict[str, Any]:
        return self.request("POST", "/api/v6/keys/revoke", {"id": id} if id is not None else {"name": name})

    def events(self, job_id: int) -> Iterator[common.JobEvent]:
        """A job's events as the server streams them: a ``state`` first and last, ``progress``/``preview`` between."""
        path = f"/api/v6/images/events/{int(job_id)}"
        try:
            with self._http.stream("GET", self.base_url + path, headers={"Accept": "text/event-stream", **common.auth_headers(self._key)}, timeout=httpx.Timeout(30.0, read=None)) as response:
                if response.status_code >= 400:
                    response.read()
                    common.parse_answer("GET", path, response)
                parser = common.EventParser()
                for line in response.iter_lines():
                    event = parser.feed(line)
                    if event:
                        yield event
        except httpx.TransportError as err:
            raise DiffusekitConnectionError(f"Could not reach {self.base_url} ({path}): {err}") from err

    def generate(
        self,
        endpoint: str,
        body: Any,
        *,
        wait: Literal["events", "poll"] = "events",
        on_event: Optional[Callable[[common.JobEvent], None]] = None,
        download: bool = True,
        timeout: Optional[float] = None,
    ) -> common.GenerateResult:
        """Submits a job, waits until it ends (its event stream, or fetch after the server's ETA) and returns
        its outputs, downloaded. A failed or cancelled job raises ApiError; after ``timeout`` seconds the job
        is cancelled and TimeoutError raised."""
        job = self.submit(endpoint, body)
        if on_event:
            on_event(common.JobEvent("state", job))
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            job = self._until(job, wait, on_event, deadline)
        except BaseException:
            # KeyboardInterrupt, a timeout, a failing callback: the job should not run on for nobody.
            if job.get("status") == "processing":
                try:
                    self.cancel(job["id"])
                except Exception:
                    pass
            raise
        common.raise_for_job(job)
        images = []
        for url, seed in zip(job["output"], common.seeds_of(job)):
            content, content_type = self.download(url) if download else (None, None)
            images.append(common.GeneratedImage(url, seed, content, content_type))
        return common.GenerateResult(job, images)

    def download(self, url: str) -> Tuple[bytes, Optional[str]]:
        """An output file's bytes and content type (this server's URLs get the key; other origins do not)."""
        headers = common.auth_headers(self._key) if common.is_own_url(self.base_url, url) else {}
        try:
            response = self._http.get(url if "://" in url else self.base_url + url, headers=headers)
        except httpx.TransportError as err:
            raise DiffusekitConnectionError(f"Could not reach {url}: {err}") from err
        if response.status_code >= 400:
            common.parse_answer("GET", url, response)
        return response.content, response.headers.get("content-type")

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """A call to any route of the server: JSON in, JSON out; errors as ApiError."""
        try:
            response = self._http.request(method, self.base_url + path, json=body, headers={"Accept": "application/json", **common.auth_headers(self._key)})
        except httpx.TransportError as err:
            raise DiffusekitConnectionError(f"Could not reach {self.base_url} ({path}): {err}") from err
        return common.parse_answer(method, path, response)

    def _until(self, job: Dict[str, Any], wait: str, on_event: Optional[Callable[[common.JobEvent], None]], deadline: Optional[float]) -> Dict[str, Any]:
        if job.get("status") != "processing":
            return job
        if wait == "events" and deadline is None:
            try:
                last = job
                for event in self.events(job["id"]):
                    if on_event:
                        on_event(event)
                    if event.type == "state":
                        last = event.data
                if last.get("status") != "processing":
                    return last
            except ApiError as err:
                if err.status != 404:  # a server without the event stream: poll instead
                    raise
        while job.get("status") == "processing":
            delay = common.poll_delay(job)
            if deadline is not None and time.monotonic() + delay > deadline:
                raise TimeoutError(f"job {job['id']} still processing")
            time.sleep(delay)
            job = self.fetch(job["id"])
            if on_event:
                on_event(common.JobEvent("state", job))
        return job
