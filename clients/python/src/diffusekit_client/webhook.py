"""Webhook signatures as the server writes them: ``X-Diffusekit-Signature: sha256=<hex HMAC-SHA256 of the body>``."""

from __future__ import annotations

import hashlib
import hmac
from typing import Optional, Union

WEBHOOK_SIGNATURE_HEADER = "X-Diffusekit-Signature"


def verify_webhook(body: Union[bytes, str], signature: Optional[str], secret: str) -> bool:
    """Whether ``signature`` (the received header) signs ``body`` under ``secret`` (the key's webhook_secret).

    Pass the raw body as received, before any JSON parsing: re-serialising changes the bytes. Compares in
    constant time.
    """
    if not isinstance(signature, str) or not isinstance(secret, str):
        return False
    raw = body.encode("utf-8") if isinstance(body, str) else body
    expected = "sha256=" + hmac.new(secret.encode("utf-8"), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), signature.strip().lower().encode("utf-8", "replace"))
