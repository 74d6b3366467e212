"""The local server transport: base URL, HTTPS proxy (CONNECT + TLS), control API, snapshots,
faults, concurrency, and an unmodified `curl` through the proxy."""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from emulator.http import json_response
from emulator.services.router import Router
from emulator.transport.server import EmulatorServer
from emulator.world import snapshot
from emulator.world.world import World

DISCOVERY = ("/common/discovery/instance?api-version=1.1&authorization_endpoint="
             "https://login.microsoftonline.com/common/oauth2/v2.0/authorize")


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("entra-emu-state")


@pytest.fixture
def world():
    w = World(seed=7)
    w.raise_server_errors = True
    return w


@pytest.fixture
def server(world, state_dir):
    srv = EmulatorServer(world, port=0, state_dir=state_dir)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def proxied(server):
    """A requests session that reaches Microsoft hosts through the server as an HTTPS proxy.

    `verify` is passed per request because a REQUESTS_CA_BUNDLE in the environment overrides
    `Session.verify` (real-clients.md §0.4)."""
    s = requests.Session()
    s.trust_env = False
    s.proxies = {"https": server.url}
    bundle = str(server.tls_files.bundle)
    orig = s.request

    def request(method, url, **kw):
        kw.setdefault("verify", bundle)
        kw.setdefault("timeout", 30)
        return orig(method, url, **kw)

    s.request = request  # type: ignore[method-assign]
    yield s
    s.close()


def _control(server, method, path, body=None, **kw):
    return requests.request(method, f"{server.url}/_emu{path}", json=body, timeout=30, **kw)


def _registered(server, host):
    return host in server.router.hosts


# -- base URL and Host header -----------------------------------------------------------------

def test_base_url_mode_reaches_identity(server):
    r = requests.get(f"{server.url}/login.microsoftonline.com{DISCOVERY}", timeout=30)
    assert r.status_code == 200
    doc = r.json()
    assert doc["api-version"] == "1.1"
    assert "login.microsoftonline.com" in doc["metadata"][0]["aliases"]


def test_host_header_mode(server):
    r = requests.get(f"{server.url}{DISCOVERY}", headers={"Host": "login.microsoftonline.com"}, timeout=30)
    assert r.status_code == 200
    assert r.json()["tenant_discovery_endpoint"].startswith("https://login.microsoftonline.com/")


def test_unknown_route_is_json_404_not_a_traceback(server):
    r = requests.get(f"{server.url}/login.microsoftonline.com/no/such/thing", timeout=30)
    assert r.status_code == 404
    body = r.json()
    assert body["error"] == "not_emulated"
    assert "does not emulate GET https://login.microsoftonline.com/no/such/thing" in body["error_description"]
    r = requests.get(f"{server.url}/example.com/x", timeout=30)
    assert r.status_code == 404 and "does not emulate the host example.com" in r.json()["error_description"]


def test_local_router_and_bodies(world, state_dir):
    """A route on a local router: POST body, chunked body, HEAD, keep-alive, 500 never a traceback."""
    def echo(ctx):
        return json_response({"method": ctx.request.method, "body": ctx.request.text(), "q": ctx.request.query,
                              "path": ctx.request.path})

    def boom(ctx):
        raise RuntimeError("kaput")

    router = Router()
    router.register("test", ["graph.microsoft.com"], [("*", r"/echo", echo), ("GET", r"/boom", boom)])
    world.raise_server_errors = False
    with EmulatorServer(world, port=0, state_dir=state_dir, router=router) as srv:
        with requests.Session() as s:
            r = s.post(f"{srv.url}/graph.microsoft.com/echo?a=1", data="hello", timeout=30)
            assert r.json() == {"method": "POST", "body": "hello", "q": {"a": "1"}, "path": "/echo"}
            r = s.post(f"{srv.url}/graph.microsoft.com/echo", data=iter([b"chu", b"nked"]), timeout=30)
            assert r.json()["body"] == "chunked"
            r = s.head(f"{srv.url}/graph.microsoft.com/echo", timeout=30)
            assert r.status_code == 200 and r.content == b""
            r = s.get(f"{srv.url}/graph.microsoft.com/boom", timeout=30)
            assert r.status_code == 500
            assert r.json()["error"] == "server_error" and "Traceback" not in r.text
        assert srv.stats["connections"] == 1  # keep-alive: one connection for all four


