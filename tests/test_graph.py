"""Microsoft Graph: authentication, devices, users, groups, tenant info, errors and OData basics."""
import json

import pytest
import requests
from freezegun import freeze_time

from emulator.http import Request
from emulator.services.identity.tokens import find_resource, issuer
from emulator.services.router import default_router
from emulator.world import policy
from emulator.world.models import ROLE_TEMPLATES, DirectoryDevice
from emulator.world.world import World

G = "https://graph.microsoft.com"
CLI = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
GA = ROLE_TEMPLATES["Global Administrator"]
CDA = ROLE_TEMPLATES["Cloud Device Administrator"]


class Env:
    def __init__(self):
        self.world = World(seed=7)
        self.world.raise_server_errors = True
        self.tenant = self.world.create_tenant("Contoso")
        self.admin = self.world.add_user(self.tenant, "admin@contoso.onmicrosoft.com", display_name="Ada Admin",
                                         roles=[GA])
        self.user = self.world.add_user(self.tenant, "bob@contoso.onmicrosoft.com", display_name="Bob Builder")
        self.devices = [self.add_device(self.user, f"DESKTOP-B{i:06d}") for i in range(3)]
        self.other = self.world.create_tenant("Fabrikam")
        self.other_user = self.world.add_user(self.other, "eve@fabrikam.onmicrosoft.com", display_name="Eve Other",
                                              roles=[GA])
        self.other_device = self.add_device(self.other_user, "DESKTOP-EVE0001", tenant=self.other)

    def add_device(self, owner, name, tenant=None, **kw):
        w = self.world
        d = DirectoryDevice(id=w.ids.guid(), device_id=w.ids.guid(), display_name=name, owner_id=owner.id,
                            registration_time=w.now(), **kw)
        (tenant or self.tenant).devices[d.id] = d
        return d

    def token(self, user=None, scopes=None, roles=None, tenant=None, **kw):
        tenant = tenant or self.tenant
        res = find_resource(G)
        if roles is not None:
            return issuer(self.world).access_token(tenant, res, CLI, roles=roles, **kw)
        return issuer(self.world).access_token(tenant, res, CLI, user=user or self.admin, scopes=scopes, **kw)

    def call(self, method, path, token=None, body=None, headers=None, raw=None):
        h = {"Authorization": f"Bearer {token}"} if token else {}
        h.update(headers or {})
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        url = path if path.startswith("http") else f"{G}{path}"
        return default_router().dispatch(self.world, Request(method, url, h, data))


@pytest.fixture
def env():
    return Env()


ADMIN_SCOPES = ["Directory.Read.All", "Device.Read.All", "Directory.AccessAsUser.All", "User.Read"]


def err(resp):
    body = resp.json()["error"]
    assert set(body) == {"code", "message", "innerError"}
    assert set(body["innerError"]) >= {"date", "request-id", "client-request-id"}
    assert "Z" not in body["innerError"]["date"]
    return body["code"], body["message"]


# -- authentication ---------------------------------------------------------------------------------

def test_missing_token_is_401_with_www_authenticate(env):
    r = env.call("GET", "/v1.0/devices")
    assert r.status == 401
    assert err(r) == ("InvalidAuthenticationToken", "Access token is empty.")
    assert r.headers["WWW-Authenticate"] == ('Bearer realm="", authorization_uri="https://login.microsoftonline.com/'
                                             'common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"')
    assert r.headers["request-id"] and r.headers["client-request-id"] == r.headers["request-id"]


def test_garbage_token_is_compact_token_error(env):
    r = env.call("GET", "/v1.0/devices", token="not-a-jwt")
    assert r.status == 401
    assert err(r) == ("InvalidAuthenticationToken", "CompactToken parsing failed with error code: 80049217")


def test_expired_token(env):
    with freeze_time("2026-01-01 10:00:00"):
        tok = env.token(scopes=ADMIN_SCOPES)
    with freeze_time("2026-01-01 12:00:00"):
        r = env.call("GET", "/v1.0/devices", token=tok)
    assert r.status == 401
    assert err(r) == ("InvalidAuthenticationToken", "Access token has expired or is not yet valid.")


