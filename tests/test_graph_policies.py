"""Graph: device registration policy, conditional access policies, MDM user scope."""
import pytest
from test_graph import Env, err

from emulator.world import policy
from emulator.world.models import INTUNE_APP_ID, ROLE_TEMPLATES

CAA = ROLE_TEMPLATES["Conditional Access Administrator"]
GR = ROLE_TEMPLATES["Global Reader"]


@pytest.fixture
def env():
    return Env()


# -- device registration policy ----------------------------------------------------------------------

def test_get_device_registration_policy(env):
    r = env.call("GET", "/v1.0/policies/deviceRegistrationPolicy", token=env.token(scopes=["Policy.Read.All"]))
    assert r.status == 200
    body = r.json()
    assert body["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#deviceRegistrationPolicy"
    assert body["id"] == "deviceRegistrationPolicy" and body["userDeviceQuota"] == 50
    assert body["description"].startswith("Tenant-wide policy that manages intial provisioning")
    assert body["azureADJoin"]["allowedToJoin"] == {"@odata.type": "#microsoft.graph.allDeviceRegistrationMembership"}


def test_drp_read_needs_role_for_users(env):
    r = env.call("GET", "/v1.0/policies/deviceRegistrationPolicy",
                 token=env.token(user=env.user, scopes=["Policy.Read.All"]))
    assert r.status == 403 and err(r)[0] == "Authorization_RequestDenied"
    r = env.call("GET", "/v1.0/policies/deviceRegistrationPolicy", token=env.token(roles=["Policy.Read.All"]))
    assert r.status == 403  # Policy.Read.All is not an application permission for this API
    r = env.call("GET", "/v1.0/policies/deviceRegistrationPolicy",
                 token=env.token(roles=["Policy.Read.DeviceConfiguration"]))
    assert r.status == 200


def test_put_is_full_replace_quota_left_out_becomes_zero(env):
    tok = env.token(scopes=["Policy.ReadWrite.DeviceConfiguration"])
    body = {"multiFactorAuthConfiguration": "required",
            "azureADJoin": {"isAdminConfigurable": True,
                            "allowedToJoin": {"@odata.type": "#microsoft.graph.enumeratedDeviceRegistrationMembership",
                                              "users": [env.admin.id], "groups": []}}}
    r = env.call("PUT", "/v1.0/policies/deviceRegistrationPolicy", token=tok, body=body)
    assert r.status == 200
    out = r.json()
    assert out["userDeviceQuota"] == 0 and out["multiFactorAuthConfiguration"] == "required"
    assert out["id"] == "deviceRegistrationPolicy" and out["displayName"] == "Device Registration Policy"
    assert policy.device_quota(env.tenant) == 0
    assert policy.device_quota_reached(env.tenant, env.admin)
    assert policy.mfa_required_to_join(env.tenant)
    assert policy.may_join(env.tenant, env.admin) and not policy.may_join(env.tenant, env.user)
    audit = env.tenant.directory_audits[-1]
    assert audit["activityDisplayName"] == "Set device registration policies" and audit["category"] == "Policy"
    # and back
    r = env.call("PUT", "/v1.0/policies/deviceRegistrationPolicy", token=tok,
                 body={"userDeviceQuota": 20, "multiFactorAuthConfiguration": "notRequired"})
    assert r.json()["userDeviceQuota"] == 20 and policy.device_quota(env.tenant) == 20
    assert r.json()["multiFactorAuthConfiguration"] == "notRequired"


def test_put_validation_and_permissions(env):
    tok = env.token(scopes=["Policy.ReadWrite.DeviceConfiguration"])
    r = env.call("PUT", "/v1.0/policies/deviceRegistrationPolicy", token=tok, body={"userDeviceQuota": "lots"})
    assert r.status == 400
    r = env.call("PUT", "/v1.0/policies/deviceRegistrationPolicy", token=tok,
                 body={"userDeviceQuota": 5, "azureADJoin": {"allowedToJoin": {"@odata.type": "#bogus"}}})
    assert r.status == 400
    assert policy.device_quota(env.tenant) == 50
    r = env.call("PUT", "/v1.0/policies/deviceRegistrationPolicy",
                 token=env.token(scopes=["Policy.Read.All"]), body={"userDeviceQuota": 5})
    assert r.status == 403
    r = env.call("PATCH", "/v1.0/policies/deviceRegistrationPolicy", token=tok, body={"userDeviceQuota": 5})
    assert r.status == 405


# -- conditional access ------------------------------------------------------------------------------

CA_BODY = {
    "displayName": "Require MFA to join",
    "state": "enabled",
    "conditions": {"users": {"includeUsers": ["All"]},
                   "applications": {"includeUserActions": ["urn:user:registerdevice"]}},
    "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
}


def test_ca_crud(env):
    env.admin.roles = [CAA]
    tok = env.token(scopes=["Policy.ReadWrite.ConditionalAccess", "Policy.Read.All"])
    r = env.call("POST", "/v1.0/identity/conditionalAccess/policies", token=tok, body=CA_BODY)
    assert r.status == 201
    pol = r.json()
    assert pol["id"] and pol["modifiedDateTime"] is None and pol["createdDateTime"].endswith("Z")
    assert pol["conditions"]["users"]["excludeUsers"] == [] and pol["conditions"]["users"]["includeGroups"] == []
    assert pol["conditions"]["applications"]["includeApplications"] == []
    assert pol["grantControls"]["customAuthenticationFactors"] == [] and pol["grantControls"]["termsOfUse"] == []
    assert pol["sessionControls"] is None and pol["conditions"]["platforms"] is None
    out = policy.evaluate_conditional_access(env.tenant, env.user, None, user_action="urn:user:registerdevice")
    assert out.mfa
    listed = env.call("GET", "/v1.0/identity/conditionalAccess/policies", token=tok).json()
    assert [p["id"] for p in listed["value"]] == [pol["id"]]
    r = env.call("PATCH", f"/v1.0/identity/conditionalAccess/policies/{pol['id']}", token=tok,
                 body={"state": "disabled"})
    assert r.status == 204
    got = env.call("GET", f"/v1.0/identity/conditionalAccess/policies/{pol['id']}", token=tok).json()
    assert got["state"] == "disabled" and got["modifiedDateTime"]
    assert not policy.evaluate_conditional_access(env.tenant, env.user, None,
                                                  user_action="urn:user:registerdevice").mfa
    assert env.call("DELETE", f"/v1.0/identity/conditionalAccess/policies/{pol['id']}", token=tok).status == 204
    r = env.call("GET", f"/v1.0/identity/conditionalAccess/policies/{pol['id']}", token=tok)
    assert r.status == 404
    assert env.tenant.conditional_access_policies == []


def test_ca_validation(env):
    tok = env.token(scopes=["Policy.ReadWrite.ConditionalAccess"])
    bad = dict(CA_BODY, grantControls={"operator": "OR", "builtInControls": ["compliantDevice"]})
    assert env.call("POST", "/v1.0/identity/conditionalAccess/policies", token=tok, body=bad).status == 400
    bad = dict(CA_BODY, state="on")
    assert env.call("POST", "/v1.0/identity/conditionalAccess/policies", token=tok, body=bad).status == 400
    bad = {k: v for k, v in CA_BODY.items() if k != "conditions"}
    assert env.call("POST", "/v1.0/identity/conditionalAccess/policies", token=tok, body=bad).status == 400
    assert env.tenant.conditional_access_policies == []


def test_ca_permissions(env):
    r = env.call("GET", "/v1.0/identity/conditionalAccess/policies",
                 token=env.token(user=env.user, scopes=["Policy.Read.All"]))
    assert r.status == 403
    env.user.roles = [GR]
    r = env.call("GET", "/v1.0/identity/conditionalAccess/policies",
                 token=env.token(user=env.user, scopes=["Policy.Read.All"]))
    assert r.status == 200
    r = env.call("POST", "/v1.0/identity/conditionalAccess/policies",
                 token=env.token(user=env.user, scopes=["Policy.ReadWrite.ConditionalAccess"]), body=CA_BODY)
    assert r.status == 403


# -- MDM user scope ----------------------------------------------------------------------------------

MDM = "/beta/policies/mobileDeviceManagementPolicies"


def test_mdm_policies_list_and_get(env):
    tok = env.token(scopes=["Policy.Read.All"])
    body = env.call("GET", MDM, token=tok).json()
    assert body["@odata.context"] == "https://graph.microsoft.com/beta/$metadata#mobilityManagementPolicies"
    names = {p["displayName"] for p in body["value"]}
    assert names == {"Microsoft Intune", "Microsoft Intune Enrollment"}
    assert all("includedGroups" not in p for p in body["value"])
    one = env.call("GET", f"{MDM}/{INTUNE_APP_ID}", token=tok).json()
    assert one["appliesTo"] == "all" and one["isValid"] is True and "includedGroups" not in one
    r = env.call("GET", MDM, token=env.token(roles=["Policy.Read.All"]))
    assert r.status == 403  # application permissions are not supported


def test_mdm_scope_selected_groups(env):
    grp = env.world.add_group(env.tenant, "MDM users", members=[env.user.id])
    tok = env.token(scopes=["Policy.ReadWrite.MobilityManagement"])
    r = env.call("PATCH", f"{MDM}/{INTUNE_APP_ID}", token=tok, body={"appliesTo": "none"})
    assert r.status == 204
    assert not policy.in_mdm_scope(env.tenant, env.user)
    r = env.call("PATCH", f"{MDM}/{INTUNE_APP_ID}", token=tok, body={"appliesTo": "selected"})
    assert r.status == 400
    r = env.call("PATCH", f"{MDM}/{INTUNE_APP_ID}", token=tok,
                 body={"appliesTo": "all", "termsOfUseUrl": "https://x"})
    assert r.status == 400
    r = env.call("POST", f"{MDM}/{INTUNE_APP_ID}/includedGroups/$ref", token=tok,
                 body={"@odata.id": f"https://graph.microsoft.com/beta/groups/{grp.id}"})
    assert r.status == 204
    assert policy.in_mdm_scope(env.tenant, env.user) and not policy.in_mdm_scope(env.tenant, env.admin)
    groups = env.call("GET", f"{MDM}/{INTUNE_APP_ID}/includedGroups", token=tok).json()["value"]
    assert [(g["id"], g["displayName"]) for g in groups] == [(grp.id, "MDM users")]
    expanded = env.call("GET", f"{MDM}/{INTUNE_APP_ID}?$expand=includedGroups", token=tok).json()
    assert expanded["appliesTo"] == "selected" and expanded["includedGroups"][0]["id"] == grp.id
    r = env.call("DELETE", f"{MDM}/{INTUNE_APP_ID}/includedGroups/{grp.id}/$ref", token=tok)
    assert r.status == 204
    assert not policy.in_mdm_scope(env.tenant, env.user)
    r = env.call("PATCH", f"{MDM}/{INTUNE_APP_ID}", token=tok, body={"appliesTo": "all"})
    assert policy.in_mdm_scope(env.tenant, env.admin)
