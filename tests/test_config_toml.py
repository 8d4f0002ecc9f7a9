"""The server settings the app relies on are present in .streamlit/config.toml."""

import tomllib
from pathlib import Path

import pytest

CONFIG = Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml"


@pytest.fixture(scope="module")
def config():
    with CONFIG.open("rb") as f:
        return tomllib.load(f)


def test_post_script_gc_is_off(config):
    # gc.collect() after every fragment rerun costs ~0.1 s with torch loaded and froze the
    # server with two polling sessions; this setting must stay.
    assert config["runner"]["postScriptGC"] is False


def test_public_users_never_see_tracebacks(config):
    from streamlit.config import _config_options_template as options
    value = config["client"]["showErrorDetails"]
    assert value in ("none", "type"), "tracebacks or messages would reach the browser"
    assert value in options["client.showErrorDetails"].description  # a value Streamlit knows


def test_security_and_privacy_settings(config):
    assert config["server"]["headless"] is True
    assert config["browser"]["gatherUsageStats"] is False
    # Protection stays on: either left at the default (absent) or explicitly true.
    assert config["server"].get("enableXsrfProtection", True) is True
    assert config["server"].get("enableCORS", True) is True
    assert config["client"]["toolbarMode"] == "viewer"
    assert "theme" in config


def flat(table: dict, prefix: str = "") -> list[str]:
    """``{"theme": {"dark": {"primaryColor": ...}}}`` -> ``["theme.dark.primaryColor"]``."""
    return [name for key, value in table.items()
            for name in (flat(value, f"{prefix}{key}.") if isinstance(value, dict)
                         else [f"{prefix}{key}"])]


def test_every_option_is_one_streamlit_knows(config):
    from streamlit.config import _config_options_template as options
    for name in flat(config):
        assert name in options, f"unknown option {name}"


def test_theme_follows_the_os(config):
    # A base would force light or dark whatever the visitor's OS prefers.
    assert "base" not in config["theme"]
    assert {"light", "dark"} <= set(config["theme"])
