"""getOpenAPI answers the provider's document cut to the operations the network publishes."""

from __future__ import annotations

import orjson

from entramado.gateway.server import published_openapi

DOC = {
    "openapi": "3.1.0",
    "info": {"title": "index"},
    "paths": {
        "/persons/{id}": {"get": {"summary": "golden"}, "delete": {"summary": "internal"}, "parameters": []},
        "/reviews": {"get": {"summary": "officials only"}},
    },
}


def test_only_published_operations_remain() -> None:
    cut = orjson.loads(published_openapi(orjson.dumps(DOC), (("GET", "/persons/{id}"),)))
    assert cut["paths"] == {"/persons/{id}": {"get": {"summary": "golden"}, "parameters": []}}
    assert cut["info"] == DOC["info"]


def test_a_document_that_is_not_openapi_passes_unchanged() -> None:
    assert published_openapi(b"not json", ()) == b"not json"
    assert published_openapi(b"[1, 2]", ()) == b"[1, 2]"
