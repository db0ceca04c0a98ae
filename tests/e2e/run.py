#!/usr/bin/python3
"""End-to-end tests: the spo binary against the local Microsoft emulator (tests/emulator/emulator.py).

    tests/e2e/run.py [--spo build/spo] [--valgrind] [-k SUBSTRING] [--list] [--long] [--keep]

Starts its own emulator instances on free loopback ports, with a test PKI (tests/pki.sh) in a temporary
folder. Prints `ok NAME` or `FAIL NAME: reason` per case and ends with `e2e: N passed, N failed`; the
exit status is non-zero when a case failed. Each case checks what a user sees: stdout byte for byte,
the exit status, the key facts on stderr, and (through the emulator's /_emulator/stats) what reached the
server. Python 3 standard library only.
"""
import argparse
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
EMULATOR = os.path.join(TOP, "tests", "emulator", "emulator.py")
PKI_SH = os.path.join(TOP, "tests", "pki.sh")
sys.path.insert(0, os.path.dirname(EMULATOR))
import emulator as emu_mod  # noqa: E402  (same code that serves the sites: the expected output)

TENANT = emu_mod.DEFAULTS["tenant"]
CLIENT_ID = emu_mod.DEFAULTS["client_id"]
SECRET = emu_mod.DEFAULTS["client_secret"]
SP_HOST = emu_mod.DEFAULTS["sp_host"]


class Fail(Exception):
    pass


class Skip(Exception):
    """The case printed its own `ok NAME # skipped: why` line."""


# ------------------------------------------------------------------------------------------------ emulator
class Emulator:
    def __init__(self, run, name, chain="chain.pem", key="server.key", args=()):
        self.run = run
        self.name = name
        self.log_path = os.path.join(run.tmp, "emulator-%s.log" % name)
        self.log = open(self.log_path, "wb")
        cmd = [sys.executable, EMULATOR, "--cert", os.path.join(run.pki, chain),
               "--key", os.path.join(run.pki, key), "--port", "0", "--log"] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log)
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError("emulator %s did not start: %r (see %s)" % (name, line, self.log_path))
        self.port = int(line.split()[1])
        self.ctx = ssl.create_default_context()
        self.ctx.check_hostname = False
        self.ctx.verify_mode = ssl.CERT_NONE     # the control API is also reached on the bad-cert instances
        self.baseline = self.api("GET", "/_emulator/config")

    @property
    def url(self):
        return "https://localhost:%d" % self.port

    def api(self, method, path, body=None):
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=30)
        try:
            c.request(method, path, json.dumps(body) if body is not None else None,
                      {"Content-Type": "application/json", "Connection": "close"})
            r = c.getresponse()
            data = json.loads(r.read())
            if r.status != 200:
                raise RuntimeError("emulator API %s %s: %s %s" % (method, path, r.status, data))
            return data
        finally:
            c.close()

    def configure(self, **overrides):
        """Baseline configuration + overrides; clears stats and one-shot fault state."""
        cfg = dict(self.baseline)
        cfg.update(overrides)
        self.api("POST", "/_emulator/config", cfg)
        self.api("POST", "/_emulator/reset", {})

    def stats(self):
        return self.api("GET", "/_emulator/stats")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# ------------------------------------------------------------------------------------------------ runner
class Result:
    def __init__(self, rc, out, err, elapsed, argv):
        self.rc, self.out, self.err, self.elapsed, self.argv = rc, out, err, elapsed, argv

    @property
    def err_text(self):
        return self.err.decode("utf-8", "replace")

    def brief(self):
        return "rc=%s stderr=%r" % (self.rc, self.err_text.strip()[-300:])


class Run:
    def __init__(self, args):
        self.args = args
        self.spo = os.path.abspath(args.spo)
        self.keep = args.keep
        self.tmp = tempfile.mkdtemp(prefix="spo-e2e-")
        self.pki = args.pki or os.path.join(self.tmp, "pki")
        subprocess.run(["bash", PKI_SH, self.pki], check=True)
        self.emus = {}
        self.expected_cache = {}
        self.timeout_scale = 20 if args.valgrind else 1

    def emulator(self, name="main", **kw):
        if name not in self.emus:
            self.emus[name] = Emulator(self, name, **kw)
        return self.emus[name]

    def close(self):
        for e in self.emus.values():
            e.stop()
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def env(self, emu, **over):
        """A run's environment. Each call gets its own empty XDG_CONFIG_HOME, so that no token cache
        is shared between runs: every run asks the token endpoint as before the cache existed. Cases
        about the cache pass XDG_CONFIG_HOME (or SPO_TOKEN_CACHE) themselves to share one."""
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
               "HOME": self.tmp, "XDG_CONFIG_HOME": tempfile.mkdtemp(prefix="xdg-", dir=self.tmp),
               "AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": CLIENT_ID,
               "AZURE_CLIENT_SECRET": SECRET, "AZURE_AUTHORITY_HOST": emu.url, "SPO_GRAPH_URL": emu.url,
               "SPO_CA_FILE": os.path.join(self.pki, "ca.pem")}
        for k, v in over.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env

    def spo_run(self, argv, env, timeout=60):
        cmd = [self.spo] + list(argv)
        if self.args.valgrind:
            cmd = ["valgrind", "--error-exitcode=99", "--leak-check=full", "-q"] + cmd
        t0 = time.monotonic()
        try:
            p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=timeout * self.timeout_scale)
        except subprocess.TimeoutExpired as e:
            raise Fail("spo %s did not finish within %ds (stderr: %r)"
                       % (" ".join(argv), timeout * self.timeout_scale, (e.stderr or b"")[-300:]))
        r = Result(p.returncode, p.stdout, p.stderr, time.monotonic() - t0, argv)
        if r.rc == 99 and self.args.valgrind:
            raise Fail("valgrind reported errors: %s" % r.err_text.strip()[-600:])
        if r.rc < 0:
            raise Fail("spo killed by signal %d (stderr: %r)" % (-r.rc, r.err_text[-300:]))
        return r

    def spo_start(self, argv, env):
        """spo in the background, for cases that watch it while it runs; the case must stop it."""
        cmd = [self.spo] + list(argv)
        if self.args.valgrind:
            cmd = ["valgrind", "--error-exitcode=99", "--leak-check=full", "-q"] + cmd
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    # expected output: the emulator's own --dump-sites code, cached per (sites, seed)
    def expected(self, n=100, seed=1, fmt="tsv", search=None):
        key = (n, seed)
        if key not in self.expected_cache:
            path = os.path.join(self.tmp, "sites-%d-%d.jsonl" % key)
            emu_mod.dump_sites(path, n, seed, SP_HOST)
            with open(path, "rb") as f:
                jl = f.read()
            with open(path + ".tsv", "rb") as f:
                tsv = f.read()
            self.expected_cache[key] = (jl, tsv)
        jl, tsv = self.expected_cache[key]
        if search is None:
            return jl if fmt == "json" else tsv
        term = search.lower()
        out = []
        for line in jl.decode("utf-8").splitlines():
            s = json.loads(line)
            if term in s["displayName"].lower() or term in s["webUrl"].lower():
                out.append(line if fmt == "json" else "%s\t%s" % (s["displayName"], s["webUrl"]))
        return ("".join(x + "\n" for x in out)).encode("utf-8")


# ------------------------------------------------------------------------------------------------ checks
def first_diff(got, exp):
    g, e = got.split(b"\n"), exp.split(b"\n")
    for i in range(max(len(g), len(e))):
        a = g[i] if i < len(g) else None
        b = e[i] if i < len(e) else None
        if a != b:
            return "line %d: got %r, expected %r" % (i + 1, (a or b"")[:120] if a is not None else "<end>",
                                                     (b or b"")[:120] if b is not None else "<end>")
    return "?"


def expect_rc0(r):
    if r.rc != 0:
        raise Fail("exit status %d, expected 0; %s" % (r.rc, r.brief()))


def expect_stdout(r, exp):
    if r.out != exp:
        raise Fail("stdout differs (%d bytes, expected %d): %s; %s"
                   % (len(r.out), len(exp), first_diff(r.out, exp), r.brief()))


def expect_exact(r, exp):
    expect_rc0(r)
    expect_stdout(r, exp)


def expect_fail(r, *needles):
    if r.rc == 0:
        raise Fail("exit status 0, expected failure; stdout=%r" % r.out[-200:])
    if not r.err.strip():
        raise Fail("exit status %d but nothing on stderr" % r.rc)
    low = r.err_text.lower()
    for n in needles:
        alts = n if isinstance(n, tuple) else (n,)
        if not any(a.lower() in low for a in alts):
            raise Fail("stderr lacks %s: %r" % (" or ".join(repr(a) for a in alts), r.err_text.strip()[-400:]))


def expect_prefix(r, exp):
    """stdout is whole lines, each the expected one, in order: no garbage, no duplicate, no gap."""
    if r.out and not r.out.endswith(b"\n"):
        raise Fail("stdout ends in a partial line: %r" % r.out[-80:])
    if not exp.startswith(r.out):
        raise Fail("stdout is not a prefix of the expected listing: %s" % first_diff(r.out, exp[:len(r.out)]))
    if r.out == exp:
        raise Fail("stdout holds the complete listing although the run must fail")


