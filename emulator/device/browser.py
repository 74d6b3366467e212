"""The PC's web browser, for the guide's isolation step: "test sign-in on portal.office.com first".

It signs in to the Office portal through the same JSON sign-in pages the Settings dialog uses,
over the PC's own network (so no network means no portal either), and reports what the page said.
"""
from __future__ import annotations

from urllib.parse import urlencode

import requests

LOGIN = "https://login.microsoftonline.com"
OFFICE_PORTAL = "https://portal.office.com/"
OFFICE_PORTAL_APP_ID = "00000006-0000-0ff1-ce00-000000000000"


def portal_sign_in(device, upn: str, password: str, *, mfa: str = "approve") -> str:
    """Sign in to portal.office.com: "ok", or the first line of the error the page shows."""
    net = device.net
    q = {"client_id": OFFICE_PORTAL_APP_ID, "response_type": "code", "redirect_uri": OFFICE_PORTAL,
         "resource": OFFICE_PORTAL, "login_hint": upn, "state": "portal"}
    tenant = upn.rsplit("@", 1)[-1]
    try:
        page = net.get(f"{LOGIN}/common/oauth2/authorize?{urlencode(q)}").json()
        page = net.post(f"{LOGIN}/{tenant}/login",
                        data={"flowToken": page["flowToken"], "login": upn, "passwd": password}).json()
        for _ in range(3):
            if page.get("page") == "mfa":
                action = "deny" if mfa == "deny" else "approve"
            elif page.get("page") == "proofup":
                action = "skip" if mfa == "skip" else "register"
            else:
                break
            page = net.post(f"{LOGIN}/{tenant}/SAS/ProcessAuth",
                            data={"flowToken": page["flowToken"], "action": action}).json()
    except requests.exceptions.RequestException as exc:
        return f"The browser cannot reach {OFFICE_PORTAL}: {exc}"
    except Exception as exc:  # the device's own network / TLS failures
        return f"The browser cannot reach {OFFICE_PORTAL}: {exc}"
    if page.get("page") == "done":
        return "ok"
    return (page.get("error_description") or str(page)).splitlines()[0]
