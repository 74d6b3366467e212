"""Given-steps: the tenant, its users and settings, the PC, and named scenarios."""
from emulator.world import policy
from emulator.world.models import ROLE_TEMPLATES

from .registry import phrase

Q = r'"(?P<{}>[^"]+)"'


@phrase("given", r'(?:a|an) (?:Microsoft Entra|Entra|Entra ID|Azure AD) tenant ' + Q.format("name")
                  + r'(?: with the domain ' + Q.format("domain") + r')?')
def a_tenant(lab, name, domain=None):
    lab.ensure_tenant(name, domain or f"{name.lower()}.com")


@phrase("given", r'(?:a|the) (?:licensed |valid )?(?:Entra )?user ' + Q.format("upn")
                  + r'(?: with (?:the )?password ' + Q.format("password") + r')?')
def a_user(lab, upn, password=None):
    lab.add_user(upn, password or "P@ssw0rd!")


@phrase("given", r'the user ' + Q.format("upn") + r' has no (?:MFA|multifactor authentication) method registered'
                  r'(?P<cannot>(?: and cannot register one)?)')
def user_without_mfa(lab, upn, cannot):
    user = lab.user(upn)
    user.mfa_methods = []
    user.can_register_mfa = not cannot


@phrase("given", r'the user ' + Q.format("upn") + r' has per-user MFA (?P<state>enabled|enforced)')
def per_user_mfa(lab, upn, state):
    lab.user(upn).per_user_mfa = state


@phrase("given", r'the user ' + Q.format("upn") + r' (?:has no Intune licen[cs]e|is not licensed for Intune(?:/EMS)?)')
def no_intune_licence(lab, upn):
    lab.user(upn).licenses = []


@phrase("given", r'the user ' + Q.format("upn") + r' is (?:a |an )?(?P<role>Global Administrator|Cloud Device '
                  r'Administrator|Intune Administrator|Global Reader)')
def user_role(lab, upn, role):
    lab.user(upn).roles.append(ROLE_TEMPLATES[role])


@phrase("given", r'the user ' + Q.format("upn") + r' is disabled')
def user_disabled(lab, upn):
    lab.user(upn).account_enabled = False


@phrase("given", r'"Users may join devices to Microsoft Entra ID" is (?:set to )?"?(?P<value>All|None)"?')
def users_may_join(lab, value):
    t = lab.ensure_tenant()
    t.device_registration_policy["azureADJoin"]["allowedToJoin"] = {
        "@odata.type": policy.ALL if value == "All" else policy.NONE}


@phrase("given", r'the maximum number of devices per user is (?P<n>\d+)')
def device_quota(lab, n):
    lab.ensure_tenant().device_registration_policy["userDeviceQuota"] = int(n)


@phrase("given", r'"Require (?:multifactor authentication|MFA) to register or join devices" is (?:set to )?"?'
                  r'(?P<value>Yes|No)"?')
def mfa_to_join(lab, value):
    lab.ensure_tenant().device_registration_policy["multiFactorAuthConfiguration"] = (
        "required" if value == "Yes" else "notRequired")


@phrase("given", r'the user ' + Q.format("upn") + r' already has (?P<n>\d+) (?:joined |registered )?devices?')
def existing_devices(lab, upn, n):
    from emulator.world.models import DirectoryDevice

    user, world, tenant = lab.user(upn), lab.world, lab.tenant
    for _ in range(int(n)):
        d = DirectoryDevice(id=world.ids.guid(), device_id=world.ids.guid(), display_name=world.ids.desktop_name(),
                            owner_id=user.id, registration_time=world.clock.now(),
                            approximate_last_sign_in=world.clock.now())
        tenant.devices[d.id] = d


@phrase("given", r'the MDM user scope is (?:set to )?"?(?P<value>All|None)"?')
def mdm_scope(lab, value):
    from emulator.world.models import INTUNE_APP_ID

    lab.ensure_tenant().mdm_policies[INTUNE_APP_ID]["appliesTo"] = value.lower()


@phrase("given", r'(?:a|the) Windows 11 (?:PC|device|computer)(?: that is not joined| \(not joined\))?'
                  r'(?: running (?:version )?(?P<release>\d\d[Hh]\d))?')
def a_pc(lab, release=None):
    opts = {"release": release.upper()} if release else {}
    lab.ensure_device(**opts)


@phrase("given", r"the (?:PC|device)'s clock is (?P<amount>\d+) (?P<unit>seconds|minutes|hours|days) "
                  r"(?P<direction>ahead|behind)")
def clock_skew(lab, amount, unit, direction):
    secs = int(amount) * {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}[unit]
    skew = secs if direction == "ahead" else -secs
    lab.device_settings["skew_seconds"] = skew
    if lab.device is not None:
        lab.device.skew_seconds = skew


@phrase("given", r'the (?:PC|device) has no (?:internet|network)(?: access| connection)?')
def no_network(lab):
    lab.device_settings["network"] = "offline"
    if lab.device is not None:
        lab.device.network = "offline"
