"""Scenario files: schema, loader, fixes, and the sign-in symptoms they promise."""
from __future__ import annotations

import copy
from pathlib import Path
from urllib.parse import urlencode

import pytest
import yaml

from emulator.device.dsregcmd import parse_status
from emulator.scenarios import (
    FIX_ACTIONS,
    ScenarioError,
    apply_fix,
    find_scenario,
    list_scenarios,
    load_scenario,
    parse_duration,
    validate,
)
from emulator.scenarios.loader import shipped_dir
from emulator.world import policy
from emulator.world.catalogue import AADSTS, HRESULTS
from emulator.world.models import DRS_APP_ID, INTUNE_APP_ID, OFFICE_PORTAL_APP_ID
from emulator.world.world import World

ROOT = Path(__file__).resolve().parents[1]
SCENARIO_DIR = ROOT / "scenarios"
FILES = sorted(SCENARIO_DIR.glob("*.yaml"))
EXPECTED = {
    "happy-path", "registered-instead-of-joined",
    "join-permission-denied-none", "join-permission-denied-selected", "device-limit-reached",
    "clock-skew", "clock-skew-minor", "mfa-registration-required", "mfa-denied", "ca-register-join-mfa",
    "ca-compliant-device-loop", "ca-block", "mdm-scope-none", "mdm-scope-group-miss", "intune-license-missing",
    "intune-device-cap", "intune-platform-blocked", "no-network", "drs-unreachable", "drs-busy", "wrong-password",
    "user-disabled", "unknown-user",
}
#: AADSTS codes that the web sign-in itself answers (the others come later, e.g. 700024 at PRT time).
SIGN_IN_CODES = {50034, 50057, 50079, 50126, 500121, 53000, 53003}
BROKER = "29d9ed98-a469-4536-ade2-f981bc1d605e"
DRS_RESOURCE = "urn:ms-drs:enterpriseregistration.windows.net"
LOGIN = "https://login.microsoftonline.com"


def world(seed=0) -> World:
    w = World(seed=seed)
    w.raise_server_errors = True
    return w


def load(name: str, seed=0):
    w = world(seed)
    return w, load_scenario(w, name)


def good_doc() -> dict:
    return yaml.safe_load((SCENARIO_DIR / "happy-path.yaml").read_text())


def error_of(doc, source="bad.yaml", **kw) -> str:
    with pytest.raises(ScenarioError) as exc:
        validate(doc, source, **kw)
    return str(exc.value)


# -- files ----------------------------------------------------------------------------------------

def test_every_mode_has_a_file():
    assert {p.stem for p in FILES} == EXPECTED


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_file_validates_and_loads(path):
    doc = yaml.safe_load(path.read_text())
    validate(doc, str(path), expected_name=path.stem)
    assert "\n" not in doc["description"].strip()
    w = world()
    s = load_scenario(w, path)
    assert s.name == path.stem and s.tenant.id in w.tenants
    for e in (s.expect, s.expect_after_fix):
        if e.settings_error_code:
            assert int(e.settings_error_code, 16) in HRESULTS
        if e.aadsts:
            assert e.aadsts in AADSTS
    # the fix must repair: the state after the fix leads to a joined device
    assert s.expect_after_fix.joined, "expect_after_fix describes the repaired state"


def test_shipped_scenarios_are_the_repository_folder():
    # stored once: the installed package entra_emu_scenarios is the repository's scenarios/ folder
    assert shipped_dir().resolve() == SCENARIO_DIR.resolve()
    assert {p.name for p in shipped_dir().glob("*.yaml")} == {p.name for p in FILES}


def test_list_and_find():
    infos = list_scenarios()
    assert {i.name for i in infos} >= EXPECTED
    info = next(i for i in infos if i.name == "device-limit-reached")
    assert info.guide_section == "You cannot join this device" and info.description
    assert find_scenario("drs-busy").name == "drs-busy.yaml"
    assert find_scenario("drs-busy.yaml") == find_scenario("drs-busy")
    with pytest.raises(ScenarioError, match=r"unknown scenario 'device-limit-reachd' \(did you mean "
                                            r"'device-limit-reached'\?\)"):
        find_scenario("device-limit-reachd")


def test_durations():
    assert parse_duration("+2h") == 7200
    assert parse_duration("-10d") == -864000
    assert parse_duration("20m") == 1200
    assert parse_duration(-30) == -30
    with pytest.raises(ValueError):
        parse_duration("two hours")


# -- loading builds the state the rules then read ----------------------------------------------------

