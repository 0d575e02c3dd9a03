"""The server under test: started by test/client/python.test.ts, which passes its URL and keys in the environment."""

from __future__ import annotations

import os

import pytest


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.exit(f"{name} is not set: these tests run against a real server (npx vitest run test/client/python.test.ts)", returncode=2)
    return value


@pytest.fixture(scope="session")
def server_url() -> str:
    return _env("DIFFUSEKIT_URL")


@pytest.fixture(scope="session")
def api_key() -> str:
    return _env("DIFFUSEKIT_KEY")


@pytest.fixture(scope="session")
def admin_key() -> str:
    return _env("DIFFUSEKIT_ADMIN_KEY")


@pytest.fixture(scope="session")
def webhook_secret() -> str:
    return _env("DIFFUSEKIT_WEBHOOK_SECRET")
