"""Identity-platform parts of the emulator beyond client secrets: certificate credentials (client
assertions), the emulator's clock, the device code flow and refresh tokens, and the bookkeeping of
delegated (user) tokens that Graph consults. Python 3 standard library plus the `openssl` command.

emulator.py owns the HTTP side and calls in here; see tests/emulator/README.md for the wire contract.
"""
import atexit
import base64
import binascii
import collections
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
GRANT_DEVICE = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_REFRESH = "refresh_token"
GRANTS = (GRANT_DEVICE, GRANT_REFRESH)
SKEW_S = 300                    # Entra's allowance for clock skew on assertion times
CERT_DOC = "https://learn.microsoft.com/entra/identity-platform/certificate-credentials"
SITES_SCOPES = {"sites.read.all", "sites.readwrite.all", "sites.fullcontrol.all", "sites.manage.all"}
FILES_SCOPES = {"files.read.all", "files.readwrite.all"}   # enough for drives and items, not for sites
OIDC = ("openid", "profile", "email", "offline_access")
VERIFY_URI = "https://microsoft.com/devicelogin"
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ23456789"
MAX_ASSERTION = 16384           # longer client_assertion values are refused as malformed

DEFAULTS = {
    "client_cert": [],              # PEM certificate files registered on the app
    "clock_offset_s": 0,            # the emulator's now = real time + this (Date headers, checks, expiry)
    "assertion_max_lifetime_s": 0,  # exp - nbf limit (0 = none, like Entra today)
    "assertion_replay_check": True, # a jti seen before (until its exp) is refused
    "device_interval": 5,
    "device_expires_in": 900,
    "device_outcome": "approve",    # approve|decline|expire|slow_down|bad_code
    "device_pending_polls": 2,
    "public_client": True,          # "Allow public client flows" on the app registration
    "delegated_default_scope": ["Sites.Read.All"],   # what .../.default grants a user token
    "refresh_single_use": False,
    "refresh_expired": False,
    "refresh_token_len": 1028,
}
CHOICES = {"device_outcome": ("approve", "decline", "expire", "slow_down", "bad_code")}

# --------------------------------------------------------------------------------------------------
# The clock: one offset for the whole process (emulator.py sets it from the configuration)
CLOCK = {"offset_s": 0.0}


def now():
    """The emulator's notion of the current time (epoch seconds): real time + clock_offset_s."""
    return time.time() + CLOCK["offset_s"]