def test_malformed_request_gets_400(server):
    import socket

    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"NONSENSE\r\n\r\n")
        data = s.recv(4096)
    assert data.startswith(b"HTTP/1.1 400 ")
    assert b"Malformed request line" in data


# -- HTTPS proxy ------------------------------------------------------------------------------

def test_connect_tls_through_proxy_with_keep_alive(server, proxied):
    for _ in range(3):
        r = proxied.get(f"https://login.microsoftonline.com{DISCOVERY}")
        assert r.status_code == 200
        assert r.json()["api-version"] == "1.1"
    assert server.stats["tunnels"] == 1  # one CONNECT, three requests inside the tunnel


def test_server_certificate_covers_the_microsoft_hosts(server):
    cert = x509.load_pem_x509_certificate(server.tls_files.server_cert.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = set(sans.get_values_for_type(x509.DNSName))
    for host in ("login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net",
                 "enterpriseregistration.windows.net", "graph.microsoft.com", "enrollment.manage.microsoft.com",
                 "portal.manage.microsoft.com", "localhost"):
        assert host in names
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} == {"127.0.0.1"}


def test_ca_is_generated_once_and_reused(server, world, state_dir):
    ca = server.tls_files.ca_cert.read_bytes()
    other = EmulatorServer(World(1), port=0, state_dir=state_dir)
    try:
        assert other.tls_files.ca_cert.read_bytes() == ca
        bundle = other.tls_files.bundle.read_bytes()
        assert bundle.startswith(ca.strip())
    finally:
        other.stop()


def test_connect_to_other_hosts_is_refused(server, proxied):
    with pytest.raises(requests.exceptions.ProxyError) as exc:
        proxied.get("https://example.com/")
    assert "403" in str(exc.value)
    assert server.stats["refused_connects"] == 1


def test_tls_directly_on_the_same_port(server):
    url = server.url.replace("http://", "https://")
    r = requests.get(f"{url}/login.microsoftonline.com{DISCOVERY}", verify=str(server.tls_files.ca_cert), timeout=30)
    assert r.status_code == 200


def test_export_lines(server):
    lines = server.export_lines()
    text = "\n".join(lines)
    assert f"export HTTPS_PROXY=http://127.0.0.1:{server.port}" in lines
    for var in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "CURL_CA_BUNDLE", "NO_PROXY"):
        assert f"export {var}=" in text


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_through_the_proxy_to_identity(server):
    out = subprocess.run(["curl", "-sS", "--proxy", server.url, "--cacert", str(server.tls_files.ca_cert),
                          "--noproxy", "", f"https://login.microsoftonline.com{DISCOVERY}"],
                         capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["api-version"] == "1.1"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_through_the_proxy_gets_graphs_401(server):
    if not _registered(server, "graph.microsoft.com"):
        pytest.skip("the Graph service (emulator/services/graph/urls.py) registers no routes yet")
    out = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", "--proxy", server.url,
                          "--cacert", str(server.tls_files.ca_cert), "--noproxy", "",
                          "https://graph.microsoft.com/v1.0/devices"],
                         capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    body, _, status = out.stdout.rpartition("\n")
    assert status == "401"
    err = json.loads(body)["error"]
    assert err["code"] == "InvalidAuthenticationToken"
    assert err["message"] == "Access token is empty."


# -- control API ------------------------------------------------------------------------------

def test_health_and_index(server):
    r = _control(server, "GET", "/health")
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["seed"] == 7
    r = _control(server, "GET", "/")
    assert "POST /_emu/reset" in r.json()["endpoints"]
    r = _control(server, "GET", "/nope")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = _control(server, "PUT", "/reset")
    assert r.status_code == 405


