"""The docs page really works under its Content-Security-Policy, in a real (headless) browser."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from ..support.servers import served as serve_in_thread

CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(name)), None)
pytestmark = [pytest.mark.slow, pytest.mark.other_processes,
              pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium installed")]


@pytest.fixture
def served(app: Flask) -> Iterator[str]:
    with serve_in_thread(app) as url:
        yield url


def render(url: str, profile: Path) -> tuple[str, str]:
    """The DOM after scripts ran, and the browser's console log."""
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=8000", "--dump-dom", url],
        capture_output=True, text=True, timeout=60, check=False)
    return done.stdout, done.stderr


def test_swagger_ui_renders_under_its_csp_without_a_single_violation(
        served: str, tmp_path: Path) -> None:
    dom, console = render(f"{served}/api/docs", tmp_path / "profile")
    violations = [line for line in console.splitlines() if "Content Security Policy" in line]
    assert violations == []
    # Rendered by swagger-ui-bundle.js from /api/v1/openapi.json: the inline script ran.
    assert 'class="swagger-ui' in dom
    assert "校外培训监管" in dom
