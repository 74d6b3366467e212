"""The official Microsoft Graph Python SDK (msgraph-sdk) parses what the emulated Graph answers.

The SDK speaks httpx, so an httpx MockTransport hands its requests to the router in-process.
"""
import asyncio

import httpx
import pytest
from test_graph import ADMIN_SCOPES, Env

from emulator.http import Request
from emulator.services.router import default_router

msgraph = pytest.importorskip("msgraph")


class StaticToken:
    def __init__(self, token):
        self.token = token

    async def get_authorization_token(self, uri, additional_authentication_context=None):
        return self.token

    def get_allowed_hosts_validator(self):
        from kiota_abstractions.authentication import AllowedHostsValidator

        return AllowedHostsValidator(["graph.microsoft.com"])


def sdk_client(env, token):
    from kiota_abstractions.authentication import BaseBearerTokenAuthenticationProvider
    from msgraph import GraphRequestAdapter, GraphServiceClient

    def handler(request: httpx.Request) -> httpx.Response:
        resp = default_router().dispatch(env.world, Request(request.method, str(request.url),
                                                            dict(request.headers), request.read()))
        return httpx.Response(resp.status, headers=resp.headers, content=resp.body)

    from msgraph.graph_request_adapter import options
    from msgraph_core import GraphClientFactory

    # The SDK's own middleware (it turns /users/me-token-to-replace into /me) over a mock transport.
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(transport=httpx.MockTransport(handler),
                                 base_url="https://graph.microsoft.com/v1.0"), options=options)
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(StaticToken(token)), client=http)
    return GraphServiceClient(request_adapter=adapter)


@pytest.fixture
def env():
    e = Env()
    from emulator.world.models import ManagedDevice

    d = e.devices[0]
    now = e.world.now()
    m = ManagedDevice(id=e.world.ids.guid(), device_name=d.display_name, user_id=e.user.id,
                      user_principal_name=e.user.user_principal_name, user_display_name=e.user.display_name,
                      azure_ad_device_id=d.device_id, enrolled=now, last_sync=now, os_version="10.0.26100.2605")
    e.tenant.managed_devices[m.id] = m
    e.managed = m
    return e


SCOPES = ADMIN_SCOPES + ["Policy.Read.All", "Policy.ReadWrite.ConditionalAccess", "AuditLog.Read.All",
                         "DeviceManagementManagedDevices.Read.All", "DeviceManagementServiceConfig.Read.All",
                         "Organization.Read.All"]


def test_sdk_reads_everything(env):
    from msgraph.generated.models.conditional_access_policy import ConditionalAccessPolicy
    from msgraph.generated.models.conditional_access_policy_state import ConditionalAccessPolicyState

    client = sdk_client(env, env.token(scopes=SCOPES))

    async def go():
        out = {}
        out["devices"] = await client.devices.get()
        out["device"] = await client.devices.by_device_id(env.devices[1].id).get()
        out["owners"] = await client.devices.by_device_id(env.devices[1].id).registered_owners.get()
        out["me"] = await client.me.get()
        out["users"] = await client.users.get()
        out["licenses"] = await client.users.by_user_id(env.user.id).license_details.get()
        out["skus"] = await client.subscribed_skus.get()
        out["org"] = await client.organization.get()
        out["drp"] = await client.policies.device_registration_policy.get()
        out["managed"] = await client.device_management.managed_devices.get()
        out["configs"] = await client.device_management.device_enrollment_configurations.get()
        body = ConditionalAccessPolicy.__new__(ConditionalAccessPolicy)
        ConditionalAccessPolicy.__init__(body)
        body.display_name = "SDK policy"
        body.state = ConditionalAccessPolicyState.EnabledForReportingButNotEnforced
        from msgraph.generated.models.conditional_access_applications import ConditionalAccessApplications
        from msgraph.generated.models.conditional_access_condition_set import ConditionalAccessConditionSet
        from msgraph.generated.models.conditional_access_grant_control import ConditionalAccessGrantControl
        from msgraph.generated.models.conditional_access_grant_controls import ConditionalAccessGrantControls
        from msgraph.generated.models.conditional_access_users import ConditionalAccessUsers
        body.conditions = ConditionalAccessConditionSet(
            users=ConditionalAccessUsers(include_users=["All"]),
            applications=ConditionalAccessApplications(include_applications=["All"]))
        body.grant_controls = ConditionalAccessGrantControls(operator="OR",
                                                             built_in_controls=[ConditionalAccessGrantControl.Mfa])
        out["ca_new"] = await client.identity.conditional_access.policies.post(body)
        out["ca"] = await client.identity.conditional_access.policies.get()
        out["audits"] = await client.audit_logs.directory_audits.get()
        out["signins"] = await client.audit_logs.sign_ins.get()
        return out

    out = asyncio.run(go())
    assert {d.display_name for d in out["devices"].value} == {d.display_name for d in env.devices}
    assert out["device"].device_id == env.devices[1].device_id and out["device"].trust_type == "AzureAd"
    assert out["owners"].value[0].id == env.user.id
    assert out["me"].user_principal_name == env.admin.user_principal_name
    assert len(out["users"].value) == 2
    assert out["licenses"].value[0].sku_part_number == "SPE_E3"
    assert out["skus"].value[0].prepaid_units.enabled == 25
    assert out["org"].value[0].verified_domains[0].name == "contoso.onmicrosoft.com"
    assert out["drp"].user_device_quota == 50
    assert out["managed"].value[0].azure_a_d_device_id == env.devices[0].device_id
    assert out["managed"].value[0].compliance_state.value == "compliant"
    assert {c.id.split("_", 1)[1] for c in out["configs"].value} == {"DefaultLimit", "DefaultPlatformRestrictions"}
    assert out["ca_new"].id and out["ca_new"].conditions.users.exclude_users == []
    assert [p.display_name for p in out["ca"].value] == ["SDK policy"]
    assert out["audits"].value[0].activity_display_name == "Add conditional access policy"
    assert out["signins"].value == []


def test_sdk_sees_graph_errors(env):
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError

    client = sdk_client(env, env.token(user=env.user, scopes=["User.Read"]))

    async def go():
        return await client.devices.get()

    with pytest.raises(ODataError) as exc:
        asyncio.run(go())
    assert exc.value.response_status_code == 403
    assert exc.value.error.code == "Authorization_RequestDenied"
    assert exc.value.error.message == "Insufficient privileges to complete the operation."
