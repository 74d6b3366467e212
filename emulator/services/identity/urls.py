"""Routes of the identity service (login.microsoftonline.com and its aliases)."""
from . import responses as r

SERVICE = "identity"
HOSTS = ["login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"]

T = r"/(?P<tenant>[^/]+)"

_ROUTES = [
    ("GET", r"/common/discovery/instance", r.instance_discovery),
    ("GET", r"/common/userrealm/(?P<user>[^/]+)", r.user_realm),
    ("GET", r"/common/userrealm", r.user_realm),
    ("GET", T + r"/v2\.0/\.well-known/openid-configuration", r.openid_configuration_v2),
    ("GET", T + r"/\.well-known/openid-configuration", r.openid_configuration_v1),
    ("GET", T + r"/discovery/v2\.0/keys", r.jwks),
    ("GET", T + r"/discovery/keys", r.jwks),
    ("GET", r"/discovery/keys", r.jwks),
    ("POST", r"/common/oauth2/deviceauth", r.device_auth_page),
    ("POST", T + r"/oauth2/v2\.0/devicecode", r.device_code_v2),
    ("POST", T + r"/oauth2/devicecode", r.device_code_v1),
    ("POST", T + r"/oauth2/v2\.0/token", r.token_v2),
    ("POST", T + r"/oauth2/token", r.token_v1),
    ("GET", T + r"/oauth2/v2\.0/authorize", r.authorize),
    ("POST", T + r"/oauth2/v2\.0/authorize", r.authorize),
    ("GET", T + r"/oauth2/authorize", r.authorize),
    ("POST", T + r"/oauth2/authorize", r.authorize),
    ("POST", T + r"/login", r.login_page),
    ("POST", T + r"/SAS/ProcessAuth", r.process_auth_page),
]


def _other_methods(rows):
    """One catch-all row per path, after the real ones: any other method gets AADSTS900561."""
    out = []
    for _method, template, _handler in rows:
        if any(t == template for _, t, _ in out):
            continue
        allowed = tuple(dict.fromkeys(m for m, t, _ in rows if t == template))
        get = next((h for m, t, h in rows if t == template and m == "GET"), None)
        out.append(("*", template, r.method_not_allowed(allowed, get)))
    return out


ROUTES = _ROUTES + _other_methods(_ROUTES)