def test_tenants_users_dump_and_reset(server):
    r = _control(server, "POST", "/tenants", {"name": "Contoso", "domain": "contoso.com"})
    assert r.status_code == 201, r.text
    tid = r.json()["id"]
    r = _control(server, "POST", "/tenants/contoso.com/users",
                 {"upn": "adele.vance@contoso.com", "displayName": "Adele Vance", "mfaMethods": []})
    assert r.status_code == 201, r.text
    r = _control(server, "GET", "/tenants")
    assert [t["users"] for t in r.json()["value"]] == [1]
    r = _control(server, "GET", f"/tenants/{tid}")
    doc = r.json()
    assert doc["display_name"] == "Contoso"
    assert doc["users"][0]["user_principal_name"] == "adele.vance@contoso.com"
    assert doc["users"][0]["mfa_methods"] == []
    # the new tenant is live for the services
    r = requests.get(f"{server.url}/login.microsoftonline.com/contoso.com/v2.0/.well-known/openid-configuration",
                     timeout=30)
    assert r.status_code == 200 and tid in r.json()["issuer"]
    r = _control(server, "POST", "/reset", {})
    assert r.status_code == 200
    assert _control(server, "GET", "/tenants").json()["value"] == []
    assert server.world.raise_server_errors is True


@pytest.mark.parametrize("path,body,needle", [
    ("/tenants", {}, "'name'"),
    ("/tenants", {"name": "X", "intune": "yes"}, "'intune' must be a bool"),
    ("/clock", {"now": "yesterday"}, "not an ISO 8601"),
    ("/clock", {}, "exactly one of"),
    ("/devices/skew", {"deviceName": "DESKTOP-1"}, "'skewSeconds' is required"),
    ("/faults", {"bogus": 1}, "unknown field 'bogus'"),
    ("/snapshot/restore", {"document": {"format": "other"}}, "not an entra-emu snapshot"),
    ("/snapshot/restore", {"path": "/nonexistent/snap.json"}, "cannot read snapshot"),
])
def test_control_bad_input_is_400_with_a_message(server, path, body, needle):
    r = _control(server, "POST", path, body)
    assert r.status_code == 400, r.text
    assert needle in r.json()["message"]


def test_control_body_not_json(server):
    r = requests.post(f"{server.url}/_emu/tenants", data=b"{not json", timeout=30)
    assert r.status_code == 400 and "not valid JSON" in r.json()["message"]


def test_scenario_hook_or_501(server, tmp_path):
    doc = tmp_path / "s.yaml"
    doc.write_text("tenants: []\n")
    r = _control(server, "POST", "/scenario", {"path": str(doc)})
    try:
        import emulator.scenarios as scenarios
    except ModuleNotFoundError:
        scenarios = None
    if getattr(scenarios, "load_scenario", None) is None:
        assert r.status_code == 501
        assert "emulator.scenarios" in r.json()["message"]
    else:
        assert r.status_code in (200, 400), r.text


def test_clock_and_skew(server):
    r = _control(server, "POST", "/clock", {"now": "2030-01-02T03:04:05Z"})
    assert r.status_code == 200 and r.json()["now"].startswith("2030-01-02T03:04")
    assert server.world.clock.now().year == 2030
    r = _control(server, "POST", "/clock", {"offsetSeconds": 0})
    assert abs(server.world.clock.offset) < 1e-6
    r = _control(server, "POST", "/devices/skew", {"deviceName": "desktop-abc1234", "skewSeconds": 600})
    assert r.json()["value"] == [{"deviceName": "DESKTOP-ABC1234", "skewSeconds": 600.0}]
    assert server.world.device_skews == {"DESKTOP-ABC1234": 600.0}