def test_device_limit_reached_state():
    w, s = load("device-limit-reached")
    u = s.actor.user
    assert len(policy.devices_counted_for_quota(s.tenant, u)) == policy.device_quota(s.tenant) == 20
    assert policy.device_quota_reached(s.tenant, u)
    stale = [d for d in s.tenant.devices_owned_by(u.id)
             if (w.clock.now() - d.approximate_last_sign_in).days >= 199]
    assert len(stale) == 17
    assert policy.may_join(s.tenant, u)


def test_join_permission_states():
    _, s = load("join-permission-denied-none")
    assert not policy.may_join(s.tenant, s.actor.user)
    assert s.tenant.device_registration_policy["azureADJoin"]["allowedToJoin"] == {"@odata.type": policy.NONE}
    assert s.tenant.device_registration_policy["userDeviceQuota"] == 50  # the rest of the default kept
    _, s = load("join-permission-denied-selected")
    members = s.tenant.device_registration_policy["azureADJoin"]["allowedToJoin"]
    assert members["@odata.type"] == policy.ENUMERATED and members["groups"] == [s.groups["Device Joiners"].id]
    assert not policy.may_join(s.tenant, s.actor.user)
    assert policy.may_join(s.tenant, s.user("megan.bowen@contoso.com"))


def test_intune_states():
    _, s = load("mdm-scope-none")
    assert not policy.in_mdm_scope(s.tenant, s.actor.user)
    assert policy.mdm_urls(s.tenant, s.actor.user)["MdmUrl"] == ""
    _, s = load("mdm-scope-group-miss")
    assert not policy.in_mdm_scope(s.tenant, s.actor.user)
    assert policy.in_mdm_scope(s.tenant, s.user("megan.bowen@contoso.com"))
    assert s.tenant.mdm_policies[INTUNE_APP_ID]["includedGroups"] == [s.groups["Intune Pilot"].id]
    _, s = load("intune-license-missing")
    assert policy.in_mdm_scope(s.tenant, s.actor.user) and not policy.has_intune_license(s.actor.user)
    _, s = load("intune-device-cap")
    assert len(s.tenant.managed_devices_of(s.actor.user.id)) == 5
    assert len(s.tenant.devices_owned_by(s.actor.user.id)) == 5
    assert all(d.is_managed for d in s.tenant.devices_owned_by(s.actor.user.id))
    assert policy.enrollment_restriction(s.tenant, s.actor.user) == "DeviceCapReached"
    _, s = load("intune-platform-blocked")
    assert policy.enrollment_restriction(s.tenant, s.actor.user) == "DeviceNotSupported"
    _, s = load("happy-path")
    u = s.actor.user
    assert policy.may_join(s.tenant, u) and policy.in_mdm_scope(s.tenant, u) and policy.has_intune_license(u)
    assert policy.enrollment_restriction(s.tenant, u) is None and not policy.device_quota_reached(s.tenant, u)


def test_ca_policies_are_in_graph_shape_with_ids():
    _, s = load("ca-register-join-mfa")
    (pol,) = s.tenant.conditional_access_policies
    assert pol["conditions"]["applications"]["includeUserActions"] == [policy.REGISTER_DEVICE_ACTION]
    assert pol["conditions"]["users"]["includeUsers"] == ["All"] and pol["state"] == "enabled"
    out = policy.evaluate_conditional_access(s.tenant, s.actor.user, None, user_action=policy.REGISTER_DEVICE_ACTION)
    assert out.mfa and out.status == "failure"
    _, s = load("ca-block")
    (pol,) = s.tenant.conditional_access_policies
    assert pol["conditions"]["users"]["includeGroups"] == [s.groups["Contractors - blocked"].id]
    assert policy.evaluate_conditional_access(s.tenant, s.actor.user, DRS_APP_ID).block
    _, s = load("ca-compliant-device-loop")
    out = policy.evaluate_conditional_access(s.tenant, s.actor.user, DRS_APP_ID)
    assert out.compliant_device
    assert policy.evaluate_conditional_access(s.tenant, s.actor.user, OFFICE_PORTAL_APP_ID).compliant_device


def test_mfa_and_account_states():
    _, s = load("mfa-registration-required")
    assert policy.mfa_required_to_join(s.tenant)
    assert s.actor.user.mfa_methods == [] and not s.actor.user.can_register_mfa
    _, s = load("mfa-denied")
    assert s.actor.mfa_response == "deny" and s.actor.user.mfa_response == "deny"
    _, s = load("user-disabled")
    assert not s.actor.user.account_enabled
    _, s = load("wrong-password")
    assert s.actor.password != s.actor.user.password
    _, s = load("unknown-user")
    assert s.actor.user is None and s.tenant.user_by_upn(s.actor.upn) is None