def test_wrong_audience(env):
    tok = issuer(env.world).access_token(env.tenant, find_resource("urn:ms-drs:enterpriseregistration.windows.net"),
                                         CLI, user=env.admin)
    r = env.call("GET", "/v1.0/devices", token=tok)
    assert r.status == 401
    assert err(r) == ("InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")


def test_bad_signature(env):
    tok = env.token(scopes=ADMIN_SCOPES)
    head, payload, sig = tok.split(".")
    r = env.call("GET", "/v1.0/devices", token=f"{head}.{payload}.{sig[:-6]}AAAAAA")
    assert r.status == 401
    assert err(r)[0] == "InvalidAuthenticationToken"


def test_client_request_id_is_echoed(env):
    r = env.call("GET", "/v1.0/devices", token=env.token(scopes=ADMIN_SCOPES),
                 headers={"client-request-id": "11111111-2222-3333-4444-555555555555"})
    assert r.status == 200
    assert r.headers["client-request-id"] == "11111111-2222-3333-4444-555555555555"
    assert r.headers["request-id"] != r.headers["client-request-id"]


def test_scope_missing_is_403(env):
    r = env.call("GET", "/v1.0/devices", token=env.token(scopes=["User.Read"]))
    assert r.status == 403
    assert err(r) == ("Authorization_RequestDenied", "Insufficient privileges to complete the operation.")


def test_app_token_uses_roles(env):
    assert env.call("GET", "/v1.0/devices", token=env.token(roles=["Device.Read.All"])).status == 200
    assert env.call("GET", "/v1.0/devices", token=env.token(roles=["User.Read.All"])).status == 403


def test_delete_needs_role_for_delegated_caller(env):
    d = env.devices[0]
    plain = env.token(user=env.user, scopes=["Directory.AccessAsUser.All"])
    r = env.call("DELETE", f"/v1.0/devices/{d.id}", token=plain)
    assert r.status == 403 and err(r)[0] == "Authorization_RequestDenied"
    env.user.roles.append(CDA)
    assert env.call("DELETE", f"/v1.0/devices/{d.id}", token=plain).status == 204


def test_tenant_isolation(env):
    tok = env.token(scopes=ADMIN_SCOPES)
    ids = {d["id"] for d in env.call("GET", "/v1.0/devices", token=tok).json()["value"]}
    assert env.other_device.id not in ids and len(ids) == 3
    r = env.call("GET", f"/v1.0/devices/{env.other_device.id}", token=tok)
    assert r.status == 404 and err(r)[0] == "Request_ResourceNotFound"
    r = env.call("GET", f"/v1.0/users/{env.other_user.user_principal_name}", token=tok)
    assert r.status == 404
    other_tok = env.token(user=env.other_user, scopes=ADMIN_SCOPES, tenant=env.other)
    ids = [d["id"] for d in env.call("GET", "/v1.0/devices", token=other_tok).json()["value"]]
    assert ids == [env.other_device.id]


# -- devices ---------------------------------------------------------------------------------------

