"""The reconstruction explorer of ``03_reconstructions.ipynb`` used as a person uses it: JupyterLab in
headless Chromium (Playwright), Run > Run All Cells, then the mask-ratio slider by keyboard, the
sample slider's number typed in, the data dropdown and the seed box, checking after each change that
the picture and the status line follow.

JupyterLab serves a copy of ``notebooks/`` (it autosaves) from a temporary folder, with its own
config, data, runtime and settings folders, so neither the repository nor the user's Jupyter setup
is touched. The only change to the notebook is papermill's: an injected-parameters cell that
shortens the fallback pre-training, which takes about a minute at the default ``train_steps``.
"""

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from workbench.models.masking import num_masked

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "03_reconstructions.ipynb"
# The README's picture is made with WORKBENCH_SCREENSHOT_DIR=figures; otherwise it stays in tmp_path.
SCREENSHOT_NAME = "explorer_lab.png"
PARAMETERS = {"train_steps": 20, "train_pool": 64}  # the fallback run: its defaults only add minutes
OTHER_SOURCE = "stat_spectrum"  # the pattern whose statistics are quickest to estimate (about 2 s)
# Debian's Chromium (Playwright cannot download its own browsers here). Without the background
# networking flags it tries to reach Google's services, and a closed network refuses those.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SERVER_START_S = 90
RUN_ALL_S = 600  # pre-training, pattern statistics and three figures on 2 busy CPU cores
CHANGE_S = 120  # one widget change: a new sample may need its pattern's statistics first
STATUS = re.compile(r"^(?P<source>.+) #(?P<index>\d+): (?P<removed>\d+) of (?P<tokens>\d+) tokens removed "
                    r"\((?P<percent>[\d.]+)%\), MSE on them (?P<mse>[\d.]+)$")


