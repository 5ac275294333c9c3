"""The browser tests' one way to wait: for the app's own runs, as its websocket carries them.

A widget's change reaches the server as a ``rerun_script`` message, and the run it starts ends with a
``script_finished`` message; the frontend marks its run state only once the server's answer arrives, so a test that
reads the page right after a click can see the page as it was. :func:`settle` waits until the last run this page
asked for has finished (a run asked for after it starts the wait over), the status widget is gone, no element is
left stale from the run before (a widget replaced under the mouse), and, when given, what that run should show is
on the page. No fixed sleeps, no retries.

Every page gets a watcher as it opens (:func:`watch`, on every context the ``browser`` fixture makes)."""

from __future__ import annotations

import time
from typing import Callable

from playwright.sync_api import Locator, Page, expect
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

RUN_ENDS = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR}
FRAGMENT_ENDS = RUN_ENDS | {ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY}
TIMEOUT_S = 60.0  # a patient person on a busy 2-core machine
JOB_S = 600.0  # a job or a transcription, its models' first load included, on a 2-core machine busy beside it
JOB_MS = int(JOB_S * 1000)


class Runs:
    """What one page asked of the server and what it heard back, numbered in the order it happened."""

    def __init__(self) -> None:
        self.seen = 0  # messages counted so far
        self.asked = 0  # the number of the last run the person started (a click, a page, a reload)
        self.asked_fragment = False  # that run was a fragment's (a click inside one)
        self.finished = 0  # the number of the last run that ended
        self.finished_fragment = 0  # ... or the last fragment run that ended

    def sent(self, payload) -> None:
        if isinstance(payload, str):
            return
        message = BackMsg()
        message.ParseFromString(payload)
        if message.WhichOneof("type") == "rerun_script" and not message.rerun_script.is_auto_rerun:
            self.ask(fragment=bool(message.rerun_script.fragment_id))

    def received(self, payload) -> None:
        if isinstance(payload, str):
            return
        message = ForwardMsg()
        message.ParseFromString(payload)
        if message.WhichOneof("type") == "script_finished":
            self.seen += 1
            if message.script_finished in RUN_ENDS:
                self.finished = self.seen
            if message.script_finished in FRAGMENT_ENDS:
                self.finished_fragment = self.seen

    def navigated(self, frame) -> None:
        """A new page (or a page of the app's own navigation) asks for its first run before it can be read."""
        if frame.parent_frame is None:
            self.ask(fragment=False)

    def ask(self, fragment: bool) -> None:
        self.seen += 1
        self.asked, self.asked_fragment = self.seen, fragment

    def done(self) -> bool:
        """Whether the last run asked for has ended (a fragment's click ends with its fragment's run)."""
        return (self.finished_fragment if self.asked_fragment else self.finished) > self.asked


def watch(page: Page) -> None:
    """Count this page's runs from its first message on (call it before the page opens anything)."""
    runs = Runs()
    page._v2i_runs = runs  # kept on the page it watches

    def on_websocket(socket) -> None:
        if socket.url.split("?")[0].endswith("/_stcore/stream"):
            socket.on("framesent", runs.sent)
            socket.on("framereceived", runs.received)

    page.on("websocket", on_websocket)
    page.on("framenavigated", runs.navigated)


def runs_of(page: Page) -> Runs:
    runs = getattr(page, "_v2i_runs", None)
    if runs is None:
        raise AssertionError("this page has no watcher: open it from a context the `browser` fixture made")
    return runs


def settle(page: Page, shows: Locator | str | None = None, timeout_s: float = TIMEOUT_S) -> None:
    """Wait until the page is still after the last thing done to it (see the module's words). ``shows``: what the
    run must have put on the page (a locator, or text), checked once the run has ended."""
    runs = runs_of(page)
    deadline = time.monotonic() + timeout_s
    page.wait_for_timeout(150)  # the browser's report of the message the last action sent reaches this process
    while not runs.done():
        if time.monotonic() > deadline:
            raise AssertionError(f"the app's run did not end within {timeout_s:g} s (asked #{runs.asked}, "
                                 f"last ended #{runs.finished})")
        page.wait_for_timeout(50)  # lets Playwright deliver the websocket's messages
    timeout = max(1_000, int((deadline - time.monotonic()) * 1000))
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning", timeout=timeout)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=timeout)
    expect(page.locator('[data-testid="stElementContainer"][data-stale="true"]')).to_have_count(0, timeout=timeout)
    if shows is not None:
        target = page.get_by_text(shows).first if isinstance(shows, str) else shows
        expect(target).to_be_visible(timeout=timeout)


def eventually(page: Page, predicate: Callable[[], object], seconds: float = 20.0) -> bool:
    """Wait, as a person would, until what the page did shows outside it (in the data folder, the database)."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return bool(predicate())
        page.wait_for_timeout(250)
    return True


def steady_box(locator: Locator, timeout_s: float = TIMEOUT_S) -> dict:
    """Where a drawn chart is once it stops moving (Vega lays out, then resizes to its container): the same box on
    two reads in a row."""
    deadline, last = time.monotonic() + timeout_s, None
    while True:
        expect(locator).to_be_visible()
        box = locator.bounding_box()
        if box is not None and box == last:
            return box
        if time.monotonic() > deadline:
            raise AssertionError(f"the chart kept moving for {timeout_s:g} s")
        last = box
        locator.page.wait_for_timeout(100)


def drawn(page: Page) -> None:
    """Every image on the page has loaded (or failed), and every chart in sight has drawn its marks (one on a tab
    not open draws when its tab opens)."""
    page.wait_for_function("[...document.images].every(image => image.complete)", timeout=TIMEOUT_S * 1000)
    for chart in page.get_by_test_id("stVegaLiteChart").all():
        if chart.is_visible():
            expect(chart.locator(".marks").first).to_be_visible()
    for chart in page.get_by_test_id("stPlotlyChart").all():
        if chart.is_visible():
            expect(chart.locator(".main-svg").first).to_be_visible()
