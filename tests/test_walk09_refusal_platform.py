"""Review 09f: "every call to it is refused at once" holds on Linux and macOS only. Windows retries a connect to a
closed loopback port for about 2 s before refusing it, so the primary's 50 ms calls end as TimeoutError there: the
two timing claims are left out where a refusal does not come at once, and the notebook says so."""

import json
import logging
import sys
from pathlib import Path

import pytest

from ella_lab import FallbackChain, FlakyService, HttpSource, Router
from ella_lab.realio import REFUSED_AT_ONCE, outage_claims, primary_outage

NOTEBOOK = Path(__file__).parents[1] / "notebooks" / "09-real-io.ipynb"


@pytest.fixture(scope="module")
def run():
    with FlakyService("primary", latency=0.002, seed=1) as primary, FlakyService("backup", latency=0.002) as backup:
        chain = FallbackChain([HttpSource("primary", primary.url, timeout=0.5), HttpSource("backup", backup.url)])
        requests = [f"DataRequest-{i}" for i in range(120)]
        yield primary_outage(Router(chain, workers=4), primary, requests, rate=200, stop_at=0.2, restart_at=0.4)


def test_the_timing_claims_only_where_a_refusal_comes_at_once(run, caplog):
    timed = ("a refused connection costs almost nothing", "while down, a request takes about")
    everywhere = outage_claims(run, failure_rate=0, outage_s=0.2, refused_at_once=True)
    assert [any(c.says.startswith(t) for c in everywhere) for t in timed] == [True, True]
    with caplog.at_level(logging.INFO, logger="ella_lab.realio"):
        windows = outage_claims(run, failure_rate=0, outage_s=0.2, refused_at_once=False)
    assert len(windows) == len(everywhere) - 2 and not any(c.says.startswith(timed) for c in windows)
    assert "not refused at once" in caplog.text
    assert (sys.platform != "win32") == REFUSED_AT_ONCE


def test_the_notebook_names_the_platforms():
    cells = [" ".join("".join(c["source"]).split()) for c in json.loads(NOTEBOOK.read_text())["cells"]]
    said = next(c for c in cells if "refused at once" in c)
    assert "On Linux and macOS" in said and "On Windows" in said and "TimeoutError" in said
