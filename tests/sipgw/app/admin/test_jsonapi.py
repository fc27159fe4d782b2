"""What the admin server's JSON endpoints share (sipgw/app/admin/jsonapi.py)."""

from __future__ import annotations

import json

from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from sipgw.app.admin.jsonapi import json_error, json_object, same_site


def _request(body: bytes = b"", headers: dict[str, str] | None = None) -> web.Request:
    given = CIMultiDict({"Host": "gw.example:8080", **(headers or {})})
    request = make_mocked_request("POST", "/api/x", headers=given)

    async def read() -> bytes:
        return body

    request.read = read  # type: ignore[method-assign]
    return request


def _said(response: web.Response) -> tuple[int, object]:
    assert isinstance(response.body, bytes)
    return response.status, json.loads(response.body)


def test_an_error_is_a_json_object_with_its_status() -> None:
    assert _said(json_error(409, "paused")) == (409, {"error": "paused"})


async def test_a_body_must_be_a_json_object() -> None:
    assert await json_object(_request(b'{"name": "a"}')) == {"name": "a"}
    refused = await json_object(_request(b"not json"))
    assert isinstance(refused, web.Response)
    assert _said(refused) == (400, {"error": "body must be JSON"})
    listed = await json_object(_request(b"[1]"), 'a JSON object: {"target": ...}')
    assert isinstance(listed, web.Response)
    assert _said(listed) == (400, {"error": 'body must be a JSON object: {"target": ...}'})


def test_same_site_believes_the_browsers_fetch_metadata_else_the_origin() -> None:
    assert same_site(_request(headers={"Sec-Fetch-Site": "same-origin"}))
    assert not same_site(
        _request(headers={"Sec-Fetch-Site": "cross-site", "Origin": "http://gw.example:8080"})
    )
    assert same_site(_request(headers={"Origin": "https://gw.example:8080"}))
    assert not same_site(_request(headers={"Origin": "https://evil.example"}))
    assert not same_site(_request())  # neither: not from a page of ours
