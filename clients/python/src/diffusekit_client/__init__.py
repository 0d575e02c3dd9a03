"""Client of a diffusekit server's v6 API: Client (sync) and AsyncClient (asyncio), both on httpx."""

from ._common import ENDPOINT_PATHS, GeneratedImage, GenerateResult, JobEvent
from .async_client import AsyncClient
from .client import Client
from .errors import ApiError, DiffusekitConnectionError, DiffusekitError
from .webhook import WEBHOOK_SIGNATURE_HEADER, verify_webhook

__all__ = [
    "ENDPOINT_PATHS",
    "ApiError",
    "AsyncClient",
    "Client",
    "DiffusekitConnectionError",
    "DiffusekitError",
    "GenerateResult",
    "GeneratedImage",
    "JobEvent",
    "WEBHOOK_SIGNATURE_HEADER",
    "verify_webhook",
]
