"""Sign-in and directory audit logs (graph-intune.md §9): newest first, $filter on the documented
fields, $top/$skiptoken paging (default and max page 1000).

| endpoint | delegated | application | roles (delegated) |
|---|---|---|---|
| GET auditLogs/signIns[/id] | AuditLog.Read.All and Directory.Read.All (known issue: both) | same | Global Admin, Global Reader, Reports Reader, Security Admin, Security Operator, Security Reader |
| GET auditLogs/directoryAudits[/id] | AuditLog.Read.All | AuditLog.Read.All | same |
"""
from __future__ import annotations

from typing import Any

from ...world.models import KNOWN_SKUS
from . import odata
from .core import GA, GR, RR, SA, SECURITY_OPERATOR, SR, GraphContext, Perm, route
from .exceptions import GraphError

_ROLES = (GA, GR, RR, SA, SECURITY_OPERATOR, SR)
SIGNIN_READ = Perm(("AuditLog.Read.All",), ("AuditLog.Read.All",), roles=_ROLES,
                   also_needs=(("Directory.Read.All", "Directory.ReadWrite.All", "Directory.AccessAsUser.All"),))
AUDIT_READ = Perm(("AuditLog.Read.All",), ("AuditLog.Read.All",), roles=_ROLES)


def _path(*keys: str):
    def get(o: dict[str, Any]):
        v: Any = o
        for k in keys:
            if not isinstance(v, dict):
                return None
            v = v.get(k)
        return v
    return get


def _ops(s: str) -> frozenset[str]:
    return frozenset(s.split())


_LOG_COMMON = dict(default_top=1000, max_top=1000, advanced_ops=frozenset(), filter_orderby_advanced=False,
                   count_needs_header=False, skiptoken_style="log",
                   supports=frozenset({"$select", "$filter", "$top", "$skiptoken", "$orderby"}))

SIGNIN_SPEC = odata.ResourceSpec(
    "signIn", "SignIn",
    {
        "id": odata.Prop(_path("id"), _ops("eq")),
        "createdDateTime": odata.Prop(_path("createdDateTime"), _ops("eq le ge lt gt"), orderby="basic"),
        "userDisplayName": odata.Prop(_path("userDisplayName"), _ops("eq startsWith")),
        "userPrincipalName": odata.Prop(_path("userPrincipalName"), _ops("eq startsWith")),
        "userId": odata.Prop(_path("userId"), _ops("eq")),
        "appId": odata.Prop(_path("appId"), _ops("eq")),
        "appDisplayName": odata.Prop(_path("appDisplayName"), _ops("eq startsWith")),
        "ipAddress": odata.Prop(_path("ipAddress"), _ops("eq startsWith")),
        "correlationId": odata.Prop(_path("correlationId"), _ops("eq")),
        "conditionalAccessStatus": odata.Prop(_path("conditionalAccessStatus"), _ops("eq")),
        "clientAppUsed": odata.Prop(_path("clientAppUsed"), _ops("eq")),
        "isInteractive": odata.Prop(_path("isInteractive"), _ops("eq")),
        "resourceDisplayName": odata.Prop(_path("resourceDisplayName"), _ops("eq startsWith")),
        "resourceId": odata.Prop(_path("resourceId"), _ops("eq")),
        "status/errorCode": odata.Prop(_path("status", "errorCode"), _ops("eq ne")),
        "deviceDetail/deviceId": odata.Prop(_path("deviceDetail", "deviceId"), _ops("eq")),
        "deviceDetail/displayName": odata.Prop(_path("deviceDetail", "displayName"), _ops("eq startsWith")),
        "deviceDetail/operatingSystem": odata.Prop(_path("deviceDetail", "operatingSystem"), _ops("eq startsWith")),
        "deviceDetail/trustType": odata.Prop(_path("deviceDetail", "trustType"), _ops("eq")),
        "location/city": odata.Prop(_path("location", "city"), _ops("eq startsWith")),
        "location/countryOrRegion": odata.Prop(_path("location", "countryOrRegion"), _ops("eq startsWith")),
    },
    selectable=("id", "createdDateTime", "userDisplayName", "userPrincipalName", "userId", "appId",
                "appDisplayName", "ipAddress", "clientAppUsed", "correlationId", "conditionalAccessStatus",
                "isInteractive", "resourceDisplayName", "resourceId", "resourceTenantId", "homeTenantId",
                "userAgent", "riskDetail", "riskLevelAggregated", "riskLevelDuringSignIn", "riskState",
                "riskEventTypes", "riskEventTypes_v2", "status", "deviceDetail", "location",
                "appliedConditionalAccessPolicies", "authenticationRequirement"),
    **_LOG_COMMON,
)