@pytest.fixture
def chromium() -> str:
    """Debian's Chromium, or a skip naming what to install (checked before JupyterLab starts)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("Playwright is not installed: pip install -c constraints.txt -e '.[dev]'")
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("Chromium is not installed: apt-get install chromium (Debian's, driven by Playwright)")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lab_home(home: Path) -> dict[str, str]:
    """Environment of a JupyterLab that reads and writes only under ``home``: the user's config,
    data, runtime, settings and workspaces folders; the installed extensions (under the
    interpreter's prefix) are still found. News and update checks are off, so nothing phones out."""
    dirs = {"JUPYTER_CONFIG_DIR": "config", "JUPYTER_DATA_DIR": "data", "JUPYTER_RUNTIME_DIR": "runtime",
            "JUPYTERLAB_SETTINGS_DIR": "settings", "JUPYTERLAB_WORKSPACES_DIR": "workspaces",
            "IPYTHONDIR": "ipython", "MPLCONFIGDIR": "matplotlib"}
    env = {k: v for k, v in os.environ.items() if k not in ("JUPYTER_PATH", "JUPYTER_CONFIG_PATH")}
    # The kernel imports this checkout's workbench, as the tests do, wherever it was installed from.
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    for var, name in dirs.items():
        (home / name).mkdir(parents=True)
        env[var] = str(home / name)
    notification = home / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    return env


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab on 127.0.0.1 serving a parameterised copy of ``notebooks/``: yields its base URL
    and token; shut down (kernels included) afterwards."""
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    root = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    nbformat.write(parameterize_notebook(load_notebook_node(str(root / NOTEBOOK)), PARAMETERS), root / NOTEBOOK)
    token, port = secrets.token_hex(16), _free_port()
    log = tmp_path / "jupyterlab.log"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.open_browser=False",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.extension_manager=readonly"]
    if os.geteuid() == 0:  # CI runs as root, which Jupyter refuses unless told
        cmd.append("--allow-root")
    url = f"http://127.0.0.1:{port}"
    # Straight to 127.0.0.1, whatever proxy the environment names.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with open(log, "wb") as out:
        server = subprocess.Popen(cmd, cwd=root, env=_lab_home(tmp_path / "jupyter"), stdout=out,
                                  stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited with {server.returncode}:\n{log.read_text()[-3000:]}")
            try:
                opener.open(f"{url}/api/status?token={token}", timeout=5).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer within {SERVER_START_S} s:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        yield url, token
    finally:
        try:
            opener.open(urllib.request.Request(f"{url}/api/shutdown?token={token}", method="POST"), timeout=10)
            server.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _image_digest(image) -> str:
    """SHA-256 of the bytes the explorer's ``<img>`` shows (its src is a blob: URL of the PNG)."""
    return image.evaluate("""async (img) => {
        const bytes = await (await fetch(img.src)).arrayBuffer();
        const digest = await crypto.subtle.digest("SHA-256", bytes);
        return Array.from(new Uint8Array(digest), b => b.toString(16).padStart(2, "0")).join("");
    }""")


def _kernel_idle(page) -> None:
    """Wait for the kernel to finish handling the widget change. Call it once the status line has
    changed: the kernel sends that line before it draws the figure, and the PNG before going idle."""
    page.locator(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(
        timeout=CHANGE_S * 1000)


def _image_after(page, image, previous: str, change: str) -> str:
    """The picture's digest once the kernel is done with the change; it must differ from ``previous``."""
    _kernel_idle(page)
    digest = _image_digest(image)
    assert digest != previous, f"the reconstruction did not change with the {change}"
    return digest


def _status_after(page, status, previous: str) -> re.Match:
    """The status line once it differs from ``previous`` (the kernel has recomputed), parsed."""
    page.wait_for_function("([el, old]) => el.textContent.trim() !== old",
                           arg=[status.element_handle(), previous], timeout=CHANGE_S * 1000)
    text = status.text_content().strip()
    match = STATUS.match(text)
    assert match, f"the status line reads {text!r}, not '<source> #<i>: <k> of <n> tokens removed ...'"
    return match


def _tracebacks(page) -> list[str]:
    return page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']").all_inner_texts()


def test_explorer_follows_its_widgets_in_jupyterlab(chromium, lab, tmp_path):
    from playwright.sync_api import sync_playwright

    url, token = lab
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/lab/tree/{NOTEBOOK}?token={token}")
            page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=SERVER_START_S * 1000)
            # The execution indicator reads idle before the kernel exists too (then "No Kernel"), and
            # Run All before the kernel is up asks which kernel to start instead of running.
            page.wait_for_function("""() => {
                const name = document.querySelector(".jp-NotebookPanel .jp-Toolbar-kernelName");
                const state = document.querySelector(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator");
                return name && state && name.textContent.trim() !== "No Kernel" && state.dataset.status === "idle";
            }""", timeout=SERVER_START_S * 1000)

            page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
            page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()

            # The last cell prints metrics.json: every cell ran, and the kernel is free for the widgets.
            done = page.locator(".jp-OutputArea-output", has_text='"mean_mse_per_mask_ratio"')
            deadline = time.monotonic() + RUN_ALL_S
            while not done.count():
                errors = _tracebacks(page)
                assert not errors, f"a cell failed:\n{errors[0][-3000:]}"
                if time.monotonic() > deadline:
                    page.screenshot(path=str(tmp_path / "timeout.png"))
                    prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
                    pytest.fail(f"the notebook did not finish within {RUN_ALL_S} s; prompts {prompts}, "
                                f"screenshot {tmp_path / 'timeout.png'}")
                time.sleep(1)

            box = page.locator(".widget-vbox", has=page.locator(".widget-image")).last
            status = box.locator(".widget-html-content", has_text="tokens removed")
            image = box.locator(".widget-image")
            ratio_slider = box.locator(".widget-hslider", has=page.get_by_text("mask ratio", exact=True))
            index_slider = box.locator(".widget-hslider", has=page.get_by_text("sample", exact=True))
            source = box.locator(".widget-dropdown", has=page.get_by_text("data", exact=True)).locator("select")
            seed = box.locator(".widget-text", has=page.get_by_text("seed", exact=True)).locator("input")

            box.scroll_into_view_if_needed()  # off-screen cells are not laid out (content-visibility)
            text = status.text_content().strip()
            first = STATUS.match(text)
            assert first, f"the explorer's status reads {text!r}"
            tokens = int(first["tokens"])
            assert first["source"] == source.input_value() == "fractaldb1k"  # the run's dataset leads
            assert first["index"] == "0" and int(first["removed"]) == num_masked(tokens, 0.75)
            _kernel_idle(page)
            picture = _image_digest(image)

            # Mask ratio: two steps right on the slider's handle, 0.75 -> 0.85.
            handle = ratio_slider.locator(".noUi-handle")
            handle.focus()
            handle.press("ArrowRight")
            handle.press("ArrowRight")
            expect_removed = num_masked(tokens, 0.85)
            deadline = time.monotonic() + CHANGE_S
            while (m := _status_after(page, status, text))["removed"] != str(expect_removed):
                assert time.monotonic() < deadline, f"mask ratio 0.85: status {m.group(0)!r}"
                text = m.group(0)
            assert ratio_slider.locator(".widget-readout").text_content().strip() == "0.85"
            percent = f"{100 * expect_removed / tokens:.1f}"
            assert (m["source"], m["index"], m["percent"]) == ("fractaldb1k", "0", percent)
            picture = _image_after(page, image, picture, "mask ratio")
            text = m.group(0)

            # Sample: type a number into the sample slider's readout.
            readout = index_slider.locator(".widget-readout")
            readout.fill("7")
            readout.press("Enter")
            m = _status_after(page, status, text)
            assert (m["source"], m["index"], m["removed"]) == ("fractaldb1k", "7", str(expect_removed))
            assert float(index_slider.locator(".noUi-handle").get_attribute("aria-valuenow")) == 7  # moved too
            picture = _image_after(page, image, picture, "sample")
            text = m.group(0)

            # Data source: another pattern from the dropdown, same sample and mask ratio.
            source.select_option(OTHER_SOURCE)
            m = _status_after(page, status, text)
            assert (m["source"], m["index"], m["removed"]) == (OTHER_SOURCE, "7", str(expect_removed))
            picture = _image_after(page, image, picture, "data source")
            text = m.group(0)

            # Mask seed: a new number in its text box removes as many tokens, other ones.
            seed.fill("3")
            seed.press("Enter")
            m = _status_after(page, status, text)
            assert (m["source"], m["index"], m["removed"]) == (OTHER_SOURCE, "7", str(expect_removed))
            picture = _image_after(page, image, picture, "mask seed")

            page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").click()  # room for the figure
            box.scroll_into_view_if_needed()
            shot = Path(os.environ.get("WORKBENCH_SCREENSHOT_DIR") or tmp_path) / SCREENSHOT_NAME
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