def test_device_settings_and_faults():
    _, s = load("clock-skew")
    assert s.device.clock_skew == -400 * 86400
    _, s = load("clock-skew-minor")
    assert s.device.clock_skew == 20 * 60 and s.expect.prt is False and s.expect.joined
    _, s = load("no-network")
    assert s.device.network == "offline"
    _, s = load("drs-unreachable")
    assert s.device.blocked_hosts == ["enterpriseregistration.windows.net"]
    w, s = load("drs-busy")
    (rule,) = w.faults.rules
    assert rule.status == 503 and rule.matches("enterpriseregistration.windows.net", "POST", "/EnrollmentServer/device/")
    assert not rule.matches("enterpriseregistration.windows.net", "GET", "/contoso.com/Discover")
    _, s = load("happy-path")
    assert s.device.name == "CONTOSO-PC01" and s.device.os_version.startswith("10.0.26100.")


def test_scenario_exposes_expectations():
    _, s = load("join-permission-denied-none")
    assert s.expect.settings_error_code == "801c03ed" and s.expect.settings_error_value == 0x801C03ED
    assert s.expect.dsregcmd == ["AzureAdJoined : NO"]
    assert s.expect_after_fix.joined and s.fix == [{"action": "set_join_policy", "value": "all"}]
    assert s.diagnosis and s.fix_description and s.guide_section == "You cannot join this device"
    _, s = load("ca-block")
    assert s.expect.office_portal == 53003 and s.expect_after_fix.office_portal == "ok"


# -- fixes repair the state as the rules see it ---------------------------------------------------

def _healthy(s) -> None:
    t, u = s.tenant, s.tenant.user_by_upn(s.actor.upn)
    assert u is not None and u.account_enabled
    assert policy.may_join(t, u) and not policy.device_quota_reached(t, u)
    if t.intune_enabled:
        assert policy.in_mdm_scope(t, u) and policy.has_intune_license(u)
        assert policy.enrollment_restriction(t, u) is None
    else:
        assert s.expect_after_fix.enrolled is False


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_apply_fix_repairs(name):
    w, s = load(name)
    result = apply_fix(w, s)
    assert len(result.applied) == len(s.fix)
    _healthy(s)
    assert result.device.clock_skew == 0 and result.device.network == "online"
    assert not w.faults.rules
    u = s.tenant.user_by_upn(s.actor.upn)
    assert result.actor.password == u.password
    # the loaded scenario itself is not mutated: the harness applies result.device / result.actor
    assert s.device.clock_skew == parse_duration((s.doc.get("device") or {}).get("clock_skew", 0))


def test_fix_details():
    w, s = load("device-limit-reached")
    r = apply_fix(w, s)
    assert len(s.tenant.devices_owned_by(s.actor.user.id)) == 3
    assert [a["activityDisplayName"] for a in s.tenant.directory_audits].count("Delete device") == 17
    assert "17 stale" in r.applied[0]
    w, s = load("join-permission-denied-none")
    apply_fix(w, s)
    audit = s.tenant.directory_audits[-1]
    assert audit["activityDisplayName"] == "Set device registration policies"
    assert audit["loggedByService"] == "Device Registration Service"
    w, s = load("clock-skew")
    r = apply_fix(w, s)
    assert r.device_changes == {"clock_skew": 0} and s.device.clock_skew == -400 * 86400
    w, s = load("mdm-scope-group-miss")
    apply_fix(w, s)
    assert s.actor.user.id in s.groups["Intune Pilot"].members
    w, s = load("mdm-scope-none")
    apply_fix(w, s)
    assert s.tenant.mdm_policies[INTUNE_APP_ID]["appliesTo"] == "all"
    w, s = load("unknown-user")
    r = apply_fix(w, s)
    assert r.actor.user is s.tenant.user_by_upn("nestor.wilke@contoso.com") and r.actor_changes["user"] is r.actor.user
    w, s = load("ca-compliant-device-loop")
    apply_fix(w, s)
    assert not policy.evaluate_conditional_access(s.tenant, s.actor.user, DRS_APP_ID).compliant_device
    assert policy.evaluate_conditional_access(s.tenant, s.actor.user, OFFICE_PORTAL_APP_ID).compliant_device