def test_faults_added_through_control_api_fire(server):
    r = _control(server, "POST", "/faults", {"host": "login.microsoftonline.com", "path": "/common/discovery/*",
                                             "nth": 2, "status": 503, "name": "second-discovery-fails"})
    assert r.status_code == 201, r.text
    url = f"{server.url}/login.microsoftonline.com{DISCOVERY}"
    assert requests.get(url, timeout=30).status_code == 200
    assert requests.get(url, timeout=30).status_code == 503
    assert requests.get(url, timeout=30).status_code == 200
    log = _control(server, "GET", "/faults/log").json()["value"]
    assert log == [{"rule": "second-discovery-fails", "call": 2, "path": "/common/discovery/instance", "status": 503}]
    assert _control(server, "GET", "/faults").json()["value"][0]["fired"] == 1
    assert _control(server, "DELETE", "/faults").status_code == 204
    assert _control(server, "GET", "/faults").json()["value"] == []


def test_throttle_rule_camel_case(server):
    _control(server, "POST", "/faults", [{"host": "login.microsoftonline.com", "path": "/common/discovery/*",
                                          "throttleSeconds": 30, "times": 1}])
    r = requests.get(f"{server.url}/login.microsoftonline.com{DISCOVERY}", timeout=30)
    assert r.status_code == 429 and r.headers["Retry-After"] == "30"


# -- snapshots ----------------------------------------------------------------------------------

def _populate(world):
    t = world.create_tenant("Contoso", "contoso.com")
    u = world.add_user(t, "adele.vance@contoso.com", display_name="Adele Vance")
    g = world.add_group(t, "Pilot", [u.id])
    from emulator.world.models import DirectoryDevice, ManagedDevice

    now = world.clock.now()
    d = DirectoryDevice(id=world.ids.guid(), device_id=world.ids.guid(), display_name="DESKTOP-AAAAAAA",
                        registration_time=now, owner_id=u.id, cert_der=b"\x30\x82\x01\x00fake-der",
                        transport_key=b"RSA1...")
    t.devices[d.id] = d
    m = ManagedDevice(id=world.ids.guid(), device_name=d.display_name, user_id=u.id,
                      user_principal_name=u.user_principal_name, user_display_name=u.display_name,
                      azure_ad_device_id=d.device_id, enrolled=now, last_sync=now, os_version="10.0.26100.2605")
    t.managed_devices[m.id] = m
    world.add_application(t, "Inventory", secret="s3cret", app_roles=["Device.Read.All"])
    t.conditional_access_policies.append({"id": world.ids.guid(), "displayName": "Require MFA", "state": "enabled"})
    t.directory_audits.append({"id": "a1", "activityDisplayName": "Add device"})
    world.clock.offset = 3600.0
    world.faults.add({"host": "graph.microsoft.com", "status": 503, "nth": 3, "name": "g"})
    world.refresh_tokens["rt1"] = {"user": u.id, "session_key": b"\x01\x02", "issued": now}
    return t, u, g, d


def test_snapshot_round_trip_in_memory(world):
    t, u, g, d = _populate(world)
    doc = json.loads(json.dumps(snapshot.dump_world(world)))
    assert doc["format"] == "entra-emu-snapshot" and doc["version"] == 1
    assert "PRIVATE KEY" not in json.dumps(doc)
    w2 = snapshot.load_world(doc)
    t2 = w2.tenant("contoso.com")
    assert t2.id == t.id and t2.users[u.id].display_name == "Adele Vance"
    assert t2.groups[g.id].members == [u.id]
    assert t2.devices[d.id].cert_der == d.cert_der and t2.devices[d.id].registration_time == d.registration_time
    assert list(t2.managed_devices.values())[0].azure_ad_device_id == d.device_id
    assert list(t2.applications.values())[0].secrets == ["s3cret"]
    assert t2.conditional_access_policies == t.conditional_access_policies
    assert t2.directory_audits == t.directory_audits
    assert w2.clock.offset == 3600.0
    assert w2.faults.rules[0].nth == 3
    assert w2.refresh_tokens["rt1"]["session_key"] == b"\x01\x02"
    # same key material (by pool index) and the id generator continues where it stopped
    assert w2.issuer_key is world.issuer_key and w2.drs_ca_key is world.drs_ca_key
    assert w2.ids.guid() == world.ids.guid()


