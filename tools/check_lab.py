"""Run a chapter in a live JupyterLab, driven by headless Chromium.

    python tools/check_lab.py [--chapter chapters/02_attention_math.ipynb]

The README's way to work with the chapters is ``make lab``; this script does
what a learner does there, on localhost: it starts JupyterLab with a token on
a copy of one chapter that has a widget, opens it, runs all cells in the live
kernel, saves, and checks that

* every code cell ran and none raised (read from the saved notebook);
* the widget is drawn as a control (a slider), not as the static fallback;
* moving the slider redraws the widget's figure.

Run by ``make check-lab`` (``make check-html`` calls it; ``.ci/run`` runs
both). Needs the system's Chromium, as tools/check_html.py does. Exit
status: 0 all checks pass, 1 a check failed, 2 a tool is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from check_html import CHROMIUM_FLAGS, require_browser

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CHAPTER = "chapters/02_attention_math.ipynb"
RUN_TIMEOUT_S = 300
SLIDER = ".jp-OutputArea .widget-slider"
LIVE_VIEW = ".jp-OutputArea .widget-output"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(root: Path, port: int, token: str, home: Path):
    """JupyterLab on 127.0.0.1 with a token, fresh settings, no news feed."""
    env = dict(os.environ)
    env.pop("ATTNLIB_STATIC", None)  # widgets live, as a learner sees them
    env.update(
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
        OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "2"),
    )
    # no "get notified about Jupyter news?" toast over the page
    settings = home / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false"})
    )
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # CI runs as root
    log = open(home / "lab.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}/api/status?token={token}"
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=2):
                return proc
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise RuntimeError(
        f"JupyterLab did not start: {(home / 'lab.log').read_text()[-2000:]}"
    )


def run_menu(page, command: str) -> None:
    """Run a JupyterLab command through its menu bar, as a reader would."""
    menus = {"runmenu:run-all": "Run", "docmanager:save": "File"}
    page.locator(
        f".lm-MenuBar-itemLabel:text-is('{menus[command]}')"
    ).first.click()
    page.locator(f"li.lm-Menu-item[data-command='{command}']").first.click()


_KERNEL_STATUS = """() => {
  const bar = document.querySelector('#jp-main-statusbar');
  const text = bar ? bar.innerText : '';
  return text.includes('| Idle') ? 'idle'
       : text.includes('| Busy') ? 'busy' : 'unknown';
}"""


def wait_for_kernel_idle(page, timeout_s: float) -> None:
    """The status bar says "Python 3 (ipykernel) | Idle"."""
    page.wait_for_function(
        f"({_KERNEL_STATUS})() === 'idle'", timeout=timeout_s * 1000
    )


def wait_until_run(page, timeout_s: float) -> None:
    """Wait until the kernel has been idle for 3 s in a row and no cell in
    view is queued or running (prompt ``[*]``). JupyterLab draws only the
    cells in view, so the kernel's status is what tells the run is over."""
    deadline = time.time() + timeout_s
    page.wait_for_timeout(1000)
    quiet = 0
    while time.time() < deadline:
        busy = page.eval_on_selector_all(
            ".jp-InputPrompt",
            "ps => ps.filter(p => p.innerText.includes('*')).length",
        )
        idle = page.evaluate(_KERNEL_STATUS) == "idle"
        quiet = quiet + 1 if idle and not busy else 0
        if quiet >= 3:
            return
        page.wait_for_timeout(1000)
    raise TimeoutError(f"cells still running after {timeout_s:.0f} s")


def saved_problems(path: Path) -> list[str]:
    """What the saved notebook says: every code cell ran, none errored."""
    nb = json.loads(path.read_text())
    problems = []
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    not_run = [
        i for i, c in enumerate(code) if c.get("execution_count") is None
    ]
    if not_run:
        problems.append(f"{len(not_run)} code cells did not run")
    for i, cell in enumerate(code):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(
                    f"code cell {i} raised {out.get('ename')}: "
                    f"{str(out.get('evalue'))[:120]}"
                )
    return problems


