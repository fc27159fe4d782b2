"""The Call resource and errors as Twilio's JSON (sipgw/app/twilio/api/resource.py), read back
by the official ``twilio`` SDK's own classes."""

from __future__ import annotations

from twilio.rest.api.v2010.account.call import CallInstance

from sipgw.app.twilio.api.resource import CallFacts, TwilioError, call_resource, final_status

SID, ACCOUNT = "CA" + "1" * 32, "AC" + "2" * 32


def test_the_sdk_reads_our_call_resource() -> None:
    facts = CallFacts(SID, ACCOUNT, "+15557650002", "+15551230001", 1_795_000_000.0,
                      "completed", answered=1_795_000_002.0, ended=1_795_000_063.2)  # fmt: skip
    payload = call_resource(facts)
    call = CallInstance(version=None, payload=payload, account_sid=ACCOUNT)
    assert call.sid == SID and call.account_sid == ACCOUNT and call.status == "completed"
    assert call._from == "+15551230001" and call.to == "+15557650002"
    assert call.date_created is not None and call.date_created.timestamp() == 1_795_000_000
    assert call.start_time is not None and call.end_time is not None
    assert call.duration == "62"  # 61.2 s, rounded up as Twilio bills
    assert payload["uri"] == f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{SID}.json"
    assert payload["direction"] == "outbound-api" and payload["api_version"] == "2010-04-01"
    ringing = call_resource(CallFacts(SID, ACCOUNT, "a", "b", 1_795_000_000.0, "ringing"))
    assert ringing["start_time"] is None and ringing["duration"] is None


def test_final_statuses() -> None:
    assert final_status(True, "remote-bye") == "completed"
    assert [final_status(False, why) for why in ("busy", "declined", "no-answer", "cancelled",
                                                 "unreachable", None)] == [
        "busy", "busy", "no-answer", "canceled", "failed", "failed",
    ]  # fmt: skip


def test_an_error_is_twilios_json() -> None:
    error = TwilioError(404, 20404, "The requested resource /x was not found")
    assert error.body() == {
        "code": 20404, "message": "The requested resource /x was not found",
        "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404,
    }  # fmt: skip
