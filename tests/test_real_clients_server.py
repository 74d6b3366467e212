"""Unmodified real clients, as separate processes or with their own HTTP stacks, reach the emulator
through the local server with nothing but the environment it prints (HTTPS proxy + CA bundle)."""
import asyncio
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from emulator.transport.server import EmulatorServer
from emulator.world.models import ROLE_TEMPLATES
from emulator.world.world import World

PASSWORD = "Str0ng-Pass!"


@pytest.fixture
def served(tmp_path):
    world = World(seed="real-clients")
    tenant = world.create_tenant("Contoso", "contoso.com")
    world.add_user(tenant, "adele.vance@contoso.com", password=PASSWORD, display_name="Adele Vance")
    world.add_user(tenant, "admin@contoso.com", password=PASSWORD, display_name="Tenant Admin",
                   roles=[ROLE_TEMPLATES["Global Administrator"]])
    with EmulatorServer(world, port=0, state_dir=tmp_path / "state") as server:
        yield server, world, tenant


def _env(server) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(server.env())
    return env


def _bin(name: str) -> str:
    exe = Path(sys.executable).parent / name
    return str(exe) if exe.exists() else (shutil.which(name) or pytest.skip(f"{name} is not installed"))


def test_msal_in_a_separate_process_gets_a_token(served, tmp_path):
    server, world, tenant = served
    script = textwrap.dedent("""
        import json, msal, warnings
        warnings.simplefilter("ignore")
        app = msal.PublicClientApplication("04b07795-8ddb-461a-bbee-02f9e1bf7b46",
                                           authority="https://login.microsoftonline.com/contoso.com")
        ok = app.acquire_token_by_username_password("adele.vance@contoso.com", "%s", scopes=["User.Read"])
        bad = app.acquire_token_by_username_password("adele.vance@contoso.com", "wrong", scopes=["User.Read"])
        print(json.dumps({"ok": sorted(ok), "bad": bad.get("error_codes")}))
    """ % PASSWORD)  # noqa: UP031 (the script's own braces stay literal)
    out = subprocess.run([sys.executable, "-c", script], env=_env(server), capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert "access_token" in result["ok"] and "id_token" in result["ok"]
    assert result["bad"] == [50126]


def test_roadtx_cli_gets_a_drs_token_and_joins_a_device(served, tmp_path):
    server, world, tenant = served
    roadtx = _bin("roadtx")
    env = _env(server)
    run = lambda *args: subprocess.run([roadtx, *args], env=env, capture_output=True, text=True,  # noqa: E731
                                       timeout=180, cwd=tmp_path)
    got = run("gettokens", "-u", "adele.vance@contoso.com", "-p", PASSWORD, "-r", "drs",
              "-c", "1b730954-1685-4b74-9bfd-dac224a7b894")
    assert got.returncode == 0, got.stdout + got.stderr
    assert (tmp_path / ".roadtools_auth").exists()
    joined = run("device", "-a", "join", "-n", "ROADTX-PC01", "-d", "contoso.com")
    assert joined.returncode == 0, joined.stdout + joined.stderr
    devices = [d for d in tenant.devices.values() if d.display_name == "ROADTX-PC01"]
    assert len(devices) == 1 and devices[0].trust_type == "AzureAd"
    assert (tmp_path / "roadtx-pc01.pem").exists() and (tmp_path / "roadtx-pc01.key").exists()  # roadtx lower-cases
    # A wrong password is refused with the AADSTS text on roadtx's output.
    bad = run("gettokens", "-u", "adele.vance@contoso.com", "-p", "nope", "-r", "drs",
              "-c", "1b730954-1685-4b74-9bfd-dac224a7b894")
    assert "AADSTS50126" in bad.stdout + bad.stderr


def test_graph_sdk_lists_devices_and_reads_the_registration_policy(served, monkeypatch):
    server, world, tenant = served
    from azure.identity import UsernamePasswordCredential
    from msgraph import GraphServiceClient

    for k in [k for k in os.environ if k.lower().endswith("_proxy")]:
        monkeypatch.delenv(k)
    for k, v in server.env().items():
        monkeypatch.setenv(k, v)
    # a device to list
    from emulator.world.models import DirectoryDevice

    d = DirectoryDevice(id=world.ids.guid(), device_id=world.ids.guid(), display_name="DESKTOP-SDK0001",
                        registration_time=world.clock.now())
    tenant.devices[d.id] = d
    cred = UsernamePasswordCredential("14d82eec-204b-4c2f-b7e8-296a70dab67e", "admin@contoso.com", PASSWORD,
                                      tenant_id="contoso.com")
    client = GraphServiceClient(cred, scopes=["https://graph.microsoft.com/.default"])

    async def go():
        devices = await client.devices.get()
        policy = await client.policies.device_registration_policy.get()
        return devices, policy

    devices, policy = asyncio.run(go())
    assert [x.display_name for x in devices.value] == ["DESKTOP-SDK0001"]
    assert devices.value[0].device_id == d.device_id
    assert policy.user_device_quota == 50
    assert policy.id == "deviceRegistrationPolicy"


def test_curl_through_the_proxy_gets_graphs_401(served):
    server, world, tenant = served
    curl = shutil.which("curl") or pytest.skip("curl is not installed")
    out = subprocess.run([curl, "-s", "-i", "https://graph.microsoft.com/v1.0/devices"], env=_env(server),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    text = out.stdout.replace("\r\n", "\n")  # curl -i prints the CONNECT reply first, then the response
    head, _, body = text.partition("\n\n")
    while head.startswith("HTTP/1.1 200 Connection established") or head.startswith("HTTP/1.0 200"):
        head, _, body = body.partition("\n\n")
    assert head.split()[1] == "401"
    err = json.loads(body)["error"]
    assert err["code"] == "InvalidAuthenticationToken" and err["message"] == "Access token is empty."
