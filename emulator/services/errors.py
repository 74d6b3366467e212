"""Base class of every error a service answers with.

Each service has an `exceptions.py` with one small subclass per real error code; the subclass
knows how to serialise itself in that service's own dialect (AADSTS JSON, Graph error JSON, DRS
ErrorDetails, SOAP fault). The router turns a raised `ServiceError` into its response.
"""
from __future__ import annotations

from ..http import Response


class ServiceError(Exception):
    status = 400

    def to_response(self, ctx) -> Response:  # pragma: no cover - every subclass overrides
        raise NotImplementedError