AUDIT_SPEC = odata.ResourceSpec(
    "directoryAudit", "DirectoryAudit",
    {
        "id": odata.Prop(_path("id"), _ops("eq")),
        "activityDateTime": odata.Prop(_path("activityDateTime"), _ops("eq le ge lt gt"), orderby="basic"),
        "activityDisplayName": odata.Prop(_path("activityDisplayName"), _ops("eq startsWith")),
        "category": odata.Prop(_path("category"), _ops("eq")),
        "correlationId": odata.Prop(_path("correlationId"), _ops("eq")),
        "loggedByService": odata.Prop(_path("loggedByService"), _ops("eq")),
        "operationType": odata.Prop(_path("operationType"), _ops("eq")),
        "result": odata.Prop(_path("result"), _ops("eq")),
        "initiatedBy/user/id": odata.Prop(_path("initiatedBy", "user", "id"), _ops("eq")),
        "initiatedBy/user/userPrincipalName": odata.Prop(_path("initiatedBy", "user", "userPrincipalName"),
                                                         _ops("eq startsWith")),
        "initiatedBy/app/appId": odata.Prop(_path("initiatedBy", "app", "appId"), _ops("eq")),
        "initiatedBy/app/displayName": odata.Prop(_path("initiatedBy", "app", "displayName"), _ops("eq")),
        "targetResources": odata.Prop(_path("targetResources"), _ops("any"),
                                      elements={"id": _ops("eq"), "displayName": _ops("eq startsWith"),
                                                "userPrincipalName": _ops("eq startsWith"), "type": _ops("eq")}),
    },
    selectable=("id", "category", "correlationId", "result", "resultReason", "activityDisplayName",
                "activityDateTime", "loggedByService", "operationType", "initiatedBy", "targetResources",
                "additionalDetails"),
    **_LOG_COMMON,
)


def _strip(entry: dict[str, Any], version: str, unknown_enums: bool = True) -> dict[str, Any]:
    if version == "v1.0" and "authenticationRequirement" in entry:
        # beta-only property (graph-intune.md §9.1)
        entry = {k: v for k, v in entry.items() if k != "authenticationRequirement"}
    if not unknown_enums and any(str(p.get("result", "")).startswith("reportOnly")
                                 for p in entry.get("appliedConditionalAccessPolicies") or []):
        # The reportOnly* results are evolvable enum members: without
        # `Prefer: include-unknown-enum-members` Graph sends unknownFutureValue (graph-intune.md §9.1).
        entry = dict(entry)
        entry["appliedConditionalAccessPolicies"] = [
            dict(p, result="unknownFutureValue") if str(p.get("result", "")).startswith("reportOnly") else p
            for p in entry["appliedConditionalAccessPolicies"]]
    return entry


def _wants_unknown_enums(ctx: GraphContext) -> bool:
    return "include-unknown-enum-members" in (ctx.request.headers.get("Prefer") or "").lower()


def _premium(ctx: GraphContext) -> None:
    """Sign-in logs need Entra ID P1/P2 in the tenant."""
    t = ctx.tenant
    for part in t.subscriptions:
        sku = KNOWN_SKUS.get(part)
        if sku and any(name.startswith("AAD_PREMIUM") for _, name in sku.service_plans):
            return
    raise GraphError(403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                     "Neither tenant is B2C or tenant doesn't have premium license")


def _newest_first(items: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    # Appended in time order; stable reverse keeps same-second entries newest first.
    return sorted(reversed(items), key=lambda e: e.get(key) or "", reverse=True)


@route("GET", "auditLogs/signIns")
def list_signins(ctx: GraphContext):
    ctx.require(SIGNIN_READ)
    _premium(ctx)
    v, unk = ctx.version, _wants_unknown_enums(ctx)
    return ctx.collection("auditLogs/signIns", SIGNIN_SPEC, _newest_first(list(ctx.tenant.sign_ins), "createdDateTime"),
                          lambda e: _strip(e, v, unk), select_in_context=False)


@route("GET", "auditLogs/signIns/{sid}")
def get_signin(ctx: GraphContext):
    ctx.require(SIGNIN_READ)
    _premium(ctx)
    for e in ctx.tenant.sign_ins:
        if e.get("id") == ctx.params["sid"]:
            return ctx.entity("auditLogs/signIns", _strip(e, ctx.version, _wants_unknown_enums(ctx)),
                              odata.resolve_select(SIGNIN_SPEC, ctx.query))
    raise GraphError(404, "Request_ResourceNotFound", f"Resource '{ctx.params['sid']}' does not exist or one of its "
                                                       "queried reference-property objects are not present.")


@route("GET", "auditLogs/directoryAudits")
def list_audits(ctx: GraphContext):
    ctx.require(AUDIT_READ)
    return ctx.collection("auditLogs/directoryAudits", AUDIT_SPEC,
                          _newest_first(list(ctx.tenant.directory_audits), "activityDateTime"), lambda e: e,
                          select_in_context=False)


@route("GET", "auditLogs/directoryAudits/{aid}")
def get_audit(ctx: GraphContext):
    ctx.require(AUDIT_READ)
    for e in ctx.tenant.directory_audits:
        if e.get("id") == ctx.params["aid"]:
            return ctx.entity("auditLogs/directoryAudits", e, odata.resolve_select(AUDIT_SPEC, ctx.query))
    raise GraphError(404, "Request_ResourceNotFound", f"Resource '{ctx.params['aid']}' does not exist or one of its "
                                                       "queried reference-property objects are not present.")