def ms_time(t):
    """Entra's 7-digit fraction timestamp, e.g. 2025-08-29T05:47:32.1501147Z."""
    whole = int(t // 1)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + ".%07dZ" % int((t - whole) * 1e7)


def b64url(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def b64url_decode(s):
    if not re.fullmatch(r"[A-Za-z0-9_-]*={0,2}", s):
        raise ValueError("not base64url")
    s = s.rstrip("=")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Reject(Exception):
    """A token-endpoint refusal: (status, error, AADSTS code or None, text)."""

    def __init__(self, status, error, code, text):
        super().__init__(text)
        self.status, self.error, self.code, self.text = status, error, code, text


# --------------------------------------------------------------------------------------------------
class Identity:
    def __init__(self, emu):
        self.emu = emu
        self.lock = threading.Lock()
        self.cert_lock = threading.Lock()
        self.cert_cache = {}        # path -> (mtime, [entry]); entry: sha256, sha1, pubkey PEM path
        self.tmp = tempfile.mkdtemp(prefix="emu-id-")      # public keys for openssl, signature files
        atexit.register(shutil.rmtree, self.tmp, True)
        self.forget()

    def forget(self):
        with self.lock:
            self.jtis = {}                              # jti -> until (emulator time)
            self.devices = {}                           # device_code -> state dict
            self.refresh = {}                           # refresh token -> state dict
            self.serial = 0
            self.delegated = collections.OrderedDict()  # access token -> set of lower-case scopes

    @staticmethod
    def fresh_stats():
        return {"assertions_ok": 0, "assertion_errors": {}, "last_assertion": None,
                "device_code_requests": 0, "device_polls": 0, "device_poll_times": [],
                "last_device_scope": None,
                "refresh_requests": 0, "refresh_used_serial": None, "refresh_latest_serial": None}

    def config_changed(self):
        CLOCK["offset_s"] = float(self.emu.cfg["clock_offset_s"] or 0)

    @property
    def cfg(self):
        return self.emu.cfg

    # ---- certificates -------------------------------------------------------------------------
    def registered(self):
        """The registered certificates' thumbprints and public keys (re-read when a file changes)."""
        with self.cert_lock:
            return self._registered()

    def _registered(self):
        out = []
        for path in self.cfg["client_cert"]:
            try:
                mtime = os.stat(path).st_mtime
            except OSError:
                continue
            hit = self.cert_cache.get(path)
            if hit and hit[0] == mtime:
                out.extend(hit[1])
                continue
            entries = []
            with open(path, "r", encoding="ascii", errors="replace") as f:
                text = f.read()
            for i, m in enumerate(re.finditer(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----",
                                              text, re.S)):
                der = base64.b64decode("".join(m.group(1).split()))
                one = os.path.join(self.tmp, "c%d-%d.pem" % (len(self.cert_cache), i))
                with open(one, "w") as f:
                    f.write(m.group(0) + "\n")
                pub = one + ".pub"
                r = subprocess.run(["openssl", "x509", "-in", one, "-pubkey", "-noout", "-out", pub],
                                   capture_output=True)
                if r.returncode != 0:
                    continue
                entries.append({"sha256": hashlib.sha256(der).digest(), "sha1": hashlib.sha1(der).digest(),
                                "pub": pub})
            self.cert_cache[path] = (mtime, entries)
            out.extend(entries)
        return out

    def verify_signature(self, alg, pub, signed, sig):
        fd, data_path = tempfile.mkstemp(dir=self.tmp)
        with os.fdopen(fd, "wb") as f:
            f.write(signed)
        fd, sig_path = tempfile.mkstemp(dir=self.tmp)
        with os.fdopen(fd, "wb") as f:
            f.write(sig)
        cmd = ["openssl", "dgst", "-sha256", "-verify", pub]
        if alg == "PS256":
            cmd += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"]
        cmd += ["-signature", sig_path, data_path]
        try:
            r = subprocess.run(cmd, capture_output=True)
            return r.returncode == 0 and b"Verified OK" in r.stdout
        finally:
            os.unlink(data_path)
            os.unlink(sig_path)

    # ---- client assertions --------------------------------------------------------------------
    def check_assertion(self, req, form, tenant, secret):
        """None if the assertion authenticates the app; else a Reject. Updates the assertion stats."""
        try:
            self._check_assertion(req, form, tenant, secret)
        except Reject as r:
            if r.code is not None:
                self.emu.bump("assertion_errors", "AADSTS%d" % r.code)
            return r
        self.emu.bump("assertions_ok")
        return None

    def _check_assertion(self, req, form, tenant, secret):
        cid = self.cfg["client_id"]
        atype = form.get("client_assertion_type")
        assertion = form.get("client_assertion")
        if secret is not None:
            raise Reject(401, "invalid_client", 7000216,
                         "Only one client credential may be presented: the request has both "
                         "'client_assertion' and 'client_secret'.")
        if not atype:
            raise Reject(400, "invalid_request", 900144,
                         "The request body must contain the following parameter: 'client_assertion_type'.")
        if not assertion:
            raise Reject(400, "invalid_request", 900144,
                         "The request body must contain the following parameter: 'client_assertion'.")
        if atype != JWT_BEARER:
            raise Reject(400, "invalid_request", 50027,
                         "JWT token is invalid or malformed. The client_assertion_type '%s' is not "
                         "supported; use '%s'." % (atype[:100], JWT_BEARER))
        malformed = lambda why: Reject(401, "invalid_client", 50027, "JWT token is invalid or malformed. "
                                       "%s" % why)
        parts = assertion.split(".")
        if len(assertion) > MAX_ASSERTION or len(parts) != 3 or not all(parts):
            raise malformed("A JWT must have three non-empty base64url parts separated by '.'.")
        try:
            hdr = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            sig = b64url_decode(parts[2])
        except (ValueError, UnicodeDecodeError):
            raise malformed("A part is not base64url-encoded JSON.")
        if not isinstance(hdr, dict) or not isinstance(claims, dict):
            raise malformed("The header and the payload must be JSON objects.")
        alg = hdr.get("alg")
        if "x5t#S256" in hdr:
            kind, tp = "x5t#S256", hdr.get("x5t#S256")
        else:
            kind, tp = "x5t", hdr.get("x5t")
        nbf, iat, exp = claims.get("nbf"), claims.get("iat"), claims.get("exp")
        start = nbf if isinstance(nbf, (int, float)) else iat if isinstance(iat, (int, float)) else None
        with self.emu.lock:
            self.emu.stats["last_assertion"] = {
                "alg": alg, "thumbprint_kind": kind if tp is not None else None,
                "lifetime_s": (exp - start) if isinstance(exp, (int, float)) and start is not None else None,
                "aud": claims.get("aud")}
        if alg not in ("PS256", "RS256"):
            raise malformed("The algorithm '%s' is not supported; use PS256 or RS256." % str(alg)[:20])
        try:
            digest = b64url_decode(tp) if isinstance(tp, str) else b""
        except (ValueError, binascii.Error):
            digest = b""
        want = "sha256" if kind == "x5t#S256" else "sha1"
        certs = [c for c in self.registered() if digest and hmac.compare_digest(c[want], digest)]
        if not certs:
            raise Reject(401, "invalid_client", 700027,
                         "Client assertion contains an invalid signature. [Reason - The key was not found., "
                         "Thumbprint of key used by client: '%s', Please visit the Azure Portal, Graph "
                         "Explorer or directly use MS Graph to see configured keys for app Id '%s'. Review "
                         "the documentation at https://docs.microsoft.com/en-us/graph/deployments to "
                         "determine the corresponding service endpoint and https://docs.microsoft.com/en-us/"
                         "graph/api/application-get?view=graph-rest-1.0&tabs=http to build a query request "
                         "URL, such as 'https://graph.microsoft.com/beta/applications/%s']"
                         % (digest.hex().upper(), cid, cid))
        signed = (parts[0] + "." + parts[1]).encode()
        if not any(self.verify_signature(alg, c["pub"], signed, sig) for c in certs):
            raise Reject(401, "invalid_client", 700027,
                         "Client assertion contains an invalid signature. [Reason - The key was found, but "
                         "use of the key to verify the signature failed., Thumbprint of key used by client: "
                         "'%s', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to "
                         "see configured keys for app Id '%s'.]"
                         % (digest.hex().upper(), cid))
        if claims.get("iss") != cid or claims.get("sub") != cid or \
                str(form.get("client_id", cid)).lower() != cid.lower():
            raise Reject(401, "invalid_client", 700021,
                         "Client assertion application identifier doesn't match 'client_id' parameter. "
                         "Review the documentation at %s ." % CERT_DOC)
        host = (req.header("host") or "").lower()
        names = [self.cfg["tenant"].lower()] + [d.lower() for d in self.cfg["tenant_domain"]]
        ok_aud = {"https://%s/%s/oauth2/v2.0/token" % (host, n) for n in names} | \
            {"https://%s/%s/oauth2/v2.0/token" % (host, tenant.lower())}
        auds = claims.get("aud")
        auds = auds if isinstance(auds, list) else [auds]
        if not any(isinstance(a, str) and a.lower() in ok_aud for a in auds):
            raise Reject(401, "invalid_client", 700023,
                         "Client assertion audience claim does not match Realm issuer. Review the "
                         "documentation at %s ." % CERT_DOC)
        if not isinstance(exp, (int, float)) or isinstance(exp, bool):
            raise malformed("The claim 'exp' is missing or not a number.")
        t = now()
        limit = int(self.cfg["assertion_max_lifetime_s"] or 0)
        too_long = limit > 0 and exp - (start if start is not None else t) > limit
        if t > exp + SKEW_S or (isinstance(nbf, (int, float)) and t < nbf - SKEW_S) or too_long:
            raise Reject(401, "invalid_client", 700024,
                         "Client assertion is not within its valid time range. Current time: %s, assertion "
                         "valid from %s, expiry time of assertion %s. Review the documentation at %s ."
                         % (ms_time(t), ms_time(float(start or 0)), ms_time(float(exp)), CERT_DOC))
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise malformed("The claim 'jti' is missing.")
        if self.cfg["assertion_replay_check"]:
            with self.lock:
                for k in [k for k, until in self.jtis.items() if until < t]:
                    del self.jtis[k]
                if jti in self.jtis:
                    raise Reject(401, "invalid_client", 700028,
                                 "Client assertion with jti '%s' has already been used. Create a new "
                                 "assertion with a unique jti for every token request. Review the "
                                 "documentation at %s ." % (jti[:64], CERT_DOC))
                self.jtis[jti] = exp + SKEW_S

    # ---- errors and answers -------------------------------------------------------------------
    def error(self, conn, req, r, close):
        """Entra's JSON error shape; codes-less errors (device flow, RFC 8628) have error_codes []."""
        emu = self.emu
        emu.bump("token_errors", "AADSTS%d" % r.code if r.code is not None else r.error)
        trace = str(uuid.uuid4())
        corr = req.header("client-request-id") or str(uuid.uuid4())
        ts = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(now()))
        prefix = "AADSTS%d: " % r.code if r.code is not None else ""
        body = collections.OrderedDict([
            ("error", r.error),
            ("error_description", "%s%s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s"
             % (prefix, r.text, trace, corr, ts)),
            ("error_codes", [r.code] if r.code is not None else []),
            ("timestamp", ts), ("trace_id", trace), ("correlation_id", corr)])
        if r.code is not None:
            body["error_uri"] = "https://login.microsoftonline.com/error?code=%d" % r.code
        data = json.dumps(body, separators=(",", ":")).encode()
        return emu.write(conn, r.status, emu.ests_headers(req), data, close=close, kind="token")

    def reply(self, conn, req, obj, close):
        data = json.dumps(obj, separators=(",", ":")).encode()
        return self.emu.write(conn, 200, self.emu.ests_headers(req), data, close=close, kind="token")

    # ---- scopes -------------------------------------------------------------------------------
    def parse_scope(self, req, scope):
        """(graph permission names, OIDC scopes) from a delegated scope string, or a Reject."""
        perms, oidc = [], []
        accepted = {r.rstrip("/").lower() for r in self.cfg["graph_resource"]} | self.emu.own_origins(req)
        for s in scope.split():
            if s.lower() in OIDC:
                oidc.append(s.lower())
                continue
            if "/" in s:
                res, _, perm = s.rpartition("/")
                if res.rstrip("/").lower() not in accepted:
                    raise Reject(400, "invalid_resource", 500011,
                                 "The resource principal named %s was not found in the tenant named %s. "
                                 "This can happen if the application has not been installed by the "
                                 "administrator of the tenant or consented to by any user in the tenant. "
                                 "You might have sent your authentication request to the wrong tenant."
                                 % (res, self.cfg["tenant_name"]))
            else:
                perm = s
            if perm == ".default":
                perms.extend(self.cfg["delegated_default_scope"])
            elif perm:
                perms.append(perm)
        out = []
        for p in perms:
            if p.lower() not in [o.lower() for o in out]:
                out.append(p)
        return out, oidc

    def client_checks(self, form, basic_id, basic_secret, polling):
        cid = form.get("client_id") or basic_id or ""
        if not cid:
            raise Reject(400, "invalid_request", 900144,
                         "The request body must contain the following parameter: 'client_id'.")
        if cid.lower() != self.cfg["client_id"].lower():
            raise Reject(400, "unauthorized_client", 700016,
                         "Application with identifier '%s' was not found in the directory '%s'. This can "
                         "happen if the application has not been installed by the administrator of the "
                         "tenant or consented to by any user in the tenant. You may have sent your "
                         "authentication request to the wrong tenant." % (cid, self.cfg["tenant_name"]))
        if polling:
            has_cred = form.get("client_secret") is not None or basic_secret is not None or \
                "client_assertion" in form
            if not self.cfg["public_client"] and not has_cred:
                raise Reject(401, "invalid_client", 7000218,
                             "The request body must contain the following parameter: 'client_assertion' "
                             "or 'client_secret'.")
            if self.cfg["public_client"] and has_cred:
                raise Reject(401, "invalid_client", 700025,
                             "Client is public so neither 'client_assertion' nor 'client_secret' should be "
                             "presented.")

    # ---- device code flow ---------------------------------------------------------------------
    def devicecode(self, conn, req, tenant, form, close):
        self.emu.bump("device_code_requests")
        try:
            if req.method != "POST":
                raise Reject(400, "invalid_request", 900561, "The endpoint only accepts POST, OPTIONS "
                             "requests. Received a %s request." % req.method)
            self.tenant_checks(tenant)
            self.client_checks(form, None, None, False)
            scope = form.get("scope", "")
            if not scope.strip():
                raise Reject(400, "invalid_request", 900144,
                             "The request body must contain the following parameter: 'scope'.")
            perms, oidc = self.parse_scope(req, scope)
        except Reject as r:
            return self.error(conn, req, r, close)
        device_code = "DAQABIQEAAAD" + b64url(os.urandom(150))
        user_code = "".join(USER_CODE_ALPHABET[b % len(USER_CODE_ALPHABET)] for b in os.urandom(9))
        expires_in, interval = int(self.cfg["device_expires_in"]), int(self.cfg["device_interval"])
        with self.lock:
            self.devices[device_code] = {"perms": perms, "oidc": oidc, "until": now() + expires_in,
                                         "polls": 0, "slowed": False, "done": False}
        with self.emu.lock:
            self.emu.stats["last_device_scope"] = scope
        return self.reply(conn, req, collections.OrderedDict([
            ("user_code", user_code), ("device_code", device_code), ("verification_uri", VERIFY_URI),
            ("expires_in", expires_in), ("interval", interval),
            ("message", "To sign in, use a web browser to open the page %s and enter the code %s to "
                        "authenticate." % (VERIFY_URI, user_code))]), close)

    def tenant_checks(self, tenant):
        if tenant.lower() in ("common", "organizations", "consumers"):
            raise Reject(400, "invalid_request", 50059,
                         "No tenant-identifying information found in either the request or implied by any "
                         "provided credentials.")
        if not self.emu.tenant_known(tenant):
            raise Reject(400, "invalid_request", 90002,
                         "Tenant '%s' not found. Check to make sure you have the correct tenant ID and are "
                         "signing into the correct cloud. Check with your subscription administrator, this "
                         "may happen if there are no active subscriptions for the tenant." % tenant)

    def token(self, conn, req, form, basic_id, basic_secret, close, tslow=None):
        """The token endpoint for the delegated grants (device_code, refresh_token). tslow: the
        emulator's pending slow-token fault, applied to a success answer like every token fault."""
        gt = form.get("grant_type")
        try:
            if gt == GRANT_DEVICE:
                return self.poll(conn, req, form, basic_id, basic_secret, close, tslow)
            return self.refresh_grant(conn, req, form, basic_id, basic_secret, close, tslow)
        except Reject as r:
            return self.error(conn, req, r, close)

    def poll(self, conn, req, form, basic_id, basic_secret, close, tslow):
        with self.emu.lock:
            self.emu.stats["device_polls"] += 1
            self.emu.stats["device_poll_times"].append(round(time.monotonic(), 3))
            del self.emu.stats["device_poll_times"][:-1000]
        self.client_checks(form, basic_id, basic_secret, True)
        code = form.get("device_code", "")
        if not code:
            raise Reject(400, "invalid_request", 900144,
                         "The request body must contain the following parameter: 'device_code'.")
        bad = Reject(400, "bad_verification_code", None,
                     "The device_code sent to the /token endpoint wasn't recognized.")
        outcome = self.cfg["device_outcome"]
        with self.lock:
            st = self.devices.get(code)
            if st is None or st["done"] or outcome == "bad_code":
                raise bad
            st["polls"] += 1
            n = st["polls"]
            pending = int(self.cfg["device_pending_polls"])
            if now() > st["until"]:
                st["done"] = True
                outcome = "expire"
                n = pending + 1
            if outcome == "slow_down":
                if not st["slowed"]:
                    st["slowed"] = True
                    st["polls"] = 0
                    raise Reject(400, "slow_down", None, "Polling too frequently; increase the polling "
                                 "interval by 5 seconds (RFC 8628 section 3.5).")
                outcome = "approve"
            if n <= pending:
                raise Reject(400, "authorization_pending", 70016,
                             "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
            st["done"] = True
        if outcome == "decline":
            raise Reject(400, "authorization_declined", None,
                         "The end user denied the authorization request.")
        if outcome == "expire":
            raise Reject(400, "expired_token", 70020, "The provided value for the input parameter "
                         "'device_code' is not valid. This device code has expired.")
        return self.issue(conn, req, st["perms"], st["oidc"], close, tslow)

    def refresh_grant(self, conn, req, form, basic_id, basic_secret, close, tslow):
        self.emu.bump("refresh_requests")
        self.client_checks(form, basic_id, basic_secret, True)
        rt = form.get("refresh_token", "")
        if not rt:
            raise Reject(400, "invalid_request", 900144,
                         "The request body must contain the following parameter: 'refresh_token'.")
        with self.lock:
            st = self.refresh.get(rt)
        if st is None:
            raise Reject(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
        with self.emu.lock:
            self.emu.stats["refresh_used_serial"] = st["serial"]
        if self.cfg["refresh_expired"] or st["expired"]:
            raise Reject(400, "invalid_grant", 700082,
                         "The refresh token has expired due to inactivity. The token was issued on %s and "
                         "was inactive for 90.00:00:00." % ms_time(st["issued"]))
        if self.cfg["refresh_single_use"] and st["superseded"]:
            raise Reject(400, "invalid_grant", 50173,
                         "The provided grant has expired due to it being revoked, a fresh auth token is "
                         "needed. The user might have changed or reset their password. The grant was issued "
                         "on '%s' and the TokensValidFrom date (before which tokens are not valid) for this "
                         "user is '%s'." % (ms_time(st["issued"]), ms_time(st["superseded"])))
        perms, oidc = st["perms"], st["oidc"]
        if form.get("scope", "").strip():
            asked, asked_oidc = self.parse_scope(req, form["scope"])
            perms = asked or perms
            oidc = sorted(set(oidc) | set(asked_oidc))
        with self.lock:
            if not st["superseded"]:
                st["superseded"] = now()
        return self.issue(conn, req, perms, oidc, close, tslow)

    def expire_refresh_tokens(self):
        with self.lock:
            for st in self.refresh.values():
                st["expired"] = True
            return len(self.refresh)

    def issue(self, conn, req, perms, oidc, close, tslow):
        """Success answer of a delegated grant: a user access token (+ refresh/id tokens)."""
        emu, cfg = self.emu, self.cfg
        tok = emu.new_token("https://graph.microsoft.com", scp=perms)
        exp = int(cfg["expires_in"])
        ttl = cfg["token_ttl"] if cfg["token_ttl"] is not None else exp
        with emu.lock:
            emu.tokens[tok] = now() + float(ttl)
            while len(emu.tokens) > 10000:
                emu.tokens.popitem(last=False)
            emu.stats["tokens_issued"] += 1
            emu.stats["last_token"] = tok
        with self.lock:
            self.delegated[tok] = {p.lower() for p in perms}
            while len(self.delegated) > 10000:
                self.delegated.popitem(last=False)
        shown = [p for p in perms] + [o for o in ("profile", "openid", "email") if o in oidc]
        body = collections.OrderedDict([("token_type", "Bearer"), ("scope", " ".join(shown)),
                                        ("expires_in", exp), ("ext_expires_in", exp), ("access_token", tok)])
        if "offline_access" in oidc:
            n = max(64, int(cfg["refresh_token_len"]))
            rt = ("1.AXkA" + b64url(os.urandom(n)))[:n]
            with self.lock:
                self.serial += 1
                self.refresh[rt] = {"serial": self.serial, "perms": perms, "oidc": oidc, "issued": now(),
                                    "superseded": None, "expired": False}
                serial = self.serial
            with emu.lock:
                emu.stats["refresh_latest_serial"] = serial
            body["refresh_token"] = rt
        if "openid" in oidc:
            body["id_token"] = self.id_token()
        data = json.dumps(body, separators=(",", ":")).encode()
        return emu.token_answer(conn, req, data, tok, close, tslow)

    def id_token(self):
        t = int(now())
        cfg = self.cfg
        hdr = {"typ": "JWT", "alg": "RS256", "kid": b64url(os.urandom(20))}
        claims = {"aud": cfg["client_id"], "iss": "https://login.microsoftonline.com/%s/v2.0" % cfg["tenant"],
                  "iat": t, "nbf": t, "exp": t + 3600, "name": "Kiosk Operator",
                  "oid": str(uuid.uuid4()), "preferred_username": "kiosk@%s" % cfg["tenant_domain"][0],
                  "sub": b64url(os.urandom(32)), "tid": cfg["tenant"], "ver": "2.0"}
        return ".".join([b64url(json.dumps(hdr, separators=(",", ":")).encode()),
                         b64url(json.dumps(claims, separators=(",", ":")).encode()), b64url(os.urandom(256))])

    # ---- Graph --------------------------------------------------------------------------------
    def delegated_scopes(self, tok):
        """The lower-case scopes of a delegated access token, or None for an app-only token."""
        with self.lock:
            return self.delegated.get(tok)

    @staticmethod
    def may_read(scopes, path):
        """Whether delegated scopes allow a Graph path: Sites.* everywhere, Files.* for drives/items."""
        if scopes & SITES_SCOPES:
            return True
        return bool(scopes & FILES_SCOPES) and ("/drive" in path or "/items" in path)
