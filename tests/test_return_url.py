"""Where the rating page may send the browser back to: only under an address allowed at
provisioning, compared as a browser would resolve it; a bad entry is refused in the config."""

from __future__ import annotations

import pytest

from device.daemon.config import ConfigError, RatePageSection
from device.web_page.return_url import return_allowed

ALLOWED = ["http://127.0.0.1:8080/app/", "https://kiosk.local", "http://10.0.0.5/done"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/app/",
        "http://127.0.0.1:8080/app/finished?case=ZZ01&x=1#top",
        "https://kiosk.local/anything",
        "https://KIOSK.local:443/",
        "http://10.0.0.5/done",
        "http://10.0.0.5:80/done/next",
    ],
)
def test_an_allowed_address_is_followed(url):
    assert return_allowed(url, ALLOWED)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/apps",  # beside the prefix, not under it
        "http://127.0.0.1:8081/app/",  # another port
        "https://127.0.0.1:8080/app/",  # another scheme
        "http://kiosk.local/",  # http where https is allowed
        "https://kiosk.local.evil.example/",
        "https://evil.example/?https://kiosk.local",
        "http://10.0.0.5/doneX",
        "http://10.0.0.5/done/../admin",
        "http://10.0.0.5/done/%2E%2E/admin",
        "http://10.0.0.5/done%2fx",
        "http://user:pw@10.0.0.5/done",
        "http://10.0.0.5\\@evil.example/done",
        " http://10.0.0.5/done",
        "http://10.0.0.5/done\n",
        "javascript://10.0.0.5/done",
        "//10.0.0.5/done",
        "/done",
        "",
        "http://10.0.0.5:99999/done",
        "http://10.0.0.5/done" + "x" * 2000,
    ],
)
def test_anything_else_is_refused(url):
    assert not return_allowed(url, ALLOWED)


def test_nothing_is_allowed_until_provisioning_allows_it():
    assert not return_allowed("http://127.0.0.1:8080/app/", [])


@pytest.mark.parametrize(
    "entry", ["javascript:alert(1)", "127.0.0.1:8080", "http://h/app?x=1", "http://a@h/", "http://"]
)
def test_a_bad_allowed_entry_is_named_in_the_config(entry):
    with pytest.raises(ConfigError, match=r"\[rate_page\] return_urls"):
        RatePageSection(return_urls=[entry]).check()
