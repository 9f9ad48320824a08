"""`tfkit predict/status/metadata` without a server: usage errors exit 2, an unreachable server exits 1."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from clients.cli import Target, inputs_from_instances, load_request, register
from tests.support.server import free_port
from tfkit.cli import main


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tfkit")
    register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(list(argv))


@pytest.mark.parametrize(
    "argv",
    [
        ["predict", "--model", "m", "--instances", "[1]"],  # no target
        ["predict", "--rest", "u", "--grpc", "g", "--model", "m", "--instances", "[1]"],
        ["predict", "--rest", "u", "--model", "m"],  # no body
        ["predict", "--rest", "u", "--model", "m", "--instances", "[1]", "--inputs", "1"],
        ["predict", "--rest", "u", "--model", "m", "--version", "1", "--label", "a", "--inputs", "1"],
        ["status", "--rest", "u"],  # no model
    ],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


def test_bad_json_and_missing_file_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["predict", "--rest", url, "--model", "m", "--instances", "[1,"]) == 2
    assert "--instances is not valid JSON" in capsys.readouterr().err
    assert main(["predict", "--rest", url, "--model", "m", "--file", str(tmp_path / "nope.json")]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["predict", "status", "metadata"])
def test_unreachable_server_exits_1_with_the_reason(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [command, "--rest", f"127.0.0.1:{free_port()}", "--model", "m", "--timeout", "2"]
    if command == "predict":
        argv += ["--inputs", "[[1.0]]"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"tfkit {command}: UNAVAILABLE: cannot reach http://127.0.0.1:")


def test_requests_from_flags_and_files(tmp_path: Path) -> None:
    assert inputs_from_instances([{"a": 1, "b": {"b64": "AA=="}}, {"a": 2, "b": "x"}]) == {
        "a": [1, 2],
        "b": [{"b64": "AA=="}, "x"],
    }
    args = parse("predict", "--rest", "u", "--model", "m", "--instances", '[{"s": {"b64": "AP8="}}]')
    assert load_request(args) == ({"s": [b"\x00\xff"]}, None)
    np.savez(tmp_path / "rows.npz", x=np.ones((2, 1), np.float32))
    inputs, _ = load_request(
        parse("predict", "--grpc", "h:1", "--model", "m", "--file", str(tmp_path / "rows.npz"))
    )
    assert isinstance(inputs, dict) and inputs["x"].dtype == np.float32
    (tmp_path / "req.json").write_text(json.dumps({"signature_name": "s", "inputs": {"x": [[1.0]]}}))
    args = parse("predict", "--rest", "u", "--model", "m", "--file", str(tmp_path / "req.json"))
    assert load_request(args) == ({"x": [[1.0]]}, "s")
    assert (
        Target.from_args(parse("status", "--grpc", "h:1", "--model", "m", "--timeout", "0")).timeout is None
    )
