"""Identity service handlers: discovery documents, user realm, device code, the token endpoint
(one function per grant, in the manner of mock-oauth2-server) and the web sign-in pages.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from ...http import Response, json_response
from ...world import policy
from ...world.models import DRS_APP_ID, Tenant, User
from . import authn
from .exceptions import AadstsError
from .tokens import LOGIN_HOST, Resource, client_info, find_resource, issuer, parse_v2_scopes

BASE = f"https://{LOGIN_HOST}"
DEVICE_CODE_LIFETIME = 900


# -- discovery ------------------------------------------------------------------------------------

def _tenant_for_discovery(ctx) -> tuple[str, str]:
    """(path segment to use in endpoint URLs, tenant id for the issuer)."""
    ref = ctx.params["tenant"]
    if ref.lower() in ("common", "organizations"):
        return ref.lower(), "{tenantid}"
    if ref.lower() == "consumers":
        return "consumers", "9188040d-6c67-4c5b-b112-36a304b66dad"
    t = ctx.world.tenant(ref)
    if t is None:
        raise AadstsError(90002, tenant=ref)
    return t.id, t.id


def openid_configuration_v2(ctx) -> Response:
    seg, tid = _tenant_for_discovery(ctx)
    doc = {
        "token_endpoint": f"{BASE}/{seg}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": f"{BASE}/{seg}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{BASE}/{tid}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": f"{BASE}/{seg}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{BASE}/{seg}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{BASE}/{seg}/oauth2/v2.0/logout",
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
                             "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username",
                             "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": f"{BASE}/{seg}/kerberos",
        "tenant_region_scope": "NA" if tid.startswith("{") else (ctx.world.tenant(tid).region if ctx.world.tenant(tid) else "NA"),
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }
    return json_response(doc)


def openid_configuration_v1(ctx) -> Response:
    seg, tid = _tenant_for_discovery(ctx)
    doc = {
        "token_endpoint": f"{BASE}/{seg}/oauth2/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": f"{BASE}/{seg}/discovery/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
        "scopes_supported": ["openid"],
        "issuer": f"https://sts.windows.net/{tid}/",
        "microsoft_multi_refresh_token": True,
        "authorization_endpoint": f"{BASE}/{seg}/oauth2/authorize",
        "device_authorization_endpoint": f"{BASE}/{seg}/oauth2/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{BASE}/{seg}/oauth2/logout",
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
                             "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "amr", "nonce", "email",
                             "given_name", "family_name", "nickname"],
        "check_session_iframe": f"{BASE}/{seg}/oauth2/checksession",
        "userinfo_endpoint": f"{BASE}/{seg}/openid/userinfo",
        "kerberos_endpoint": f"{BASE}/{seg}/kerberos",
        "tenant_region_scope": "NA",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }
    return json_response(doc)


def jwks(ctx) -> Response:
    ref = ctx.params.get("tenant")
    if ref and ref.lower() not in ("common", "organizations", "consumers") and ctx.world.tenant(ref) is None:
        raise AadstsError(90002, tenant=ref)
    return json_response(issuer(ctx.world).jwks())


_ALIASES = ["login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"]
_CLOUDS = [
    {"preferred_network": "login.microsoftonline.com", "preferred_cache": "login.windows.net", "aliases": _ALIASES},
    {"preferred_network": "login.partner.microsoftonline.cn", "preferred_cache": "login.partner.microsoftonline.cn",
     "aliases": ["login.partner.microsoftonline.cn", "login.chinacloudapi.cn"]},
    {"preferred_network": "login.microsoftonline.de", "preferred_cache": "login.microsoftonline.de",
     "aliases": ["login.microsoftonline.de"]},
    {"preferred_network": "login.microsoftonline.us", "preferred_cache": "login.microsoftonline.us",
     "aliases": ["login.microsoftonline.us", "login.usgovcloudapi.net"]},
    {"preferred_network": "login-us.microsoftonline.com", "preferred_cache": "login-us.microsoftonline.com",
     "aliases": ["login-us.microsoftonline.com"]},
]


def instance_discovery(ctx) -> Response:
    q = ctx.request.query
    endpoint = q.get("authorization_endpoint", f"{BASE}/common/oauth2/v2.0/authorize")
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(endpoint)
        host = (parts.hostname or "").lower()
    except ValueError:   # e.g. "https://[::1" (unbalanced IPv6 bracket)
        raise AadstsError(50049, error="invalid_instance") from None
    known = {a for c in _CLOUDS for a in c["aliases"]}
    if host not in known:
        raise AadstsError(50049, error="invalid_instance")
    seg = parts.path.strip("/").split("/")[0] if parts.path.strip("/") else "common"
    return json_response({
        "tenant_discovery_endpoint": f"https://{host}/{seg}/v2.0/.well-known/openid-configuration",
        "api-version": q.get("api-version", "1.1"),
        "metadata": _CLOUDS,
    })


def user_realm(ctx) -> Response:
    from urllib.parse import unquote_plus

    user = unquote_plus(ctx.params.get("user") or ctx.request.query.get("user", ""))
    version = ctx.request.query.get("api-version", "1.0")
    tenant = ctx.world.tenant_of_upn(user) if "@" in user else None
    domain = user.rsplit("@", 1)[-1] if "@" in user else user
    if version.startswith("2"):
        return json_response({"NameSpaceType": "Managed" if tenant else "Unknown", "Login": user,
                              "DomainName": domain, "FederationBrandName": tenant.display_name if tenant else None,
                              "TenantBrandingInfo": None, "cloud_instance_name": "microsoftonline.com"})
    if tenant is None:
        return json_response({"ver": "1.0", "account_type": "Unknown", "cloud_instance_name": "microsoftonline.com"})
    return json_response({"ver": "1.0", "account_type": "Managed", "domain_name": domain,
                          "cloud_instance_name": "microsoftonline.com",
                          "cloud_audience_urn": "urn:federation:MicrosoftOnline"})


# -- token responses ------------------------------------------------------------------------------

def _scope_string(resource: Resource, scopes: list[str], oidc: set[str]) -> str:
    if resource.app_id == "00000003-0000-0000-c000-000000000000":
        names = list(scopes)
    else:
        names = [f"{resource.uri.rstrip('/')}/{s}" for s in scopes]
    return " ".join(names + sorted(o for o in oidc if o != "offline_access"))


def issue_tokens(ctx, tenant: Tenant, user: User | None, client_id: str, resource: Resource, scopes: list[str], *,
                 version: str, oidc: set[str] | None = None, amr: list[str] | None = None,
                 acrs: list[str] | None = None, device_id: str | None = None, want_client_info: bool = False,
                 nonce: str | None = None, roles: list[str] | None = None, refresh: bool = True) -> Response:
    """The success body of the token endpoint, shaped per endpoint version (real-clients.md §5.3)."""
    iss = issuer(ctx.world)
    oidc = set(oidc or ())
    at = iss.access_token(tenant, resource, client_id, user=user, scopes=scopes, roles=roles, amr=amr,
                          device_id=device_id, acrs=acrs)
    now = int(ctx.world.clock.timestamp())
    lifetime = 3599
    body: dict[str, Any] = {"token_type": "Bearer"}
    id_extra: dict[str, Any] = {}
    if user is not None and resource.app_id == DRS_APP_ID:
        urls = policy.mdm_urls(tenant, user)
        if urls["MdmUrl"]:
            # Inferred claim names: Windows learns the MDM URLs for the joining user at join time.
            id_extra = {"mdm_enrollment_url": urls["MdmUrl"], "mdm_terms_of_use_url": urls["MdmTouUrl"],
                        "mdm_compliance_url": urls["MdmComplianceUrl"]}
    if version == "2.0":
        body.update({"scope": _scope_string(resource, scopes, oidc), "expires_in": lifetime,
                     "ext_expires_in": lifetime, "access_token": at})
        give_refresh = refresh and user is not None and "offline_access" in oidc
        give_id = user is not None and "openid" in oidc
    else:
        body.update({"scope": " ".join(scopes), "expires_in": str(lifetime), "ext_expires_in": str(lifetime),
                     "expires_on": str(now + lifetime), "not_before": str(now), "resource": resource.uri
                     if not resource.uri.startswith("urn:") else resource.uri, "access_token": at})
        give_refresh = refresh and user is not None
        give_id = user is not None
    if give_refresh:
        body["refresh_token"] = iss.refresh_token({
            "tenant": tenant.id, "user": user.id, "client_id": client_id, "resource": resource.app_id,
            "scopes": scopes, "amr": amr or ["pwd"], "acrs": acrs or [], "device_id": device_id,
            "oidc": sorted(oidc), "version": version})
        if version == "1.0":
            body["refresh_token_expires_in"] = 1209599
    if give_id:
        body["id_token"] = iss.id_token(tenant, user, client_id, version=version, nonce=nonce, extra=id_extra or None)
    if want_client_info and user is not None:
        body["client_info"] = client_info(user, tenant)
    return json_response(body, headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache",
                                        "x-ms-request-id": ctx.request_id})


def _resource_for(form: dict[str, str], version: str, tenant: Tenant) -> tuple[Resource, list[str], set[str]]:
    if version == "2.0":
        scope = form.get("scope", "")
        if not scope:
            raise AadstsError(900144, parameter="scope")
        resource, scopes, oidc = parse_v2_scopes(scope)
        if resource is None:
            raise AadstsError(500011, error="invalid_resource",
                              message=f"The resource principal named {scopes[0].rsplit('/', 1)[0]} was not found in "
                                      f"the tenant named {tenant.display_name}. This can happen if the application "
                                      "has not been installed by the administrator of the tenant or consented to by "
                                      "any user in the tenant. You might have sent your authentication request to "
                                      "the wrong tenant.")
        return resource, scopes, oidc
    ref = form.get("resource") or "00000002-0000-0000-c000-000000000000"
    resource = find_resource(ref)
    if resource is None:
        raise AadstsError(500011, error="invalid_resource",
                          message=f"The resource principal named {ref} was not found in the tenant named "
                                  f"{tenant.display_name}. This can happen if the application has not been installed "
                                  "by the administrator of the tenant or consented to by any user in the tenant. You "
                                  "might have sent your authentication request to the wrong tenant.")
    scopes = [s for s in form.get("scope", "").split() if s not in ("openid", "profile", "offline_access")]
    return resource, scopes or list(resource.default_scopes), {"openid"}


def _require(form: dict[str, str], *names: str) -> None:
    for n in names:
        if not form.get(n):
            raise AadstsError(900144, parameter=n)


def _client(ctx, form: dict[str, str], tenant: Tenant | None) -> str:
    _require(form, "client_id")
    cid = form["client_id"]
    if not authn.known_public_client(tenant, cid):
        raise AadstsError(700016, client_id=cid, tenant=tenant.display_name if tenant else "common")
    return cid


# -- grants ---------------------------------------------------------------------------------------

def _grant_owner(ctx, rec: dict[str, Any]) -> tuple[Tenant, User]:
    """Tenant and user a stored code or refresh token was issued to. Either may have been deleted
    since (control API, scenario fix): the tenant -> 90002, the user -> 50034, disabled -> 50057."""
    tenant = ctx.world.tenants.get(rec.get("tenant") or "")
    if tenant is None:
        raise AadstsError(90002, tenant=rec.get("tenant") or "")
    user = tenant.users.get(rec.get("user") or "")
    if user is None:
        raise AadstsError(50034, identifier=rec.get("user") or "", tenant=tenant.initial_domain.split(".")[0])
    if not user.account_enabled:
        raise AadstsError(50057)
    return tenant, user


def grant_password(ctx, form, version):
    _require(form, "username", "password")
    tenant = authn.resolve_tenant(ctx.world, ctx.params["tenant"], form["username"])
    client_id = _client(ctx, form, tenant)
    resource, scopes, oidc = _resource_for(form, version, tenant)
    d = authn.decide(ctx, tenant, form["username"], form["password"], client_id=client_id, resource=resource,
                     interactive=False)
    return issue_tokens(ctx, tenant, d.user, client_id, resource, scopes, version=version, oidc=oidc, amr=d.amr,
                        want_client_info=form.get("client_info") == "1")


def grant_authorization_code(ctx, form, version):
    _require(form, "code")
    rec = ctx.world.auth_codes.pop(form["code"], None)
    if rec is None or rec["expires"] < ctx.world.clock.timestamp():
        raise AadstsError(70000 if rec is None else 70008, message=None if rec is None else
                          "The provided authorization code or refresh token has expired due to inactivity. Send a "
                          "new interactive authorization request for this user and resource.")
    if form.get("client_id") and form["client_id"] != rec["client_id"]:
        raise AadstsError(70000)
    tenant, user = _grant_owner(ctx, rec)
    resource = find_resource(rec["resource"])
    scopes = rec.get("scopes") or list(resource.default_scopes)
    return issue_tokens(ctx, tenant, user, rec["client_id"], resource, scopes, version=version,
                        oidc=set(rec.get("oidc") or ["openid"]), amr=rec["amr"], acrs=rec["acrs"],
                        want_client_info=form.get("client_info") == "1", nonce=rec.get("nonce"))


def grant_refresh_token(ctx, form, version):
    _require(form, "refresh_token")
    rec = ctx.world.refresh_tokens.get(form["refresh_token"])
    if rec is None:
        raise AadstsError(9002313, message="Invalid request. Request is malformed or invalid.")
    tenant, user = _grant_owner(ctx, rec)
    client_id = form.get("client_id") or rec["client_id"]
    if form.get("scope") or form.get("resource"):
        resource, scopes, oidc = _resource_for(form, version, tenant)
    else:
        resource = find_resource(rec["resource"])
        scopes, oidc = rec["scopes"], set(rec.get("oidc") or [])
    mfa_done = "mfa" in rec["amr"]
    d = authn.decide(ctx, tenant, user.user_principal_name, None, client_id=client_id, resource=resource,
                     mfa_done=mfa_done, interactive=False, check_password=False, log=True)
    return issue_tokens(ctx, tenant, user, client_id, resource, scopes, version=version, oidc=oidc, amr=d.amr,
                        acrs=rec.get("acrs"), want_client_info=form.get("client_info") == "1",
                        device_id=rec.get("device_id"))


def grant_device_code(ctx, form, version):
    code = form.get("device_code") or form.get("code")
    if not code:
        raise AadstsError(900144, parameter="device_code")
    # Check and redeem in one step under the world lock: two polls racing on an approved code
    # must not both get tokens (the loser sees the code as gone, as after a redemption).
    with ctx.world.lock:
        rec = ctx.world.device_codes.get(code)
        if rec is None:
            raise AadstsError(70000, error="bad_verification_code", message="The provided value for the input "
                              "parameter 'device_code' is not valid.")
        if rec["expires"] < ctx.world.clock.timestamp():
            raise AadstsError(70019)
        if rec["status"] == "declined":
            raise AadstsError(70020)
        if rec["status"] == "pending":
            raise AadstsError(70016)
        ctx.world.device_codes.pop(code, None)
    tenant, user = _grant_owner(ctx, rec)
    resource = find_resource(rec["resource"])
    return issue_tokens(ctx, tenant, user, rec["client_id"], resource, rec["scopes"], version=version,
                        oidc=set(rec["oidc"]), amr=rec["amr"], want_client_info=form.get("client_info") == "1")


def grant_client_credentials(ctx, form, version):
    ref = ctx.params["tenant"]
    if ref.lower() in ("common", "organizations", "consumers"):
        raise AadstsError(700016, message="Client credential flows require a tenant in the authority; "
                          f"'{ref}' is not one.", client_id=form.get("client_id", ""), tenant=ref)
    tenant = authn.resolve_tenant(ctx.world, ref)
    _require(form, "client_id")
    app = tenant.applications.get(form["client_id"])
    if app is None:
        raise AadstsError(700016, client_id=form["client_id"], tenant=tenant.display_name)
    if "client_secret" in form:
        if form["client_secret"] not in app.secrets:
            raise AadstsError(7000215, client_id=app.app_id)
    elif "client_assertion" in form:
        from .client_assertion import verify_client_assertion

        verify_client_assertion(ctx, tenant, app, form["client_assertion"])
    else:
        raise AadstsError(7000218)
    if version == "2.0":
        scope = form.get("scope", "")
        if not scope.endswith("/.default"):
            raise AadstsError(1002012, error="invalid_scope",
                              message=f"The provided value for scope {scope} is not valid. Client credential flows "
                                      "must have a scope value with /.default suffixed to the resource identifier "
                                      "(application ID URI).")
        resource, _, _ = parse_v2_scopes(scope)
    else:
        resource = find_resource(form.get("resource", ""))
    if resource is None:
        raise AadstsError(500011, error="invalid_resource",
                          message=f"The resource principal named {form.get('scope') or form.get('resource')} was not "
                                  f"found in the tenant named {tenant.display_name}.")
    return issue_tokens(ctx, tenant, None, app.app_id, resource, [], version=version, roles=app.app_roles,
                        refresh=False)


def _prt(name):
    def handler(ctx, form, version):
        from . import prt

        if name == "srv_challenge":
            return prt.srv_challenge(ctx)
        return prt.jwt_bearer(ctx, form, ctx.params["tenant"])

    return handler


GRANTS = {
    "password": grant_password,
    "authorization_code": grant_authorization_code,
    "refresh_token": grant_refresh_token,
    "urn:ietf:params:oauth:grant-type:device_code": grant_device_code,
    "device_code": grant_device_code,
    "client_credentials": grant_client_credentials,
    "srv_challenge": _prt("srv_challenge"),
    "urn:ietf:params:oauth:grant-type:jwt-bearer": _prt("jwt_bearer"),
}


def _token(ctx, version: str) -> Response:
    form = ctx.request.form()
    grant = form.get("grant_type")
    if not grant:
        raise AadstsError(900144, parameter="grant_type")
    handler = GRANTS.get(grant)
    if handler is None:
        raise AadstsError(70003, grant_type=grant)
    return handler(ctx, form, version)


def token_v1(ctx) -> Response:
    return _token(ctx, "1.0")


def token_v2(ctx) -> Response:
    return _token(ctx, "2.0")


# -- device code ----------------------------------------------------------------------------------

def _device_code(ctx, version: str) -> Response:
    form = ctx.request.form()
    _require(form, "client_id")
    ref = ctx.params["tenant"]
    tenant = None if ref.lower() in ("common", "organizations") else authn.resolve_tenant(ctx.world, ref)
    if not authn.known_public_client(tenant, form["client_id"]):
        raise AadstsError(700016, client_id=form["client_id"], tenant=tenant.display_name if tenant else ref)
    if version == "2.0":
        if not form.get("scope"):
            raise AadstsError(900144, parameter="scope")
        resource, scopes, oidc = parse_v2_scopes(form["scope"])
        if resource is None:
            raise AadstsError(70011, error="invalid_scope", scope=form["scope"])
    else:
        resource = find_resource(form.get("resource") or "00000002-0000-0000-c000-000000000000")
        if resource is None:
            raise AadstsError(500011, error="invalid_resource",
                              message=f"The resource principal named {form.get('resource')} was not found.")
        scopes, oidc = list(resource.default_scopes), {"openid"}
    ids = ctx.world.ids
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    user_code = "".join(alphabet[ids.randint(0, len(alphabet) - 1)] for _ in range(9))
    device_code = "DAQABAAEAAAD" + ids.hex(48)
    interval = int(getattr(ctx.world, "device_code_interval", 5))
    with ctx.world.lock:
        ctx.world.device_codes[device_code] = {
            "user_code": user_code, "tenant_ref": ref, "client_id": form["client_id"], "resource": resource.app_id,
            "scopes": scopes, "oidc": sorted(oidc), "status": "pending", "tenant": None, "user": None,
            "amr": ["pwd"], "expires": ctx.world.clock.timestamp() + DEVICE_CODE_LIFETIME}
    uri_key = "verification_uri" if version == "2.0" else "verification_url"
    return json_response({
        "user_code": user_code, "device_code": device_code, uri_key: "https://microsoft.com/devicelogin",
        "expires_in": DEVICE_CODE_LIFETIME if version == "2.0" else str(DEVICE_CODE_LIFETIME),
        "interval": interval if version == "2.0" else str(interval),
        "message": f"To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter "
                   f"the code {user_code} to authenticate."},
        headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache", "x-ms-request-id": ctx.request_id})


def device_code_v1(ctx) -> Response:
    return _device_code(ctx, "1.0")


def device_code_v2(ctx) -> Response:
    return _device_code(ctx, "2.0")


# -- web sign-in pages (JSON model of the real HTML pages; see docs) ------------------------------

def _page(**fields: Any) -> Response:
    # The real sign-in pages are never cached (they carry flow state).
    return json_response(fields, headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})


def authorize(ctx) -> Response:
    q = ctx.request.query
    if ctx.request.method == "POST":   # OIDC Core 3.1.2.1: GET and POST (form) are both accepted
        q = {**q, **ctx.request.form()}
    for n in ("client_id", "response_type"):
        if not q.get(n):
            raise AadstsError(900144, parameter=n)
    ref = ctx.params["tenant"]
    tenant = None if ref.lower() in ("common", "organizations") else authn.resolve_tenant(ctx.world, ref)
    if not authn.known_public_client(tenant, q["client_id"]):
        raise AadstsError(700016, client_id=q["client_id"], tenant=tenant.display_name if tenant else ref)
    if "scope" in q and "resource" not in q:
        resource, scopes, oidc = parse_v2_scopes(q["scope"])
    else:
        resource = find_resource(q.get("resource") or "00000002-0000-0000-c000-000000000000")
        scopes, oidc = (list(resource.default_scopes) if resource else []), {"openid"}
    if resource is None:
        raise AadstsError(500011, error="invalid_resource", message="The resource principal was not found.")
    token = ctx.world.ids.hex(24)
    with ctx.world.lock:
        ctx.world.login_flows[token] = {
            "kind": "authorize", "tenant_ref": ref, "client_id": q["client_id"], "resource": resource.app_id,
            "scopes": scopes, "oidc": sorted(oidc), "redirect_uri": q.get("redirect_uri", ""),
            "state": q.get("state"), "nonce": q.get("nonce"), "login_hint": q.get("login_hint")}
    return _page(page="signin", flowToken=token, title="Sign in", login_hint=q.get("login_hint"))


def _flow(ctx, form) -> dict[str, Any]:
    flow = ctx.world.login_flows.get(form.get("flowToken", ""))
    if flow is None:
        raise AadstsError(90014, parameter="flowToken")
    return flow


def _error_page(flow: dict[str, Any], err: AadstsError, ctx) -> Response:
    body = err.body(ctx)
    loc = None
    if flow.get("kind") == "authorize" and flow.get("redirect_uri"):
        loc = flow["redirect_uri"] + "?" + urlencode({"error": body["error"],
                                                      "error_description": body["error_description"],
                                                      "error_codes": str(err.code), "state": flow.get("state") or ""})
    return _page(page="error", title="Sign in", error=body["error"], error_codes=body["error_codes"],
                 error_description=body["error_description"], trace_id=body["trace_id"],
                 correlation_id=body["correlation_id"], timestamp=body["timestamp"], location=loc)


def _complete(ctx, flow: dict[str, Any], token: str) -> Response:
    d = flow["decision"]
    world = ctx.world
    with world.lock:
        world.login_flows.pop(token, None)
    if flow["kind"] == "devicecode":
        with world.lock:
            rec = world.device_codes.get(flow["device_code"])
            if rec is not None:
                rec.update(status="approved", tenant=d.tenant.id, user=d.user.id, amr=d.amr)
        return _page(page="done", title="You're signed in", message="You have signed in to the application on "
                     "your device. You may now close this window.")
    code = "0.A" + world.ids.hex(40)
    with world.lock:
        world.auth_codes[code] = {"tenant": d.tenant.id, "user": d.user.id, "client_id": flow["client_id"],
                                  "resource": flow["resource"], "scopes": flow["scopes"], "oidc": flow["oidc"],
                                  "amr": d.amr, "acrs": d.acrs, "nonce": flow.get("nonce"),
                                  "expires": world.clock.timestamp() + 600}
    loc = flow["redirect_uri"] + "?" + urlencode({"code": code, "state": flow.get("state") or "",
                                                  "session_state": world.ids.guid()})
    return _page(page="done", location=loc, code=code)


def _after_decision(ctx, flow, token) -> Response:
    d = flow["decision"]
    if d.mfa_owed and d.registration_owed:
        return _page(page="proofup", flowToken=token, title="More information required",
                     message="Your organization needs more information to keep your account secure")
    if d.mfa_owed:
        methods = ["PhoneAppNotification" if m == "microsoftAuthenticator" else
                   "OneWaySMS" if m == "sms" else m for m in d.user.mfa_methods]
        return _page(page="mfa", flowToken=token, title="Approve sign in request", methods=methods,
                     message="Open your Authenticator app, and enter the number shown to sign in.")
    return _complete(ctx, flow, token)


def login_page(ctx) -> Response:
    form = ctx.request.form()
    flow = _flow(ctx, form)
    return _login(ctx, flow, form["flowToken"], form.get("login", ""), form.get("passwd", ""))


def _login(ctx, flow: dict[str, Any], token: str, login: str, passwd: str) -> Response:
    resource = find_resource(flow["resource"])
    try:
        tenant = authn.resolve_tenant(ctx.world, flow["tenant_ref"], login)
        if flow["kind"] == "authorize" and not authn.known_public_client(tenant, flow["client_id"]):
            raise AadstsError(700016, client_id=flow["client_id"], tenant=tenant.display_name)
        flow["decision"] = authn.decide(ctx, tenant, login, passwd, client_id=flow["client_id"], resource=resource)
    except AadstsError as err:
        return _error_page(flow, err, ctx)
    return _after_decision(ctx, flow, token)


def process_auth_page(ctx) -> Response:
    form = ctx.request.form()
    flow = _flow(ctx, form)
    token = form["flowToken"]
    d = flow.get("decision")
    if d is None:
        raise AadstsError(90014, parameter="login")
    action = form.get("action") or "approve"
    if action not in ("approve", "deny", "register", "skip"):
        # An unknown action must not count as an approval.
        raise AadstsError(9002313, message=f"Invalid request. Request is malformed or invalid. The action "
                                           f"'{action[:64]}' is not one of approve, deny, register, skip.")
    resource = find_resource(flow["resource"])
    if action == "skip" or (action == "register" and not d.user.can_register_mfa):
        return _error_page(flow, authn.mfa_failure(ctx, d, 50079, client_id=flow["client_id"], resource=resource), ctx)
    if action == "register":
        d.user.mfa_methods.append("microsoftAuthenticator")
        d.registration_owed = False
        return _after_decision(ctx, flow, token)
    if action == "deny" or d.registration_owed:
        return _error_page(flow, authn.mfa_failure(ctx, d, 500121, client_id=flow["client_id"], resource=resource), ctx)
    try:
        flow["decision"] = authn.decide(ctx, d.tenant, d.user.user_principal_name, None, client_id=flow["client_id"],
                                        resource=resource, mfa_done=True, check_password=False)
    except AadstsError as err:
        return _error_page(flow, err, ctx)
    return _complete(ctx, flow, token)


def device_auth_page(ctx) -> Response:
    """The page behind https://microsoft.com/devicelogin: enter the code, then sign in."""
    form = ctx.request.form()
    code = (form.get("otc") or "").strip().upper()
    dc_key, rec = next(((k, dc) for k, dc in list(ctx.world.device_codes.items()) if dc["user_code"] == code),
                       (None, None))
    if rec is None or rec["expires"] < ctx.world.clock.timestamp():
        # Same page-error fields as the sign-in pages; `message` is what the code page shows.
        err = (AadstsError(70019, error="expired_token") if rec else
               AadstsError(70000, error="invalid_grant", message="The provided value for the input parameter "
                           "'user_code' is not valid."))
        body = err.body(ctx)
        return _page(page="error", title="Enter code", error=body["error"], error_codes=body["error_codes"],
                     error_description=body["error_description"], trace_id=body["trace_id"],
                     correlation_id=body["correlation_id"], timestamp=body["timestamp"],
                     message="That code didn't work. Check the code and try again.")
    if form.get("decline"):
        rec["status"] = "declined"
        return _page(page="done", title="Sign in canceled")
    token = ctx.world.ids.hex(24)
    flow = {"kind": "devicecode", "device_code": dc_key, "tenant_ref": rec["tenant_ref"],
            "client_id": rec["client_id"], "resource": rec["resource"]}
    with ctx.world.lock:
        ctx.world.login_flows[token] = flow
    if not form.get("login"):
        return _page(page="signin", flowToken=token, title="Sign in")
    return _login(ctx, flow, token, form.get("login", ""), form.get("passwd", ""))



# -- a method the endpoint does not take ----------------------------------------------------------

def method_not_allowed(allowed: tuple[str, ...], get_handler=None):
    """The handler for a path's other methods: AADSTS900561 in the service's JSON error shape.
    Inferred: HTTP 400 as for the token endpoint's other request errors, plus an `Allow` header.
    HEAD on a GET endpoint is answered as GET (the transport drops the body)."""
    verbs = ", ".join(allowed)

    def handler(ctx) -> Response:
        if ctx.request.method == "HEAD" and get_handler is not None:
            return get_handler(ctx)
        err = AadstsError(900561, verbs=verbs, verb=ctx.request.method[:16])
        resp = err.to_response(ctx)
        resp.headers["Allow"] = verbs
        return resp

    return handler
