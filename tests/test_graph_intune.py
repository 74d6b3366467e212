"""Graph: Intune managedDevices and deviceEnrollmentConfigurations, sign-in and audit logs."""
import datetime as dt
import json
import re

import pytest
from freezegun import freeze_time
from test_graph import Env, err

from emulator.world import policy
from emulator.world.events import record_audit, record_sign_in
from emulator.world.models import ROLE_TEMPLATES, ManagedDevice

IA = ROLE_TEMPLATES["Intune Administrator"]
LIMIT = "#microsoft.graph.deviceEnrollmentLimitConfiguration"


@pytest.fixture
def env():
    e = Env()
    w = e.world
    e.managed = []
    for d in e.devices:
        m = ManagedDevice(id=w.ids.guid(), device_name=d.display_name, user_id=e.user.id,
                          user_principal_name=e.user.user_principal_name, user_display_name=e.user.display_name,
                          azure_ad_device_id=d.device_id, enrolled=w.now() - dt.timedelta(days=2),
                          last_sync=w.now() - dt.timedelta(days=1), os_version="10.0.26100.2605")
        e.tenant.managed_devices[m.id] = m
        d.is_managed = True
        e.managed.append(m)
    return e


MD_READ = ["DeviceManagementManagedDevices.Read.All"]


def test_managed_devices_list_and_get(env):
    tok = env.token(scopes=MD_READ)
    body = env.call("GET", "/v1.0/deviceManagement/managedDevices", token=tok).json()
    assert body["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#deviceManagement/managedDevices"
    assert len(body["value"]) == 3
    m = body["value"][0]
    assert m["@odata.type"] == "#microsoft.graph.managedDevice"
    assert m["azureADDeviceId"] == env.devices[0].device_id and m["deviceEnrollmentType"] == "windowsAzureADJoin"
    assert m["complianceState"] == "compliant" and m["managementAgent"] == "mdm" and "joinType" not in m
    beta = env.call("GET", f"/beta/deviceManagement/managedDevices/{env.managed[0].id}", token=tok).json()
    assert beta["joinType"] == "azureADJoined"
    f = env.call("GET", f"/v1.0/deviceManagement/managedDevices?$filter=azureADDeviceId eq "
                        f"'{env.devices[1].device_id}'", token=tok).json()
    assert [x["id"] for x in f["value"]] == [env.managed[1].id]
    mine = env.call("GET", "/v1.0/me/managedDevices", token=env.token(user=env.user, scopes=MD_READ))
    assert mine.status == 403  # a plain user holds no Intune role
    mine = env.call("GET", f"/v1.0/users/{env.user.id}/managedDevices", token=tok).json()
    assert len(mine["value"]) == 3


def test_intune_errors_speak_intune(env):
    r = env.call("GET", "/v1.0/deviceManagement/managedDevices", token=env.token(scopes=["Device.Read.All"]))
    assert r.status == 403
    code, message = err(r)
    assert code == "Forbidden"
    inner = json.loads(message)
    assert inner["_version"] == 3 and "DeviceManagementManagedDevices.Read.All" in inner["Message"]
    r = env.call("GET", "/v1.0/deviceManagement/managedDevices/00000000-0000-0000-0000-00000000abcd",
                 token=env.token(scopes=MD_READ))
    assert r.status == 404 and err(r)[0] == "ResourceNotFound"


def test_sync_and_delete(env):
    m = env.managed[0]
    with freeze_time("2030-05-01 08:00:00"):
        tok = env.token(scopes=["DeviceManagementManagedDevices.PrivilegedOperations.All"])
        r = env.call("POST", f"/v1.0/deviceManagement/managedDevices/{m.id}/syncDevice", token=tok)
        assert r.status == 204
        assert m.last_sync == dt.datetime(2030, 5, 1, 8, tzinfo=dt.timezone.utc)
        r = env.call("POST", f"/v1.0/deviceManagement/managedDevices/{m.id}/syncDevice",
                     token=env.token(scopes=MD_READ))
        assert r.status == 403
        tok = env.token(scopes=["DeviceManagementManagedDevices.ReadWrite.All"])
        assert env.call("DELETE", f"/v1.0/deviceManagement/managedDevices/{m.id}", token=tok).status == 204
        assert m.id not in env.tenant.managed_devices and env.devices[0].is_managed is False


def test_enrollment_configurations(env):
    grp = env.world.add_group(env.tenant, "Limited", members=[env.user.id])
    tok = env.token(scopes=["DeviceManagementServiceConfig.ReadWrite.All"])
    base = "/beta/deviceManagement/deviceEnrollmentConfigurations"
    listed = env.call("GET", base, token=tok).json()["value"]
    assert {c["id"] for c in listed} == {f"{env.tenant.id}_DefaultLimit", f"{env.tenant.id}_DefaultPlatformRestrictions"}
    assert all("assignments" not in c for c in listed)
    default = env.call("GET", f"{base}/{env.tenant.id}_DefaultLimit", token=tok).json()
    assert default["limit"] == 5 and default["priority"] == 0 and default["deviceEnrollmentConfigurationType"] == "limit"
    assert default["@odata.context"] == ("https://graph.microsoft.com/beta/$metadata#deviceManagement/"
                                         "deviceEnrollmentConfigurations/$entity")
    # 3 managed devices, default limit 5: allowed.  A limit-2 policy assigned to the user's group blocks.
    assert policy.enrollment_restriction(env.tenant, env.user) is None
    r = env.call("POST", base, token=tok, body={"@odata.type": LIMIT, "displayName": "Two", "limit": 2})
    assert r.status == 201
    cfg = r.json()
    assert cfg["priority"] == 1 and cfg["limit"] == 2
    assert policy.enrollment_restriction(env.tenant, env.user) is None  # not assigned yet
    r = env.call("POST", f"{base}/{cfg['id']}/assign", token=tok, body={"enrollmentConfigurationAssignments": [
        {"target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": grp.id}}]})
    assert r.status == 204
    assert policy.enrollment_restriction(env.tenant, env.user) == "DeviceCapReached"
    assigns = env.call("GET", f"{base}/{cfg['id']}/assignments", token=tok).json()["value"]
    assert assigns[0]["target"]["groupId"] == grp.id
    assert env.call("PATCH", f"{base}/{cfg['id']}", token=tok, body={"limit": 10}).status == 204
    assert policy.enrollment_restriction(env.tenant, env.user) is None
    assert env.call("PATCH", f"{base}/{cfg['id']}", token=tok, body={"limit": 99}).status == 400
    r2 = env.call("POST", base, token=tok, body={"@odata.type": LIMIT, "displayName": "Three", "limit": 3}).json()
    assert r2["priority"] == 2
    assert env.call("POST", f"{base}/{r2['id']}/setPriority", token=tok, body={"priority": 1}).status == 204
    got = {c["id"]: c["priority"] for c in env.call("GET", base, token=tok).json()["value"]}
    assert got[r2["id"]] == 1 and got[cfg["id"]] == 2
    assert env.call("DELETE", f"{base}/{env.tenant.id}_DefaultLimit", token=tok).status == 400
    assert env.call("DELETE", f"{base}/{cfg['id']}", token=tok).status == 204
    assert env.call("GET", f"{base}/{cfg['id']}", token=tok).status == 404
    r = env.call("POST", base, token=env.token(scopes=["DeviceManagementServiceConfig.Read.All"]),
                 body={"@odata.type": LIMIT, "displayName": "x", "limit": 1})
    assert r.status == 403