def test_add_to_mdm_scope_from_none_creates_a_scoped_group():
    doc = yaml.safe_load((SCENARIO_DIR / "mdm-scope-none.yaml").read_text())
    doc["fix"] = [{"action": "add_to_mdm_scope", "user": "adele.vance@contoso.com"}]
    w = world()
    s = load_scenario(w, doc)
    apply_fix(w, s)
    pol = s.tenant.mdm_policies[INTUNE_APP_ID]
    assert pol["appliesTo"] == "selected" and policy.in_mdm_scope(s.tenant, s.actor.user)


def test_every_fix_action_is_documented():
    text = (ROOT / "docs" / "scenarios.md").read_text()
    for action in FIX_ACTIONS:
        assert f"`{action}`" in text, action


def test_failure_modes_doc_covers_every_scenario():
    text = (ROOT / "docs" / "failure-modes.md").read_text()
    for name in EXPECTED:
        assert f"`{name}`" in text, name


# -- same seed, same world ------------------------------------------------------------------------

def _dump(w: World) -> list:
    out = []
    for t in w.tenants.values():
        out.append(t.id)
        out += sorted((u.id, u.user_principal_name, u.display_name) for u in t.users.values())
        out += sorted((g.id, g.display_name, tuple(g.members)) for g in t.groups.values())
        out += sorted((d.id, d.device_id, d.display_name, tuple(d.physical_ids)) for d in t.devices.values())
        out += sorted((m.id, m.azure_ad_device_id, m.serial_number) for m in t.managed_devices.values())
        out += [p["id"] for p in t.conditional_access_policies]
    return out


@pytest.mark.parametrize("name", ["device-limit-reached", "intune-device-cap", "ca-block", "happy-path"])
def test_same_seed_same_world(name):
    (w1, s1), (w2, s2), (w3, _) = load(name, 7), load(name, 7), load(name, 8)
    assert _dump(w1) == _dump(w2) and s1.device.name == s2.device.name
    assert _dump(w1) != _dump(w3)


# -- bad files --------------------------------------------------------------------------------------

def test_unknown_key_names_the_path_and_suggests():
    doc = good_doc()
    doc["tenant"]["intun"] = True
    msg = error_of(doc)
    assert msg.startswith("bad.yaml: tenant.intun: unknown key 'intun' (did you mean 'intune'?)")
    assert "allowed keys: name, domain, intune" in msg
    doc = good_doc()
    doc["users"][0]["licences"] = ["SPE_E3"]
    assert "users[0].licences: unknown key 'licences' (did you mean 'licenses'?)" in error_of(doc)


def test_wrong_type():
    doc = good_doc()
    doc["users"].append({"upn": "megan.bowen@contoso.com", "licenses": "SPE_E3"})
    assert error_of(doc) == "bad.yaml: users[1].licenses: expected a list of one of " + \
        ", ".join(sorted(__import__("emulator.world.models", fromlist=["KNOWN_SKUS"]).KNOWN_SKUS)) + ", got string"
    doc = good_doc()
    doc["device"]["clock_skew"] = "two hours"
    assert "device.clock_skew: expected seconds (a number) or a string like '+2h'" in error_of(doc)
    doc = good_doc()
    doc["expect"]["joined"] = "yes"
    assert "expect.joined: expected true or false, got string 'yes'" in error_of(doc)


def test_unknown_sku():
    doc = good_doc()
    doc["users"].append({"upn": "megan.bowen@contoso.com", "licenses": ["SPE_E3", "SPE_E9"]})
    msg = error_of(doc)
    assert msg.startswith("bad.yaml: users[1].licenses[1]: unknown SKU 'SPE_E9' (did you mean 'SPE_E")
    assert "allowed: AAD_PREMIUM, EMS" in msg
    doc = good_doc()
    doc["users"][0]["licenses"] = ["EMS"]
    assert "users[0].licenses[0]: the tenant has no subscription for SKU 'EMS'" in error_of(doc)


def test_licence_and_intune_consistency():
    doc = good_doc()
    doc["tenant"]["subscriptions"] = {"SPE_E3": 1}
    doc["users"].append({"upn": "megan.bowen@contoso.com"})
    assert "users[1].licenses[0]: no SPE_E3 units left: tenant.subscriptions.SPE_E3 is 1" in error_of(doc)
    doc = good_doc()
    doc["tenant"]["subscriptions"] = {"AAD_PREMIUM": 5}
    del doc["users"][0]["licenses"]
    assert "users[0].licenses: not given, so it defaults to [SPE_E3]" in error_of(doc)
    doc = good_doc()
    doc["tenant"]["intune"] = False
    doc["tenant"]["mdm_user_scope"] = "all"
    assert "tenant.mdm_user_scope: the tenant has no Intune" in error_of(doc)