def move_slider(page) -> bool:
    """Move the first slider one step right; True if its value changed."""
    slider = page.locator(SLIDER).first
    readout = slider.locator(".widget-readout").first
    before = readout.inner_text()
    handle = slider.locator(".noUi-handle").first
    handle.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_timeout(500)
    if readout.inner_text() == before:  # fall back to dragging the handle
        box = handle.bounding_box()
        track = slider.locator(".noUi-target").first.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 5)
        page.mouse.down()
        page.mouse.move(track["x"] + track["width"] * 0.6, box["y"] + 5)
        page.mouse.up()
        page.wait_for_timeout(500)
    after = readout.inner_text()
    print(f"     slider moved from {before!r} to {after!r}")
    return bool(before) and after != before


def check_chapter(browser, base: str, token: str, rel: str, nb: Path, shots):
    problems: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on(
        "pageerror",
        lambda exc: problems.append(f"uncaught exception: {str(exc)[:200]}"),
    )
    try:
        page.goto(f"{base}/lab/tree/{rel}?token={token}", wait_until="load")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60000)
        wait_for_kernel_idle(page, 120)  # the kernel has started
        before = nb.stat().st_mtime
        t0 = time.time()
        run_menu(page, "runmenu:run-all")
        wait_until_run(page, RUN_TIMEOUT_S)
        seconds = time.time() - t0
        run_menu(page, "docmanager:save")
        deadline = time.time() + 30
        while nb.stat().st_mtime == before and time.time() < deadline:
            page.wait_for_timeout(500)
        problems += saved_problems(nb)
        print(f"     ran all cells in {seconds:.0f} s")

        if page.locator(SLIDER).count() == 0:
            problems.append("no slider rendered: the widget shows no control")
        elif page.locator(f"{LIVE_VIEW} img, {LIVE_VIEW} svg").count() == 0:
            problems.append("the widget's live view has no figure")
        else:
            # JupyterLab 4 draws only the cells in view: scroll there first
            view = page.locator(LIVE_VIEW).first
            view.scroll_into_view_if_needed()
            page.locator(SLIDER).first.scroll_into_view_if_needed()
            page.wait_for_function(
                "s => document.querySelector(s)?.innerText.trim()",
                arg=f"{SLIDER} .widget-readout",
                timeout=15000,
            )
            page.wait_for_timeout(500)
            drawn = view.inner_html()
            if not move_slider(page):
                problems.append("the slider did not move")
            else:
                deadline = time.time() + 30
                while view.inner_html() == drawn and time.time() < deadline:
                    page.wait_for_timeout(500)
                if view.inner_html() == drawn:
                    problems.append("moving the slider did not redraw")
        if shots is not None:
            shots.mkdir(parents=True, exist_ok=True)
            page.locator(SLIDER).first.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "lab_widget.png"))
    finally:
        page.close()
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapter", default=DEFAULT_CHAPTER)
    parser.add_argument("--screenshots", default=None)
    args = parser.parse_args(argv)

    found = require_browser("check-lab")
    if found is None:
        return 2
    chromium, sync_playwright = found
    source = ROOT / args.chapter
    token, port = secrets.token_hex(16), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # a copy: JupyterLab saves outputs, the repository's stay stripped
        work = tmp / "book"
        shutil.copytree(ROOT / "chapters", work / "chapters")
        (tmp / "home").mkdir()
        lab = start_lab(work, port, token, tmp / "home")
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=chromium,
                    headless=True,
                    args=CHROMIUM_FLAGS,
                )
                shots = Path(args.screenshots) if args.screenshots else None
                problems = check_chapter(
                    browser,
                    f"http://127.0.0.1:{port}",
                    token,
                    args.chapter,
                    work / args.chapter,
                    shots,
                )
                browser.close()
        finally:
            lab.terminate()
            try:
                lab.wait(timeout=20)
            except subprocess.TimeoutExpired:
                lab.kill()
    status = "ok  " if not problems else "FAIL"
    print(f"{status} {source.relative_to(ROOT)} live in JupyterLab")
    for p in dict.fromkeys(problems):
        print(f"       {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
