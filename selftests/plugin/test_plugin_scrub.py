"""The scrubber's rules (gvpconf.redact) and the proxy URL's credentials masked on load; the whole run's output
paths are searched for a canary in ``selftests/report/test_canary_every_output.py``."""

from __future__ import annotations

import base64
import logging

import pytest

from gvpconf import redact
from gvpconf.inventory.web import DasDestination
from gvpconf.plugin.scrub import _scrubbed_record_factory

SECRET = "s3cr3t-scrub-unit-0123456789"
redact.register(SECRET)


def test_full_and_cut_secrets_are_masked() -> None:
    assert redact.scrub(f"X-Consul-Token: {SECRET}\r\n") == "X-Consul-Token: ***\r\n"
    # a text cut elsewhere, marked so: what is left of the secret before the mark
    assert redact.scrub(f"b'X-Consul-Token: {SECRET[:9]}'... (300 bytes in total)") == (
        "b'X-Consul-Token: ***'... (300 bytes in total)")
    assert redact.scrub(f"token {SECRET[:9]}… more") == "token ***… more"
    # fewer than PARTIAL characters, or no cut mark: not a secret's remainder
    assert redact.scrub(f"x {SECRET[:3]}...") == f"x {SECRET[:3]}..."
    assert redact.scrub(f"ends with {SECRET[:9]}") == f"ends with {SECRET[:9]}"


@pytest.mark.parametrize("limit", range(10, 60))
def test_scrub_first_then_cut(limit: int) -> None:
    """Wherever the cut falls, no four characters of the secret survive it."""
    text = f"403 ACL denied: X-Consul-Token: {SECRET} and then more text"
    out = redact.cut(text, limit)
    assert not any(SECRET[i : i + redact.PARTIAL] in out for i in range(len(SECRET) - redact.PARTIAL + 1)), out
    assert redact.cut("short", limit) == "short"


def test_cut_masks_a_secret_already_cut_at_the_boundary() -> None:
    text = "header: " + SECRET[:12]  # a peer that sent only the secret's first characters
    assert redact.cut(text + " tail", len(text)) == "header: ***..."


def test_preview_scrubs_before_describe_cuts() -> None:
    data = f"GET / HTTP/1.1\r\nX-Consul-Token: {SECRET}\r\n".encode()
    for limit in range(20, 70):
        out = redact.preview(data, limit)
        assert SECRET[:redact.PARTIAL] not in out, out


def test_proxy_userinfo_is_masked_on_load_and_usable_by_the_client() -> None:
    url = "http://gvp:pr0xy%2Fpw-unit@proxy.local:3128"
    dest = DasDestination(proxy=url)
    assert dest.proxy == "http://***@proxy.local:3128"
    assert dest.proxy_url() == url
    assert "pr0xy" not in repr(dest) and "pr0xy" not in str(dest.model_dump())
    for form in ("pr0xy%2Fpw-unit", "pr0xy/pw-unit", base64.b64encode(b"gvp:pr0xy/pw-unit").decode()):
        assert redact.scrub(f"said {form}!") == "said ***!"
    plain = DasDestination(proxy="http://proxy.local:3128")
    assert plain.proxy == plain.proxy_url() == "http://proxy.local:3128"


def test_log_records_are_scrubbed_when_made() -> None:
    make = _scrubbed_record_factory(logging.LogRecord)
    record = make("websockets.client", logging.DEBUG, __file__, 1, "> Authorization: Bearer %s", (SECRET,), None)
    assert record.getMessage() == "> Authorization: Bearer ***"
    try:
        raise ValueError(f"bad token {SECRET}")
    except ValueError as exc:
        failed = make("x", logging.ERROR, __file__, 1, "failed", (), (type(exc), exc, exc.__traceback__))
    assert failed.exc_text is not None and SECRET not in failed.exc_text and "bad token ***" in failed.exc_text
    broken = make("x", logging.INFO, __file__, 1, "%d %s", (SECRET,), None)  # unformattable: neither is kept
    assert SECRET not in broken.getMessage()


def _report(item: pytest.Item | object, when: str) -> pytest.TestReport:
    return pytest.TestReport("x::t", ("x", 0, "t"), {}, "passed", None, when,
                             user_properties=list(getattr(item, "user_properties", [])))


def test_item_properties_are_scrubbed_phase_by_phase_whatever_changed_between() -> None:
    """Each report's properties are scrubbed, and the item's: a value added, replaced, or holding a secret
    registered after it was first scrubbed (a probe's token) is masked in the next report."""
    from types import SimpleNamespace

    from gvpconf.plugin.scrub import Scrubber

    first, later = "Xq-first-secret-7f3", "Xq-later-secret-9c1"
    redact.register(first)
    item = SimpleNamespace(user_properties=[("a", f"1 {first}"), ("b", f"2 {later}")], stash=pytest.Stash())
    scrubber = Scrubber(None, None)  # type: ignore[arg-type]

    def phase(when: str) -> pytest.TestReport:
        wrapper = scrubber.pytest_runtest_makereport(item, None)  # type: ignore[arg-type]
        next(wrapper)
        report = _report(item, when)
        with pytest.raises(StopIteration) as done:
            wrapper.send(report)
        assert done.value.value is report
        assert report.user_properties == item.user_properties
        return report

    phase("setup")
    assert item.user_properties == [("a", "1 ***"), ("b", f"2 {later}")]
    item.user_properties.append(("c", f"3 {first}"))
    item.user_properties[0] = ("a", f"1 again {first}")
    phase("call")
    assert item.user_properties == [("a", "1 again ***"), ("b", f"2 {later}"), ("c", "3 ***")]
    redact.register(later)
    report = phase("teardown")
    assert report.user_properties == [("a", "1 again ***"), ("b", "2 ***"), ("c", "3 ***")]
