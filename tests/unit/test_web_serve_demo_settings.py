"""`python -m web.serve_demo` settings: one typed object from the command line; the server it starts."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from serving.launcher import serve_argv
from tests.browser.demo_site import unavailable
from web.serve_demo import DemoSettings, bind, parse_settings, tfkit_serve_flags


def test_defaults_start_a_server(tmp_path: Path) -> None:
    settings = parse_settings(["--artifacts", str(tmp_path)])
    assert settings == DemoSettings(artifacts=tmp_path.resolve())
    assert settings.start_server and settings.port == 8080 and settings.rest_port == 0


def test_server_url_means_compare_with_a_running_server(tmp_path: Path) -> None:
    settings = parse_settings(["--artifacts", str(tmp_path), "--server-url", "http://10.0.0.5:8501/"])
    assert not settings.start_server
    assert settings.server_url == "http://10.0.0.5:8501"


def test_no_server_is_browser_only(tmp_path: Path) -> None:
    settings = parse_settings(["--artifacts", str(tmp_path), "--no-server"])
    assert not settings.start_server and settings.server_url == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "--port must be in [0, 65535], got 70000"),
        (["--rest-port", "-1"], "--rest-port must be in [0, 65535], got -1"),
        (["--samples", "-2"], "--samples must be >= 0"),
        (["--no-server", "--server-url", "http://x"], "not allowed with argument"),
    ],
)
def test_bad_arguments_exit_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_settings(["--artifacts", str(tmp_path), *args])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_started_server_has_cors_on_and_the_kit_flags(tmp_path: Path) -> None:
    argv = serve_argv(tfkit_serve_flags(DemoSettings(artifacts=tmp_path)), grpc_port=9000, rest_port=9001)
    assert argv[1:4] == ["-m", "tfkit", "serve"]
    assert "--rest_api_enable_cors_support=true" in argv
    assert f"--tfkit_path_map=/models={tmp_path / 'models'}" in argv
    assert "--model_config_file=serving/models.config" in argv
    assert argv[-2:] == ["--port=9000", "--rest_api_port=9001"]


def test_bind_reports_a_taken_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port} .*choose another port"):
            bind("127.0.0.1", port)


def test_missing_browser_fails_under_ci_and_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        unavailable("/usr/bin/chromium not found")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        unavailable("/usr/bin/chromium not found")