def no_leaks(r, emu=None, raw_ok=False):
    secret_forms = {SECRET, urllib.parse.quote(SECRET, safe=""), urllib.parse.quote_plus(SECRET),
                    urllib.parse.quote(SECRET, safe="~"), SECRET[:20]}
    for s in secret_forms:
        if s.encode() in r.out or s.encode() in r.err:
            raise Fail("the client secret (or a form of it) appears in the output")
    if emu is not None:
        tok = emu.stats().get("last_token")
        if tok:
            sig = tok.rsplit(".", 1)[-1]
            probes = [tok[i:i + 32] for i in range(len(tok) // 2, len(tok) - 32, 97)] + [sig[:32]]
            if any(p.encode() in r.err for p in probes):
                raise Fail("the access token appears on stderr")
            if not raw_ok and any(p.encode() in r.out for p in probes):
                raise Fail("the access token appears on stdout")


def expect_no_request(emu):
    st = emu.stats()
    if st["http_requests"] or st["token_requests"]:
        raise Fail("the server received HTTP requests (%d, token %d) although the TLS handshake must fail"
                   % (st["http_requests"], st["token_requests"]))
    if st["connections"] - st["api_connections"] < 1:
        raise Fail("spo never connected (connections=%d)" % st["connections"])


# ------------------------------------------------------------------------------------------------ cases
CASES = []


def case(name, long=False):
    def deco(fn):
        CASES.append((name, fn, long))
        return fn
    return deco


def main_emu(t, **cfg):
    e = t.emulator("main", args=("--dump-sites", os.path.join(t.tmp, "dump-main.jsonl")))
    e.configure(**cfg)
    return e


# ---- token
@case("token.ok")
def _(t):
    e = main_emu(t)
    r = t.spo_run(["token"], t.env(e))
    expect_rc0(r)
    lines = r.out.decode("utf-8", "replace").splitlines()
    if len(lines) != 1 or "token acquired" not in lines[0] or "expires" not in lines[0]:
        raise Fail("stdout should be one line with 'token acquired' and 'expires': %r" % r.out)
    no_leaks(r, e)
    st = e.stats()
    if st["tokens_issued"] != 1 or st["graph_requests"]:
        raise Fail("expected exactly one token request and no Graph call: %s" % st["token_errors"])
    form = st["last_token_form"] or {}
    if form.get("scope") != e.url + "/.default" or form.get("grant_type") != "client_credentials":
        raise Fail("token request form: %r" % form)


@case("token.raw")
def _(t):
    e = main_emu(t)
    r = t.spo_run(["token", "--raw"], t.env(e))
    expect_rc0(r)
    tok = e.stats()["last_token"]
    if r.out != (tok + "\n").encode():
        raise Fail("stdout is not the issued token alone on a line (%d bytes vs %d)" % (len(r.out), len(tok) + 1))
    no_leaks(r, e, raw_ok=True)


@case("token.tenant_domain_alias")
def _(t):
    e = main_emu(t)
    r = t.spo_run(["token", "--raw"], t.env(e, AZURE_TENANT_ID="contoso.onmicrosoft.com"))
    expect_rc0(r)
    if r.out != (e.stats()["last_token"] + "\n").encode():
        raise Fail("token differs")


@case("token.expires_in_string")
def _(t):
    e = main_emu(t, expires_in_string=True, expires_in=4242)
    r = t.spo_run(["token"], t.env(e))
    expect_rc0(r)
    if b"expires" not in r.out:
        raise Fail("no expiry shown: %r" % r.out)


@case("token.len_4000")
def _(t):
    e = main_emu(t, token_len=4000)
    r = t.spo_run(["token", "--raw"], t.env(e))
    expect_rc0(r)
    if r.out != (e.stats()["last_token"] + "\n").encode():
        raise Fail("4000-byte token not printed intact")


@case("token.len_16000_longer_than_buffer")
def _(t):
    # longer than any sane client buffer: either handled, or a clean one-line failure; never a crash,
    # never a cut token
    e = main_emu(t, token_len=16000)
    r = t.spo_run(["token", "--raw"], t.env(e))
    tok = e.stats()["last_token"]
    if r.rc == 0:
        if r.out != (tok + "\n").encode():
            raise Fail("exit 0 but stdout is not the whole token")
    else:
        expect_fail(r)
        if r.out:
            raise Fail("failed but printed %d bytes on stdout" % len(r.out))
    no_leaks(r, e, raw_ok=(r.rc == 0))


@case("token.wrong_secret")
def _(t):
    e = main_emu(t)
    r = t.spo_run(["token"], t.env(e, AZURE_CLIENT_SECRET="wrong~secret.value_0123456789abcdefghij"))
    expect_fail(r, "AADSTS7000215")
    if r.out:
        raise Fail("stdout not empty: %r" % r.out[:100])


@case("token.secret_expired")
def _(t):
    e = main_emu(t, secret_expired=True)
    r = t.spo_run(["token"], t.env(e))
    expect_fail(r, "AADSTS7000222")
    no_leaks(r, e)


@case("token.unknown_app")
def _(t):
    e = main_emu(t)
    r = t.spo_run(["token"], t.env(e, AZURE_CLIENT_ID="00000000-1111-2222-3333-444444444444"))
    expect_fail(r, "AADSTS700016")


@case("token.unknown_tenant")
def _(t):
    e = main_emu(t)
    r = t.spo_run(["token"], t.env(e, AZURE_TENANT_ID="a1b2c3d4-e5f6-7890-abcd-ef1234567890"))
    expect_fail(r, "AADSTS90002")


@case("token.missing_secret_env")
def _(t):
    e = main_emu(t)
    r = t.spo_run(["token"], t.env(e, AZURE_CLIENT_SECRET=None))
    expect_fail(r, "AZURE_CLIENT_SECRET")
    if e.stats()["http_requests"]:
        raise Fail("spo contacted the server without a secret")


@case("token.sts_429_once")
def _(t):
    # not in the CLI contract: a 429 from the STS is either retried (then success) or reported clearly
    e = main_emu(t, token_throttle=1, retry_after="1")
    r = t.spo_run(["token"], t.env(e))
    if r.rc != 0:
        expect_fail(r, ("429", "throttl", "too many"))


@case("token.authority_on_other_host_name")
def _(t):
    # token from https://127.0.0.1:PORT, Graph at https://localhost:PORT: the bearer goes to Graph only
    e = main_emu(t)
    r = t.spo_run(["sites"], t.env(e, AZURE_AUTHORITY_HOST="https://127.0.0.1:%d" % e.port))
    expect_exact(r, t.expected(100))
    st = e.stats()
    hosts = set(st["authorization_by_host"])
    if hosts != {"localhost:%d" % e.port}:
        raise Fail("Authorization headers were sent to %s" % sorted(hosts))


# ---- sites
@case("sites.tsv")
def _(t):
    e = main_emu(t)
    r = t.spo_run(["sites"], t.env(e))
    with open(os.path.join(t.tmp, "dump-main.jsonl.tsv"), "rb") as f:
        exp = f.read()
    expect_exact(r, exp)
    no_leaks(r, e)


@case("sites.json")
def _(t):
    e = main_emu(t)
    r = t.spo_run(["sites", "--json"], t.env(e))
    with open(os.path.join(t.tmp, "dump-main.jsonl"), "rb") as f:
        exp = f.read()
    expect_exact(r, exp)


@case("sites.search_accented")
def _(t):
    e = main_emu(t)
    r = t.spo_run(["sites", "--search", "café"], t.env(e))
    exp = t.expected(100, search="café")
    if not exp:
        raise Fail("test data has no match for café")
    expect_exact(r, exp)
    q = [x for x in e.stats()["recent"] if "/v1.0/sites" in x]
    if not q or "search=" not in q[0]:
        raise Fail("no search= in the request: %r" % q[:1])


@case("sites.search_case_insensitive_json")
def _(t):
    e = main_emu(t)
    r = t.spo_run(["sites", "--search", "NORTHWIND", "--json"], t.env(e))
    expect_exact(r, t.expected(100, fmt="json", search="northwind"))


@case("sites.search_with_reserved_chars")
def _(t):
    e = main_emu(t)
    r = t.spo_run(["sites", "--search", "100% %s"], t.env(e))
    expect_exact(r, t.expected(100, search="100% %s"))


@case("sites.search_no_match")
def _(t):
    e = main_emu(t)
    r = t.spo_run(["sites", "--search", "zzz-no-such-site"], t.env(e))
    expect_exact(r, b"")


@case("sites.empty_tenant")
def _(t):
    e = main_emu(t, sites=0)
    r = t.spo_run(["sites"], t.env(e))
    expect_exact(r, b"")


@case("sites.paging_5000")
def _(t):
    e = main_emu(t, sites=5000)
    r = t.spo_run(["sites", "--json"], t.env(e), timeout=120)
    expect_exact(r, t.expected(5000, fmt="json"))
    st = e.stats()
    if st["sites_pages_served"] != 25:
        raise Fail("expected 25 pages of 200, server served %d" % st["sites_pages_served"])


@case("sites.page_size_7")
def _(t):
    e = main_emu(t, sites=100, page_size=7)
    r = t.spo_run(["sites"], t.env(e))
    expect_exact(r, t.expected(100))


@case("sites.403_no_roles")
def _(t):
    e = main_emu(t, no_roles=True)
    r = t.spo_run(["sites"], t.env(e))
    expect_fail(r, "Sites.Read.All")
    if r.out:
        raise Fail("stdout not empty")


@case("sites.token_expires_midrun")
def _(t):
    # the token dies on the server while spo waits out a 429 on page 2: expect one refresh, full output
    e = main_emu(t, sites=450, token_ttl=3, throttle=1, throttle_after=1, retry_after="4")
    r = t.spo_run(["sites"], t.env(e))
    expect_exact(r, t.expected(450))
    if e.stats()["tokens_issued"] < 2:
        raise Fail("the expired token was not replaced (%d token requests)" % e.stats()["tokens_issued"])


# ---- TLS
def tls_case(t, name, chain, key, env_over=None):
    e = t.emulator("tls-" + name, chain=chain, key=key)
    e.configure()
    r = t.spo_run(["sites"], t.env(e, **(env_over or {})))
    expect_fail(r, ("certificate", "tls", "trust"))
    if r.out:
        raise Fail("stdout not empty")
    expect_no_request(e)


@case("tls.untrusted_root")
def _(t):
    tls_case(t, "untrusted", "untrusted-chain.pem", "untrusted.key")


@case("tls.self_signed")
def _(t):
    tls_case(t, "selfsigned", "selfsigned.pem", "selfsigned.key")


@case("tls.expired")
def _(t):
    tls_case(t, "expired", "expired-chain.pem", "expired.key")


@case("tls.not_yet_valid")
def _(t):
    tls_case(t, "notyetvalid", "notyetvalid-chain.pem", "notyetvalid.key")


@case("tls.wrong_host")
def _(t):
    tls_case(t, "wronghost", "wronghost-chain.pem", "wronghost.key")


@case("tls.wrong_ca_file")
def _(t):
    e = main_emu(t)
    r = t.spo_run(["sites"], t.env(e, SPO_CA_FILE=os.path.join(t.pki, "untrusted-ca.pem")))
    expect_fail(r)
    expect_no_request(e)


@case("tls.ca_file_missing")
def _(t):
    e = main_emu(t)
    r = t.spo_run(["token"], t.env(e, SPO_CA_FILE=os.path.join(t.tmp, "no-such-ca.pem")))
    expect_fail(r, "no-such-ca.pem")
    if e.stats()["http_requests"]:
        raise Fail("requests were sent without a trust anchor")


@case("tls.v1_2_only")
def _(t):
    e = t.emulator("tls12", args=("--tls-max", "1.2"))
    e.configure()
    r = t.spo_run(["sites"], t.env(e))
    expect_exact(r, t.expected(100))
    if set(e.stats()["tls_versions"]) != {"TLSv1.2"}:
        raise Fail("versions: %s" % e.stats()["tls_versions"])


@case("tls.v1_3_only")
def _(t):
    e = t.emulator("tls13", args=("--tls-min", "1.3"))
    e.configure()
    r = t.spo_run(["sites"], t.env(e))
    expect_exact(r, t.expected(100))


# ---- throttling
@case("throttle.429_twice_retry_after_1")
def _(t):
    e = main_emu(t, sites=450, throttle=2, throttle_after=1, retry_after="1")
    r = t.spo_run(["sites"], t.env(e))
    expect_exact(r, t.expected(450))
    st = e.stats()
    if st["faults"].get("throttled_429") != 2:
        raise Fail("expected 2 throttled answers, server sent %s" % st["faults"])
    if r.elapsed < 1.9:
        raise Fail("finished in %.2fs: Retry-After: 1 (twice) was not honoured" % r.elapsed)
    if st["graph_requests"] != 3 + 2:
        raise Fail("expected 5 Graph requests (3 pages + 2 retries), saw %d" % st["graph_requests"])


@case("throttle.503_fractional_retry_after")
def _(t):
    e = main_emu(t, sites=450, throttle=1, throttle_after=1, throttle_status=503, retry_after="0.5")
    r = t.spo_run(["sites"], t.env(e))
    expect_exact(r, t.expected(450))


@case("throttle.504_without_retry_after")
def _(t):
    e = main_emu(t, sites=450, throttle=1, throttle_after=2, throttle_status=504, retry_after="none")
    r = t.spo_run(["sites"], t.env(e))
    expect_exact(r, t.expected(450))


@case("throttle.retry_after_http_date")
def _(t):
    e = main_emu(t, sites=450, throttle=1, throttle_after=1, retry_after="http-date:2")
    r = t.spo_run(["sites"], t.env(e))
    expect_exact(r, t.expected(450))
    if r.elapsed < 1.0:
        raise Fail("an HTTP-date Retry-After 2 s ahead was not honoured (%.2fs)" % r.elapsed)


@case("throttle.sharepoint_style_429")
def _(t):
    e = main_emu(t, sites=450, throttle=1, throttle_after=1, throttle_style="sharepoint", retry_after="1")
    r = t.spo_run(["sites"], t.env(e))
    expect_exact(r, t.expected(450))


@case("throttle.never_ends")
def _(t):
    e = main_emu(t, sites=450, throttle=1000, throttle_after=1, retry_after="1")
    r = t.spo_run(["sites"], t.env(e), timeout=240)
    expect_fail(r, ("429", "throttl", "too many"))
    expect_prefix(r, t.expected(450))


# ---- network faults
# The drop cases end the TLS connection mid-body without close_notify (the emulator shuts the TCP
# connection down: FIN, or RST with drop_mode=rst): under Content-Length here, chunked framing next;
# net.tls_eof_without_close_notify_close_delimited does the same to a close-delimited body.
@case("net.drop_mid_page_length")
def _(t):
    e = main_emu(t, sites=450, framing="length", drop_after_bytes=5000, drop_page=2)
    r = t.spo_run(["sites"], t.env(e))
    expect_exact(r, t.expected(450))
    if e.stats()["faults"].get("dropped") != 1:
        raise Fail("the drop did not happen")


@case("net.drop_mid_page_chunked_json")
def _(t):
    e = main_emu(t, sites=450, framing="chunked", drop_after_bytes=7777, drop_page=2)
    r = t.spo_run(["sites", "--json"], t.env(e))
    expect_exact(r, t.expected(450, fmt="json"))


@case("net.drop_rst")
def _(t):
    e = main_emu(t, sites=450, framing="length", drop_after_bytes=3000, drop_page=3, drop_mode="rst")
    r = t.spo_run(["sites"], t.env(e))
    expect_exact(r, t.expected(450))


@case("net.drop_right_after_headers")
def _(t):
    e = main_emu(t, sites=450, framing="length", drop_after_bytes=0, drop_page=2)
    r = t.spo_run(["sites"], t.env(e))
    expect_exact(r, t.expected(450))


@case("net.drop_every_time")
def _(t):
    e = main_emu(t, sites=450, framing="chunked", drop_after_bytes=6000, drop_page=2, drop_every_time=True)
    r = t.spo_run(["sites"], t.env(e), timeout=240)
    expect_fail(r)
    expect_prefix(r, t.expected(450))


@case("net.server_closes_keepalive_silently")
def _(t):
    # the server closes each connection after one answer without saying so: reuse must recover
    e = main_emu(t, sites=450, max_requests_per_conn=1)
    r = t.spo_run(["sites"], t.env(e))
    expect_exact(r, t.expected(450))


@case("net.idle_connection_closed_during_retry_wait")
def _(t):
    e = main_emu(t, sites=450, idle_timeout=1, throttle=1, throttle_after=1, retry_after="3")
    r = t.spo_run(["sites"], t.env(e))
    expect_exact(r, t.expected(450))


@case("net.slow_answer_3s")
def _(t):
    e = main_emu(t, sites=450, slow=3, slow_page=2)
    r = t.spo_run(["sites"], t.env(e))
    expect_exact(r, t.expected(450))


@case("net.stall_mid_body_3s")
def _(t):
    e = main_emu(t, sites=450, slow=3, slow_page=2, slow_where="body")
    r = t.spo_run(["sites"], t.env(e))
    expect_exact(r, t.expected(450))


@case("net.keepalive_reused")
def _(t):
    # token + 3 pages on one origin: a client that reconnects for every request pays a full TLS
    # handshake each time (a problem on small devices), so expect at most two connections
    e = main_emu(t, sites=450)
    r = t.spo_run(["sites"], t.env(e))
    expect_exact(r, t.expected(450))
    st = e.stats()
    n = st["connections"] - st["api_connections"]
    if n > 2:
        raise Fail("%d TLS connections for 4 requests to one host: keep-alive is not used" % n)


@case("net.ipv4_literal_url")
def _(t):
    e = main_emu(t)
    url = "https://127.0.0.1:%d" % e.port
    r = t.spo_run(["sites"], t.env(e, AZURE_AUTHORITY_HOST=url, SPO_GRAPH_URL=url))
    expect_exact(r, t.expected(100))


@case("net.ipv6_literal_url")
def _(t):
    e = main_emu(t)
    import socket
    try:
        socket.create_connection(("::1", e.port), timeout=2).close()
    except OSError:
        print("ok net.ipv6_literal_url # skipped: the emulator could not listen on ::1", flush=True)
        raise Skip()
    url = "https://[::1]:%d" % e.port
    r = t.spo_run(["sites"], t.env(e, AZURE_AUTHORITY_HOST=url, SPO_GRAPH_URL=url))
    expect_exact(r, t.expected(100))


@case("net.slow_token_2s")
def _(t):
    e = main_emu(t, slow=2, slow_target="token")
    r = t.spo_run(["token"], t.env(e))
    expect_rc0(r)


# ---- framing and message shape
def framing_case(t, fmt="tsv", n=450, **cfg):
    e = main_emu(t, sites=n, **cfg)
    r = t.spo_run(["sites"] + (["--json"] if fmt == "json" else []), t.env(e))
    expect_exact(r, t.expected(n, fmt=fmt))
    return e, r


@case("framing.chunked")
def _(t):
    framing_case(t, framing="chunked")


@case("framing.chunked_extensions")
def _(t):
    framing_case(t, framing="chunked", chunk_ext=True, fmt="json")


@case("framing.chunked_trailers")
def _(t):
    framing_case(t, framing="chunked", trailers=True, chunk_ext=True)


@case("framing.content_length")
def _(t):
    framing_case(t, framing="length", fmt="json")


@case("framing.random_mix")
def _(t):
    framing_case(t, framing="random", page_size=50)


@case("framing.trickle_1_byte_writes")
def _(t):
    framing_case(t, n=120, framing="chunked", trickle=True, page_size=60, fmt="json")


@case("framing.trickle_token")
def _(t):
    e = main_emu(t, trickle=True)
    r = t.spo_run(["token", "--raw"], t.env(e))
    expect_rc0(r)
    if r.out != (e.stats()["last_token"] + "\n").encode():
        raise Fail("token differs")


@case("framing.no_keepalive")
def _(t):
    e, r = framing_case(t, no_keepalive=True)
    if e.stats()["http_requests"] != 4:
        raise Fail("expected 4 requests, saw %d" % e.stats()["http_requests"])


@case("framing.lowercase_header_names")
def _(t):
    framing_case(t, lowercase_headers=True)


@case("framing.long_header_1500")
def _(t):
    framing_case(t, extra_header_bytes=1500)


@case("framing.pretty_printed_json")
def _(t):
    framing_case(t, pretty=True, fmt="json")


@case("framing.next_link_after_value")
def _(t):
    framing_case(t, next_link_position="after", fmt="json")


@case("framing.select_ignored_full_objects")
def _(t):
    framing_case(t, ignore_select=True, fmt="json")


# ---- paging
@case("paging.empty_page_in_the_middle")
def _(t):
    e, r = framing_case(t, empty_page=[2])
    if e.stats()["faults"].get("empty_page") != 1:
        raise Fail("empty page not served")


@case("paging.trailing_empty_page")
def _(t):
    framing_case(t, n=400, trailing_empty_page=True)


@case("paging.next_link_to_other_host")
def _(t):
    other = t.emulator("other")
    other.configure()
    e = main_emu(t, sites=450, next_link_host="127.0.0.1:%d" % other.port)
    r = t.spo_run(["sites"], t.env(e))
    expect_fail(r)
    expect_prefix(r, t.expected(450))
    so = other.stats()
    if so["authorization_headers"]:
        raise Fail("the other host received %d Authorization headers" % so["authorization_headers"])
    if so["http_requests"]:
        raise Fail("the other host received %d requests (expected none)" % so["http_requests"])


@case("paging.next_link_to_other_port")
def _(t):
    other = t.emulator("other")
    other.configure()
    e = main_emu(t, sites=450, next_link_host="localhost:%d" % other.port)
    r = t.spo_run(["sites"], t.env(e))
    expect_fail(r)
    expect_prefix(r, t.expected(450))
    if other.stats()["authorization_headers"]:
        raise Fail("the other port received an Authorization header")


@case("paging.next_link_other_name_same_server")
def _(t):
    e = main_emu(t, sites=450, next_link_host="127.0.0.1:%d" % t.emulator("main").port)
    r = t.spo_run(["sites"], t.env(e))
    expect_fail(r)
    expect_prefix(r, t.expected(450))
    hosts = set(e.stats()["authorization_by_host"])
    if hosts - {"localhost:%d" % e.port}:
        raise Fail("Authorization sent to %s" % sorted(hosts))


def malformed(t, mode):
    e = main_emu(t, sites=450, malformed=True, malformed_page=2, malformed_mode=mode)
    r = t.spo_run(["sites"], t.env(e))
    expect_fail(r)
    expect_prefix(r, t.expected(450))
    if re.search(r"\b(done|success|complete)", r.err_text, re.I):
        raise Fail("stderr claims success: %r" % r.err_text[-200:])


@case("paging.malformed_truncated_json")
def _(t):
    malformed(t, "truncated")


@case("paging.malformed_invalid_json")
def _(t):
    malformed(t, "invalid")


@case("paging.malformed_invalid_utf8")
def _(t):
    malformed(t, "badutf8")


@case("paging.malformed_html_body")
def _(t):
    malformed(t, "html")


@case("paging.malformed_wrong_shape")
def _(t):
    malformed(t, "shape")


# ---- verbose
@case("verbose.sites")
def _(t):
    e = main_emu(t, sites=450)
    r = t.spo_run(["--verbose", "sites"], t.env(e))
    expect_exact(r, t.expected(450))
    if not re.search(r"GET \S*/v1\.0/sites", r.err_text):
        raise Fail("stderr does not show the GET /v1.0/sites request lines: %r" % r.err_text[:300])
    if len(re.findall(r"GET \S*/v1\.0/sites", r.err_text)) < 3:
        raise Fail("stderr should show one line per page (3)")
    no_leaks(r, e)


@case("verbose.token")
def _(t):
    e = main_emu(t)
    r = t.spo_run(["token", "--verbose"], t.env(e))
    expect_rc0(r)
    if "/oauth2/v2.0/token" not in r.err_text:
        raise Fail("stderr does not show the token request")
    no_leaks(r, e)


@case("verbose.failure_keeps_secrets")
def _(t):
    e = main_emu(t, secret_expired=True)
    r = t.spo_run(["--verbose", "token"], t.env(e))
    expect_fail(r, "AADSTS7000222")
    no_leaks(r, e)


# ---- hostile network: the fault-injection cases of the "hostile network" issue. Each ends in success
# with the exact listing, or in a non-zero exit with a clear message naming the problem: never a
# partial success, a crash, a hang past the timeout, or a duplicated or missing site.
class JunkServer:
    """A plain TCP listener on 127.0.0.1 (no TLS) that reads what the client sends first, answers
    `junk`, and closes. Bounded: every socket operation times out after `hold` seconds, and stop()
    ends the thread."""

    def __init__(self, junk, hold=3.0):
        self.junk, self.hold = junk, hold
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.first_bytes = []           # the start of what each client sent (a TLS ClientHello?)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.done.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with c:
                c.settimeout(self.hold)
                try:
                    self.first_bytes.append(c.recv(4096)[:3])
                    c.sendall(self.junk)
                    c.shutdown(socket.SHUT_WR)
                    while c.recv(4096):     # until the client gives up (bounded by hold)
                        pass
                except OSError:
                    pass

    def stop(self):
        self.done.set()
        self.thread.join(10)
        self.sock.close()


SSH_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"
PLAIN_HTTP_400 = (b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Type: text/html\r\n"
                  b"Content-Length: 90\r\nConnection: close\r\n\r\n<html><body>400 The plain HTTP "
                  b"request was sent to HTTPS port</body></html>\r\n" + b" " * 12)


def garbage_case(t, role, junk):
    e = main_emu(t)
    junk_srv = JunkServer(junk)
    try:
        url = "https://127.0.0.1:%d" % junk_srv.port
        if role == "token":
            r = t.spo_run(["token"], t.env(e, AZURE_AUTHORITY_HOST=url), timeout=60)
        else:
            # the emulator must accept the junk origin as the token's resource: the token is fine,
            # Graph is not
            e.configure(graph_resource=list(emu_mod.DEFAULTS["graph_resource"]) + [url])
            r = t.spo_run(["sites"], t.env(e, SPO_GRAPH_URL=url), timeout=60)
    finally:
        junk_srv.stop()
    expect_fail(r, "127.0.0.1", "TLS", "HTTPS server")
    if r.out:
        raise Fail("stdout not empty: %r" % r.out[:100])
    if not junk_srv.first_bytes or not all(b[:1] == b"\x16" for b in junk_srv.first_bytes):
        raise Fail("spo did not open with a TLS handshake record: %r" % junk_srv.first_bytes)
    st = e.stats()
    if role == "token" and st["http_requests"]:
        raise Fail("the emulator saw %d requests although the token host is the junk one" % st["http_requests"])
    if role == "graph" and (st["tokens_issued"] != 1 or st["graph_requests"]):
        raise Fail("expected one token and no Graph request at the emulator: %d, %d"
                   % (st["tokens_issued"], st["graph_requests"]))
    no_leaks(r, e)


@case("tls.garbage_instead_of_tls_token_host")
def _(t):
    garbage_case(t, "token", SSH_BANNER)


@case("tls.garbage_instead_of_tls_graph_host")
def _(t):
    garbage_case(t, "graph", PLAIN_HTTP_400)


@case("net.drop_mid_status_line")
def _(t):
    # page 2's answer ends after "HTTP/" (TLS closed without close_notify): asked again, exact output
    e = main_emu(t, sites=450, drop_after_bytes=5, drop_where="headers", drop_page=2)
    r = t.spo_run(["sites"], t.env(e))
    expect_exact(r, t.expected(450))
    st = e.stats()
    if st["faults"].get("dropped") != 1 or st["graph_requests"] != 4:
        raise Fail("expected one drop and 4 Graph requests (3 pages + 1 retry): %s, %d"
                   % (st["faults"], st["graph_requests"]))


@case("net.drop_mid_headers")
def _(t):
    # page 2's answer ends inside the header block (after 200 bytes): asked again, exact output
    e = main_emu(t, sites=450, drop_after_bytes=200, drop_where="headers", drop_page=2)
    r = t.spo_run(["sites", "--json"], t.env(e))
    expect_exact(r, t.expected(450, fmt="json"))
    st = e.stats()
    if st["faults"].get("dropped") != 1 or st["graph_requests"] != 4:
        raise Fail("expected one drop and 4 Graph requests (3 pages + 1 retry): %s, %d"
                   % (st["faults"], st["graph_requests"]))


@case("token.drop_mid_headers")
def _(t):
    e = main_emu(t, drop_after_bytes=300, drop_where="headers", drop_target="token")
    r = t.spo_run(["token", "--raw"], t.env(e))
    expect_rc0(r)
    st = e.stats()
    if st["faults"].get("dropped") != 1 or st["token_requests"] != 2:
        raise Fail("expected one drop and 2 token requests: %s, %d" % (st["faults"], st["token_requests"]))
    if r.out != (st["last_token"] + "\n").encode():
        raise Fail("stdout is not the second (good) token")


@case("net.tls_eof_without_close_notify_close_delimited")
def _(t):
    # The body is delimited by the end of the connection (no Content-Length, no chunking), and the
    # TLS connection ends mid-body without close_notify: that is a truncation, not the end of the
    # body. spo must ask again and print the exact listing (taking the cut JSON as complete would
    # fail the listing, or worse). The drop cases above (net.drop_mid_page_*) cover the same TLS
    # ending under Content-Length and chunked framing.
    e = main_emu(t, sites=450, framing="close", drop_after_bytes=30000, drop_page=2)
    r = t.spo_run(["sites"], t.env(e))
    expect_exact(r, t.expected(450))
    st = e.stats()
    if st["faults"].get("dropped") != 1 or st["graph_requests"] != 4:
        raise Fail("expected one drop and 4 Graph requests: %s, %d" % (st["faults"], st["graph_requests"]))


@case("framing.close_delimited")
def _(t):
    # the body ends with close_notify and the end of the connection: a new connection per page
    e, r = framing_case(t, framing="close", fmt="json")
    st = e.stats()
    if st["connections"] - st["api_connections"] < 4:
        raise Fail("close-delimited answers cannot share a connection, yet only %d were opened"
                   % (st["connections"] - st["api_connections"]))


@case("net.stall_once_timeout_2s")
def _(t):
    # page 2 gets no answer for 10 s once: with --timeout 2 spo gives up on it, asks again, and the
    # retry (answered at once) completes the listing
    e = main_emu(t, sites=450, slow=10, slow_page=2)
    r = t.spo_run(["--timeout", "2", "sites"], t.env(e))
    expect_exact(r, t.expected(450))
    st = e.stats()
    if st["graph_requests"] != 4:
        raise Fail("expected 4 Graph requests (3 pages + 1 retry), saw %d" % st["graph_requests"])
    if r.elapsed < 2.0:
        raise Fail("finished in %.2fs: the 2 s timeout did not run out" % r.elapsed)


@case("token.stall_once_timeout_2s")
def _(t):
    e = main_emu(t, slow=10, slow_target="token")
    r = t.spo_run(["--timeout", "2", "token"], t.env(e))
    expect_rc0(r)
    if e.stats()["token_requests"] != 2:
        raise Fail("expected 2 token requests (one timed out), saw %d" % e.stats()["token_requests"])


# The retry policy (src/graph.c fetch_page, include/spo/graph.h): a timeout is retried at most
# SPO_GRAPH_RETRIES = 6 times; without Retry-After the wait before retry i (0-based) is
# b/2 + rand(0..b/2) with b = 1000 ms * 2^i (cap 60 s): 0.5-1, 1-2, 2-4, 4-8, 8-16, 16-32 s, so
# 31.5-63 s of waits. With --timeout 2 there are 7 attempts of 2 s each: 45.5-77 s in all.
STALL_MIN_S = 7 * 2 + 31.5
STALL_MAX_S = 7 * 2 + 63


@case("net.stall_every_time_timeout_2s")
def _(t):
    # page 2 never gets an answer (the server accepts the request and says nothing for 30 s, every
    # time): spo must give up after its retries, within the bound the retry policy gives, and say so
    e = main_emu(t, sites=450, slow=30, slow_page=2, slow_every_time=True)
    r = t.spo_run(["--timeout", "2", "sites"], t.env(e), timeout=150)
    expect_fail(r, "did not answer in time", "--timeout", "after 200 sites")
    expect_prefix(r, t.expected(450))
    st = e.stats()
    if st["graph_requests"] != 1 + 7:
        raise Fail("expected 8 Graph requests (page 1, then page 2 once + 6 retries), saw %d"
                   % st["graph_requests"])
    slack = 10.0 * (4 if t.args.valgrind else 1)    # process start, handshakes, page 1
    if not (STALL_MIN_S - 0.5 <= r.elapsed <= STALL_MAX_S + slack):
        raise Fail("gave up after %.1fs; the retry policy allows %.1f-%.1f s (+%.0f s slack)"
                   % (r.elapsed, STALL_MIN_S, STALL_MAX_S, slack))
    sys.stderr.write("net.stall_every_time_timeout_2s: gave up after %.1f s (bound %.1f-%.1f s)\n"
                     % (r.elapsed, STALL_MIN_S, STALL_MAX_S))


def header_lines_of_page(t, e):
    """Header lines the emulator writes on a Graph page (learned from a clean run)."""
    r = t.spo_run(["sites"], t.env(e))
    expect_exact(r, t.expected(450))
    n = e.stats()["header_page_lines"]
    if not n:
        raise Fail("the emulator did not report its header count")
    return n


@case("http.header_line_at_limit_2048")
def _(t):
    # "X-Padding: " + 2037 bytes is a 2048-byte line: exactly SPO_HTTP_LINE_MAX, accepted (on every
    # answer, the token's too)
    e = main_emu(t, sites=450, extra_header_bytes=2048 - len("X-Padding: "))
    r = t.spo_run(["sites"], t.env(e))
    expect_exact(r, t.expected(450))


@case("http.header_line_over_limit_2049")
def _(t):
    e = main_emu(t, sites=450, extra_header_bytes=2049 - len("X-Padding: "), header_fault_page=2)
    r = t.spo_run(["sites"], t.env(e))
    expect_fail(r, "header line that is too long", "SPO_HTTP_LINE_MAX=2048", "after 200 sites")
    expect_prefix(r, t.expected(450))


@case("http.header_line_8k_on_token")
def _(t):
    e = main_emu(t, extra_header_bytes=8192)
    r = t.spo_run(["token"], t.env(e))
    expect_fail(r, "header line that is too long", "SPO_HTTP_LINE_MAX=2048")
    if r.out:
        raise Fail("stdout not empty")


@case("http.headers_at_limit_64")
def _(t):
    e = main_emu(t, sites=450, header_fault_page=2)
    base = header_lines_of_page(t, e)
    e.configure(sites=450, header_fault_page=2, extra_headers=64 - base)
    r = t.spo_run(["sites"], t.env(e))
    expect_exact(r, t.expected(450))
    if e.stats()["header_page_lines"] != 64:
        raise Fail("page 2 did not carry 64 header lines")


@case("http.headers_flood_65_and_1000")
def _(t):
    e = main_emu(t, sites=450, header_fault_page=2)
    base = header_lines_of_page(t, e)
    for extra in (65 - base, 1000):
        e.configure(sites=450, header_fault_page=2, extra_headers=extra)
        r = t.spo_run(["sites"], t.env(e))
        expect_fail(r, "too many headers", "SPO_HTTP_MAX_HEADERS=64", "after 200 sites")
        expect_prefix(r, t.expected(450))


@case("http.chunk_size_overflow")
def _(t):
    # page 2's first chunk-size line is ffffffffffffffffff (72 bits)
    e = main_emu(t, sites=450, bad_framing="chunk-overflow", bad_framing_page=2)
    r = t.spo_run(["sites"], t.env(e))
    expect_fail(r, "malformed HTTP", "after 200 sites")
    expect_prefix(r, t.expected(450))


@case("http.content_length_and_chunked")
def _(t):
    # page 2 has both Content-Length and Transfer-Encoding: chunked (RFC 9112 6.3: a smuggling
    # vector; a client may not pick one)
    e = main_emu(t, sites=450, bad_framing="cl-and-te", bad_framing_page=2)
    r = t.spo_run(["sites", "--json"], t.env(e))
    expect_fail(r, "malformed HTTP", "after 200 sites")
    expect_prefix(r, t.expected(450, fmt="json"))


@case("throttle.retry_after_negative")
def _(t):
    # Retry-After: -5 is not valid HTTP; spo documents negatives as 0 (no wait), and it must not read
    # it as a huge unsigned number
    e = main_emu(t, sites=450, throttle=1, throttle_after=1, retry_after="-5")
    r = t.spo_run(["sites"], t.env(e))
    expect_exact(r, t.expected(450))
    gaps = e.stats()["retry_gaps"]
    if len(gaps) != 1 or gaps[0] > 0.45:
        raise Fail("expected an immediate retry (< 0.45 s, below the 0.5 s minimum backoff); gaps %s" % gaps)


@case("throttle.retry_after_absurd_waits")
def _(t):
    # Retry-After: 99999999999 (3,170 years) must become a long but capped wait (300 s,
    # SPO_RETRY_AFTER_CAP_MS; the cap itself is checked by tests/unit/test_http_date.c): not an
    # error, not 0, not a wrapped-around small number. The test cannot wait 300 s: it checks that
    # 3 s after the 429 spo is alive, has not asked again, and has printed nothing but whole sites
    # of page 1; then it stops spo.
    e = main_emu(t, sites=450, throttle=1, throttle_after=1, retry_after="99999999999")
    p = t.spo_start(["sites"], t.env(e))
    try:
        limit = time.monotonic() + 30 * t.timeout_scale
        while not e.stats()["faults"].get("throttled_429"):
            if p.poll() is not None or time.monotonic() > limit:
                out, err = p.communicate()
                raise Fail("spo never reached the throttled page 2 (rc %s, stderr %r)" % (p.returncode, err[-300:]))
            time.sleep(0.05)
        time.sleep(3)
        if p.poll() is not None:
            out, err = p.communicate()
            raise Fail("spo ended (rc %d) instead of waiting: %r" % (p.returncode, err.decode("utf-8", "replace")[-300:]))
        if e.stats()["graph_requests"] != 2:
            raise Fail("spo asked again within 3 s (%d Graph requests)" % e.stats()["graph_requests"])
    finally:
        if p.poll() is None:
            p.terminate()
        try:
            out, err = p.communicate(timeout=10 * t.timeout_scale)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
    whole = out[:out.rfind(b"\n") + 1]          # SIGTERM may cut the last buffered line
    if not t.expected(450).startswith(whole):
        raise Fail("stdout is not a prefix of the listing: %s" % first_diff(whole, t.expected(450)[:len(whole)]))


def server_error_case(t, status, always):
    if always:
        # Retry-After 0.1 keeps the six retries short; the message must carry code and request-id
        e = main_emu(t, sites=450, throttle=1000, throttle_after=1, throttle_status=status, retry_after="0.1")
        r = t.spo_run(["sites"], t.env(e))
        st = e.stats()
        code = "generalException" if status == 500 else "UnknownError"
        expect_fail(r, "HTTP %d %s" % (status, code), "request-id %s" % st["last_request_id"], "after 200 sites")
        expect_prefix(r, t.expected(450))
        if st["graph_requests"] != 1 + 7:
            raise Fail("expected 8 Graph requests (page 1, page 2 + 6 retries), saw %d" % st["graph_requests"])
        if len(r.err_text.strip().splitlines()) != 1:
            raise Fail("stderr is not one line: %r" % r.err_text)
    else:
        # no Retry-After: spo backs off (at least 0.5 s) and asks again
        e = main_emu(t, sites=450, throttle=1, throttle_after=1, throttle_status=status, retry_after="none")
        r = t.spo_run(["sites"], t.env(e))
        expect_exact(r, t.expected(450))
        st = e.stats()
        if st["graph_requests"] != 4 or len(st["retry_gaps"]) != 1 or not 0.45 <= st["retry_gaps"][0] <= 5:
            raise Fail("expected one retry after a 0.5-1 s backoff: %d requests, gaps %s"
                       % (st["graph_requests"], st["retry_gaps"]))


@case("graph.500_once")
def _(t):
    server_error_case(t, 500, False)


@case("graph.502_once")
def _(t):
    server_error_case(t, 502, False)


@case("graph.500_always")
def _(t):
    server_error_case(t, 500, True)


@case("graph.502_always")
def _(t):
    server_error_case(t, 502, True)


@case("paging.deeply_nested_arrays_10000")
def _(t):
    e = main_emu(t, sites=450, malformed=True, malformed_page=2, malformed_mode="deep")
    r = t.spo_run(["sites"], t.env(e))
    expect_fail(r, "nested too deeply", "after 200 sites")
    expect_prefix(r, t.expected(450))


@case("paging.deeply_nested_objects_10000")
def _(t):
    e = main_emu(t, sites=450, malformed=True, malformed_page=2, malformed_mode="deep-object")
    r = t.spo_run(["sites", "--json"], t.env(e))
    expect_fail(r, "nested too deeply", "after 200 sites")
    expect_prefix(r, t.expected(450, fmt="json"))


def token_malformed_case(t, mode, *needles):
    needles += ("identity platform",)   # the answer is the token endpoint's, not Graph's
    e = main_emu(t, token_malformed=mode)
    r = t.spo_run(["token", "--raw"], t.env(e))
    expect_fail(r, *needles)
    if r.out:
        raise Fail("stdout not empty: %r" % r.out[:80])
    if len(r.err_text.strip().splitlines()) != 1:
        raise Fail("stderr is not one line: %r" % r.err_text)
    no_leaks(r, e)
    # and sites stops before Graph: no request goes out without a token
    e.configure(token_malformed=mode)
    r = t.spo_run(["sites"], t.env(e))
    expect_fail(r, *needles)
    if r.out or e.stats()["graph_requests"]:
        raise Fail("sites went on without a token (%d Graph requests)" % e.stats()["graph_requests"])


@case("token.malformed_truncated_json")
def _(t):
    token_malformed_case(t, "truncated", "malformed JSON")


@case("token.malformed_invalid_json")
def _(t):
    token_malformed_case(t, "invalid", "malformed JSON")


@case("token.html_200_captive_portal")
def _(t):
    token_malformed_case(t, "html", ("malformed JSON", "not JSON", "text/html"))


@case("token.no_access_token")
def _(t):
    token_malformed_case(t, "no-token", ("access_token", "unexpected JSON structure"))


@case("token.deeply_nested_10000")
def _(t):
    token_malformed_case(t, "deep", "nested too deeply")


# ---- long runs (only with --long)
# ---- token cache and device code
def cache_env(t, e, **over):
    """An environment whose XDG_CONFIG_HOME is kept for the whole case: runs share one cache."""
    if not hasattr(t, "_xdg_for"):
        t._xdg_for = {}
    key = id(e), t._case
    if key not in t._xdg_for:
        t._xdg_for[key] = tempfile.mkdtemp(prefix="xdg-cache-", dir=t.tmp)
    over.setdefault("XDG_CONFIG_HOME", t._xdg_for[key])
    return t.env(e, **over)


def cache_file(env):
    return env.get("SPO_TOKEN_CACHE") or os.path.join(env["XDG_CONFIG_HOME"], "spo", "tokens")


def expect_token_requests(e, n, why):
    st = e.stats()
    if st["token_requests"] != n:
        raise Fail("token_requests=%d, expected %d: %s" % (st["token_requests"], n, why))


def expect_mode_0600(path):
    if not os.path.isfile(path):
        raise Fail("no cache file at %s" % path)
    mode = os.stat(path).st_mode & 0o777
    if mode != 0o600:
        raise Fail("cache file mode %o, expected 600" % mode)


@case("cache.five_runs_one_token_request")
def _(t):
    e = main_emu(t)
    env = cache_env(t, e)
    for i in range(5):
        r = t.spo_run(["sites"], env)
        expect_exact(r, t.expected())
        if r.err:
            raise Fail("run %d wrote to stderr: %r" % (i + 1, r.err_text))
        no_leaks(r, e)
    expect_token_requests(e, 1, "five runs within the token's lifetime share one token")
    if e.stats()["graph_requests"] < 5:
        raise Fail("Graph saw fewer than five listings")


@case("cache.file_0600_holds_no_secret")
def _(t):
    e = main_emu(t)
    env = cache_env(t, e)
    expect_rc0(t.spo_run(["token"], env))
    path = cache_file(env)
    expect_mode_0600(path)
    if os.stat(os.path.dirname(path)).st_mode & 0o077:
        raise Fail("the cache folder is open to others")
    with open(path, "rb") as f:
        data = f.read()
    if SECRET.encode() in data:
        raise Fail("the client secret is in the cache file")
    if e.stats()["last_token"].encode() not in data:
        raise Fail("the cache file does not hold the issued token")


@case("cache.token_command_reuses")
def _(t):
    e = main_emu(t)
    env = cache_env(t, e)
    r1 = t.spo_run(["token", "--raw"], env)
    r2 = t.spo_run(["token", "--raw"], env)
    expect_rc0(r1)
    expect_rc0(r2)
    if r1.out != r2.out or r1.out != (e.stats()["last_token"] + "\n").encode():
        raise Fail("the second run did not print the cached token")
    expect_token_requests(e, 1, "the second `spo token` reuses the cached token")


@case("cache.corrupt_file_warns_and_is_rewritten")
def _(t):
    e = main_emu(t)
    env = cache_env(t, e)
    expect_rc0(t.spo_run(["token"], env))
    path = cache_file(env)
    with open(path, "r+b") as f:
        f.seek(40)
        b = f.read(1)
        f.seek(40)
        f.write(bytes([b[0] ^ 0x01]))
    r = t.spo_run(["sites"], env)
    expect_stdout(r, t.expected())
    expect_rc0(r)
    low = r.err_text.lower()
    if "warning" not in low or path not in r.err_text or "corrupt" not in low:
        raise Fail("no warning naming the file and saying it is corrupt: %r" % r.err_text)
    if r.err_text.count("\n") != 1:
        raise Fail("more than one line on stderr: %r" % r.err_text)
    expect_token_requests(e, 2, "a corrupt cache means a new token")
    expect_mode_0600(path)
    r = t.spo_run(["sites"], env)
    expect_exact(r, t.expected())
    if r.err:
        raise Fail("the rewritten cache still warns: %r" % r.err_text)
    expect_token_requests(e, 2, "the rewritten cache serves the next run")


@case("cache.insecure_file_0644_ignored")
def _(t):
    e = main_emu(t)
    env = cache_env(t, e)
    expect_rc0(t.spo_run(["token"], env))
    path = cache_file(env)
    os.chmod(path, 0o644)
    r = t.spo_run(["sites"], env)
    expect_exact(r, t.expected())
    low = r.err_text.lower()
    if "warning" not in low or path not in r.err_text or "closed to others" not in low:
        raise Fail("no warning naming the file and why it is refused: %r" % r.err_text)
    expect_token_requests(e, 2, "a token in a file others can read is not used")
    no_leaks(r, e)


@case("cache.spo_token_cache_path")
def _(t):
    e = main_emu(t)
    path = os.path.join(t.tmp, "cache-%d" % os.getpid(), "sub", "my-tokens")
    env = cache_env(t, e, SPO_TOKEN_CACHE=path)
    for _ in range(2):
        expect_exact(t.spo_run(["sites"], env), t.expected())
    expect_mode_0600(path)
    if os.path.exists(os.path.join(env["XDG_CONFIG_HOME"], "spo", "tokens")):
        raise Fail("the default cache file was written although SPO_TOKEN_CACHE is set")
    expect_token_requests(e, 1, "the cache at SPO_TOKEN_CACHE serves the second run")
    r = t.spo_run(["sites"], cache_env(t, e, SPO_TOKEN_CACHE="relative/tokens"))
    if r.rc != 2 or "absolute path" not in r.err_text:
        raise Fail("a relative SPO_TOKEN_CACHE should be a usage error: %s" % r.brief())


@case("cache.off")
def _(t):
    e = main_emu(t)
    env = cache_env(t, e, SPO_TOKEN_CACHE="off")
    for _ in range(2):
        expect_exact(t.spo_run(["sites"], env), t.expected())
    expect_token_requests(e, 2, "SPO_TOKEN_CACHE=off asks for a token on every run")
    if os.path.exists(os.path.join(env["XDG_CONFIG_HOME"], "spo")):
        raise Fail("SPO_TOKEN_CACHE=off still wrote a cache")


@case("cache.expired_token_new_request")
def _(t):
    # expires_in 4 s: a token this short is reused for half its lifetime (2 s), then replaced.
    e = main_emu(t, expires_in=4)
    env = cache_env(t, e)
    expect_exact(t.spo_run(["sites"], env), t.expected())
    expect_exact(t.spo_run(["sites"], env), t.expected())
    expect_token_requests(e, 1, "the token is still fresh")
    time.sleep(2.5)
    expect_exact(t.spo_run(["sites"], env), t.expected())
    expect_token_requests(e, 2, "an expired cached token is replaced")
    expect_exact(t.spo_run(["sites"], env), t.expected())
    expect_token_requests(e, 2, "the new token was stored")


@case("cache.graph_401_bypasses_cache")
def _(t):
    e = main_emu(t)
    env = cache_env(t, e)
    expect_exact(t.spo_run(["sites"], env), t.expected())
    e.api("POST", "/_emulator/expire-tokens", {})   # revoked early: the cached token is refused
    r = t.spo_run(["sites"], env)
    expect_exact(r, t.expected())
    expect_token_requests(e, 2, "Graph's 401 to the cached token forces a new one")
    st = e.stats()
    if st["graph_status"].get("401", st["graph_status"].get(401, 0)) != 1:
        raise Fail("expected exactly one 401 from Graph: %r" % st["graph_status"])
    expect_exact(t.spo_run(["sites"], env), t.expected())
    expect_token_requests(e, 2, "the token fetched after the 401 was stored")


@case("cache.path_is_a_folder_warns_once")
def _(t):
    # Neither readable nor writable as a record (and root-proof, unlike a read-only folder): the run
    # succeeds without the cache and says so once, with what to do.
    e = main_emu(t)
    folder = tempfile.mkdtemp(prefix="notafile-", dir=t.tmp)
    r = t.spo_run(["sites"], cache_env(t, e, SPO_TOKEN_CACHE=folder))
    expect_exact(r, t.expected())
    if r.err_text.count("\n") != 1 or "warning" not in r.err_text or folder not in r.err_text:
        raise Fail("expected one warning line naming %s: %r" % (folder, r.err_text))
    expect_token_requests(e, 1, "one token without a cache")


def user_env(t, e, **over):
    """A signed-in user's environment: no client secret, the case's own cache."""
    over.setdefault("AZURE_CLIENT_SECRET", None)
    return cache_env(t, e, **over)


DEVICE_CODE_PREFIX = b"DAQABIQEAAAD"   # every device code the emulator issues starts so
REFRESH_PREFIX = b"1.AXkA"             # and every refresh token


def no_user_secrets(r, e):
    no_leaks(r, e)
    for what, p in (("device code", DEVICE_CODE_PREFIX), ("refresh token", REFRESH_PREFIX)):
        if p in r.out or p in r.err:
            raise Fail("a %s appears in the output" % what)


def login(t, e, env, timeout=60):
    r = t.spo_run(["login", "--device-code"], env, timeout=timeout)
    no_user_secrets(r, e)
    return r


def expect_signed_in(t, e, env, r):
    expect_rc0(r)
    if b"signed in" not in r.out:
        raise Fail("stdout does not say 'signed in': %r" % r.out)
    if "https://microsoft.com/devicelogin" not in r.err_text or "enter the code" not in r.err_text:
        raise Fail("the service's message is not on stderr: %r" % r.err_text)
    expect_mode_0600(cache_file(env))


def poll_gaps(e):
    times = e.stats()["device_poll_times"]
    return [round(b - a, 3) for a, b in zip(times, times[1:])]


@case("device.login_approve_after_pending_polls")
def _(t):
    e = main_emu(t, device_interval=1, device_pending_polls=3)
    env = user_env(t, e)
    r = login(t, e, env)
    expect_signed_in(t, e, env, r)
    st = e.stats()
    if st["device_code_requests"] != 1 or st["device_polls"] != 4:
        raise Fail("expected 1 device code request and 4 polls (3 pending): %d, %d"
                   % (st["device_code_requests"], st["device_polls"]))
    gaps = poll_gaps(e)
    if any(g < 0.95 for g in gaps):
        raise Fail("polls closer than the 1 s interval: %r" % gaps)
    if st["last_device_scope"] != e.url + "/Sites.Read.All offline_access":
        raise Fail("device code scope: %r" % st["last_device_scope"])
    if st["token_requests"] - st["device_polls"] != 0:
        raise Fail("a client-credentials request was made during login")


@case("device.verbose_login_and_refresh_keep_secrets")
def _(t):
    e = main_emu(t, device_interval=1, device_pending_polls=1, expires_in=4)
    env = user_env(t, e)
    r = t.spo_run(["--verbose", "login", "--device-code"], env)
    expect_signed_in(t, e, env, r)
    no_user_secrets(r, e)
    if "/devicecode" not in r.err_text or "device_code/refresh_token=[redacted]" not in r.err_text:
        raise Fail("--verbose does not show the device code requests with the secret redacted: %r"
                   % r.err_text[-400:])
    time.sleep(2.5)
    r = t.spo_run(["--verbose", "sites"], env)
    expect_exact(r, t.expected())
    no_user_secrets(r, e)
    if e.stats()["refresh_requests"] != 1 or "device_code/refresh_token=[redacted]" not in r.err_text:
        raise Fail("the renewal is not shown redacted under --verbose: %r" % r.err_text[-400:])


@case("device.login_scope_option")
def _(t):
    e = main_emu(t, device_interval=1, device_pending_polls=0)
    env = user_env(t, e)
    r = t.spo_run(["login", "--device-code", "--scope", "Sites.ReadWrite.All openid"], env)
    expect_rc0(r)
    if e.stats()["last_device_scope"] != "%s/Sites.ReadWrite.All openid offline_access" % e.url:
        raise Fail("device code scope: %r" % e.stats()["last_device_scope"])


@case("device.slow_down_adds_5s")
def _(t):
    e = main_emu(t, device_interval=1, device_outcome="slow_down", device_pending_polls=1)
    env = user_env(t, e)
    r = login(t, e, env)
    expect_signed_in(t, e, env, r)
    gaps = poll_gaps(e)
    # polls: slow_down, pending, tokens: both gaps after the slow_down are >= 1 + 5 s
    if len(gaps) != 2 or any(g < 5.9 for g in gaps):
        raise Fail("poll gaps after slow_down should be >= 6 s: %r" % gaps)


def device_failure(t, outcome_cfg, *needles):
    cfg = dict(device_interval=1, device_pending_polls=1)
    cfg.update(outcome_cfg)
    e = main_emu(t, **cfg)
    env = user_env(t, e)
    r = login(t, e, env)
    expect_fail(r, *needles)
    if b"signed in" in r.out:
        raise Fail("stdout says signed in although the login failed")
    if os.path.exists(cache_file(env)) and os.path.getsize(cache_file(env)) > 0:
        with open(cache_file(env), "rb") as f:
            if REFRESH_PREFIX in f.read():
                raise Fail("a refresh token was cached although the login failed")
    return e, r


@case("device.declined")
def _(t):
    device_failure(t, {"device_outcome": "decline"}, "declined", "spo login --device-code")


@case("device.expired_by_service")
def _(t):
    device_failure(t, {"device_outcome": "expire"}, "expired", "spo login --device-code")


@case("device.expired_locally_stops_polling")
def _(t):
    e, r = device_failure(t, {"device_expires_in": 3, "device_pending_polls": 1000}, "expired")
    if r.elapsed > 10:
        raise Fail("spo kept polling past expires_in (%.1f s)" % r.elapsed)
    if e.stats()["device_polls"] > 3:
        raise Fail("%d polls within a 3 s code lifetime at a 1 s interval" % e.stats()["device_polls"])


@case("device.bad_code")
def _(t):
    device_failure(t, {"device_outcome": "bad_code"}, "bad_verification_code", "spo login --device-code")


@case("device.public_flows_disabled")
def _(t):
    device_failure(t, {"public_client": False}, "AADSTS7000218", "Allow public client flows",
                   "Authentication")


def signed_in(t, e, env):
    expect_signed_in(t, e, env, login(t, e, env))


@case("device.delegated_sites_use_search")
def _(t):
    e = main_emu(t, device_interval=1, device_pending_polls=0)
    env = user_env(t, e)
    signed_in(t, e, env)
    # The emulator answers a delegated GET /sites without search= with an empty list (as Graph
    # does): the whole listing arriving proves that spo searched.
    r = t.spo_run(["sites"], env)
    expect_exact(r, t.expected())
    no_user_secrets(r, e)
    st = e.stats()
    if st["token_requests"] != 1 or st["refresh_requests"] != 0:
        raise Fail("the cached delegated token should serve: token_requests=%d refresh_requests=%d"
                   % (st["token_requests"], st["refresh_requests"]))
    r = t.spo_run(["sites", "--search", "team"], env)
    expect_exact(r, t.expected(search="team"))
    if "search=" not in (t.spo_run(["sites", "--help"], env).out.decode()):
        raise Fail("spo sites --help does not mention the search")


@case("device.silent_refresh_rotates")
def _(t):
    # expires_in 4: the delegated token is reused for 2 s, then renewed with the refresh token.
    e = main_emu(t, device_interval=1, device_pending_polls=0, expires_in=4, refresh_single_use=True)
    env = user_env(t, e)
    signed_in(t, e, env)
    login_serial = e.stats()["refresh_latest_serial"]
    for n in (1, 2):
        time.sleep(2.5)
        r = t.spo_run(["sites"], env)
        expect_exact(r, t.expected())
        no_user_secrets(r, e)
        if r.err:
            raise Fail("the silent renewal wrote to stderr: %r" % r.err_text)
        st = e.stats()
        if st["refresh_requests"] != n:
            raise Fail("refresh_requests=%d after %d stale runs" % (st["refresh_requests"], n))
        # single-use refresh tokens: only the newest (rotated and stored) one works
        if n == 1 and st["refresh_used_serial"] != login_serial:
            raise Fail("the first renewal did not use the login's refresh token")
        if n == 2 and st["refresh_used_serial"] != st["refresh_latest_serial"] - 1:
            raise Fail("the second renewal did not use the rotated refresh token: used %r, latest %r"
                       % (st["refresh_used_serial"], st["refresh_latest_serial"]))
    r = t.spo_run(["sites"], env)   # fresh again: no request
    expect_exact(r, t.expected())
    if e.stats()["refresh_requests"] != 2:
        raise Fail("the renewed token was not stored")


@case("device.refresh_throttled_once_is_retried")
def _(t):
    e = main_emu(t, device_interval=1, device_pending_polls=0, expires_in=4)
    env = user_env(t, e)
    signed_in(t, e, env)
    e.configure(device_interval=1, device_pending_polls=0, expires_in=4, token_throttle=1,
                retry_after="1", refresh_single_use=True)
    time.sleep(2.5)
    r = t.spo_run(["sites"], env)
    expect_exact(r, t.expected())
    no_user_secrets(r, e)
    st = e.stats()
    if st["token_requests"] != 2 or st["refresh_requests"] != 1:
        raise Fail("expected a 429 then one refresh: token_requests=%d refresh_requests=%d"
                   % (st["token_requests"], st["refresh_requests"]))


@case("device.refresh_expired_700082")
def _(t):
    e = main_emu(t, device_interval=1, device_pending_polls=0, expires_in=4)
    env = user_env(t, e)
    signed_in(t, e, env)
    e.api("POST", "/_emulator/expire-refresh-tokens", {})
    time.sleep(2.5)
    r = t.spo_run(["sites"], env)
    expect_fail(r, "AADSTS700082", "spo login --device-code")
    no_user_secrets(r, e)
    if r.out:
        raise Fail("sites printed although the sign-in expired: %r" % r.out[:100])


@case("device.logout_removes_cache")
def _(t):
    e = main_emu(t, device_interval=1, device_pending_polls=0)
    env = user_env(t, e)
    signed_in(t, e, env)
    path = cache_file(env)
    r = t.spo_run(["logout"], env)
    expect_rc0(r)
    if os.path.exists(path):
        raise Fail("spo logout left %s" % path)
    if b"removed" not in r.out or path.encode() not in r.out:
        raise Fail("logout does not say what it removed: %r" % r.out)
    r = t.spo_run(["logout"], env)
    expect_rc0(r)
    if b"no cached tokens" not in r.out:
        raise Fail("a second logout should say there was nothing: %r" % r.out)
    r = t.spo_run(["sites"], env)
    expect_fail(r, "not signed in", "spo login --device-code", "AZURE_CLIENT_SECRET")
    if e.stats()["graph_requests"] != 0:
        raise Fail("Graph was called although nobody is signed in")


@case("long.sites_100000", long=True)
def _(t):
    e = main_emu(t, sites=100000)
    r = t.spo_run(["sites", "--json"], t.env(e), timeout=900)
    expect_exact(r, t.expected(100000, fmt="json"))
    sys.stderr.write("long.sites_100000: %.1fs, %d bytes\n" % (r.elapsed, len(r.out)))


@case("long.sites_100000_faults", long=True)
def _(t):
    e = main_emu(t, sites=100000, framing="random", throttle=3, throttle_after=100, retry_after="1",
                 drop_after_bytes=20000, drop_page=250, empty_page=[400])
    r = t.spo_run(["sites"], t.env(e), timeout=900)
    expect_exact(r, t.expected(100000))


# ------------------------------------------------------------------------------------------------ main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spo", default=os.path.join(TOP, "build", "spo"), help="spo binary (default build/spo)")
    ap.add_argument("--valgrind", action="store_true", help="run spo under valgrind --error-exitcode=99")
    ap.add_argument("-k", dest="pattern", action="append", help="only cases whose name contains this (repeatable)")
    ap.add_argument("--long", action="store_true", help="also run the long cases (100,000 sites)")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (emulator logs)")
    ap.add_argument("--pki", help="reuse this PKI folder (made by tests/pki.sh if missing)")
    args = ap.parse_args()
    selected = [(n, f) for n, f, lng in CASES
                if (args.long or not lng or (args.pattern and any(p in n for p in args.pattern)))
                and (not args.pattern or any(p in n for p in args.pattern))]
    if args.list:
        for n, _ in selected:
            print(n)
        return 0
    if not (os.path.isfile(args.spo) and os.access(args.spo, os.X_OK)):
        print("e2e: no spo binary at %s (build it with `make cli`)" % args.spo)
        print("e2e: 0 passed, 1 failed")
        return 1
    run = Run(args)
    passed = failed = 0
    try:
        for name, fn in selected:
            run._case = name
            try:
                fn(run)
                print("ok %s" % name, flush=True)
                passed += 1
            except Skip:
                passed += 1
            except Fail as e:
                print("FAIL %s: %s" % (name, e), flush=True)
                failed += 1
            except Exception as e:  # a harness problem is a failure of that case, not a crash of the run
                print("FAIL %s: harness error %s: %s" % (name, type(e).__name__, e), flush=True)
                failed += 1
    finally:
        if failed and args.keep:
            print("e2e: logs kept in %s" % run.tmp)
        run.close()
    print("e2e: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
