"""The OpenAPI 3.1 document of the REST API (openapi.json beside this module), served at a kit path.

`GET /v1/tfkit/openapi.json` is the kit's one addition to TF Serving's URL space (upstream answers that
path with `Malformed request`). The document is read once, on the first request.
"""

from __future__ import annotations

import functools
from importlib import resources

PATH = "/v1/tfkit/openapi.json"


@functools.cache
def document_bytes() -> bytes:
    return resources.files(__package__).joinpath("openapi.json").read_bytes()