def test_reference_errors():
    doc = good_doc()
    doc["actor"]["user"] = "adele.vence@contoso.com"
    assert "actor.user: unknown user 'adele.vence@contoso.com' (did you mean 'adele.vance@contoso.com'?)" \
        in error_of(doc)
    doc = good_doc()
    doc["tenant"]["mdm_user_scope"] = {"groups": ["Pilot"]}
    assert "tenant.mdm_user_scope.groups[0]: unknown group 'Pilot'" in error_of(doc)
    doc = good_doc()
    doc["fix"] = [{"action": "disable_ca_policy", "name": "Nope"}]
    assert "fix[0].name: unknown CA policy 'Nope'" in error_of(doc)
    doc = good_doc()
    doc["fix"] = [{"action": "set_quotas", "value": 3}]
    assert "fix[0].action: unknown fix action 'set_quotas' (did you mean 'set_quota'?)" in error_of(doc)
    doc = good_doc()
    doc["fix"] = [{"action": "set_quota", "valu": 3}]
    assert "fix[0].valu: unknown key 'valu' (did you mean 'value'?)" in error_of(doc)
    doc = good_doc()
    doc["users"][0]["upn"] = "adele@fabrikam.com"
    doc["actor"]["user"] = "adele@fabrikam.com"
    assert "users[0].upn: 'adele@fabrikam.com' is not in the tenant's domains" in error_of(doc)


def test_other_shape_errors():
    doc = good_doc()
    del doc["expect"]
    assert error_of(doc).startswith("bad.yaml: expect: required key 'expect' is missing")
    doc = good_doc()
    doc["expect"]["dsregcmd"] = [{"AzureAdJoined": False}]
    assert "expect.dsregcmd[0]: expected a dsregcmd line" in error_of(doc) and "quote it" in error_of(doc)
    doc = good_doc()
    doc["expect"]["settings_error_code"] = "801c9999"
    assert "expect.settings_error_code: code 801c9999 is not in the catalogue" in error_of(doc)
    doc = good_doc()
    doc["faults"] = [{"host": "enterpriseregistration.windows.net", "statuss": 503}]
    assert "faults[0].statuss: unknown key 'statuss' (did you mean 'status'?)" in error_of(doc)
    doc = good_doc()
    doc["guide_section"] = "Intune not enroling"
    assert "guide_section: unknown guide section 'Intune not enroling' (did you mean 'Intune not enrolling'?)" \
        in error_of(doc)
    assert "name: 'happy-path' does not match the file name; expected 'other'" in error_of(good_doc(),
                                                                                            expected_name="other")
    assert error_of([1, 2]).startswith("bad.yaml: (top level): expected a scenario")


def test_unquoted_yaml_codes_are_understood():
    doc = good_doc()
    doc["expect"].update(joined=False, enrolled=False, prt=False)
    doc["expect"]["settings_error_code"] = 80180013  # YAML read an unquoted 80180013 as a number
    validate(doc, "x")
    doc["expect"]["settings_error_code"] = 0x80180014  # ... and 0x80180014 as a hex number
    validate(doc, "x")


