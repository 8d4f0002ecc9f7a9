"""Every page's URL holds its settings at all times: after a widget change, after moving to
another page and back, and a copied URL restores them in a new session (AppTest)."""

import pytest
from streamlit.testing.v1 import AppTest

APP = "../app.py"
pytestmark = pytest.mark.timeout(180)


def url(at: AppTest) -> dict[str, str]:
    return {k: (v[-1] if isinstance(v, list) else v) for k, v in at.query_params.items()}


def go(at: AppTest, page: str, query: dict | None = None) -> AppTest:
    """Move to another page as the menu does: Streamlit starts it with an empty query string."""
    at.query_params.clear()
    at.query_params.update(query or {})
    at.switch_page(f"pages/{page}.py")
    return at.run()


def fresh(page: str, query: dict) -> AppTest:
    return go(AppTest.from_file(APP, default_timeout=60), page, query)


@pytest.mark.parametrize("page, key, value, param", [
    ("train", "train.epochs", 7, "epochs"),
    ("search", "search.trials", 12, "trials"),
    ("reproduce", "repro.seeds", 3, "seeds"),
])
def test_settings_stay_in_the_url_after_moving_away_and_back(page, key, value, param):
    at = go(AppTest.from_file(APP, default_timeout=60), page)
    assert url(at), f"{page}'s URL holds its settings from the first view"
    at.number_input(key=key).set_value(value)
    at.run()
    assert url(at)[param] == str(value)
    go(at, "home")
    assert url(at) == {}, "Home has no settings"
    go(at, page)
    assert not at.exception
    assert url(at)[param] == str(value), f"{page} lost its URL after navigation"
    assert at.number_input(key=key).value == value, "and its widget kept the value"
    # The URL, opened in a new session (a reload or a shared link), restores the setting.
    again = fresh(page, url(at))
    assert not again.warning, [w.value for w in again.warning]
    assert again.number_input(key=key).value == value
    assert url(again) == url(at)


def test_search_url_holds_every_setting_and_restores_them():
    at = go(AppTest.from_file(APP, default_timeout=60), "search")
    held = url(at)
    assert {"method", "duel", "trials", "epochs", "seed", "sampler", "pruning", "split",
            "confirm", "parallel"} <= set(held)
    link = {**held, "method": "adam", "sampler": "random", "pruning": "true", "seed": "9"}
    again = fresh("search", link)
    assert again.selectbox(key="search.method").value == "adam"
    assert again.radio(key="search.sampler").value == "random"
    assert again.toggle(key="search.pruning").value is True
    assert again.number_input(key="search.seed").value == 9
    assert url(again) == link


def test_bad_values_in_a_link_warn_in_words_and_keep_the_rest():
    at = fresh("search", {"trials": "many", "sampler": "grid", "epochs": "5", "x": "1"})
    warnings = " ".join(w.value for w in at.warning)
    assert len(at.warning) == 3, warnings
    assert "trials=many" in warnings and "must be a whole number" in warnings
    assert "choose one of tpe, random" in warnings and "no such setting" in warnings
    assert "could not convert" not in warnings and "Error" not in warnings
    assert at.number_input(key="search.epochs").value == 5
    assert url(at)["trials"] == "10" and url(at)["sampler"] == "tpe", "the URL shows what applies"


def test_train_link_warnings_are_words_not_python_errors():
    at = fresh("train", {"method": "adam", "lr": "banana", "hidden": "a,b"})
    warnings = " ".join(w.value for w in at.warning)
    assert "lr must be a number" in warnings and "could not convert" not in warnings


def test_home_introduces_every_page_and_quotes_the_committed_findings():
    import json
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    at = go(AppTest.from_file(APP, default_timeout=60), "home")
    assert not at.exception
    links = [e.proto.page for e in at.get("page_link")]
    for page in ("train", "compare", "sensitivity", "search", "reproduce"):
        if (root / f"pages/{page}.py").exists():
            assert page in links, page
    record = json.loads((root / "results/reproduction.json").read_text())
    text = "\n".join(m.value for m in at.markdown)
    for e in record["experiments"]:
        assert f"{e['writeup']} " in text and f"{e['verdict']}.**" in text
        assert e["reason"] in text, e["key"]


def test_a_rerun_that_carries_an_older_url_of_this_session_keeps_the_users_changes():
    # On a busy server the browser can send a rerun with a URL the page wrote several reruns
    # ago (it had not applied the later writes yet). That URL is not a link: applying it put
    # older values back over the widgets just changed (a lost "epochs" in the browser tests).
    at = go(AppTest.from_file(APP, default_timeout=60), "search")
    at.number_input(key="search.trials").set_value(6)
    at.run()
    stale = url(at)
    at.number_input(key="search.epochs").set_value(15)
    at.run()
    at.query_params.clear()
    at.query_params.update(stale)          # the browser still holds the first write
    at.number_input(key="search.parallel").set_value(1)
    at.run()
    assert [at.number_input(key=k).value for k in ("search.trials", "search.epochs",
                                                   "search.parallel")] == [6, 15, 1]
    assert url(at)["epochs"] == "15" and url(at)["parallel"] == "1"


def test_a_page_link_followed_again_applies_again():
    # Moving to another page forgets what the URL held: a page link brings the visitor's choice
    # even when the page applied the same link before.
    link = {"method": "adam", "epochs": "4"}
    at = go(AppTest.from_file(APP, default_timeout=60), "train", link)
    assert at.number_input(key="train.epochs").value == 4
    at.number_input(key="train.epochs").set_value(7)
    at.run()
    go(at, "home")
    go(at, "train", link)
    assert not at.exception
    assert at.number_input(key="train.epochs").value == 4, "the link's settings, not the last ones"


@pytest.mark.parametrize("page, key, value, param", [
    ("train", "train.epochs", 7, "epochs"),
    ("search", "search.trials", 12, "trials"),
    ("reproduce", "repro.seeds", 3, "seeds"),
])
def test_coming_back_while_the_browser_still_holds_the_pages_last_url_keeps_its_settings(
        page, key, value, param):
    # On a busy server the first rerun of a page the visitor comes back to can carry the URL
    # that page last wrote, not the empty one a menu entry brings. The widgets lost their values
    # on the other page; the URL is the page's own, so it is not a link to apply either. CI's
    # Reproduce came back as seeds=5, its default, instead of the 3 it left with.
    at = go(AppTest.from_file(APP, default_timeout=60), page)
    at.number_input(key=key).set_value(value)
    at.run()
    left_with = url(at)
    go(at, "compare")
    go(at, page, left_with)
    assert not at.exception
    assert at.number_input(key=key).value == value
    assert url(at)[param] == str(value)


def test_another_pages_url_arriving_late_is_not_a_link():
    # The URL another page of this session wrote can reach the browser after the visitor moved
    # on; the next page must not read that page's settings as a link to itself.
    at = go(AppTest.from_file(APP, default_timeout=60), "train")
    at.number_input(key="train.epochs").set_value(7)
    at.run()
    go(at, "compare")
    compare_url = url(at)
    assert "epochs" in compare_url, "a setting both pages have, so a misread shows"
    go(at, "train", compare_url)
    assert not at.exception
    assert not at.warning, [w.value for w in at.warning]
    assert at.number_input(key="train.epochs").value == 7
