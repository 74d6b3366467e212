"""Routes of the Intune service: the MDM enrollment endpoints (MS-MDE2 discovery and WS-Trust
enrollment) and the portal pages Windows opens during enrollment (terms of use, compliance)."""
from . import handlers
from .responses import ENROLLMENT_HOST, PORTAL_HOST

SERVICE = "intune"
HOSTS: list[str] = [ENROLLMENT_HOST, PORTAL_HOST]
_ROUTES: list = [
    ("GET", r"/enrollmentserver/discovery\.svc", handlers.discovery_get),
    ("POST", r"/enrollmentserver/discovery\.svc", handlers.discovery_post),
    ("POST", r"/enrollmentserver/deviceenrollmentwebservice\.svc", handlers.enrollment_post),
    # The regional front-end path seen in real Intune discovery answers (pytune captures).
    ("POST", r"/statelessenrollmentservice/deviceenrollment\.svc", handlers.enrollment_post),
    ("GET", r"/termsofuse\.aspx", handlers.terms_of_use),
    ("GET", r"/", handlers.portal_home),
]
#: After the real rows: any other method on a known path (see handlers.method_not_allowed).
ROUTES: list = _ROUTES + [
    ("*", t, handlers.method_not_allowed(t, tuple(dict.fromkeys(m for m, tt, _ in _ROUTES if tt == t)),
                                         next((h for m, tt, h in _ROUTES if tt == t and m == "GET"), None)))
    for t in dict.fromkeys(t for _, t, _ in _ROUTES)
]