def test_snapshot_save_and_restore_via_control_api(server, tmp_path):
    _populate(server.world)
    path = tmp_path / "snap" / "world.json"
    r = _control(server, "POST", "/snapshot/save", {"path": str(path)})
    assert r.status_code == 200, r.text
    assert path.exists() and not list(path.parent.glob("*.tmp"))
    _control(server, "POST", "/reset", {})
    assert _control(server, "GET", "/tenants").json()["value"] == []
    r = _control(server, "POST", "/snapshot/restore", {"path": str(path)})
    assert r.status_code == 200, r.text
    assert [t["devices"] for t in r.json()["tenants"]] == [1]
    assert server.world.tenant("contoso.com").user_by_upn("adele.vance@contoso.com") is not None


def test_snapshot_refuses_newer_version(world):
    doc = snapshot.dump_world(world)
    doc["version"] = 99
    with pytest.raises(snapshot.SnapshotError, match="version 99 is not supported"):
        snapshot.load_world(doc)


# -- DRS through the proxy: join, client-certificate delete, 100 parallel joins ----------------

def _join_material():
    from emulator.device.crypto import bcrypt_rsakey_blob, build_csr
    from emulator.world.keys import pool_key

    key = pool_key(40)
    return key, base64.b64encode(build_csr(key)).decode(), base64.b64encode(bcrypt_rsakey_blob(key.public_key())).decode()


def _drs_token(world, tenant, user):
    from emulator.services.identity.tokens import find_resource, issuer
    from emulator.world.models import BROKER_CLIENT_ID, DRS_RESOURCE

    return issuer(world).access_token(tenant, find_resource(DRS_RESOURCE), BROKER_CLIENT_ID, user=user)


def _join_body(csr, tk, name):
    return {"CertificateRequest": {"Type": "pkcs10", "Data": csr}, "TransportKey": tk,
            "TargetDomain": "contoso.com", "DeviceType": "Windows", "OSVersion": "10.0.26100.2605",
            "DeviceDisplayName": name, "JoinType": 0, "attributes": {"ReuseDevice": "true", "ReturnClientSid": "true"}}


JOIN_URL = "https://enterpriseregistration.windows.net/EnrollmentServer/device/?api-version=2.0"


def _need_drs(server):
    if not _registered(server, "enterpriseregistration.windows.net"):
        pytest.skip("the DRS service (emulator/services/registration/urls.py) is not registered")


def test_join_then_delete_with_tls_client_certificate(server, world, proxied, tmp_path):
    _need_drs(server)
    t = world.create_tenant("Contoso", "contoso.com")
    u = world.add_user(t, "adele.vance@contoso.com", display_name="Adele Vance")
    key, csr, tk = _join_material()
    r = proxied.post(JOIN_URL, json=_join_body(csr, tk, "DESKTOP-JOIN001"),
                     headers={"Authorization": f"Bearer {_drs_token(world, t, u)}"})
    assert r.status_code == 200, r.text
    der = base64.b64decode(r.json()["Certificate"]["RawBody"])
    cert = x509.load_der_x509_certificate(der)
    device_id = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert t.device_by_device_id(device_id) is not None
    certfile, keyfile = tmp_path / "dev.pem", tmp_path / "dev.key"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    del_url = f"https://enterpriseregistration.windows.net/EnrollmentServer/device/{device_id}"
    # without a certificate: the service's own refusal, not a TLS failure
    r = proxied.delete(del_url)
    assert r.status_code != 200
    r = proxied.delete(del_url, cert=(str(certfile), str(keyfile)))
    assert r.status_code == 200, r.text
    assert t.device_by_device_id(device_id) is None


