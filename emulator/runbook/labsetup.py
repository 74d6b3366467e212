"""Put a scenario (emulator.scenarios) into a step Lab: world, tenant, the actor's password, and
the simulated PC's settings, so that steps and runbooks run against that scenario's tenant."""
from __future__ import annotations

from typing import Any

DEFAULT_SCENARIO = "happy-path"


def device_options(settings: Any, release: str | None = None) -> dict[str, Any]:
    """WindowsDevice keyword arguments from a scenario's DeviceSettings (release overridable)."""
    from emulator.scenarios.schema import WINDOWS_RELEASES

    network = settings.network
    if isinstance(network, dict):
        network = list(network.get("blocked_hosts", []))
    rel = release or settings.release
    os_version = settings.os_version if rel == settings.release else WINDOWS_RELEASES.get(rel, settings.os_version)
    return {"name": settings.name, "release": rel, "os_version": os_version,
            "skew_seconds": float(settings.clock_skew), "network": network, "tpm": settings.tpm}


def use_scenario(lab, name_or_doc: Any, *, release: str | None = None):
    """Load the scenario into `lab.world` and make it the lab's tenant, actor and device settings.
    Must come before the PC is first used (the PC is built from these settings)."""
    from emulator.scenarios import load_scenario
    from entra_emu_steps.lab import StepFailed

    if lab.device is not None:
        raise StepFailed("The scenario must be chosen before the PC is used: put it first.")
    scenario = load_scenario(lab.world, name_or_doc)
    lab.scenario = scenario
    lab.tenant = scenario.tenant
    # The actor first: steps that name no user act as the scenario's actor.
    passwords = {scenario.actor.upn.lower(): scenario.actor.password}
    for upn, user in scenario.users.items():
        passwords.setdefault(upn, user.password)
    passwords.update({k: v for k, v in lab.passwords.items() if k not in passwords})
    lab.passwords = passwords
    lab.device_settings.update(device_options(scenario.device, release or lab.device_settings.get("release")))
    return scenario


def set_release(lab, release: str) -> None:
    """Choose the Windows 11 release whose UI labels the PC shows."""
    from emulator.device.screens import labels_for
    from entra_emu_steps.lab import StepFailed

    release = release.upper()
    try:
        labels = labels_for(release)
    except ValueError as exc:
        raise StepFailed(str(exc)) from None
    lab.device_settings["release"] = release
    try:
        from emulator.scenarios.schema import WINDOWS_RELEASES

        if release in WINDOWS_RELEASES:
            lab.device_settings["os_version"] = WINDOWS_RELEASES[release]
    except ImportError:  # pragma: no cover
        pass
    if lab.device is not None:
        lab.device.release = release
        lab.device.labels = labels


def actor(lab) -> tuple[str, str]:
    """(upn, password) of the person at the PC: the scenario's actor, else the first user added."""
    from entra_emu_steps.lab import StepFailed

    if lab.scenario is not None:
        a = lab.scenario.actor
        return a.upn, lab.passwords.get(a.upn.lower(), a.password)
    if lab.passwords:
        upn = next(iter(lab.passwords))
        return upn, lab.passwords[upn]
    raise StepFailed("No Entra user yet: add 'Given a licensed user \"name@contoso.com\"' or "
                     "'Given the scenario \"happy-path\"' first.")


def actor_user(lab):
    upn, _ = actor(lab)
    return lab.user(upn)


def portal_sign_in(lab, upn: str, password: str) -> str:
    """Sign in to the Office portal in the PC's browser (the guide's isolation test): "ok", or the
    AADSTS error line the page shows. Goes through the PC's network, as a browser on it would."""
    from emulator.device.browser import portal_sign_in as browser_sign_in

    user = lab.tenant.user_by_upn(upn) if lab.tenant else None
    mfa = getattr(user, "mfa_response", None) or "approve"
    return browser_sign_in(lab.ensure_device(), upn, password, mfa=mfa)
