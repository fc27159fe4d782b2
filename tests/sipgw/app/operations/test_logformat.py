"""The JSON log format: its fields, a call's Call-ID, exceptions, and masked secrets."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from sipgw.app.calls.callhandle import CallLog
from sipgw.app.operations.logformat import JsonFormatter, configure_logging
from sipgw.app.security.privacy import install_log_redaction, load_redactor
from sipgw.app.security.settings import PrivacySection
from sipgw.app.settings import OperationsSection
from sipgw.foundation.settings import ConfigError, Sources, load
from tests.toolkit.canaries import ELEVENLABS_KEY, OPENAI_KEY


class _Call:
    """The two names CallLog.for_call reads."""

    log_id = "a84b4c76e66710"
    call_id = "a84b4c76e66710@pc33.atlanta.example.com"


@pytest.fixture
def json_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("sipgw.test_logformat")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_object_per_line_with_time_level_logger_message(
    json_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = json_log
    logger.info("hello %s", "world")
    logger.warning("multi\nline")
    first, second = _lines(stream)
    assert first.keys() == {"time", "level", "logger", "message"}
    assert first["level"] == "INFO" and first["logger"] == "sipgw.test_logformat"
    assert first["message"] == "hello world"
    assert str(first["time"]).endswith("+00:00") and "T" in str(first["time"])
    assert second["message"] == "multi\nline" and second["level"] == "WARNING"


def test_a_calls_lines_carry_its_call_id(json_log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = json_log
    call_log = CallLog.for_call(logger, _Call())  # type: ignore[arg-type]
    call_log.info("answered on RTP port %d", 10000)
    call_log.warning("with more", extra={"detail": 1})
    first, second = _lines(stream)
    assert first["call"] == _Call.log_id and first["call_id"] == _Call.call_id
    assert first["message"] == "answered on RTP port 10000"  # no text prefix in JSON
    assert second["call_id"] == _Call.call_id


def test_the_text_format_keeps_the_call_prefix() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("sipgw.test_logformat.text")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        CallLog.for_call(logger, _Call()).warning("no RTP")  # type: ignore[arg-type]
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == f"[{_Call.log_id}] no RTP\n"


def test_an_exception_is_a_field(json_log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = json_log
    try:
        raise ValueError("bad frame")
    except ValueError:
        logger.exception("decode failed")
    (line,) = _lines(stream)
    assert line["message"] == "decode failed"
    assert "Traceback" in str(line["exception"])
    assert str(line["exception"]).endswith("ValueError: bad frame")


def test_secrets_are_masked_in_json_message_and_exception(
    json_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = json_log
    redaction = install_log_redaction(load_redactor(PrivacySection()))
    redaction.redactor.add_secrets([ELEVENLABS_KEY, OPENAI_KEY])
    try:
        CallLog.for_call(logger, _Call()).info("key %s", ELEVENLABS_KEY)  # type: ignore[arg-type]
        try:
            raise RuntimeError(f"401 for {OPENAI_KEY}")
        except RuntimeError:
            logger.exception("LLM failed with %s", OPENAI_KEY)
    finally:
        redaction.uninstall()
    text = stream.getvalue()
    assert ELEVENLABS_KEY not in text and OPENAI_KEY not in text
    first, second = _lines(stream)
    assert first["message"] == "key ***" and first["call_id"] == _Call.call_id
    assert second["message"] == "LLM failed with ***"
    assert str(second["exception"]).endswith("RuntimeError: 401 for ***")


def test_configure_logging_installs_the_chosen_format(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    (handler,) = root.handlers
    assert isinstance(handler.formatter, JsonFormatter)
    assert root.level == logging.INFO
    logging.getLogger("sipgw.x").warning("shown")
    assert [line["message"] for line in _lines(stream)] == ["shown"]


def test_log_format_setting() -> None:
    assert load(OperationsSection, Sources()).log_format == "text"
    assert load(OperationsSection, Sources({"SIPGW_LOG_FORMAT": "JSON"})).log_format == "json"
    with pytest.raises(ConfigError, match="^SIPGW_LOG_FORMAT=xml: must be 'text' or 'json'"):
        load(OperationsSection, Sources({"SIPGW_LOG_FORMAT": "xml"}))


def test_above_debug_the_per_request_and_per_ice_check_lines_are_left_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    for name in ("httpx2", "aioice"):
        monkeypatch.setattr(logging.getLogger(name), "level", logging.NOTSET)
    configure_logging("INFO", "text", io.StringIO())
    assert logging.getLogger("aioice.ice").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("httpx2").getEffectiveLevel() == logging.WARNING