def test_hundred_parallel_joins_respect_the_quota(server, world):
    _need_drs(server)
    t = world.create_tenant("Contoso", "contoso.com")
    u = world.add_user(t, "adele.vance@contoso.com", display_name="Adele Vance")
    t.device_registration_policy["userDeviceQuota"] = 50
    token = _drs_token(world, t, u)
    _, csr, tk = _join_material()
    bundle = str(server.tls_files.bundle)
    barrier = threading.Barrier(100)

    def join(i):
        with requests.Session() as s:
            s.trust_env = False
            s.proxies = {"https": server.url}
            barrier.wait(timeout=60)
            r = s.post(JOIN_URL, json=_join_body(csr, tk, f"DESKTOP-{i:07d}"), verify=bundle, timeout=120,
                       headers={"Authorization": f"Bearer {token}"})
            return r.status_code, r.json()

    with ThreadPoolExecutor(max_workers=100) as pool:
        results = list(pool.map(join, range(100)))
    ok = [b for s, b in results if s == 200]
    refused = [b for s, b in results if s != 200]
    assert len(ok) == 50
    assert len(t.devices) == 50
    assert len(refused) == 50
    assert all(b.get("ErrorSubCode") == "DeviceQuotaExceeded" for b in refused), refused[:2]


# -- unmodified clients as separate processes ---------------------------------------------------

def _client_env(server, tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV")}
    env["HOME"] = str(tmp_path)
    env.update(server.env())
    return env


def test_msal_in_another_process_through_the_proxy(server, world, tmp_path):
    """msal with its default authority and no options: only HTTPS_PROXY and the CA bundle are set."""
    import sys

    t = world.create_tenant("Contoso", "contoso.com")
    world.add_user(t, "adele.vance@contoso.com", display_name="Adele Vance", mfa_methods=[])
    code = (
        "import json, msal\n"
        "app = msal.PublicClientApplication('04b07795-8ddb-461a-bbee-02f9e1bf7b46',"
        " authority='https://login.microsoftonline.com/contoso.com')\n"
        "r = app.acquire_token_by_username_password('adele.vance@contoso.com', 'P@ssw0rd!', scopes=['User.Read'])\n"
        "print(json.dumps({k: r.get(k) for k in ('token_type', 'error', 'error_description')}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=_client_env(server, tmp_path))
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["token_type"] == "Bearer", result


def test_serve_command_prints_exports_and_stops_on_ctrl_c(tmp_path):
    import os
    import signal
    import sys

    env = {k: v for k, v in os.environ.items() if k in ("PATH", "PYTHONPATH", "VIRTUAL_ENV")}
    env["HOME"] = str(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", "from emulator.cli_serve import serve; serve()", "--port", "0",
                             "--state-dir", str(tmp_path / "state"), "--seed", "42"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        banner = proc.stdout.readline()
        assert banner.startswith("entra-emu serving on http://127.0.0.1:"), banner
        exports = [proc.stdout.readline() for _ in range(5)]
        assert exports[0].startswith("export HTTPS_PROXY=http://127.0.0.1:")
        url = exports[0].strip().split("=", 1)[1]
        assert requests.get(f"{url}/_emu/health", timeout=30).json()["seed"] == 42
        assert (tmp_path / "state" / "ca.pem").exists()
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "entra-emu stopped." in err


def test_client_certificate_trust_covers_drs_and_intune_cas(server):
    subjects = [dict(kv for rdn in c["subject"] for kv in rdn) for c in server.ssl_context().get_ca_certs()]
    assert any(s.get("commonName") == "MS-Organization-Access" for s in subjects)
    try:
        from emulator.services.intune.certificates import ca_certificate  # noqa: F401
    except ImportError:
        return
    assert len(subjects) == 2


def test_control_api_loads_a_shipped_scenario_by_name(tmp_path):
    import requests as rq

    from emulator.transport.server import EmulatorServer

    with EmulatorServer(port=0, state_dir=tmp_path / "st") as srv:
        r = rq.post(f"{srv.url}/_emu/scenario", json={"name": "device-limit-reached"})
        assert r.status_code == 200, r.text
        assert [t["displayName"] for t in r.json()["tenants"]] == ["Contoso"]
        bad = rq.post(f"{srv.url}/_emu/scenario", json={"name": "device-limit"})
        assert bad.status_code == 400 and "device-limit-reached" in bad.text
        nf = rq.get(f"{srv.url}/_emu/nothing")
        assert "GET /_emu/tenants/{ref}" in nf.json()["endpoints"]
