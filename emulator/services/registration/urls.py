"""Routes of the Device Registration Service (enterpriseregistration.windows.net)."""
from . import responses

SERVICE = "registration"
HOSTS: list[str] = ["enterpriseregistration.windows.net"]
_ROUTES: list = [
    ("GET", r"/EnrollmentServer/nonce/(?P<tid>[^/]+)", responses.nonce),
    ("POST", r"/EnrollmentServer/device", responses.enroll_device),
    ("DELETE", r"/EnrollmentServer/device/(?P<device_id>[^/]+)", responses.delete_device),
    ("GET", r"/(?P<tenant>[^/]+)/Discover", responses.discover),
    ("GET", r"/(?P<tenant>[^/]+)/enrollmentserver/contract", responses.discover),
]
#: After the real rows: any other method on a known path gets a DRS 405 (ErrorDetails).
ROUTES: list = _ROUTES + [
    ("*", t, responses.method_not_allowed(tuple(dict.fromkeys(m for m, tt, _ in _ROUTES if tt == t)),
                                          next((h for m, tt, h in _ROUTES if tt == t and m == "GET"), None)))
    for t in dict.fromkeys(t for _, t, _ in _ROUTES)
]
