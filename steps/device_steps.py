"""When-steps: what the person at the PC does, in the guide's words."""
from .registry import phrase

Q = r'"(?P<{}>[^"]+)"'


def _act(lab, fn, *args, **kw):
    """Run a device action; a failure of the action itself (not of a check) is kept for Then-steps
    that expect an error, and re-raised otherwise by the checks."""
    lab.last_error = None
    return fn(*args, **kw)


@phrase("when", r'(?:I )?[Oo]pen Settings')
def open_settings(lab):
    _act(lab, lab.ensure_device().open_settings)


@phrase("when", r'(?:I )?(?:[Gg]o to|[Ss]elect|[Oo]pen|[Cc]lick|[Cc]hoose) (?P<label>Accounts|Access work or school|'
                 r'Join this device to (?:Microsoft Entra ID|Azure Active Directory)|Other user|Info|Disconnect|Done|'
                 r'Join|Connect|Next|Sign in|Sync|Restart now|Yes|Try again|Cancel)(?: in the dialog)?')
def click_known(lab, label):
    _act(lab, lab.ensure_device().click, label)


@phrase("when", r'(?:I )?(?:click|select|choose|press) (?:the )?"(?P<label>[^"]+)"(?: button| link)?')
def click_quoted(lab, label):
    _act(lab, lab.ensure_device().click, label)


@phrase("when", r'(?:I )?(?:select|expand) the connected (?:Entra |work or school )?account')
def select_connected_account(lab):
    device = lab.ensure_device()
    _act(lab, device.select_connected_account)


@phrase("when", r'(?:I )?[Ee]nter the (?:Entra )?(?:user )?email ' + Q.format("email"))
def enter_email(lab, email):
    device = lab.ensure_device()
    device.type(email)
    device.click("Next")


@phrase("when", r'(?:I )?[Ee]nter the password ' + Q.format("password"))
def enter_password(lab, password):
    device = lab.ensure_device()
    device.type(password)
    device.click("Sign in")


@phrase("when", r'(?:I )?(?:approve the sign-in request|complete the MFA prompt|approve the MFA prompt)')
def approve_mfa(lab):
    lab.ensure_device().approve_mfa()


@phrase("when", r'(?:I )?deny the sign-in request')
def deny_mfa(lab):
    lab.ensure_device().deny_mfa()


@phrase("when", r'(?:I )?[Cc]omplete (?:the )?password and MFA prompts(?: for ' + Q.format("upn") + r')?')
def password_and_mfa(lab, upn=None):
    device = lab.ensure_device()
    upn = upn or next(iter(lab.passwords))
    device.type(lab.password_of(upn))
    device.click("Sign in")
    if device.screen.name == "mfa":
        device.approve_mfa()


@phrase("when", r'(?:I )?join (?:the|this) (?:device|PC) to (?:Microsoft Entra ID|Entra ID|Azure AD) as '
                 + Q.format("upn"))
def join_as(lab, upn):
    lab.ensure_device().join(upn, lab.password_of(upn))


@phrase("when", r'(?:I )?[Rr]estart the (?:device|PC)(?: if prompted)?')
def restart(lab):
    lab.ensure_device().restart()


@phrase("when", r'(?:I )?sign in (?:to Windows )?(?:as|with) (?:the Entra user )?' + Q.format("upn")
                 + r'(?: with the password ' + Q.format("password") + r')?(?: using Other user)?')
def sign_in(lab, upn, password=None):
    lab.ensure_device().sign_in(upn, password or lab.password_of(upn))


@phrase("when", r'(?:I )?(?:open Command Prompt (?:or PowerShell )?and )?run "?(?P<command>dsregcmd /status)"?'
                 r'(?: again)?')
def run_command(lab, command):
    lab.output = lab.ensure_device().run(command)


@phrase("when", r'(?:I )?disconnect the (?:device|PC) from (?:the organization|Microsoft Entra ID)')
def disconnect(lab):
    lab.ensure_device().disconnect()
