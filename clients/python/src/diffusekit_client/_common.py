"""What the sync and the async client share: routes, answers into results or errors, the event-stream parser."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional
from urllib.parse import urljoin, urlsplit

import httpx

from .errors import DiffusekitConnectionError, api_error

# Where each job endpoint lives. A new face (training, when the server has it) is one more line here.
ENDPOINT_PATHS: Dict[str, str] = {
    "text2img": "/api/v6/images/text2img",
    "img2img": "/api/v6/images/img2img",
    "inpaint": "/api/v6/images/inpaint",
    "outpaint": "/api/v6/images/outpaint",
    "controlnet": "/api/v6/images/controlnet",
    "super_resolution": "/api/v6/images/super_resolution",
    "text2video": "/api/v6/video/text2video",
    "img2video": "/api/v6/video/img2video",
}


@dataclass
class GeneratedImage:
    """One output of a finished job: its URL, seed, and (unless download=False) its bytes."""

    url: str
    seed: Optional[int]
    content: Optional[bytes] = None
    content_type: Optional[str] = None


@dataclass
class GenerateResult:
    job: Dict[str, Any]
    images: List[GeneratedImage] = field(default_factory=list)


@dataclass
class JobEvent:
    """``state`` (data: the fetch answer), ``progress`` (phase, step, steps, image, images) or ``preview``
    (width, height, image: a PNG data URL of the latent)."""

    type: str
    data: Dict[str, Any]


def endpoint_path(endpoint: str) -> str:
    try:
        return ENDPOINT_PATHS[endpoint]
    except KeyError:
        raise ValueError(f"Expected one of {', '.join(ENDPOINT_PATHS)} for endpoint but received {endpoint!r}") from None


def normalize_base_url(base_url: str) -> str:
    if not isinstance(base_url, str) or urlsplit(base_url).scheme not in ("http", "https") or not urlsplit(base_url).netloc:
        raise ValueError(f"Expected an http(s) origin for base_url but received {base_url!r}")
    return base_url.rstrip("/")


def auth_headers(key: Optional[str]) -> Dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def is_own_url(base_url: str, url: str) -> bool:
    """Outputs on this server's origin get the key (servers that keep outputs private); others never see it."""
    own, target = urlsplit(base_url), urlsplit(urljoin(base_url + "/", url))
    return (own.scheme, own.netloc) == (target.scheme, target.netloc)


def parse_answer(method: str, path: str, response: httpx.Response) -> Any:
    """The JSON of an answer; an ApiError for an error status, a DiffusekitConnectionError for a body that is not JSON."""
    try:
        data = response.json() if response.content else None
    except ValueError as err:
        raise DiffusekitConnectionError(f"{method} {path}: the answer (HTTP {response.status_code}) is not JSON: {response.text[:200]}") from err
    if response.status_code >= 400:
        raise api_error(response.status_code, data, response.headers.get("retry-after"))
    return data


def raise_for_job(job: Dict[str, Any]) -> None:
    if job.get("status") != "success":
        raise api_error(200, job)


def poll_delay(job: Dict[str, Any]) -> float:
    """Seconds before fetching again: the server's ETA, within 0.25 s .. 5 s."""
    eta = job.get("eta")
    return min(5.0, max(0.25, float(eta) if isinstance(eta, (int, float)) else 1.0))


def seeds_of(job: Dict[str, Any]) -> List[Optional[int]]:
    seeds = (job.get("meta") or {}).get("seeds") or []
    return [seeds[i] if i < len(seeds) else None for i in range(len(job.get("output") or []))]


class EventParser:
    """Turns text/event-stream lines into events (only ``event:`` and ``data:`` matter; comments are skipped)."""

    def __init__(self) -> None:
        self._event = "message"
        self._data: List[str] = []

    def feed(self, line: str) -> Optional[JobEvent]:
        line = line.rstrip("\r")
        if line == "":
            if not self._data:
                return None
            event = JobEvent(self._event, json.loads("\n".join(self._data)))
            self._event, self._data = "message", []
            return event
        if line.startswith("event:"):
            self._event = line[6:].strip()
        elif line.startswith("data:"):
            self._data.append(line[5:].lstrip())
        return None

