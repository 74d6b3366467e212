"""Routes of the Device Registration Service (enterpriseregistration.windows.net)."""
from . import responses

SERVICE = "registration"
HOSTS: list[str] = ["enterpriseregistration.windows.net"]
ROUTES: list = [
    ("GET", r"/EnrollmentServer/nonce/(?P<tid>[^/]+)", responses.nonce),
    ("POST", r"/EnrollmentServer/device", responses.enroll_device),
    ("DELETE", r"/EnrollmentServer/device/(?P<device_id>[^/]+)", responses.delete_device),
    ("GET", r"/(?P<tenant>[^/]+)/Discover", responses.discover),
    ("GET", r"/(?P<tenant>[^/]+)/enrollmentserver/contract", responses.discover),
]
