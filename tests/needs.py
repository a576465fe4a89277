"""Where the tests find external tools: in CI (CI=true) a missing one fails the test, elsewhere it skips."""

from __future__ import annotations

import os
import shutil

import pytest


def require(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        why = f"needs {tool} (Debian package {package})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{why}: CI must run this test")
        pytest.skip(why)
    return path