# -- logs -----------------------------------------------------------------------------------------

LOGS = ["AuditLog.Read.All", "Directory.Read.All"]


def _sign_ins(env, n):
    base = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    for i in range(n):
        with freeze_time(base + dt.timedelta(minutes=i)):
            record_sign_in(env.world, env.tenant, user=env.user if i % 2 else env.admin,
                           app_id="29d9ed98-a469-4536-ade2-f981bc1d605e", app_display_name="Microsoft Authentication Broker",
                           resource_id="01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9",
                           resource_display_name="Device Registration Service", error_code=0 if i % 3 else 50126)


def test_sign_ins_newest_first_filter_and_paging(env):
    _sign_ins(env, 7)
    tok = env.token(scopes=LOGS)
    body = env.call("GET", "/v1.0/auditLogs/signIns", token=tok).json()
    assert body["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#auditLogs/signIns"
    times = [s["createdDateTime"] for s in body["value"]]
    assert times == sorted(times, reverse=True) and len(times) == 7
    assert "authenticationRequirement" not in body["value"][0]
    assert "authenticationRequirement" in env.call("GET", "/beta/auditLogs/signIns", token=tok).json()["value"][0]
    page = env.call("GET", "/v1.0/auditLogs/signIns?$top=3", token=tok).json()
    assert len(page["value"]) == 3
    assert re.search(r"\$skiptoken=[0-9a-f]{32}_3$", page["@odata.nextLink"]), page["@odata.nextLink"]
    seen = [s["id"] for s in page["value"]]
    while "@odata.nextLink" in page:
        page = env.call("GET", page["@odata.nextLink"], token=tok).json()
        seen += [s["id"] for s in page["value"]]
    assert seen == [s["id"] for s in body["value"]]
    f = env.call("GET", f"/v1.0/auditLogs/signIns?$filter=userPrincipalName eq '{env.user.user_principal_name}' "
                        "and createdDateTime ge 2030-01-01T00:03:00Z", token=tok).json()
    assert [s["createdDateTime"] for s in f["value"]] == ["2030-01-01T00:05:00Z", "2030-01-01T00:03:00Z"]
    f = env.call("GET", "/v1.0/auditLogs/signIns?$filter=status/errorCode eq 50126", token=tok).json()
    assert len(f["value"]) == 3
    f = env.call("GET", "/v1.0/auditLogs/signIns?$filter=startsWith(appDisplayName,'Microsoft Auth')", token=tok).json()
    assert len(f["value"]) == 7
    r = env.call("GET", "/v1.0/auditLogs/signIns?$filter=userAgent eq 'x'", token=tok)
    assert r.status == 400 and err(r)[0] == "BadRequest"


def test_sign_ins_need_audit_and_directory_and_role(env):
    _sign_ins(env, 1)
    assert env.call("GET", "/v1.0/auditLogs/signIns", token=env.token(scopes=["AuditLog.Read.All"])).status == 403
    assert env.call("GET", "/v1.0/auditLogs/signIns", token=env.token(user=env.user, scopes=LOGS)).status == 403
    assert env.call("GET", "/v1.0/auditLogs/signIns", token=env.token(roles=LOGS)).status == 200


def test_directory_audits(env):
    tok = env.token(scopes=LOGS)
    d = env.devices[0]
    env.call("DELETE", f"/v1.0/devices/{d.id}", token=env.token(scopes=["Directory.AccessAsUser.All"]))
    record_audit(env.world, env.tenant, activity="Register device", targets=[])
    body = env.call("GET", "/v1.0/auditLogs/directoryAudits", token=tok).json()
    assert [a["activityDisplayName"] for a in body["value"]] == ["Register device", "Delete device"]
    f = env.call("GET", "/v1.0/auditLogs/directoryAudits?$filter=activityDisplayName eq 'Delete device'",
                 token=tok).json()
    assert len(f["value"]) == 1 and f["value"][0]["loggedByService"] == "Core Directory"
    f = env.call("GET", f"/v1.0/auditLogs/directoryAudits?$filter=targetResources/any(t: t/id eq '{d.id}')",
                 token=tok).json()
    assert [a["activityDisplayName"] for a in f["value"]] == ["Delete device"]
    f = env.call("GET", "/v1.0/auditLogs/directoryAudits?$filter=category eq 'Device' and "
                        "loggedByService eq 'Device Registration Service'", token=tok).json()
    assert [a["activityDisplayName"] for a in f["value"]] == ["Register device"]


def test_remote_actions(env):
    m = env.managed[1]
    tok = env.token(scopes=["DeviceManagementManagedDevices.PrivilegedOperations.All"])
    r = env.call("POST", f"/v1.0/deviceManagement/managedDevices/{m.id}/retire", token=tok)
    assert r.status == 204
    r = env.call("POST", f"/v1.0/deviceManagement/managedDevices/{m.id}/wipe", token=tok,
                 body={"keepEnrollmentData": False, "keepUserData": True})
    assert r.status == 204
    got = env.call("GET", f"/v1.0/deviceManagement/managedDevices/{m.id}",
                   token=env.token(scopes=MD_READ)).json()
    assert {(a["actionName"], a["actionState"]) for a in got["deviceActionResults"]} == {("retire", "pending"),
                                                                                         ("wipe", "pending")}


def test_sign_ins_need_premium_and_hide_report_only_results(env):
    from emulator.world.policy import CaOutcome

    ca = CaOutcome(applied=[{"id": "p1", "displayName": "Report MFA", "enforcedGrantControls": ["Require multifactor "
                             "authentication"], "enforcedSessionControls": [], "result": "reportOnlyFailure"}])
    record_sign_in(env.world, env.tenant, user=env.user, app_id="a", app_display_name="App", resource_id="r",
                   resource_display_name="R", ca=ca)
    tok = env.token(scopes=LOGS)
    s = env.call("GET", "/v1.0/auditLogs/signIns", token=tok).json()["value"][0]
    assert s["appliedConditionalAccessPolicies"][0]["result"] == "unknownFutureValue"
    s = env.call("GET", "/v1.0/auditLogs/signIns", token=tok,
                 headers={"Prefer": "include-unknown-enum-members"}).json()["value"][0]
    assert s["appliedConditionalAccessPolicies"][0]["result"] == "reportOnlyFailure"
    env.tenant.subscriptions = {"ENTERPRISEPREMIUM": 10}
    r = env.call("GET", "/v1.0/auditLogs/signIns", token=tok)
    assert r.status == 403
    assert err(r) == ("Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                      "Neither tenant is B2C or tenant doesn't have premium license")
    assert env.call("GET", "/v1.0/auditLogs/directoryAudits", token=tok).status == 200


def test_patch_managed_device_ownership(env):
    m = env.managed[2]
    tok = env.token(scopes=["DeviceManagementManagedDevices.ReadWrite.All"])
    r = env.call("PATCH", f"/v1.0/deviceManagement/managedDevices/{m.id}", token=tok,
                 body={"managedDeviceOwnerType": "personal"})
    assert r.status == 204 and m.owner_type == "personal"
    r = env.call("PATCH", f"/v1.0/deviceManagement/managedDevices/{m.id}", token=tok,
                 body={"managedDeviceOwnerType": "mine"})
    assert r.status == 400
