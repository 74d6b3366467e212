"""Who is signing in, and what must they still do? The decision every grant and the web sign-in
share: tenant and user lookup, password, account state, conditional access, MFA.

The result is either an `AadstsError` (raised) or a `SignInDecision` saying whether MFA (or MFA
registration) is still owed. Sign-in log entries are written here, once per attempt.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...world import events, policy
from ...world.models import DRS_APP_ID, Tenant, User
from .exceptions import AadstsError, capolids_claims
from .tokens import Resource

APP_NAMES = {
    "29d9ed98-a469-4536-ade2-f981bc1d605e": "Microsoft Authentication Broker",
    "38aa3b87-a06d-4817-b275-7a316988d93b": "Windows Sign In",
    "04b07795-8ddb-461a-bbee-02f9e1bf7b46": "Microsoft Azure CLI",
    "1b730954-1685-4b74-9bfd-dac224a7b894": "Azure Active Directory PowerShell",
    "1950a258-227b-4e31-a9cf-717495945fc2": "Microsoft Azure PowerShell",
    "14d82eec-204b-4c2f-b7e8-296a70dab67e": "Microsoft Graph Command Line Tools",
    "dd762716-544d-4aeb-a526-687b73838a22": "Device Registration Client",
    "de8bc8b5-d9f9-48b1-a8ad-b748da725064": "Graph Explorer",
    "9ba1a5c7-f17a-4de9-a1f1-6178c8d51223": "Microsoft Intune Company Portal",
    "d3590ed6-52b3-4102-aeff-aad2292ab01c": "Microsoft Office",
    "00000006-0000-0ff1-ce00-000000000000": "Microsoft Office 365 Portal",
    "b90d5b8f-5503-4153-b545-b31cecfaece2": "Bulk Enrollment",
}


def known_public_client(tenant: Tenant | None, client_id: str) -> bool:
    if client_id in APP_NAMES:
        return True
    return bool(tenant and client_id in tenant.applications)


def app_name(tenant: Tenant | None, client_id: str) -> str:
    if tenant and client_id in tenant.applications:
        return tenant.applications[client_id].display_name
    return APP_NAMES.get(client_id, client_id)


def resolve_tenant(world, tenant_ref: str, username: str | None = None) -> Tenant:
    """The tenant a request speaks to: the path segment, or for common/organizations the user's
    domain. Unknown -> AADSTS90002 (consumers -> the same: no Microsoft accounts here)."""
    ref = (tenant_ref or "").lower()
    if ref in ("common", "organizations") and username:
        t = world.tenant_of_upn(username)
        if t is None:
            raise AadstsError(50034, identifier=username, tenant=username.rsplit("@", 1)[-1])
        return t
    t = world.tenant(ref)
    if t is None:
        raise AadstsError(90002, tenant=tenant_ref)
    return t


@dataclass
class SignInDecision:
    tenant: Tenant
    user: User
    mfa_owed: bool = False        # MFA is demanded and not done yet
    registration_owed: bool = False  # MFA demanded and the user has no method registered
    amr: list[str] = field(default_factory=lambda: ["pwd"])
    acrs: list[str] = field(default_factory=list)
    ca: Any = None


def _user_action(resource: Resource | None) -> str | None:
    return policy.REGISTER_DEVICE_ACTION if resource is not None and resource.app_id == DRS_APP_ID else None


def decide(ctx, tenant: Tenant, username: str, password: str | None, *, client_id: str,
           resource: Resource | None, mfa_done: bool = False, interactive: bool = True,
           log: bool = True, device=None, check_password: bool = True) -> SignInDecision:
    """Evaluate one sign-in attempt. Raises AadstsError for hard failures (logged)."""
    world = ctx.world
    user = tenant.user_by_upn(username) if username else None
    corr = ctx.request.headers.get("client-request-id")

    def fail(err: AadstsError, u: User | None = None, ca=None) -> AadstsError:
        if log:
            events.record_sign_in(world, tenant, user=u, app_id=client_id, app_display_name=app_name(tenant, client_id),
                                  resource_id=resource.app_id if resource else None,
                                  resource_display_name=resource.display_name if resource else None,
                                  error_code=err.code, failure_reason=err.text, ca=ca, device=device,
                                  correlation_id=corr, is_interactive=interactive, upn_attempted=username,
                                  user_agent=ctx.request.headers.get("user-agent", ""))
        return err

    if user is None:
        raise fail(AadstsError(50034, identifier=username, tenant=tenant.initial_domain.split(".")[0]))
    if check_password and password != user.password:
        raise fail(AadstsError(50126), user)
    if not user.account_enabled:
        raise fail(AadstsError(50057), user)

    action = _user_action(resource)
    ca = policy.evaluate_conditional_access(tenant, user, resource.app_id if resource else None,
                                            device=device, mfa_done=mfa_done)
    if action:
        ca_action = policy.evaluate_conditional_access(tenant, user, None, user_action=action, device=device,
                                                       mfa_done=mfa_done)
        by_id = {p["id"]: i for i, p in enumerate(ca.applied)}
        for p in ca_action.applied:
            if p["result"] != "notApplied":
                ca.applied[by_id[p["id"]]] = p
        ca.mfa = ca.mfa or ca_action.mfa
        ca.block = ca.block or ca_action.block
        ca.policy_ids.extend(ca_action.policy_ids)
    if ca.block:
        raise fail(AadstsError(53003, claims=capolids_claims(ca.policy_ids)), user, ca)
    if ca.compliant_device:
        raise fail(AadstsError(53000, claims=capolids_claims(ca.policy_ids)), user, ca)
    if ca.domain_joined_device:
        raise fail(AadstsError(53001, claims=capolids_claims(ca.policy_ids)), user, ca)

    mfa_demanded = (ca.mfa or policy.per_user_mfa_required(user)
                    or (action is not None and policy.mfa_required_to_join(tenant)))
    decision = SignInDecision(tenant, user, ca=ca)
    if mfa_demanded and not mfa_done:
        if not user.mfa_methods:
            decision.registration_owed = True
        decision.mfa_owed = True
        if not interactive:
            # A non-interactive grant cannot prompt: the real service answers 50076 / 50079.
            code = 50079 if decision.registration_owed else 50076
            raise fail(AadstsError(code, claims=capolids_claims(ca.policy_ids) if ca.policy_ids else None,
                                   resource=resource.app_id if resource else ""), user, ca)
        return decision
    if mfa_done:
        decision.amr = ["pwd", "mfa"]
    if action and (mfa_done or not mfa_demanded):
        decision.acrs = [action] if mfa_done else []
    if log:
        events.record_sign_in(world, tenant, user=user, app_id=client_id, app_display_name=app_name(tenant, client_id),
                              resource_id=resource.app_id if resource else None,
                              resource_display_name=resource.display_name if resource else None, ca=ca,
                              device=device, correlation_id=corr, is_interactive=interactive,
                              user_agent=ctx.request.headers.get("user-agent", ""),
                              authentication_requirement="multiFactorAuthentication" if mfa_done
                              else "singleFactorAuthentication")
    return decision


def mfa_failure(ctx, decision: SignInDecision, code: int, *, client_id: str, resource: Resource | None) -> AadstsError:
    """Log and return the error for an MFA prompt the user did not pass (500121) or a registration
    they could not complete (50079)."""
    err = AadstsError(code, resource=resource.app_id if resource else "")
    events.record_sign_in(ctx.world, decision.tenant, user=decision.user, app_id=client_id,
                          app_display_name=app_name(decision.tenant, client_id),
                          resource_id=resource.app_id if resource else None,
                          resource_display_name=resource.display_name if resource else None,
                          error_code=code, failure_reason=err.text, ca=decision.ca,
                          correlation_id=ctx.request.headers.get("client-request-id"),
                          authentication_requirement="multiFactorAuthentication")
    return err
