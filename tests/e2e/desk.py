"""What the front desk's tests share: a headless Debian Chromium driven by Playwright,
signed in through the page as a person would, with a screenshot of every test."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from services.common.devstack import ROOT

SCREENSHOTS = ROOT / ".spa" / "screenshots"
CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def chromium_path() -> str:
    """Debian's Chromium, which `make test` installs (tests/install-tools.sh); without
    it the desk's browser tests fail, saying so: they are the only proof of the pages."""
    found = next((path for path in CHROMIUM if Path(path).exists()), shutil.which("chromium"))
    if not found:
        pytest.fail("the front desk's browser tests need Debian's chromium: `make test` "
                    "installs it with apt (tests/install-tools.sh), which could not here; "
                    "install it with `apt-get install chromium` (needs root)", pytrace=False)
    return found


def sign_in(page, base_url: str, key: str) -> None:
    page.goto(f"{base_url}/desk/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    # the path: the sign-in page's own URL has /desk/day in its `next`
    page.wait_for_url(lambda url: urlsplit(url).path == "/desk/day")


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


class DeskSession:
    """The desk as a plain HTTP client (for what a browser would not do: a form
    without its token, a cookie replayed after sign-out)."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.http = requests.Session()

    def token(self, path: str = "/desk/sign-in") -> str:
        page = self.http.get(self.base_url + path, timeout=30)
        return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)

    def sign_in(self, key: str) -> requests.Response:
        return self.http.post(self.base_url + "/desk/sign-in", timeout=30,
                              data={"csrf_token": self.token(), "key": key, "next": ""},
                              allow_redirects=False)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.http.get(self.base_url + path, timeout=30, allow_redirects=False, **kwargs)

    def post(self, path: str, data: dict, **kwargs) -> requests.Response:
        return self.http.post(self.base_url + path, data=data, timeout=30,
                              allow_redirects=False, **kwargs)
