"""The workshop in a real browser: `workshop up` started as the README starts it,
serving a copy of the solved lab 04, driven in headless Chromium (Debian's, through
Playwright): open the notebook, Run All Cells, press every "Check my work" and read
all-pass tables. The screenshot is kept in test-artifacts/ for CI to keep."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port, new_account
from tests.test_up import Up

pytestmark = pytest.mark.slow

LAB = "04-iac"
NOTEBOOK = f"{LAB}.ipynb"
CHROMIUM = os.environ.get("WORKSHOP_CHROMIUM", "/usr/bin/chromium")
# Debian's chromium, never a downloaded one; nothing it does may need the internet.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = ROOT / "test-artifacts"  # git-ignored; CI keeps it
RUN_TIMEOUT = 300.0  # the whole solved lab; ~5-10 s on an idle machine
CHECK_TIMEOUT_MS = 120_000

_PROMPTS = "() => Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')).map(e => e.textContent)"
_ERRORS = ("() => Array.from(document.querySelectorAll("
           "'.jp-OutputArea-output[data-mime-type=\"application/vnd.jupyter.stderr\"]')).map(e => e.textContent)")


def _require_browser():
    """Playwright and Debian's chromium, or a skip with the reason (a failure in CI)."""
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install playwright)")
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"chromium at {CHROMIUM} (apt-get install -y chromium)")
    if missing:
        reason = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason + "; .ci/run installs both")
        pytest.skip(reason)


def test_solved_lab_04_runs_in_jupyterlab_and_every_check_my_work_panel_passes(tmp_path):
    _require_browser()
    from playwright.sync_api import sync_playwright

    from checker.registry import get_lab

    # The solved lab in place of the unsolved one, in a fresh account, on free ports.
    notebooks = tmp_path / "notebooks"
    shutil.copytree(ROOT / "solutions" / LAB, notebooks,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "JUPYTER_TOKEN", "WORKSHOP_"))}
    env["WORKSHOP_ACCOUNT"] = account = new_account()
    up = Up(tmp_path, "--no-browser", "--port", str(free_port()), "--jupyter-port", str(free_port()),
            "--data-dir", str(tmp_path / "data"), "--notebook-dir", str(notebooks), env=env)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = tmp_path / f"browser-{LAB}.png"
    checks = get_lab(LAB).checks
    try:
        url, _ = up.wait_for_url()
        assert f"account     {account}" in up.output()
        with sync_playwright() as pw:
            browser = pw.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True,
                args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1000})
            page = browser.new_page()
            try:
                page.goto(url)
                page.locator(".jp-DirListing-item", has_text=NOTEBOOK).dblclick(timeout=60_000)
                # The toolbar says idle before the kernel is connected; the status bar does not.
                page.get_by_text("| Idle").wait_for(timeout=120_000)
                # A learner sees none of nbgrader's: no "Nbgrader" menu, no Validate button.
                assert page.get_by_role("menuitem", name="Nbgrader", exact=True).count() == 0
                assert page.get_by_role("button", name=re.compile("Validate")).count() == 0
                assert page.get_by_text("Validate", exact=True).count() == 0
                page.get_by_role("menuitem", name="Run", exact=True).click()
                page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
                _wait_until_every_cell_ran(page)
                assert page.get_by_text(re.compile(rf"^{LAB}: (\d+)/\1 points \({len(checks)} of "
                                                   rf"{len(checks)} checks pass\)")).count() == 1

                # Every step's panel, in notebook order; the last one stays on screen.
                steps = list(dict.fromkeys(c.step for c in checks))
                rows_seen = 0
                for step in steps:
                    rows = _check_my_work(page, f"Check my work ({step})")
                    assert rows and all(r.startswith("PASS") for r in rows), (step, rows)
                    rows_seen += len(rows)
                assert rows_seen == len(checks)
                page.get_by_text("All checks pass. Well done!").last.scroll_into_view_if_needed()
                page.screenshot(path=str(shot))
            except BaseException:
                page.screenshot(path=str(ARTIFACTS / f"browser-{LAB}-failure.png"))
                raise
            finally:
                browser.close()
    finally:
        code = up.stop()
    assert code == 0, up.output()
    shutil.copyfile(shot, ARTIFACTS / shot.name)
    assert (ARTIFACTS / shot.name).stat().st_size > 10_000


def _wait_until_every_cell_ran(page) -> None:
    """Every code cell numbered; a cell that fails stops Run All, which fails here with its error."""
    deadline = time.monotonic() + RUN_TIMEOUT
    stopped_polls = 0
    while time.monotonic() < deadline:
        prompts = page.evaluate(_PROMPTS)
        if prompts and all(re.fullmatch(r"\[\d+\]:", p) for p in prompts):
            return
        # Not running and not all done: Run All stopped at an error (seen twice, to let it settle).
        running = any(p == "[*]:" for p in prompts)
        stopped_polls = 0 if running else stopped_polls + 1
        if stopped_polls >= 3 and page.get_by_text("| Idle").count():
            errors = [e for e in page.evaluate(_ERRORS) if "Traceback" in e or "Error" in e]
            if errors:
                raise AssertionError("Run All Cells stopped at an error:\n" + "\n---\n".join(errors)[-3000:])
        time.sleep(0.5)
    raise AssertionError(f"the lab did not finish running in {RUN_TIMEOUT:g} s: {page.evaluate(_PROMPTS)}")


def _check_my_work(page, label: str) -> list[str]:
    """Press a panel's button and return its table's rows (header left out)."""
    button = page.locator("button.widget-button", has_text=label)
    button.scroll_into_view_if_needed(timeout=CHECK_TIMEOUT_MS)
    button.click()
    panel = page.locator(".widget-vbox").filter(has=button)
    table = panel.locator("table.ws-checks")
    table.wait_for(timeout=CHECK_TIMEOUT_MS)
    # The button reads "Checking..." while the checks run, its label again when the table is final.
    page.locator("button.widget-button", has_text=label).wait_for(timeout=CHECK_TIMEOUT_MS)
    return [row.strip() for row in table.locator("tr").all_inner_texts()[1:]]
