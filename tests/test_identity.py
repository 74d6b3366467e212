"""The identity service against unmodified MSAL Python and raw requests."""
import warnings

import jwt
import msal
import pytest
import requests

AUTHORITY = "https://login.microsoftonline.com/contoso.com"
CLI = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"

warnings.filterwarnings("ignore", category=DeprecationWarning)


@pytest.fixture
def app(entra_mock, entra_tenant):
    return msal.PublicClientApplication(CLI, authority=AUTHORITY)


def test_msal_password_grant_gets_tokens(app, entra_user, entra_world, entra_tenant):
    r = app.acquire_token_by_username_password(entra_user.user_principal_name, "P@ssw0rd!", scopes=["User.Read"])
    assert r["token_type"] == "Bearer" and "error" not in r
    claims = jwt.decode(r["access_token"], entra_world.issuer_key.public_key(), algorithms=["RS256"],
                        audience="https://graph.microsoft.com")
    assert claims["tid"] == entra_tenant.id and claims["upn"] == entra_user.user_principal_name
    assert "User.Read" in claims["scp"].split()
    assert r["id_token_claims"]["preferred_username"] == entra_user.user_principal_name
    assert app.get_accounts()[0]["home_account_id"] == f"{entra_user.id}.{entra_tenant.id}"
    # a silent call is answered from MSAL's cache, a forced refresh uses our refresh token grant
    again = app.acquire_token_silent(["User.Read"], app.get_accounts()[0], force_refresh=True)
    assert again["access_token"] != r["access_token"]


def test_msal_mfa_required_user_gets_50076(app, entra_world, entra_tenant):
    entra_world.add_user(entra_tenant, "mfa@contoso.com", display_name="Mfa Person", per_user_mfa="enforced")
    r = app.acquire_token_by_username_password("mfa@contoso.com", "P@ssw0rd!", scopes=["User.Read"])
    assert r["error"] == "invalid_grant"
    assert r["error_codes"] == [50076]
    assert r["suberror"] == "basic_action"
    assert r["error_description"].startswith("AADSTS50076: Due to a configuration change")
    for key in ("trace_id", "correlation_id", "timestamp", "error_uri"):
        assert key in r
    failure = entra_tenant.sign_ins[-1]
    assert failure["status"]["errorCode"] == 50076 and failure["userPrincipalName"] == "mfa@contoso.com"


@pytest.mark.parametrize("password,upn,code", [("wrong", "adele.vance@contoso.com", 50126),
                                               ("P@ssw0rd!", "nobody@contoso.com", 50034)])
def test_msal_bad_credentials(app, entra_user, password, upn, code):
    r = app.acquire_token_by_username_password(upn, password, scopes=["User.Read"])
    assert r["error"] == "invalid_grant" and r["error_codes"] == [code]


def test_disabled_user_gets_50057(app, entra_user):
    entra_user.account_enabled = False
    r = app.acquire_token_by_username_password(entra_user.user_principal_name, "P@ssw0rd!", scopes=["User.Read"])
    assert r["error_codes"] == [50057]


def test_msal_device_code_flow(app, entra_user):
    flow = app.initiate_device_flow(scopes=["User.Read"])
    assert flow["verification_uri"] == "https://microsoft.com/devicelogin"
    pending = requests.post(app.authority.token_endpoint, data={
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": flow["device_code"],
        "client_id": CLI})
    assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending"
    page = requests.post("https://login.microsoftonline.com/common/oauth2/deviceauth",
                         data={"otc": flow["user_code"], "login": entra_user.user_principal_name,
                               "passwd": "P@ssw0rd!"}).json()
    assert page["page"] == "done"
    r = app.acquire_token_by_device_flow(flow)
    assert "access_token" in r and r["id_token_claims"]["preferred_username"] == entra_user.user_principal_name


def test_unknown_tenant_discovery_is_aadsts90002(entra_mock):
    r = requests.get("https://login.microsoftonline.com/nosuch.example/v2.0/.well-known/openid-configuration")
    assert r.status_code == 400
    assert r.json()["error_codes"] == [90002]
    with pytest.raises(ValueError):
        msal.PublicClientApplication(CLI, authority="https://login.microsoftonline.com/nosuch.example")


