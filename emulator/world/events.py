"""The tenant's logs, in their Graph shapes: sign-ins (`/auditLogs/signIns`) and directory audits
(`/auditLogs/directoryAudits`). Services call these as things happen; newest first on read."""
from __future__ import annotations

from typing import Any

from .clock import iso_z
from .models import DirectoryDevice, Tenant, User


def record_sign_in(world, tenant: Tenant, *, user: User | None, app_id: str, app_display_name: str,
                   resource_id: str | None, resource_display_name: str | None, error_code: int = 0,
                   failure_reason: str | None = None, additional_details: str | None = None,
                   ca=None, device: DirectoryDevice | None = None, device_name: str | None = None,
                   correlation_id: str | None = None, client_app_used: str = "Mobile Apps and Desktop clients",
                   is_interactive: bool = True, user_agent: str = "", upn_attempted: str | None = None,
                   authentication_requirement: str = "singleFactorAuthentication") -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": world.ids.guid(),
        "createdDateTime": iso_z(world.clock.now()),
        "userDisplayName": user.display_name if user else None,
        "userPrincipalName": (user.user_principal_name if user else (upn_attempted or "")).lower(),
        "userId": user.id if user else "00000000-0000-0000-0000-000000000000",
        "appId": app_id,
        "appDisplayName": app_display_name,
        "ipAddress": "127.0.0.1",
        "clientAppUsed": client_app_used,
        "correlationId": correlation_id or world.ids.guid(),
        "conditionalAccessStatus": ca.status if ca is not None else "notApplied",
        "isInteractive": is_interactive,
        "resourceDisplayName": resource_display_name,
        "resourceId": resource_id,
        "resourceTenantId": tenant.id,
        "homeTenantId": tenant.id,
        "userAgent": user_agent,
        "riskDetail": "none", "riskLevelAggregated": "none", "riskLevelDuringSignIn": "none",
        "riskState": "none", "riskEventTypes": [], "riskEventTypes_v2": [],
        "status": {"errorCode": error_code, "failureReason": failure_reason or ("" if error_code == 0 else "Other."),
                   "additionalDetails": additional_details},
        "deviceDetail": {
            "deviceId": device.device_id if device else "",
            "displayName": device.display_name if device else (device_name or ""),
            "operatingSystem": "Windows 10" if device or device_name else "",
            "browser": "",
            "isCompliant": bool(device.is_compliant) if device else False,
            "isManaged": bool(device.is_managed) if device else False,
            "trustType": ("Azure AD joined" if device.trust_type == "AzureAd" else
                          "Azure AD registered" if device.trust_type == "Workplace" else
                          "Hybrid Azure AD joined") if device else None,
        },
        "location": {"city": "Redmond", "state": "Washington", "countryOrRegion": "US",
                     "geoCoordinates": {"altitude": None, "latitude": 47.674, "longitude": -122.1215}},
        "appliedConditionalAccessPolicies": list(ca.applied) if ca is not None else [],
        "authenticationRequirement": authentication_requirement,
    }
    with world.lock:
        tenant.sign_ins.append(entry)
    return entry


def record_audit(world, tenant: Tenant, *, activity: str, category: str = "Device",
                 service: str = "Device Registration Service", operation_type: str = "Add",
                 result: str = "success", result_reason: str = "", initiated_by: User | None = None,
                 app: dict[str, Any] | None = None, targets: list[dict[str, Any]] | None = None,
                 details: dict[str, str] | None = None, correlation_id: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": f"Directory_{world.ids.guid()}",
        "category": category,
        "correlationId": correlation_id or world.ids.guid(),
        "result": result,
        "resultReason": result_reason,
        "activityDisplayName": activity,
        "activityDateTime": iso_z(world.clock.now()),
        "loggedByService": service,
        "operationType": operation_type,
        "initiatedBy": {
            "user": ({"id": initiated_by.id, "displayName": None, "userPrincipalName": initiated_by.user_principal_name,
                      "ipAddress": "127.0.0.1", "userType": None, "homeTenantId": None, "homeTenantName": None}
                     if initiated_by else None),
            "app": app,
        },
        "targetResources": list(targets or []),
        "additionalDetails": [{"key": k, "value": v} for k, v in (details or {}).items()],
    }
    with world.lock:
        tenant.directory_audits.append(entry)
    return entry


def target(obj_id: str | None, display_name: str | None, kind: str, *, upn: str | None = None,
           group_type: str | None = None, modified: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """One `targetResources` entry of a directory audit."""
    return {"id": obj_id, "displayName": display_name, "type": kind, "userPrincipalName": upn,
            "groupType": group_type, "modifiedProperties": list(modified or [])}


def device_target(device: DirectoryDevice, modified: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return target(device.id, device.display_name, "Device", modified=modified)


def user_target(user, display_name: str | None = None) -> dict[str, Any]:
    return target(user.id, display_name, "User", upn=user.user_principal_name)
