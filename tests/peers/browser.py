"""Debian's Chromium and its chromedriver for the web console's browser tests: installed from
Debian's packages when missing (as root, with apt), never a browser build a tool downloads.
`python -m tests.peers.browser` installs them by hand."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

PACKAGES = ("chromium", "chromium-driver")


class NoBrowser(Exception):
    pass


def _found() -> tuple[Path, Path] | None:
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    return (Path(browser), Path(driver)) if browser and driver else None


def chromium() -> tuple[Path, Path]:
    """(chromium, chromedriver), installing Debian's packages if they are missing."""
    found = _found()
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise NoBrowser("Debian's chromium and chromium-driver are not installed: "
                        "`apt-get install chromium chromium-driver` (as root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        # a fresh machine's package lists may be stale or absent
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
        done = subprocess.run(install, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise NoBrowser(f"apt-get install {' '.join(PACKAGES)} failed:\n{done.stderr[-2000:]}")
    found = _found()
    if not found:
        raise NoBrowser("chromium or chromedriver missing after installing them")
    return found


def driver(window: tuple[int, int] = (1280, 900)):
    """A headless Chrome session on Debian's Chromium (Selenium told both paths and to stay
    offline: its manager downloads nothing)."""
    os.environ["SE_OFFLINE"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    browser, chromedriver = chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = str(browser)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={window[0]},{window[1]}", "--no-first-run"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(str(chromedriver)), options=options)


if __name__ == "__main__":
    print(*chromium())
