"""``leadsync report ... --format html`` as a user runs it, each file opened in a real headless Chromium
(Debian's ``chromium``): the page renders, its charts are laid out with a real size, and the browser
logs no console message at all (the reports carry no script, so any message is a fault).

Without Chromium the test skips on a developer machine but fails in CI (``CI`` set): ``.ci/run``
installs it, so a missing browser there is a broken pipeline, not a reason to pass.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from leadsync.cli.main import main
from leadsync.ledger import Ledger, ScoreSnapshot, open_ledger, upgrade
from leadsync.sla_engine import reconcile, sweep
from tests.integration.reports.builders import activity, berlin, hs_contact, walk, write

ROOT = Path(__file__).resolve().parents[2]
MAPPINGS = ROOT / "mappings"
AS_OF = berlin(2026, 11, 24, 12)
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run")
# Measures every chart as laid out, and says so on the console (only in a probe copy of the page).
PROBE = """<script>addEventListener('load', () => console.log('PROBE ' + JSON.stringify(
  [...document.querySelectorAll('figure.chart svg')].map(s => {const r = s.getBoundingClientRect();
   return [s.closest('figure').dataset.chart, Math.round(r.width), Math.round(r.height),
           s.querySelectorAll('rect.bar, polyline.line').length];}))));</script>"""


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed but CI is set: .ci/run must install Debian's chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def browse(chromium: str, page: Path, tmp: Path, *extra: str) -> tuple[str, list[str]]:
    """(dumped DOM, console lines) of ``page`` in a fresh headless profile."""
    profile = tmp / f"profile-{page.stem}"
    done = subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *extra,
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    return done.stdout, console


def sample_ledger(url: str) -> None:
    """Thirty people through the funnel, their SLA clocks from the engine, and one sweep."""
    upgrade(url)
    start = berlin(2026, 10, 5, 10)
    items, acts, snaps = [], [], []
    for n in range(30):
        t0 = start + timedelta(days=n, hours=n % 5)
        steps = [("Inquiry", t0), ("MQL", t0 + timedelta(hours=2))]
        if n % 3:
            steps.append(("SAL", t0 + timedelta(hours=4 + n % 7)))
        if n % 5 == 0:
            steps += [("SQL", t0 + timedelta(days=3)), ("Opportunity", t0 + timedelta(days=5))]
        snaps.append(ScoreSnapshot(f"p{n:02d}", t0 + timedelta(hours=1), 20.0 + 5 * n, "ABCD"[n % 4], "v1",
                                   {"form_fill": 20, "page_view": 5 * n}))
        items += walk(f"p{n:02d}", *steps)
        acts.append((f"p{n:02d}", activity("form_fill" if n % 2 else "webinar_attended", t0, f"f{n}")))
        if n % 4 == 0:
            acts.append((f"p{n:02d}", activity("call", t0 + timedelta(hours=6), f"c{n}")))
    with open_ledger(url) as ledger:
        epoch = write(ledger, items, activities=acts, identities={"p01": [hs_contact("901")]}, snapshots=snaps)
        _engine(ledger, epoch)


def _engine(ledger: Ledger, epoch: int) -> None:
    from leadsync.rules.ruleset import load_ruleset

    ruleset = load_ruleset(MAPPINGS)
    with ledger.unit_of_work(epoch=epoch) as uow:
        for n in range(30):
            reconcile(uow, ruleset.sla, f"p{n:02d}", AS_OF, owner_id="ivy.inside@example.com" if n % 2
                      else "erin.enterprise@example.com")
    sweep(ledger, ruleset, AS_OF, epoch=epoch)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    folder = tmp_path_factory.mktemp("reports")
    url = f"sqlite:///{folder}/ledger.db"
    sample_ledger(url)
    saved = os.environ.get("LEADSYNC__LEDGER__URL")
    os.environ["LEADSYNC__LEDGER__URL"] = url
    try:
        out = {}
        for name, extra in (("sla", ["--by", "team"]), ("funnel", []), ("scoring", []),
                            ("audit", ["--person", "p01"])):
            out[name] = folder / f"{name}.html"
            code = main(["report", name, "--format", "html", "--out", str(out[name]), "--mappings", str(MAPPINGS),
                         "--as-of", AS_OF.isoformat(), "--since", "2026-10-01", *extra])
            assert code == 0
        yield out
    finally:
        if saved is None:
            os.environ.pop("LEADSYNC__LEDGER__URL", None)
        else:
            os.environ["LEADSYNC__LEDGER__URL"] = saved


CHARTS = {"sla": {"compliance", "speed_to_lead", "trend"}, "funnel": {"funnel", "trend"},
          "scoring": {"bands", "grades"}, "audit": set()}


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_report_renders_in_chromium_with_charts_and_no_console_errors(
    name: str, reports: dict[str, Path], chromium: str, tmp_path: Path,
) -> None:
    page = reports[name]
    html = page.read_text(encoding="utf-8")
    assert "<script" not in html and not re.search(r'(src|href)="', html)  # self-contained, nothing fetched
    dom, console = browse(chromium, page, tmp_path)
    assert console == []
    assert f'data-report="{name}"' in dom and "</main>" in dom
    assert set(re.findall(r'<figure class="chart" data-chart="([a-z_]+)"', dom)) == CHARTS[name]

    probe = tmp_path / f"{name}-probe.html"
    probe.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    _, console = browse(chromium, probe, tmp_path, "--window-size=1200,900")
    (line,) = [c for c in console if "PROBE" in c]
    laid_out = json.loads(line.split("PROBE ", 1)[1].split('", source')[0].replace('\\"', '"'))
    assert {chart for chart, *_ in laid_out} == CHARTS[name]  # every chart drew an SVG (none was empty)
    for chart, width, height, marks in laid_out:
        assert width > 300 and height > 100, f"{name}/{chart} laid out at {width}x{height}"
        assert marks > 0, f"{name}/{chart} has no bars or lines"


def test_console_check_catches_a_script_error(chromium: str, tmp_path: Path) -> None:
    """The console check above can fail: a page with a script error is caught."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><script>throw new Error('boom')</script></body></html>")
    _, console = browse(chromium, page, tmp_path)
    assert any("Uncaught Error: boom" in line for line in console)


def test_every_format_of_every_report_from_the_cli(reports: dict[str, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    url = os.environ.get("LEADSYNC__LEDGER__URL")
    assert url is not None
    for name in CHARTS:
        for fmt in ("table", "csv", "json"):
            extra = ["--person", "p01"] if name == "audit" else []
            code = main(["report", name, "--format", fmt, "--mappings", str(MAPPINGS), "--as-of", AS_OF.isoformat(),
                         "--since", "2026-10-01", *extra])
            out = capsys.readouterr().out
            assert code == 0 and out.strip(), f"{name} {fmt}"
            if fmt == "json":
                assert json.loads(out)["report"] == name
            if fmt == "csv":
                assert out.startswith("# ")
    assert main(["report", "audit", "--person", "ghost@example.com", "--mappings", str(MAPPINGS)]) == 1
    assert "no person with email" in capsys.readouterr().err
    assert main(["report", "sla", "--since", "yesterday", "--mappings", str(MAPPINGS)]) == 2
