"""The asynchronous client: the same methods as Client, awaitable (asyncio, on httpx.AsyncClient)."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Callable, Dict, List, Literal, Optional, Tuple

import httpx

from . import _common as common
from .errors import ApiError, DiffusekitConnectionError
from .types import (
    ControlnetRequest,
    CreateKeyRequest,
    Img2ImgRequest,
    Img2VideoRequest,
    InpaintRequest,
    JobResponse,
    OutpaintRequest,
    SuperResolutionRequest,
    Text2ImgRequest,
    Text2VideoRequest,
)


class AsyncClient:
    """Like Client, with ``await``. Cancelling the task of ``generate()`` cancels the job on the server."""

    def __init__(self, base_url: str, key: Optional[str] = None, *, timeout: float = 120.0, http: Optional[httpx.AsyncClient] = None) -> None:
        self.base_url = common.normalize_base_url(base_url)
        self._key = key
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._own_http = http is None

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def text2img(self, body: Text2ImgRequest) -> JobResponse:
        return await self.submit("text2img", body)

    async def img2img(self, body: Img2ImgRequest) -> JobResponse:
        return await self.submit("img2img", body)

    async def inpaint(self, body: InpaintRequest) -> JobResponse:
        return await self.submit("inpaint", body)

    async def outpaint(self, body: OutpaintRequest) -> JobResponse:
        return await self.submit("outpaint", body)

    async def controlnet(self, body: ControlnetRequest) -> JobResponse:
        return await self.submit("controlnet", body)

    async def super_resolution(self, body: SuperResolutionRequest) -> JobResponse:
        return await self.submit("super_resolution", body)

    async def text2video(self, body: Text2VideoRequest) -> JobResponse:
        return await self.submit("text2video", body)

    async def img2video(self, body: Img2VideoRequest) -> JobResponse:
        return await self.submit("img2video", body)

    async def submit(self, endpoint: str, body: Any) -> JobResponse:
        return await self.request("POST", common.endpoint_path(endpoint), body)

    async def fetch(self, job_id: int) -> JobResponse:
        return await self.request("POST", f"/api/v6/images/fetch/{int(job_id)}", {})

    async def cancel(self, job_id: int) -> JobResponse:
        return await self.request("POST", f"/api/v6/images/cancel/{int(job_id)}", {})

    async def jobs(self, limit: Optional[int] = None) -> List[JobResponse]:
        """The caller's newest jobs (a key: its own), newest first, as fetch answers them."""
        return (await self.request("POST", "/api/v6/images/jobs", {} if limit is None else {"limit": int(limit)}))["jobs"]

    async def system_load(self) -> Dict[str, Any]:
        return await self.request("POST", "/api/v6/system_load", {})

    async def create_key(self, body: CreateKeyRequest) -> Dict[str, Any]:
        return await self.request("POST", "/api/v6/keys/create", body)

    async def list_keys(self) -> List[Dict[str, Any]]:
        return (await self.request("POST", "/api/v6/keys/list", {}))["keys"]

    async def revoke_key(self, *, id: Optional[str] = None, name: Optional[str] = None) -> Dict[str, Any]:
        return await self.request("POST", "/api/v6/keys/revoke", {"id": id} if id is not None else {"name": name})

    async def events(self, job_id: int) -> AsyncIterator[common.JobEvent]:
        path = f"/api/v6/images/events/{int(job_id)}"
        try:
            async with self._http.stream("GET", self.base_url + path, headers={"Accept": "text/event-stream", **common.auth_headers(self._key)}, timeout=httpx.Timeout(30.0, read=None)) as response:
                if response.status_code >= 400:
                    await response.aread()
                    common.parse_answer("GET", path, response)
                parser = common.EventParser()
                async for line in response.aiter_lines():
                    event = parser.feed(line)
                    if event:
                        yield event
        except httpx.TransportError as err:
            raise DiffusekitConnectionError(f"Could not reach {self.base_url} ({path}): {err}") from err

    async def generate(
        self,
        endpoint: str,
        body: Any,
        *,
        wait: Literal["events", "poll"] = "events",
        on_event: Optional[Callable[[common.JobEvent], None]] = None,
        download: bool = True,
        timeout: Optional[float] = None,
    ) -> common.GenerateResult:
        """As Client.generate; cancelling the awaiting task (or ``timeout``) cancels the job on the server."""
        job = await self.submit(endpoint, body)
        if on_event:
            on_event(common.JobEvent("state", job))
        try:
            job = await asyncio.wait_for(self._until(job, wait, on_event), timeout)
        except BaseException:
            if job.get("status") == "processing":
                try:
                    await asyncio.shield(self.cancel(job["id"]))
                except Exception:
                    pass
            raise
        common.raise_for_job(job)
        files = await asyncio.gather(*(self.download(url) for url in job["output"])) if download else [(None, None)] * len(job["output"])
        images = [common.GeneratedImage(url, seed, content, content_type) for url, seed, (content, content_type) in zip(job["output"], common.seeds_of(job), files)]
        return common.GenerateResult(job, images)

    async def download(self, url: str) -> Tuple[bytes, Optional[str]]:
        headers = common.auth_headers(self._key) if common.is_own_url(self.base_url, url) else {}
        try:
            response = await self._http.get(url if "://" in url else self.base_url + url, headers=headers)
        except httpx.TransportError as err:
            raise DiffusekitConnectionError(f"Could not reach {url}: {err}") from err
        if response.status_code >= 400:
            common.parse_answer("GET", url, response)
        return response.content, response.headers.get("content-type")

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = await self._http.request(method, self.base_url + path, json=body, headers={"Accept": "application/json", **common.auth_headers(self._key)})
        except httpx.TransportError as err:
            raise DiffusekitConnectionError(f"Could not reach {self.base_url} ({path}): {err}") from err
        return common.parse_answer(method, path, response)

    async def _until(self, job: Dict[str, Any], wait: str, on_event: Optional[Callable[[common.JobEvent], None]]) -> Dict[str, Any]:
        if job.get("status") != "processing":
            return job
        if wait == "events":
            try:
                last = job
                async for event in self.events(job["id"]):
                    if on_event:
                        on_event(event)
                    if event.type == "state":
                        last = event.data
                if last.get("status") != "processing":
                    return last
            except ApiError as err:
                if err.status != 404:
                    raise
        while job.get("status") == "processing":
            await asyncio.sleep(common.poll_delay(job))
            job = await self.fetch(job["id"])
            if on_event:
                on_event(common.JobEvent("state", job))
        return job