def test_openid_configuration_and_jwks_verify_tokens(entra_mock, entra_tenant, entra_user):
    cfg = requests.get(f"https://login.microsoftonline.com/{entra_tenant.id}/v2.0/.well-known/openid-configuration").json()
    assert cfg["issuer"] == f"https://login.microsoftonline.com/{entra_tenant.id}/v2.0"
    assert cfg["token_endpoint"].endswith(f"/{entra_tenant.id}/oauth2/v2.0/token")
    jwks = requests.get(cfg["jwks_uri"]).json()
    tok = requests.post(cfg["token_endpoint"], data={"grant_type": "password", "client_id": CLI,
                                                     "username": entra_user.user_principal_name,
                                                     "password": "P@ssw0rd!", "scope": "openid profile User.Read"}).json()
    key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(tok["id_token"])["kid"]]
    claims = jwt.decode(tok["id_token"], key.key, algorithms=["RS256"], audience=CLI, issuer=cfg["issuer"])
    assert claims["oid"] == entra_user.id


def test_token_errors_have_real_shape(entra_mock, entra_tenant):
    url = f"https://login.microsoftonline.com/{entra_tenant.id}/oauth2/v2.0/token"
    r = requests.post(url, data={"grant_type": "magic", "client_id": CLI})
    body = r.json()
    assert r.status_code == 400 and body["error"] == "unsupported_grant_type" and body["error_codes"] == [70003]
    r = requests.post(url, data={"client_id": CLI})
    assert r.json()["error_codes"] == [900144]
    r = requests.post(url, data={"grant_type": "password", "client_id": "11111111-2222-3333-4444-555555555555",
                                 "username": "a@contoso.com", "password": "x", "scope": "User.Read"})
    assert r.json()["error"] == "unauthorized_client" and r.json()["error_codes"] == [700016]


def test_conditional_access_block_is_53003(app, entra_tenant, entra_user):
    entra_tenant.conditional_access_policies.append({
        "id": "pol-1", "displayName": "Block all", "state": "enabled",
        "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]}})
    r = app.acquire_token_by_username_password(entra_user.user_principal_name, "P@ssw0rd!", scopes=["User.Read"])
    assert r["error_codes"] == [53003] and r["suberror"] == "message_only"
    assert '"capolids"' in r["claims"]
    entry = entra_tenant.sign_ins[-1]
    assert entry["conditionalAccessStatus"] == "failure"
    assert entry["appliedConditionalAccessPolicies"][0]["result"] == "failure"


def test_not_emulated_microsoft_path_fails_loudly(entra_mock, entra_transport):
    from emulator.services.router import NotEmulated

    if entra_transport == "inprocess":
        with pytest.raises(NotEmulated, match="does not emulate GET https://login.microsoftonline.com/x/y/z"):
            requests.get("https://login.microsoftonline.com/x/y/z")
        with pytest.raises(NotEmulated):
            requests.get("https://portal.azure.com/")
    else:  # the server answers 404 with the same message, and refuses to tunnel to other hosts
        r = requests.get("https://login.microsoftonline.com/x/y/z")
        assert r.status_code == 404 and "does not emulate GET https://login.microsoftonline.com/x/y/z" in r.text
        with pytest.raises(requests.exceptions.ProxyError):
            requests.get("https://portal.azure.com/")
    with pytest.raises(requests.ConnectionError):
        requests.get("https://example.com/")


def test_client_credentials_with_secret(entra_mock, entra_world, entra_tenant):
    app = entra_world.add_application(entra_tenant, "Inventory tool", secret="s3cret", app_roles=["Device.Read.All"])
    cca = msal.ConfidentialClientApplication(app.app_id, client_credential="s3cret",
                                             authority=f"https://login.microsoftonline.com/{entra_tenant.id}")
    r = cca.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    claims = jwt.decode(r["access_token"], options={"verify_signature": False})
    assert claims["roles"] == ["Device.Read.All"] and claims["appid"] == app.app_id
    bad = msal.ConfidentialClientApplication(app.app_id, client_credential="nope",
                                             authority=f"https://login.microsoftonline.com/{entra_tenant.id}")
    assert bad.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])["error_codes"] == [7000215]
