"""Screenshots of the console's main pages, in Chinese at a tablet's width, into this folder.

    .venv/bin/python docs/console/screenshots.py

Generates a small Fuyang county into a temporary store, serves the app on a free port, signs
in with an admin token in Debian's Chromium (Playwright) and saves search.png,
household.png, trail.png, enrollment.png, forms.png and whatif.png here.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from adapters.composition import open_ledger, policy_book  # noqa: E402
from adapters.generator import generate_county  # noqa: E402
from adapters.http import create_app  # noqa: E402
from tests.support.browser import browser, serving  # noqa: E402


def main() -> int:
    book = policy_book()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'county.db'}"
        ledger = open_ledger(url, book)
        commands = list(generate_county(60, "fuyang-2021", 3, book))
        list(ledger.execute_lines([json.dumps(c, ensure_ascii=False) for c in commands]))
        ledger.app.close()
        app = create_app(url, book)
        secret = app.state.service.tokens.create("admin", "", "screenshots")[0]
        head = next(c["person"] for c in commands if c["op"] == "claim")
        with serving(app) as base, browser() as chromium:
            page = chromium.new_page(viewport={"width": 1024, "height": 900})
            page.goto(f"{base}/ui/signin")
            page.fill("#token", secret)
            page.keyboard.press("Enter")
            page.wait_for_url(f"{base}/ui/search")
            shots = {
                "search.png": "/ui/search?what=households&region=341225&year=2021",
                "household.png": f"/ui/households/{head}?year=2021",
                "trail.png": f"/ui/trail/{head}?year=2021",
                "enrollment.png": "/ui/reports/enrollment?year=2021",
                "forms.png": "/ui/forms?op=enroll",
            }
            for name, path in shots.items():
                page.goto(f"{base}{path}")
                page.screenshot(path=str(HERE / name), full_page=False)
                print(f"wrote {HERE / name}")
            page.goto(f"{base}/ui/whatif")
            page.fill("#patch", '[outpatient]\nratio = "0.60"\nper_person_cap = "300.00"\n')
            page.fill("#region", "341225")
            page.fill("#year", "2021")
            page.click("#run")
            page.screenshot(path=str(HERE / "whatif.png"), full_page=True)
            print(f"wrote {HERE / 'whatif.png'}")
        app.state.service.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
