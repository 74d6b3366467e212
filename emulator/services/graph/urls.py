"""Routes of the Microsoft Graph service (graph.microsoft.com, /v1.0 and /beta).

One catch-all row: `core.dispatch` matches the endpoints the resource modules register with
`core.route` (so every path under the host gets a Graph answer, including the real
"Resource not found for the segment" 400 for paths Graph does not have).
"""
from . import audit, batch, delta, directory, intune, policies  # noqa: F401  (register their endpoints)
from .core import TABLE, dispatch

SERVICE = "graph"
HOSTS: list[str] = ["graph.microsoft.com"]
ROUTES: list = [("*", r"/(?P<graph_path>.*)", dispatch)]

#: (method, URL template) of every emulated endpoint, for documentation and suggestions.
ENDPOINTS: list[tuple[str, str]] = [(ep.method, f"https://graph.microsoft.com/{'|'.join(ep.versions)}/{ep.template}")
                                    for ep in TABLE]