def test_device_shape(env):
    d = env.devices[0]
    r = env.call("GET", f"/v1.0/devices/{d.id}", token=env.token(scopes=ADMIN_SCOPES))
    assert r.status == 200
    body = r.json()
    assert body["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#devices/$entity"
    for prop in ("id", "deletedDateTime", "accountEnabled", "approximateLastSignInDateTime",
                 "complianceExpirationDateTime", "deviceId", "deviceMetadata", "deviceOwnership", "deviceVersion",
                 "displayName", "enrollmentProfileName", "enrollmentType", "extensionAttributes", "isCompliant",
                 "isManaged", "isRooted", "managementType", "manufacturer", "mdmAppId", "model",
                 "onPremisesLastSyncDateTime", "onPremisesSyncEnabled", "operatingSystem",
                 "operatingSystemVersion", "physicalIds", "profileType", "registrationDateTime", "systemLabels",
                 "trustType", "alternativeSecurityIds"):
        assert prop in body, prop
    assert body["trustType"] == "AzureAd" and body["profileType"] == "RegisteredDevice"
    assert body["deviceId"] == d.device_id and body["deletedDateTime"] is None
    assert body["registrationDateTime"].endswith("Z")
    assert sorted(body["extensionAttributes"]) == sorted(f"extensionAttribute{i}" for i in range(1, 16))
    assert "isManagementRestricted" not in body


def test_device_by_device_id_and_select(env):
    d = env.devices[1]
    tok = env.token(scopes=ADMIN_SCOPES)
    r = env.call("GET", f"/v1.0/devices(deviceId='{d.device_id}')?$select=id,extensionAttributes", token=tok)
    body = r.json()
    assert body["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#devices(id,extensionAttributes)/$entity"
    assert set(body) == {"@odata.context", "id", "extensionAttributes"}
    # percent-encoded quotes work too
    r = env.call("GET", f"/v1.0/devices(deviceId=%27{d.device_id}%27)", token=tok)
    assert r.json()["id"] == d.id
    r = env.call("GET", "/v1.0/devices(deviceId='00000000-0000-0000-0000-000000000001')", token=tok)
    assert r.status == 404
    assert err(r) == ("Request_ResourceNotFound", "Resource '00000000-0000-0000-0000-000000000001' does not exist or "
                      "one of its queried reference-property objects are not present.")


def test_unknown_select_property(env):
    r = env.call("GET", "/v1.0/devices?$select=id,bogus", token=env.token(scopes=ADMIN_SCOPES))
    assert r.status == 400
    assert err(r) == ("BadRequest", "Could not find a property named 'bogus' on type 'microsoft.graph.device'.")


def test_patch_device(env):
    d = env.devices[0]
    tok = env.token(scopes=["Directory.AccessAsUser.All"])
    r = env.call("PATCH", f"/v1.0/devices/{d.id}", token=tok,
                 body={"accountEnabled": False, "extensionAttributes": {"extensionAttribute3": "kiosk"}})
    assert r.status == 204 and r.body == b""
    assert d.account_enabled is False and d.extension_attributes["extensionAttribute3"] == "kiosk"
    got = env.call("GET", f"/v1.0/devices/{d.id}", token=tok).json()
    assert got["accountEnabled"] is False and got["extensionAttributes"]["extensionAttribute3"] == "kiosk"
    audits = [a for a in env.tenant.directory_audits if a["activityDisplayName"] == "Update device"]
    assert audits and audits[-1]["targetResources"][0]["id"] == d.id
    r = env.call("PATCH", f"/v1.0/devices/{d.id}", token=tok, raw=b"{not json")
    assert r.status == 400 and err(r)[0] == "BadRequest"
    r = env.call("PATCH", f"/v1.0/devices/{d.id}", token=tok, body={"nonsense": 1})
    assert r.status == 400


def test_delete_device_frees_quota(env):
    env.tenant.device_registration_policy["userDeviceQuota"] = 3
    assert policy.device_quota_reached(env.tenant, env.user)
    tok = env.token(scopes=["Directory.AccessAsUser.All"])
    d = env.devices[0]
    r = env.call("DELETE", f"/v1.0/devices(deviceId='{d.device_id}')", token=tok)
    assert r.status == 204 and r.body == b""
    assert not policy.device_quota_reached(env.tenant, env.user)
    assert env.call("DELETE", f"/v1.0/devices/{d.id}", token=tok).status == 404
    audit = env.tenant.directory_audits[-1]
    assert audit["activityDisplayName"] == "Delete device" and audit["category"] == "Device"


def test_device_owners_users_member_of(env):
    d = env.devices[0]
    grp = env.world.add_group(env.tenant, "Kiosks", members=[d.id])
    tok = env.token(scopes=ADMIN_SCOPES)
    for nav in ("registeredOwners", "registeredUsers"):
        body = env.call("GET", f"/v1.0/devices/{d.id}/{nav}", token=tok).json()
        assert body["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#directoryObjects"
        assert [(o["@odata.type"], o["id"]) for o in body["value"]] == [("#microsoft.graph.user", env.user.id)]
    body = env.call("GET", f"/v1.0/devices/{d.id}/memberOf", token=tok).json()
    assert [(o["@odata.type"], o["id"]) for o in body["value"]] == [("#microsoft.graph.group", grp.id)]


# -- users -----------------------------------------------------------------------------------------

def test_me_and_user_by_upn(env):
    tok = env.token(user=env.user, scopes=["User.Read"])
    me = env.call("GET", "/v1.0/me", token=tok).json()
    assert me["id"] == env.user.id and me["userPrincipalName"] == "bob@contoso.onmicrosoft.com"
    assert set(me) - {"@odata.context"} == {"businessPhones", "displayName", "givenName", "id", "jobTitle", "mail",
                                            "mobilePhone", "officeLocation", "preferredLanguage", "surname",
                                            "userPrincipalName"}
    # User.Read reads oneself, not others
    assert env.call("GET", f"/v1.0/users/{env.user.user_principal_name}", token=tok).status == 200
    assert env.call("GET", f"/v1.0/users/{env.admin.id}", token=tok).status == 403
    admin_tok = env.token(scopes=ADMIN_SCOPES)
    r = env.call("GET", f"/v1.0/users/{env.user.user_principal_name}?$select=id,usageLocation,accountEnabled",
                 token=admin_tok)
    assert r.json() == {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(id,usageLocation,"
                                          "accountEnabled)/$entity", "id": env.user.id, "usageLocation": "US",
                        "accountEnabled": True}


def test_me_with_app_token_is_refused(env):
    r = env.call("GET", "/v1.0/me", token=env.token(roles=["User.Read.All"]))
    assert r.status == 400
    assert err(r)[1] == "/me request is only valid with delegated authentication flow."


def test_registered_and_owned_devices(env):
    tok = env.token(user=env.user, scopes=["User.Read"])
    for nav in ("registeredDevices", "ownedDevices"):
        body = env.call("GET", f"/v1.0/me/{nav}", token=tok).json()
        assert {o["id"] for o in body["value"]} == {d.id for d in env.devices}
        assert all(o["@odata.type"] == "#microsoft.graph.device" for o in body["value"])
    body = env.call("GET", f"/v1.0/users/{env.user.id}/registeredDevices",
                    token=env.token(scopes=ADMIN_SCOPES)).json()
    assert len(body["value"]) == 3


def test_license_details_and_skus(env):
    tok = env.token(user=env.user, scopes=["User.Read"])
    body = env.call("GET", "/v1.0/me/licenseDetails", token=tok).json()
    assert body["@odata.context"] == f"https://graph.microsoft.com/v1.0/$metadata#users('{env.user.id}')/licenseDetails"
    (lic,) = body["value"]
    assert lic["skuPartNumber"] == "SPE_E3" and lic["skuId"] == "05e9a617-0261-4cee-bb44-138d3ef5d965"
    assert {"servicePlanId": "c1ec4a95-1f05-45b3-a911-aa3fa01094f5", "servicePlanName": "INTUNE_A",
            "provisioningStatus": "Success", "appliesTo": "User"} in lic["servicePlans"]
    skus = env.call("GET", "/v1.0/subscribedSkus", token=env.token(scopes=ADMIN_SCOPES)).json()
    (sku,) = skus["value"]
    assert sku["id"] == f"{env.tenant.id}_05e9a617-0261-4cee-bb44-138d3ef5d965"
    assert sku["consumedUnits"] == 2 and sku["prepaidUnits"]["enabled"] == 25


def test_member_of_groups_members(env):
    grp = env.world.add_group(env.tenant, "Pilot", members=[env.user.id, env.devices[0].id])
    tok = env.token(user=env.user, scopes=["User.Read"])
    body = env.call("GET", "/v1.0/me/memberOf", token=tok).json()
    assert [g["id"] for g in body["value"]] == [grp.id]
    admin = env.token(scopes=ADMIN_SCOPES)
    groups = env.call("GET", "/v1.0/groups?$filter=displayName eq 'pilot'", token=admin).json()
    assert [g["id"] for g in groups["value"]] == [grp.id]
    members = env.call("GET", f"/v1.0/groups/{grp.id}/members", token=admin).json()["value"]
    assert {(m["@odata.type"], m["id"]) for m in members} == {("#microsoft.graph.user", env.user.id),
                                                             ("#microsoft.graph.device", env.devices[0].id)}


def test_organization(env):
    body = env.call("GET", "/v1.0/organization", token=env.token(user=env.user, scopes=["User.Read"])).json()
    (org,) = body["value"]
    assert org["id"] == env.tenant.id and org["displayName"] == "Contoso"
    assert org["verifiedDomains"][0]["name"] == "contoso.onmicrosoft.com" and org["verifiedDomains"][0]["isInitial"]


# -- URLs and errors -------------------------------------------------------------------------------

def test_unknown_segment(env):
    tok = env.token(scopes=ADMIN_SCOPES)
    r = env.call("GET", "/v1.0/deviceses", token=tok)
    assert r.status == 400
    assert err(r) == ("BadRequest", "Resource not found for the segment 'deviceses'.")
    r = env.call("GET", f"/v1.0/devices/{env.devices[0].id}/bogus", token=tok)
    assert err(r) == ("BadRequest", "Resource not found for the segment 'bogus'.")
    r = env.call("GET", "/v1.0/policies/mobileDeviceManagementPolicies", token=tok)
    assert err(r) == ("BadRequest", "Resource not found for the segment 'mobileDeviceManagementPolicies'.")


def test_wrong_method(env):
    r = env.call("POST", "/v1.0/devices/$count", token=env.token(scopes=ADMIN_SCOPES))
    assert r.status == 405
    assert err(r) == ("Request_BadRequest", "Specified HTTP method is not allowed for the request uri.")


def test_beta_serves_directory_too(env):
    body = env.call("GET", "/beta/devices", token=env.token(scopes=ADMIN_SCOPES)).json()
    assert body["@odata.context"] == "https://graph.microsoft.com/beta/$metadata#devices"


def test_through_requests_with_mock_entra(env):
    from emulator.transport.inprocess import mock_entra

    tok = env.token(scopes=ADMIN_SCOPES)
    with mock_entra(env.world):
        r = requests.get(f"{G}/v1.0/devices", headers={"Authorization": f"Bearer {tok}"},
                         params={"$filter": "startsWith(displayName,'DESKTOP-B')", "$top": "2"})
        assert r.status_code == 200
        body = r.json()
        assert len(body["value"]) == 2
        nxt = requests.get(body["@odata.nextLink"], headers={"Authorization": f"Bearer {tok}"}).json()
        assert len(nxt["value"]) == 1 and "@odata.nextLink" not in nxt
        r = requests.get(f"{G}/v1.0/nothing/here", headers={"Authorization": f"Bearer {tok}"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "BadRequest"


def test_expand_registered_owners(env):
    tok = env.token(scopes=ADMIN_SCOPES)
    body = env.call("GET", "/v1.0/devices?$expand=registeredOwners&$select=id,displayName", token=tok).json()
    first = body["value"][0]
    assert set(first) == {"id", "displayName", "registeredOwners"}
    assert first["registeredOwners"][0]["id"] == env.user.id
    assert first["registeredOwners"][0]["@odata.type"] == "#microsoft.graph.user"
    d = env.devices[0]
    one = env.call("GET", f"/v1.0/devices/{d.id}?$expand=registeredOwners", token=tok).json()
    assert one["registeredOwners"][0]["userPrincipalName"] == env.user.user_principal_name
    r = env.call("GET", "/v1.0/devices?$expand=owners", token=tok)
    assert r.status == 400
    assert err(r) == ("BadRequest", "Could not find a property named 'owners' on type 'microsoft.graph.device'.")
    me = env.call("GET", "/v1.0/me?$expand=registeredDevices", token=tok).json()
    assert me["registeredDevices"] == []


def test_directory_roles_and_member_of_roles(env):
    tok = env.token(scopes=ADMIN_SCOPES)
    roles = env.call("GET", "/v1.0/directoryRoles", token=tok).json()["value"]
    assert [(r["displayName"], r["roleTemplateId"]) for r in roles] == [("Global Administrator", GA)]
    members = env.call("GET", f"/v1.0/directoryRoles(roleTemplateId='{GA}')/members", token=tok).json()["value"]
    assert [m["id"] for m in members] == [env.admin.id]
    mine = env.call("GET", "/v1.0/me/memberOf", token=tok).json()["value"]
    assert [(m["@odata.type"], m["roleTemplateId"]) for m in mine] == [("#microsoft.graph.directoryRole", GA)]


def test_oidc_userinfo(env):
    tok = env.token(user=env.user, scopes=["openid", "profile", "email"])
    r = env.call("GET", "/oidc/userinfo", token=tok)
    assert r.status == 200
    body = r.json()
    assert body["name"] == "Bob Builder" and body["email"] == "bob@contoso.onmicrosoft.com" and body["sub"]
    assert env.call("GET", "/oidc/userinfo").status == 401


def test_create_device_and_owner_refs(env):
    tok = env.token(scopes=["Directory.AccessAsUser.All"])
    body = {"accountEnabled": False, "deviceId": "4c299165-6e8f-4b45-a5ba-c5d250a707ff", "displayName": "Test device",
            "operatingSystem": "linux", "operatingSystemVersion": "1",
            "alternativeSecurityIds": [{"type": 2, "key": "base64Y3YxN2E1MWFlYw=="}]}
    r = env.call("POST", "/v1.0/devices", token=tok, body=body)
    assert r.status == 201
    dev = r.json()
    assert dev["deviceId"] == body["deviceId"] and dev["accountEnabled"] is False
    assert env.call("POST", "/v1.0/devices", token=tok, body=body).status == 400  # duplicate deviceId
    assert env.call("POST", "/v1.0/devices", token=tok, body={"displayName": "x"}).status == 400
    ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{env.user.id}"}
    assert env.call("POST", f"/v1.0/devices/{dev['id']}/registeredOwners/$ref", token=tok, body=ref).status == 204
    assert env.tenant.devices[dev["id"]].owner_id == env.user.id
    assert env.call("POST", f"/v1.0/devices/{dev['id']}/registeredOwners/$ref", token=tok, body=ref).status == 400
    r = env.call("DELETE", f"/v1.0/devices/{dev['id']}/registeredOwners/{env.user.id}/$ref", token=tok)
    assert r.status == 204 and env.tenant.devices[dev["id"]].owner_id is None


def test_groups_and_members_write(env):
    tok = env.token(scopes=["Group.ReadWrite.All"])
    r = env.call("POST", "/v1.0/groups", token=tok, body={"displayName": "MDM pilot", "mailEnabled": False,
                                                          "mailNickname": "mdmpilot", "securityEnabled": True})
    assert r.status == 201
    gid = r.json()["id"]
    ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{env.user.id}"}
    assert env.call("POST", f"/v1.0/groups/{gid}/members/$ref", token=tok, body=ref).status == 204
    assert env.tenant.groups[gid].members == [env.user.id]
    r = env.call("POST", f"/v1.0/groups/{gid}/members/$ref", token=tok, body=ref)
    assert r.status == 400 and "already exist" in err(r)[1]
    assert env.call("DELETE", f"/v1.0/groups/{gid}/members/{env.user.id}/$ref", token=tok).status == 204
    assert env.call("DELETE", f"/v1.0/groups/{gid}", token=tok).status == 204
    assert gid not in env.tenant.groups
    plain = env.token(user=env.user, scopes=["Group.ReadWrite.All"])
    assert env.call("POST", "/v1.0/groups", token=plain, body={"displayName": "x", "mailEnabled": False,
                                                               "mailNickname": "x", "securityEnabled": True}).status == 403


def test_assign_license(env):
    from emulator.world import policy as pol

    tok = env.token(scopes=["User.ReadWrite.All"])
    e3 = "05e9a617-0261-4cee-bb44-138d3ef5d965"
    r = env.call("POST", f"/v1.0/users/{env.user.id}/assignLicense", token=tok,
                 body={"addLicenses": [], "removeLicenses": [e3]})
    assert r.status == 200 and r.json()["id"] == env.user.id
    assert not pol.has_intune_license(env.user)
    r = env.call("POST", f"/v1.0/users/{env.user.id}/assignLicense", token=tok,
                 body={"addLicenses": [{"skuId": e3, "disabledPlans": []}], "removeLicenses": []})
    assert r.status == 200 and pol.has_intune_license(env.user)
    r = env.call("POST", f"/v1.0/users/{env.user.id}/assignLicense", token=tok,
                 body={"addLicenses": [{"skuId": "061f9ace-7d42-4136-88ac-31dc755f143f"}], "removeLicenses": []})
    assert r.status == 400  # the tenant has no INTUNE_A subscription
    env.tenant.subscriptions["SPE_E3"] = 2
    env.world.add_user(env.tenant, "carol@contoso.onmicrosoft.com", display_name="Carol C", licenses=[])
    carol = env.tenant.user_by_upn("carol@contoso.onmicrosoft.com")
    r = env.call("POST", f"/v1.0/users/{carol.id}/assignLicense", token=tok,
                 body={"addLicenses": [{"skuId": e3}], "removeLicenses": []})
    assert r.status == 400
    assert err(r)[1] == f"Subscription with SKU {e3} does not have any available licenses."


def test_throttling_fault_speaks_graph(env):
    env.world.faults.add({"host": "graph.microsoft.com", "path": "/v1.0/devices", "nth": 1, "status": 429,
                          "error": "graph:TooManyRequests"})
    tok = env.token(scopes=ADMIN_SCOPES)
    r = env.call("GET", "/v1.0/devices", token=tok)
    assert r.status == 429
    body = r.json()["error"]
    assert body["code"] == "TooManyRequests" and body["message"] == "Please retry again later."
    assert body["innerError"]["status"] == "429" and body["innerError"]["request-id"]
    assert r.headers["Retry-After"]
    assert env.call("GET", "/v1.0/devices", token=tok).status == 200


def test_tokens_from_the_identity_service(env):
    """App (client credentials) and user (ROPC) tokens minted by the emulated identity service."""
    from emulator.transport.inprocess import mock_entra

    app = env.world.add_application(env.tenant, "Inventory", secret="s3cret", app_roles=["Device.Read.All"])
    with mock_entra(env.world):
        r = requests.post(f"https://login.microsoftonline.com/{env.tenant.id}/oauth2/v2.0/token",
                          data={"grant_type": "client_credentials", "client_id": app.app_id, "client_secret": "s3cret",
                                "scope": "https://graph.microsoft.com/.default"})
        assert r.status_code == 200, r.text
        tok = r.json()["access_token"]
        h = {"Authorization": f"Bearer {tok}"}
        assert requests.get(f"{G}/v1.0/devices", headers=h).status_code == 200
        r = requests.delete(f"{G}/v1.0/devices/{env.devices[0].id}", headers=h)
        assert r.status_code == 403 and r.json()["error"]["code"] == "Authorization_RequestDenied"
        r = requests.get(f"{G}/v1.0/me", headers=h)
        assert r.status_code == 400


def test_member_groups_checks(env):
    grp = env.world.add_group(env.tenant, "Pilot", members=[env.user.id, env.devices[0].id])
    tok = env.token(user=env.user, scopes=["User.Read"])
    r = env.call("POST", "/v1.0/me/getMemberGroups", token=tok, body={"securityEnabledOnly": True})
    assert r.json()["value"] == [grp.id]
    assert r.json()["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#Collection(Edm.String)"
    r = env.call("POST", "/v1.0/me/checkMemberGroups", token=tok, body={"groupIds": [grp.id, "nope"]})
    assert r.json()["value"] == [grp.id]
    admin = env.token(scopes=ADMIN_SCOPES)
    r = env.call("POST", f"/v1.0/devices/{env.devices[0].id}/getMemberGroups", token=admin,
                 body={"securityEnabledOnly": False})
    assert r.json()["value"] == [grp.id]
    assert env.call("POST", "/v1.0/me/getMemberGroups", token=tok, body={}).status == 400


def test_beta_users_return_more_properties(env):
    tok = env.token(scopes=ADMIN_SCOPES)
    v1 = env.call("GET", f"/v1.0/users/{env.user.id}", token=tok).json()
    beta = env.call("GET", f"/beta/users/{env.user.id}", token=tok).json()
    assert "accountEnabled" not in v1 and beta["accountEnabled"] is True and beta["usageLocation"] == "US"


def test_batch(env):
    tok = env.token(scopes=ADMIN_SCOPES)
    d = env.devices[0]
    r = env.call("POST", "/v1.0/$batch", token=tok, body={"requests": [
        {"id": "1", "method": "GET", "url": f"/devices/{d.id}?$select=id,displayName"},
        {"id": "2", "method": "GET", "url": "/devices/00000000-0000-0000-0000-00000000beef"},
        {"id": "3", "method": "GET", "url": "/devices/$count", "headers": {"ConsistencyLevel": "eventual"}},
        {"id": "4", "method": "DELETE", "url": f"/devices/{d.id}"},
    ]})
    assert r.status == 200
    res = {x["id"]: x for x in r.json()["responses"]}
    assert res["1"]["status"] == 200 and res["1"]["body"]["displayName"] == d.display_name
    assert res["2"]["status"] == 404 and res["2"]["body"]["error"]["code"] == "Request_ResourceNotFound"
    assert res["3"]["body"] == "3"
    assert res["4"]["status"] == 204 and d.id not in env.tenant.devices
    r = env.call("POST", "/v1.0/$batch", token=tok, body={"requests": [{"id": str(i), "method": "GET",
                                                                        "url": "/me"} for i in range(21)]})
    assert r.status == 400


def test_odata_type_casts(env):
    grp = env.world.add_group(env.tenant, "Mixed", members=[env.user.id, env.devices[0].id])
    tok = env.token(scopes=ADMIN_SCOPES)
    body = env.call("GET", f"/v1.0/groups/{grp.id}/members/microsoft.graph.device", token=tok).json()
    assert body["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#devices"
    assert [d["id"] for d in body["value"]] == [env.devices[0].id]
    body = env.call("GET", "/v1.0/me/memberOf/microsoft.graph.directoryRole", token=tok).json()
    assert [r["roleTemplateId"] for r in body["value"]] == [GA]
    body = env.call("GET", "/v1.0/me/memberOf/microsoft.graph.group", token=tok).json()
    assert body["value"] == []
    r = env.call("GET", "/v1.0/devices/microsoft.graph.user", token=tok)
    assert err(r) == ("BadRequest", "Resource not found for the segment 'microsoft.graph.user'.")


def test_users_write(env):
    tok = env.token(scopes=["User.ReadWrite.All"])
    body = {"accountEnabled": True, "displayName": "Dana D", "mailNickname": "dana",
            "userPrincipalName": "dana@contoso.onmicrosoft.com", "usageLocation": "GB",
            "passwordProfile": {"forceChangePasswordNextSignIn": False, "password": "Str0ng!Pass"}}
    r = env.call("POST", "/v1.0/users", token=tok, body=body)
    assert r.status == 201
    uid = r.json()["id"]
    dana = env.tenant.users[uid]
    assert dana.password == "Str0ng!Pass" and dana.usage_location == "GB"
    r = env.call("POST", "/v1.0/users", token=tok, body=body)
    assert err(r) == ("Request_BadRequest", "Another object with the same value for property userPrincipalName "
                                            "already exists.")
    weak = dict(body, userPrincipalName="erin@contoso.onmicrosoft.com", passwordProfile={"password": "weak"})
    assert "complexity" in err(env.call("POST", "/v1.0/users", token=tok, body=weak))[1]
    assert env.call("PATCH", f"/v1.0/users/{uid}", token=tok, body={"accountEnabled": False}).status == 204
    assert dana.account_enabled is False
    assert env.call("PATCH", f"/v1.0/users/{uid}", token=tok, body={"id": "x"}).status == 400
    assert env.call("DELETE", f"/v1.0/users/{uid}", token=tok).status == 204
    assert uid not in env.tenant.users
    plain = env.token(user=env.user, scopes=["User.ReadWrite.All"])
    assert env.call("PATCH", f"/v1.0/users/{env.admin.id}", token=plain, body={"jobTitle": "x"}).status == 403


def test_delta_devices(env):
    tok = env.token(scopes=ADMIN_SCOPES)
    for i in range(150):
        env.add_device(env.user, f"BULK-{i:03d}")
    first = env.call("GET", "/v1.0/devices/delta?$select=id,displayName", token=tok).json()
    assert len(first["value"]) == 100 and "@odata.nextLink" in first
    second = env.call("GET", first["@odata.nextLink"], token=tok).json()
    assert len(second["value"]) == 53 and "@odata.deltaLink" in second
    assert set(second["value"][0]) == {"id", "displayName"}
    link = second["@odata.deltaLink"]
    assert env.call("GET", link, token=tok).json()["value"] == []
    d0, d1 = env.devices[0], env.devices[1]
    env.call("PATCH", f"/v1.0/devices/{d0.id}", token=env.token(scopes=["Directory.AccessAsUser.All"]),
             body={"accountEnabled": False})
    env.call("DELETE", f"/v1.0/devices/{d1.id}", token=env.token(scopes=["Directory.AccessAsUser.All"]))
    changes = env.call("GET", link, token=tok).json()
    assert {c["id"] for c in changes["value"]} == {d0.id, d1.id}
    removed = [c for c in changes["value"] if "@removed" in c]
    assert removed == [{"id": d1.id, "@removed": {"reason": "deleted"}}]
    assert env.call("GET", "/v1.0/devices/delta?$deltatoken=bogus", token=tok).status == 400
