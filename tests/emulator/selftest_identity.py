#!/usr/bin/python3
"""Self-test of the emulator's identity platform (tests/emulator/identity.py) against a running emulator:
certificate assertions (PS256/RS256, each accept/reject path), the clock offset, the device code flow,
refresh-token rotation and Graph with delegated tokens.

    tests/emulator/selftest_identity.py [-k SUBSTRING] [--keep]

Python 3 standard library plus the `openssl` command (keys and certificates are made with it and the
assertions signed with `openssl dgst`, independently of the emulator's verifier). Prints `ok NAME` or
`FAIL NAME: reason` per check and ends with `selftest: N passed, N failed` (non-zero exit on failure).
"""
import argparse
import base64
import calendar
import email.utils
import hashlib
import http.client
import json
import os
import re
import select
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import emulator as emu_mod  # noqa: E402

TENANT = emu_mod.DEFAULTS["tenant"]
DOMAIN = emu_mod.DEFAULTS["tenant_domain"][0]
CLIENT_ID = emu_mod.DEFAULTS["client_id"]
SECRET = emu_mod.DEFAULTS["client_secret"]
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"


class Fail(Exception):
    pass


def b64url(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True)


class Keys:
    """Two RSA keys with self-signed certificates: 'good' is registered on the app, 'other' is not."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.der = {}
        for name in ("good", "other"):
            key, cert = self.path(name + ".key"), self.path(name + ".pem")
            openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "30", "-subj", "/CN=spo-selftest-" + name)
            with open(cert) as f:
                pem = f.read()
            self.der[name] = base64.b64decode("".join(pem.split("-----")[2].split()))

    def path(self, name):
        return os.path.join(self.tmp, name)

    def thumb(self, name, kind, padded=False):
        h = hashlib.sha256 if kind == "x5t#S256" else hashlib.sha1
        t = base64.urlsafe_b64encode(h(self.der[name]).digest()).decode()
        return t if padded else t.rstrip("=")

    def sign(self, name, alg, data):
        dp, sp = self.path("data.bin"), self.path("sig.bin")
        with open(dp, "wb") as f:
            f.write(data)
        cmd = ["dgst", "-sha256", "-sign", self.path(name + ".key"), "-out", sp]
        if alg == "PS256":
            cmd += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"]
        openssl(*(cmd + [dp]))
        with open(sp, "rb") as f:
            return f.read()

    def assertion(self, aud, alg="PS256", kind=None, key="good", thumb_of=None, padded=False, claims=None,
                  drop=(), header_extra=None, tamper=False, lifetime=600, now=None):
        kind = kind or ("x5t#S256" if alg == "PS256" else "x5t")
        t = int(time.time() if now is None else now)
        hdr = {"alg": alg, "typ": "JWT", kind: self.thumb(thumb_of or key, kind, padded)}
        hdr.update(header_extra or {})
        body = {"aud": aud, "iss": CLIENT_ID, "sub": CLIENT_ID, "jti": str(uuid.uuid4()), "nbf": t,
                "iat": t, "exp": t + lifetime}
        body.update(claims or {})
        for k in drop:
            body.pop(k, None)
        signing_input = b64url(json.dumps(hdr).encode()) + "." + b64url(json.dumps(body).encode())
        sig = self.sign(key, alg, signing_input.encode())
        if tamper:
            sig = bytes([sig[0] ^ 1]) + sig[1:]
        return signing_input + "." + b64url(sig)


class Emu:
    def __init__(self, tmp, pki, args):
        self.log = open(os.path.join(tmp, "emulator-%d.log" % len(os.listdir(tmp))), "wb")
        cmd = [sys.executable, os.path.join(HERE, "emulator.py"), "--cert", os.path.join(pki, "chain.pem"),
               "--key", os.path.join(pki, "server.key"), "--port", "0", "--log"] + args
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log)
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.startswith("READY "):
            self.proc.kill()
            raise SystemExit("emulator did not start: %r (log in %s)" % (line, tmp))
        self.port = int(line.split()[1])
        self.ctx = ssl.create_default_context(cafile=os.path.join(pki, "ca.pem"))

    def request(self, method, path, body=None, headers=None, form=None, host="localhost"):
        c = http.client.HTTPSConnection(host, self.port, context=self.ctx, timeout=30)
        hdrs = dict(headers or {})
        if form is not None:
            body = urllib.parse.urlencode(form)
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            c.request(method, path, body, hdrs)
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()

    def api(self, method, path, obj=None):
        st, _, data = self.request(method, path, json.dumps(obj) if obj is not None else None,
                                   {"Content-Type": "application/json"})
        if st != 200:
            raise Fail("%s %s -> %d %s" % (method, path, st, data[:200]))
        return json.loads(data)

    def config(self, **kw):
        return self.api("POST", "/_emulator/config", kw)

    def stats(self):
        return self.api("GET", "/_emulator/stats")

    def token(self, form, tenant=TENANT, host="localhost"):
        st, hdrs, data = self.request("POST", "/%s/oauth2/v2.0/token" % tenant, form=form, host=host)
        return st, hdrs, json.loads(data)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


# ------------------------------------------------------------------------------------------------ checks
CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


def expect_error(res, status, error, code, *words):
    st, _, body = res
    if st != status or body.get("error") != error:
        raise Fail("expected %d %s, got %d %s: %s" % (status, error, st, body.get("error"),
                                                      body.get("error_description", "")[:300]))
    codes = body.get("error_codes")
    if (code is None and codes != []) or (code is not None and codes != [code]):
        raise Fail("expected error_codes [%s], got %r" % (code, codes))
    desc = body.get("error_description", "")
    if code is not None and not desc.startswith("AADSTS%d: " % code):
        raise Fail("description does not start with AADSTS%d: %r" % (code, desc[:80]))
    for w in words:
        if w not in desc:
            raise Fail("%r not in description %r" % (w, desc[:400]))
    for k in ("timestamp", "trace_id", "correlation_id"):
        if k not in body:
            raise Fail("error body lacks %s" % k)
    if "\r\nTrace ID: " not in desc or "\r\nTimestamp: " not in desc:
        raise Fail("description lacks Entra's trailer")


def expect_ok(res):
    st, _, body = res
    if st != 200 or "access_token" not in body:
        raise Fail("expected a token, got %d %s" % (st, json.dumps(body)[:400]))
    return body


class T:
    """What every check gets: the emulator, the keys and a few helpers."""

    def __init__(self, emu, keys, tmp, pki):
        self.emu, self.keys, self.tmp, self.pki = emu, keys, tmp, pki

    def aud(self, tenant=TENANT, host="localhost"):
        return "https://%s:%d/%s/oauth2/v2.0/token" % (host, self.emu.port, tenant)

    def cert_form(self, assertion, **extra):
        f = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "scope": GRAPH_SCOPE,
             "client_assertion_type": JWT_BEARER, "client_assertion": assertion}
        f.update(extra)
        return f

    def assert_token(self, tenant=TENANT, **kw):
        return self.emu.token(self.cert_form(self.keys.assertion(self.aud(tenant), **kw)), tenant=tenant)

    def graph(self, token, path):
        st, hdrs, data = self.emu.request("GET", path, headers={"Authorization": "Bearer " + token})
        return st, hdrs, json.loads(data)


# ---- 1. certificate credentials
@check
def cert_ps256_s256_ok(t):
    before = t.emu.stats()["assertions_ok"]
    a = t.keys.assertion(t.aud())
    body = expect_ok(t.emu.token(t.cert_form(a)))
    s = t.emu.stats()
    if s["assertions_ok"] != before + 1:
        raise Fail("assertions_ok not counted")
    la = s["last_assertion"]
    if la != {"alg": "PS256", "thumbprint_kind": "x5t#S256", "lifetime_s": 600, "aud": t.aud()}:
        raise Fail("last_assertion %r" % la)
    if a.split(".")[2] in json.dumps(s) or s["last_token_form"].get("client_assertion") != "<redacted>":
        raise Fail("the assertion reached the stats")
    st, _, g = t.graph(body["access_token"], "/v1.0/sites?$top=3")
    if st != 200 or len(g["value"]) != 3:
        raise Fail("app token from an assertion does not list sites: %d" % st)


@check
def cert_rs256_x5t_ok(t):
    expect_ok(t.assert_token(alg="RS256"))
    la = t.emu.stats()["last_assertion"]
    if la["alg"] != "RS256" or la["thumbprint_kind"] != "x5t":
        raise Fail("last_assertion %r" % la)


@check
def cert_padded_thumbprints_ok(t):
    expect_ok(t.assert_token(padded=True))
    expect_ok(t.assert_token(alg="RS256", padded=True))


@check
def cert_domain_path_and_aud_ok(t):
    # the path names the domain; MSAL puts the GUID form (from OIDC discovery) in aud: both accepted
    a = t.keys.assertion(t.aud(TENANT))
    expect_ok(t.emu.token(t.cert_form(a), tenant=DOMAIN))
    expect_ok(t.assert_token(tenant=DOMAIN))


@check
def cert_not_registered_700027(t):
    expect_error(t.assert_token(key="other"), 401, "invalid_client", 700027, "The key was not found",
                 "Thumbprint of key used by client: '%s'"
                 % hashlib.sha256(t.keys.der["other"]).hexdigest().upper(), CLIENT_ID)
    if t.emu.stats()["assertion_errors"].get("AADSTS700027", 0) < 1:
        raise Fail("assertion_errors not counted")


@check
def cert_sha256_in_x5t_700027(t):
    # a SHA-256 digest under the SHA-1 name: Entra finds no key
    hdr_t = t.keys.thumb("good", "x5t#S256")
    expect_error(t.assert_token(alg="RS256", kind="x5t", header_extra={"x5t": hdr_t}), 401,
                 "invalid_client", 700027, "The key was not found")


@check
def cert_bad_signature_700027(t):
    expect_error(t.assert_token(tamper=True), 401, "invalid_client", 700027, "verify the signature failed")
    # signed by another key but naming the registered certificate
    expect_error(t.assert_token(key="other", thumb_of="good"), 401, "invalid_client", 700027,
                 "verify the signature failed")


@check
def cert_wrong_padding_700027(t):
    # RS256 signature presented as PS256 (and the reverse): the verifier must use the header's alg
    a = t.keys.assertion(t.aud(), alg="RS256", kind="x5t#S256")
    head, claims, sig = a.split(".")
    hdr = json.loads(base64.urlsafe_b64decode(head + "=="))
    hdr["alg"] = "PS256"
    forged = b64url(json.dumps(hdr).encode()) + "." + claims + "." + sig
    expect_error(t.emu.token(t.cert_form(forged)), 401, "invalid_client", 700027)


@check
def cert_wrong_aud_700023(t):
    for aud in ("https://login.microsoftonline.com/%s/oauth2/v2.0/token" % TENANT,
                "https://localhost:%d/%s/oauth2/token" % (t.emu.port, TENANT),
                "https://localhost:%d/common/oauth2/v2.0/token" % t.emu.port):
        expect_error(t.assert_token(claims={"aud": aud}), 401, "invalid_client", 700023, "audience")


@check
def cert_wrong_iss_sub_700021(t):
    expect_error(t.assert_token(claims={"iss": "someone-else"}), 401, "invalid_client", 700021)
    expect_error(t.assert_token(claims={"sub": "someone-else"}), 401, "invalid_client", 700021)


@check
def cert_expired_700024(t):
    now = time.time()
    res = t.assert_token(now=now - 3600, lifetime=600)
    expect_error(res, 401, "invalid_client", 700024, "Client assertion is not within its valid time range",
                 "Current time: ", "assertion valid from %s" % time.strftime(
                     "%Y-%m-%dT%H:%M:%S.0000000Z", time.gmtime(int(now - 3600))),
                 "expiry time of assertion %s" % time.strftime("%Y-%m-%dT%H:%M:%S.0000000Z",
                                                               time.gmtime(int(now - 3000))))


@check
def cert_skew_allowance(t):
    now = time.time()
    expect_ok(t.assert_token(now=now - 600 - 240, lifetime=600))        # expired 4 min ago: accepted
    expect_error(t.assert_token(now=now - 600 - 360, lifetime=600), 401, "invalid_client", 700024)
    expect_ok(t.assert_token(now=now + 240))                            # nbf 4 min ahead: accepted
    expect_error(t.assert_token(now=now + 360), 401, "invalid_client", 700024)
    expect_ok(t.assert_token(drop=("nbf",)))                            # MSAL sends no nbf


@check
def cert_max_lifetime(t):
    expect_ok(t.assert_token(lifetime=86400 * 365))                     # Entra sets no limit today
    t.emu.config(assertion_max_lifetime_s=600)
    try:
        expect_ok(t.assert_token(lifetime=600))
        expect_error(t.assert_token(lifetime=601), 401, "invalid_client", 700024)
    finally:
        t.emu.config(assertion_max_lifetime_s=0)


@check
def cert_replay_700028(t):
    a = t.keys.assertion(t.aud())
    expect_ok(t.emu.token(t.cert_form(a)))
    expect_error(t.emu.token(t.cert_form(a)), 401, "invalid_client", 700028, "already been used")
    t.emu.config(assertion_replay_check=False)
    try:
        expect_ok(t.emu.token(t.cert_form(a)))
    finally:
        t.emu.config(assertion_replay_check=True)


@check
def cert_malformed_50027(t):
    good = t.keys.assertion(t.aud())
    for bad in ("abc", "a.b", good + ".x", "..", "!!.!!.!!", b64url(b"[1]") + "." + b64url(b"{}") + ".AA",
                good.split(".")[0] + "." + b64url(b"not json") + "." + good.split(".")[2]):
        expect_error(t.emu.token(t.cert_form(bad)), 401, "invalid_client", 50027, "malformed")
    expect_error(t.assert_token(header_extra={"alg": "HS256"}), 401, "invalid_client", 50027, "HS256")
    expect_error(t.assert_token(drop=("exp",)), 401, "invalid_client", 50027, "'exp'")
    expect_error(t.assert_token(drop=("jti",)), 401, "invalid_client", 50027, "'jti'")


@check
def cert_type_and_both_credentials(t):
    a = t.keys.assertion(t.aud())
    expect_error(t.emu.token(t.cert_form(a, client_secret=SECRET)), 401, "invalid_client", 7000216,
                 "client_secret")
    expect_error(t.emu.token(t.cert_form(t.keys.assertion(t.aud()), client_assertion_type="jwt")), 400,
                 "invalid_request", 50027, "client_assertion_type")
    f = t.cert_form(t.keys.assertion(t.aud()))
    del f["client_assertion_type"]
    expect_error(t.emu.token(f), 400, "invalid_request", 900144, "'client_assertion_type'")


@check
def cert_secret_path_unchanged(t):
    f = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "scope": GRAPH_SCOPE,
         "client_secret": SECRET}
    expect_ok(t.emu.token(f))
    f["client_secret"] = "wrong"
    expect_error(t.emu.token(f), 401, "invalid_client", 7000215)
    del f["client_secret"]
    expect_error(t.emu.token(f), 401, "invalid_client", 7000218)


@check
def cert_unregistered_when_no_client_cert(t):
    t.emu.config(client_cert=[])
    try:
        expect_error(t.assert_token(), 401, "invalid_client", 700027, "The key was not found")
    finally:
        t.emu.config(client_cert=t.keys.path("good.pem"))


# ---- 2. clock
def header_date(hdrs):
    return email.utils.parsedate_to_datetime(hdrs["date"]).timestamp()


@check
def clock_offset_date_and_windows(t):
    day = 86400
    t.emu.config(clock_offset_s=day)
    try:
        now = time.time()
        for res in (t.assert_token(now=now + day),                          # token endpoint, success
                    t.emu.token({"grant_type": "client_credentials"}),      # token endpoint, error
                    t.emu.request("POST", "/%s/oauth2/v2.0/devicecode" % TENANT,
                                  form={"client_id": CLIENT_ID, "scope": "Sites.Read.All"}),
                    t.emu.request("GET", "/v1.0/sites")):                   # Graph error
            if abs(header_date(res[1]) - (now + day)) > 5:
                raise Fail("Date %r is not a day ahead" % res[1].get("date"))
        body = expect_ok(t.assert_token(now=now + day))
        st, hdrs, _ = t.graph(body["access_token"], "/v1.0/sites?$top=1")   # Graph success
        if st != 200 or abs(header_date(hdrs) - (now + day)) > 5:
            raise Fail("Graph success Date %r" % hdrs.get("date"))
        # an assertion made with the real (now wrong) time is a day old for the emulator
        expect_error(t.assert_token(now=now), 401, "invalid_client", 700024,
                     "Current time: %s" % time.strftime("%Y-%m-%dT", time.gmtime(now + day)))
        st, _, err = t.emu.token({"grant_type": "client_credentials"})
        if not err["timestamp"].startswith(time.strftime("%Y-%m-%d", time.gmtime(now + day))):
            raise Fail("error timestamp %r ignores the clock" % err["timestamp"])
    finally:
        t.emu.config(clock_offset_s=0)
    st, hdrs, _ = t.emu.token({"grant_type": "client_credentials"})
    if abs(header_date(hdrs) - time.time()) > 5:
        raise Fail("Date not back to real time")


@check
def clock_token_expiry_follows_clock(t):
    body = expect_ok(t.assert_token())
    t.emu.config(clock_offset_s=4000)       # the emulator's clock jumps past the token's expiry
    try:
        st, _, g = t.graph(body["access_token"], "/v1.0/sites?$top=1")
        if st != 401 or "expired" not in g["error"]["message"]:
            raise Fail("token still valid after the clock moved: %d" % st)
    finally:
        t.emu.config(clock_offset_s=0)


@check
def clock_offset_upload_host(t):
    # the SharePoint upload host (drive.py, second port) follows the same clock
    f = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "scope": GRAPH_SCOPE,
         "client_secret": SECRET}
    root = "/v1.0/sites/" + emu_mod.DEFAULTS["sp_host"]
    day = 86400
    t.emu.config(clock_offset_s=day)
    try:
        tok = expect_ok(t.emu.token(f))["access_token"]
        st, _, data = t.emu.request("POST", root + "/drive/root:/clock-check.txt:/createUploadSession",
                                    json.dumps({"item": {}}), {"Authorization": "Bearer " + tok,
                                                               "Content-Type": "application/json"})
        sess = json.loads(data)
        if st != 200:
            raise Fail("createUploadSession %d %r" % (st, sess))
        exp = calendar.timegm(time.strptime(sess["expirationDateTime"][:19], "%Y-%m-%dT%H:%M:%S"))
        if exp < time.time() + day:
            raise Fail("expirationDateTime %s ignores the clock" % sess["expirationDateTime"])
        u = urllib.parse.urlsplit(sess["uploadUrl"])
        c = http.client.HTTPSConnection(u.hostname, u.port, context=t.emu.ctx, timeout=30)
        try:
            c.request("GET", u.path + "?" + u.query)
            r = c.getresponse()
            r.read()
            date = r.getheader("Date")
        finally:
            c.close()
        if r.status != 200 or abs(header_date({"date": date}) - (time.time() + day)) > 5:
            raise Fail("upload host: %d Date %r" % (r.status, date))
    finally:
        t.emu.config(clock_offset_s=0)


# ---- 3. device code flow
def start_device(t, scope="https://graph.microsoft.com/Sites.Read.All offline_access openid profile"):
    st, hdrs, data = t.emu.request("POST", "/%s/oauth2/v2.0/devicecode" % TENANT,
                                   form={"client_id": CLIENT_ID, "scope": scope})
    body = json.loads(data)
    if st != 200:
        raise Fail("devicecode -> %d %s" % (st, body))
    return body


def poll(t, dc, **extra):
    f = {"grant_type": DEVICE_GRANT, "client_id": CLIENT_ID, "device_code": dc}
    f.update(extra)
    return t.emu.token(f)


@check
def device_start_shape(t):
    t.emu.config(device_interval=1)
    before = t.emu.stats()["device_code_requests"]
    d = start_device(t)
    want = ["user_code", "device_code", "verification_uri", "expires_in", "interval", "message"]
    if sorted(d) != sorted(want):
        raise Fail("fields %r" % sorted(d))
    if not re.fullmatch(r"[A-Za-z0-9_-]{100,}", d["device_code"]):
        raise Fail("device_code not long URL-safe: %r" % d["device_code"][:40])
    if not re.fullmatch(r"[A-Z0-9]{9}", d["user_code"]):
        raise Fail("user_code %r" % d["user_code"])
    if d["verification_uri"] != "https://microsoft.com/devicelogin" or d["interval"] != 1 or \
            d["expires_in"] != 900:
        raise Fail("values %r" % d)
    if d["message"] != ("To sign in, use a web browser to open the page https://microsoft.com/devicelogin "
                        "and enter the code %s to authenticate." % d["user_code"]):
        raise Fail("message %r" % d["message"])
    s = t.emu.stats()
    if s["device_code_requests"] != before + 1 or "Sites.Read.All" not in s["last_device_scope"]:
        raise Fail("stats %r %r" % (s["device_code_requests"], s["last_device_scope"]))
    if d["device_code"] in json.dumps(s):
        raise Fail("device code in stats")


@check
def device_approve_after_pending(t):
    t.emu.config(device_outcome="approve", device_pending_polls=2)
    d = start_device(t)
    polls0 = t.emu.stats()["device_polls"]
    for _ in range(2):
        expect_error(poll(t, d["device_code"]), 400, "authorization_pending", 70016, "Continue polling")
    body = expect_ok(poll(t, d["device_code"]))
    if not body.get("refresh_token") or not body.get("id_token") or \
            body["scope"] != "Sites.Read.All profile openid" or body["token_type"] != "Bearer" or \
            body["expires_in"] != body["ext_expires_in"]:
        raise Fail("success body %r" % {k: v for k, v in body.items() if "token" not in k})
    s = t.emu.stats()
    if s["device_polls"] != polls0 + 3 or len(s["device_poll_times"]) < 3:
        raise Fail("device_polls %r" % s["device_polls"])
    if body["refresh_token"] in json.dumps(s):
        raise Fail("refresh token in stats")
    if d["device_code"] in json.dumps(s):
        raise Fail("the device code reached the stats")
    expect_error(poll(t, d["device_code"]), 400, "bad_verification_code", None)   # redeemed
    # delegated token: /sites without search is empty, with search it finds sites
    st, _, g = t.graph(body["access_token"], "/v1.0/sites")
    if st != 200 or g["value"] != [] or "@odata.nextLink" in g:
        raise Fail("delegated /sites: %d %r" % (st, g)[:200])
    st, _, g = t.graph(body["access_token"], "/v1.0/sites?search=*&$top=5")
    if st != 200 or len(g["value"]) != 5:
        raise Fail("delegated search=*: %d" % st)
    st, _, g = t.graph(body["access_token"], "/v1.0/sites?search=contoso")
    if st != 200 or not g["value"]:
        raise Fail("delegated search=contoso: %d" % st)


@check
def device_no_offline_access(t):
    t.emu.config(device_pending_polls=0)
    d = start_device(t, scope="https://graph.microsoft.com/Sites.ReadWrite.All")
    body = expect_ok(poll(t, d["device_code"]))
    if "refresh_token" in body or "id_token" in body or body["scope"] != "Sites.ReadWrite.All":
        raise Fail("unexpected %r" % sorted(body))
    t.emu.config(device_pending_polls=2)


@check
def device_scope_without_sites_403(t):
    t.emu.config(device_pending_polls=0)
    d = start_device(t, scope="User.Read offline_access")
    body = expect_ok(poll(t, d["device_code"]))
    t.emu.config(device_pending_polls=2)
    st, _, g = t.graph(body["access_token"], "/v1.0/sites?search=a")
    if st != 403 or g["error"]["code"] != "accessDenied":
        raise Fail("no Sites scope: %d %r" % (st, g))


@check
def device_files_scope_drive_only(t):
    # Files.* lets a delegated token into drives and items, not into the sites listing or a site
    t.emu.config(device_pending_polls=0)
    d = start_device(t, scope="https://graph.microsoft.com/Files.ReadWrite.All")
    tok = expect_ok(poll(t, d["device_code"]))["access_token"]
    t.emu.config(device_pending_polls=2)
    root = "/v1.0/sites/" + emu_mod.DEFAULTS["sp_host"]
    st, _, g = t.graph(tok, root + "/drive")
    if st != 200 or "id" not in g:
        raise Fail("drive with Files.ReadWrite.All: %d %r" % (st, g))
    for path in (root, "/v1.0/sites?search=a"):
        st, _, g = t.graph(tok, path)
        if st != 403 or g["error"]["code"] != "accessDenied":
            raise Fail("%s with Files.ReadWrite.All: %d" % (path, st))


@check
def device_decline_expire_bad_code(t):
    for outcome, err, code in (("decline", "authorization_declined", None),
                               ("expire", "expired_token", 70020)):
        t.emu.config(device_outcome=outcome, device_pending_polls=1)
        d = start_device(t)
        expect_error(poll(t, d["device_code"]), 400, "authorization_pending", 70016)
        expect_error(poll(t, d["device_code"]), 400, err, code)
    t.emu.config(device_outcome="bad_code")
    d = start_device(t)
    expect_error(poll(t, d["device_code"]), 400, "bad_verification_code", None)
    t.emu.config(device_outcome="approve", device_pending_polls=2)
    expect_error(poll(t, "not-a-code"), 400, "bad_verification_code", None)
    f = {"grant_type": DEVICE_GRANT, "client_id": CLIENT_ID}
    expect_error(t.emu.token(f), 400, "invalid_request", 900144, "'device_code'")


@check
def device_expires_in_real_time(t):
    t.emu.config(device_expires_in=1, device_pending_polls=5)
    d = start_device(t)
    expect_error(poll(t, d["device_code"]), 400, "authorization_pending", 70016)
    time.sleep(1.3)
    expect_error(poll(t, d["device_code"]), 400, "expired_token", 70020)
    t.emu.config(device_expires_in=900, device_pending_polls=2)


@check
def device_slow_down(t):
    t.emu.config(device_outcome="slow_down", device_pending_polls=1)
    d = start_device(t)
    expect_error(poll(t, d["device_code"]), 400, "slow_down", None)
    expect_error(poll(t, d["device_code"]), 400, "authorization_pending", 70016)
    expect_ok(poll(t, d["device_code"]))
    times = t.emu.stats()["device_poll_times"]
    if len(times) < 3 or any(b < a for a, b in zip(times, times[1:])):
        raise Fail("device_poll_times %r" % times[-3:])
    t.emu.config(device_outcome="approve", device_pending_polls=2)


@check
def device_public_client_flag(t):
    t.emu.config(public_client=False, device_pending_polls=0)
    d = start_device(t)
    expect_error(poll(t, d["device_code"]), 401, "invalid_client", 7000218,
                 "'client_assertion' or 'client_secret'")
    t.emu.config(public_client=True)
    expect_error(poll(t, d["device_code"], client_secret=SECRET), 401, "invalid_client", 700025)
    expect_ok(poll(t, d["device_code"]))
    t.emu.config(device_pending_polls=2)


@check
def device_start_errors(t):
    st, _, data = t.emu.request("POST", "/%s/oauth2/v2.0/devicecode" % TENANT, form={"client_id": "x",
                                                                                    "scope": "openid"})
    expect_error((st, None, json.loads(data)), 400, "unauthorized_client", 700016)
    st, _, data = t.emu.request("POST", "/%s/oauth2/v2.0/devicecode" % TENANT, form={"client_id": CLIENT_ID})
    expect_error((st, None, json.loads(data)), 400, "invalid_request", 900144, "'scope'")
    st, _, data = t.emu.request("POST", "/nowhere.example/oauth2/v2.0/devicecode",
                                form={"client_id": CLIENT_ID, "scope": "openid"})
    expect_error((st, None, json.loads(data)), 400, "invalid_request", 90002)


# ---- 4. refresh tokens
def device_tokens(t):
    t.emu.config(device_pending_polls=0, device_outcome="approve")
    d = start_device(t)
    body = expect_ok(poll(t, d["device_code"]))
    t.emu.config(device_pending_polls=2)
    return body


def refresh(t, rt, **extra):
    f = {"grant_type": "refresh_token", "client_id": CLIENT_ID, "refresh_token": rt,
         "scope": "https://graph.microsoft.com/Sites.Read.All offline_access openid profile"}
    f.update(extra)
    return t.emu.token(f)


@check
def refresh_rotation(t):
    first = device_tokens(t)
    s0 = t.emu.stats()
    b1 = expect_ok(refresh(t, first["refresh_token"]))
    s1 = t.emu.stats()
    if b1["refresh_token"] == first["refresh_token"] or b1["access_token"] == first["access_token"]:
        raise Fail("no rotation")
    if s1["refresh_requests"] != s0["refresh_requests"] + 1 or \
            s1["refresh_used_serial"] != s0["refresh_latest_serial"] or \
            s1["refresh_latest_serial"] != s0["refresh_latest_serial"] + 1:
        raise Fail("serials %r %r" % ({k: s0[k] for k in s0 if k.startswith("refresh")},
                                      {k: s1[k] for k in s1 if k.startswith("refresh")}))
    b2 = expect_ok(refresh(t, b1["refresh_token"]))
    s2 = t.emu.stats()
    if s2["refresh_used_serial"] != s1["refresh_latest_serial"]:
        raise Fail("used serial")
    if b1["refresh_token"] in json.dumps(s2) or b2["refresh_token"] in json.dumps(s2) or \
            s2["last_token_form"].get("refresh_token") != "<redacted>":
        raise Fail("a refresh token reached the stats")
    expect_ok(refresh(t, first["refresh_token"]))          # superseded: still valid (Entra default)
    st, _, g = t.graph(b2["access_token"], "/v1.0/sites?search=a&$top=2")
    if st != 200:
        raise Fail("refreshed token refused by Graph: %d" % st)


@check
def refresh_single_use(t):
    first = device_tokens(t)
    b1 = expect_ok(refresh(t, first["refresh_token"]))
    t.emu.config(refresh_single_use=True)
    try:
        expect_error(refresh(t, first["refresh_token"]), 400, "invalid_grant", 50173, "revoked")
        expect_ok(refresh(t, b1["refresh_token"]))
    finally:
        t.emu.config(refresh_single_use=False)


@check
def refresh_expired_and_unknown(t):
    first = device_tokens(t)
    t.emu.config(refresh_expired=True)
    try:
        expect_error(refresh(t, first["refresh_token"]), 400, "invalid_grant", 700082,
                     "expired due to inactivity", "inactive for 90.00:00:00")
    finally:
        t.emu.config(refresh_expired=False)
    b1 = expect_ok(refresh(t, first["refresh_token"]))
    t.emu.api("POST", "/_emulator/expire-refresh-tokens", {})
    expect_error(refresh(t, b1["refresh_token"]), 400, "invalid_grant", 700082)
    newer = device_tokens(t)                                 # tokens issued later are fine
    expect_ok(refresh(t, newer["refresh_token"]))
    expect_error(refresh(t, "1.AXkAbogus"), 400, "invalid_grant", 9002313)
    expect_error(refresh(t, ""), 400, "invalid_request", 900144, "'refresh_token'")


@check
def refresh_token_faults(t):
    # the token faults (here: a truncated 200 answer) apply to delegated grants as well
    first = device_tokens(t)
    t.emu.config(token_malformed="truncated")
    try:
        st, _, data = t.emu.request("POST", "/%s/oauth2/v2.0/token" % TENANT, form={
            "grant_type": "refresh_token", "client_id": CLIENT_ID, "refresh_token": first["refresh_token"]})
        try:
            json.loads(data)
            raise Fail("answer not truncated")
        except ValueError:
            pass
        if st != 200:
            raise Fail("status %d" % st)
    finally:
        t.emu.config(token_malformed=None)


# ---- 5. Graph with app tokens is unchanged
@check
def graph_app_token_lists(t):
    f = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "scope": GRAPH_SCOPE,
         "client_secret": SECRET}
    tok = expect_ok(t.emu.token(f))["access_token"]
    st, _, g = t.graph(tok, "/v1.0/sites?$top=4")
    if st != 200 or len(g["value"]) != 4 or "@odata.nextLink" not in g:
        raise Fail("app /sites: %d" % st)


@check
def cli_flags(t):
    # the same keys as flags, on a second emulator: a true-by-default boolean takes a value
    other = Emu(t.tmp, t.pki, ["--client-cert", t.keys.path("good.pem"), "--client-cert",
                               t.keys.path("other.pem"), "--public-client", "false", "--clock-offset-s",
                               "-86400", "--device-interval", "1", "--device-outcome", "slow_down"])
    try:
        cfg = other.api("GET", "/_emulator/config")
        want = {"public_client": False, "clock_offset_s": -86400, "device_interval": 1,
                "device_outcome": "slow_down", "assertion_replay_check": True,
                "client_cert": [t.keys.path("good.pem"), t.keys.path("other.pem")]}
        got = {k: cfg[k] for k in want}
        if got != want:
            raise Fail("config %r" % got)
        st, hdrs, _ = other.token({"grant_type": "client_credentials"})
        if abs(header_date(hdrs) - (time.time() - 86400)) > 5:
            raise Fail("Date %r is not a day behind" % hdrs.get("date"))
        saved, t.emu = t.emu, other
        try:       # both certificates are registered; the emulator's time is a day behind
            expect_ok(t.assert_token(key="other", now=time.time() - 86400))
            expect_error(t.assert_token(), 401, "invalid_client", 700024)
        finally:
            t.emu = saved
    finally:
        other.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-k", default="", help="run only checks whose name contains this")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="spo-idtest-")
    pki = os.path.join(tmp, "pki")
    subprocess.run(["bash", os.path.join(TOP, "tests", "pki.sh"), pki], check=True)
    keys = Keys(tmp)
    emu = Emu(tmp, pki, ["--client-cert", keys.path("good.pem"), "--sites", "50"])
    passed = failed = 0
    try:
        t = T(emu, keys, tmp, pki)
        for fn in CHECKS:
            if args.k not in fn.__name__:
                continue
            try:
                fn(t)
                print("ok %s" % fn.__name__, flush=True)
                passed += 1
            except Fail as e:
                print("FAIL %s: %s" % (fn.__name__, e), flush=True)
                failed += 1
    finally:
        emu.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print("selftest: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