def test_bad_yaml_file_names_the_file_and_line(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("name: broken\nguide_section: AzureAdJoined : NO after setup\n")
    with pytest.raises(ScenarioError, match=r"broken.yaml: \(top level\): not valid YAML at line 2"):
        load_scenario(world(), p)


def test_a_world_holds_one_tenant_per_domain():
    w, _ = load("happy-path")
    with pytest.raises(ScenarioError, match=r"tenant.domain: the domain contoso.com already belongs to tenant "
                                            r"'Contoso'"):
        load_scenario(w, "drs-busy")


def test_load_from_dict_does_not_modify_it():
    doc = good_doc()
    before = copy.deepcopy(doc)
    load_scenario(world(), doc)
    assert doc == before


# -- the promised sign-in symptoms, against the identity service ------------------------------------

def _web_sign_in(w, actor, client_id, resource, redirect):
    from emulator.transport.direct import DirectSession

    s = DirectSession(w)
    q = {"client_id": client_id, "response_type": "code", "redirect_uri": redirect, "resource": resource,
         "login_hint": actor.upn, "state": "s"}
    page = s.get(f"{LOGIN}/common/oauth2/authorize?{urlencode(q)}").json()
    page = s.post(f"{LOGIN}/contoso.com/login",
                  data={"flowToken": page["flowToken"], "login": actor.upn, "passwd": actor.password}).json()
    for _ in range(3):
        if page["page"] == "mfa":
            action = actor.mfa_response
        elif page["page"] == "proofup":
            action = actor.proofup_response
        else:
            break
        page = s.post(f"{LOGIN}/contoso.com/SAS/ProcessAuth", data={"flowToken": page["flowToken"],
                                                                     "action": action}).json()
    return "ok" if page["page"] == "done" else page["error_codes"][0]


def _join_sign_in(w, actor):
    return _web_sign_in(w, actor, BROKER, DRS_RESOURCE, "ms-aadj-redir://auth/drs")


def _portal_sign_in(w, actor):
    return _web_sign_in(w, actor, OFFICE_PORTAL_APP_ID, "https://portal.office.com/", "https://portal.office.com/")


NETWORK_BLOCKED = {"clock-skew", "no-network"}  # the device never reaches the sign-in page


@pytest.mark.parametrize("name", sorted(EXPECTED - NETWORK_BLOCKED))
def test_sign_in_symptom_and_fix(name):
    w, s = load(name)
    expected = s.expect.aadsts if s.expect.aadsts in SIGN_IN_CODES else "ok"
    assert _join_sign_in(w, s.actor) == expected
    log = s.expect.sign_in_log
    if log.get("recorded") and "error_code" in log:
        drs = [e for e in s.tenant.sign_ins if e["resourceId"] == DRS_APP_ID or e["status"]["errorCode"]]
        assert drs and drs[-1]["status"]["errorCode"] == log["error_code"]
        if "conditional_access_status" in log:
            assert drs[-1]["conditionalAccessStatus"] == log["conditional_access_status"]
    if s.expect.office_portal is not None:
        assert _portal_sign_in(w, s.actor) == s.expect.office_portal
    result = apply_fix(w, s)
    assert _join_sign_in(w, result.actor) == "ok"
    if s.expect_after_fix.office_portal is not None:
        assert _portal_sign_in(w, result.actor) == s.expect_after_fix.office_portal


# -- end to end: the simulated Windows device shows what each file promises -------------------------

def _run_device(w, settings, actor, expect, seed):
    from emulator.device import WindowsDevice
    from emulator.transport.direct import DirectSession

    d = WindowsDevice(DirectSession(w), clock=w.clock, seed=seed, **settings.device_kwargs())
    act = d.register if actor.join_method == "register" else d.join  # the email box, or the join link
    act(actor.upn, actor.password, mfa=actor.mfa_choice)
    assert d.joined == expect.joined, d.screen.text()
    if expect.settings_error_code:
        assert d.last_join_error == expect.settings_error_value, d.screen.text()
        assert expect.settings_error_code in " ".join(d.screen.lines)
    if expect.aadsts in SIGN_IN_CODES:
        assert getattr(d.last_error, "code", None) == expect.aadsts
    if expect.enrolled is not None:
        assert d.mdm_enrolled == expect.enrolled
    activities = [a["activityDisplayName"] for a in w.tenants[next(iter(w.tenants))].directory_audits]
    for activity in expect.audit:
        assert activity in activities
    if d.joined:
        d.restart()
        d.sign_in(actor.upn, actor.password)
    if expect.aadsts and expect.aadsts not in SIGN_IN_CODES:  # refused later, at the PRT request
        failure = d.prts[actor.upn.lower()].last_failure
        assert failure is not None and f"AADSTS{expect.aadsts}" in failure.server_description
    status = parse_status(d.dsregcmd_status())
    if expect.prt is not None:
        assert (status.get("AzureAdPrt") == "YES") == expect.prt
    for line in expect.dsregcmd:
        label, _, value = line.partition(" :")
        assert status.get(label.strip()) == value.strip(), line
    return d


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_device_shows_the_symptom_and_the_fix_works(name):
    w, s = load(name)
    _run_device(w, s.device, s.actor, s.expect, "before")
    if s.expect.sign_in_log.get("recorded") is False:
        assert not s.tenant.sign_ins
    result = apply_fix(w, s)
    # the guide's "disconnect and repeat the join": a fresh attempt with the fixed settings
    _run_device(w, result.device, result.actor, s.expect_after_fix, "after")
