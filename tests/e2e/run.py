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
import base64
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
        self.xdg_dirs = []

    def emulator(self, name="main", **kw):
        if name not in self.emus:
            self.emus[name] = Emulator(self, name, **kw)
        return self.emus[name]

    def close(self):
        for e in self.emus.values():
            e.stop()
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def new_xdg(self):
        """A fresh XDG_CONFIG_HOME, remembered for this case (see xdg_dirs)."""
        d = tempfile.mkdtemp(prefix="xdg-", dir=self.tmp)
        self.xdg_dirs.append(d)
        return d

    def env(self, emu, **over):
        """A run's environment. Each call gets its own empty XDG_CONFIG_HOME, so that no token cache
        is shared between runs: every run asks the token endpoint as before the cache existed. Cases
        about the cache pass XDG_CONFIG_HOME (or SPO_TOKEN_CACHE) themselves to share one."""
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
               "HOME": self.tmp, "XDG_CONFIG_HOME": self.new_xdg(),
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
        # With SIGINT at its default, as under a terminal: a runner started as a background job
        # inherits SIGINT ignored, and spo rightly keeps an ignored SIGINT ignored (nohup).
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

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


@case("verbose.waits_are_said")
def _(t):
    # a throttled pause is announced, so that it does not look like a hang: one for the token
    # endpoint's 429, one for Graph's
    e = main_emu(t, sites=450, throttle=1, throttle_after=1, retry_after="1", token_throttle=1)
    r = t.spo_run(["--verbose", "sites"], t.env(e))
    expect_exact(r, t.expected(450))
    if r.err_text.count("spo: waiting 1.0 s before trying again") != 2:
        raise Fail("expected two 'waiting 1.0 s' lines: %r" % r.err_text[-800:])
    e.configure(sites=450, throttle=1, throttle_after=1, retry_after="1")
    r = t.spo_run(["sites"], t.env(e))
    expect_exact(r, t.expected(450))
    if "waiting" in r.err_text:
        raise Fail("without --verbose nothing is said about waits: %r" % r.err_text)
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


# ---- certificate credentials
CERT_PASSWORD = "c0rrect horse+battery/staple"


def cert_files(t):
    """App credentials made with openssl once per run: one certificate registered on the emulator's
    app, its key as PKCS#8, PKCS#1 and encrypted PKCS#8; an unregistered certificate+key."""
    d = os.path.join(t.tmp, "certs")
    if os.path.exists(os.path.join(d, ".done")):
        return d
    os.makedirs(d, exist_ok=True)
    sh = r"""
set -e
openssl req -x509 -newkey rsa:2048 -nodes -keyout app.key -out app.crt -days 30 -subj /CN=spo-e2e-app
openssl rsa -in app.key -traditional -out app-pkcs1.key
openssl pkcs8 -topk8 -in app.key -v2 aes-256-cbc -passout env:PW -out app-enc.key
cat app.crt app.key > app-pkcs8.pem
cat app.crt app-pkcs1.key > app-pkcs1.pem
cat app.crt app-enc.key > app-enc.pem
openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.crt -days 30 -subj /CN=spo-e2e-other
cat other.crt other.key > other.pem
touch .done
"""
    p = subprocess.run(["bash", "-c", sh], cwd=d, env=dict(os.environ, PW=CERT_PASSWORD),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise Fail("openssl could not make the test credentials: %r" % p.stderr[-300:])
    return d


def cert_emu(t, name="main", **cfg):
    d = cert_files(t)
    e = main_emu(t, client_cert=[os.path.join(d, "app.crt")], **cfg) if name == "main" else None
    return e, d


def cert_env(t, e, path, **over):
    return t.env(e, AZURE_CLIENT_SECRET=None, AZURE_CLIENT_CERTIFICATE_PATH=path, **over)


JWT_RE = re.compile(rb"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


def no_cert_leaks(r, e):
    """No JWT (assertion or token) and no key password in the output; the secret rules too."""
    no_leaks(r, e)
    for out in (r.out, r.err):
        if JWT_RE.search(out):
            raise Fail("a JWT (the client assertion?) appears in the output")
        if CERT_PASSWORD.encode() in out or CERT_PASSWORD[:12].encode() in out:
            raise Fail("the key password appears in the output")


def expect_assertion(e, alg, kind, n_ok=1):
    st = e.stats()
    la = st.get("last_assertion") or {}
    if la.get("alg") != alg or la.get("thumbprint_kind") != kind:
        raise Fail("last assertion %r, expected alg %s with %s" % (la, alg, kind))
    if la.get("lifetime_s") != 600 or la.get("aud") != "%s/%s/oauth2/v2.0/token" % (e.url, TENANT):
        raise Fail("assertion lifetime/aud: %r" % la)
    if st.get("assertions_ok") != n_ok:
        raise Fail("assertions_ok %r, expected %d (errors %r)" % (st.get("assertions_ok"), n_ok,
                                                               st.get("assertion_errors")))
    form = st.get("last_token_form") or {}
    if "client_secret" in form or "client_assertion" not in form:
        raise Fail("token form: %r" % form)
    return st


def cert_token_case(t, key_file, args=(), alg="PS256", kind="x5t#S256", **env_over):
    e, d = cert_emu(t)
    r = t.spo_run(list(args) + ["token"], cert_env(t, e, os.path.join(d, key_file), **env_over))
    expect_rc0(r)
    if not r.out.startswith(b"token acquired: "):
        raise Fail("stdout: %r" % r.out)
    st = expect_assertion(e, alg, kind)
    if st["token_requests"] != 1:
        raise Fail("%d token requests, expected 1" % st["token_requests"])
    no_cert_leaks(r, e)
    return r


@case("cert.ps256_default_sites")
def _(t):
    e, d = cert_emu(t, sites=120)
    r = t.spo_run(["-v", "sites"], cert_env(t, e, os.path.join(d, "app-pkcs8.pem")))
    expect_exact(r, t.expected(120))
    expect_assertion(e, "PS256", "x5t#S256")
    if "client_assertion=[redacted]" not in r.err_text or "client_secret" in r.err_text:
        raise Fail("--verbose should show the token request as client_assertion=[redacted]: %r"
                   % r.err_text[:400])
    no_cert_leaks(r, e)


@case("cert.rs256_option")
def _(t):
    cert_token_case(t, "app-pkcs8.pem", ["--jwt-alg", "rs256"], "RS256", "x5t")


@case("cert.rs256_env")
def _(t):
    cert_token_case(t, "app-pkcs8.pem", (), "RS256", "x5t", SPO_JWT_ALG="rs256")


@case("cert.jwt_alg_unknown")
def _(t):
    e, d = cert_emu(t)
    r = t.spo_run(["--jwt-alg", "es256", "token"], cert_env(t, e, os.path.join(d, "app-pkcs8.pem")))
    if r.rc != 2:
        raise Fail("exit status %d, expected 2 (usage); %s" % (r.rc, r.brief()))
    expect_fail(r, "es256", "ps256")


@case("cert.pkcs1_key")
def _(t):
    cert_token_case(t, "app-pkcs1.pem")


@case("cert.encrypted_key")
def _(t):
    cert_token_case(t, "app-enc.pem", AZURE_CLIENT_CERTIFICATE_PASSWORD=CERT_PASSWORD)


@case("cert.option_wins_over_secret")
def _(t):
    e, d = cert_emu(t)
    # the environment still has the secret: --certificate is explicit and wins
    r = t.spo_run(["--certificate", os.path.join(d, "app-pkcs8.pem"), "token"], t.env(e))
    expect_rc0(r)
    expect_assertion(e, "PS256", "x5t#S256")
    no_cert_leaks(r, e)


@case("cert.env_secret_wins_over_env_cert")
def _(t):
    e, d = cert_emu(t)
    r = t.spo_run(["token"], t.env(e, AZURE_CLIENT_CERTIFICATE_PATH=os.path.join(d, "app-pkcs8.pem")))
    expect_rc0(r)
    st = e.stats()
    form = st.get("last_token_form") or {}
    if "client_secret" not in form or "client_assertion" in form or st.get("assertions_ok"):
        raise Fail("with both in the environment the secret is used (EnvironmentCredential): %r" % form)


@case("cert.wrong_password")
def _(t):
    e, d = cert_emu(t)
    path = os.path.join(d, "app-enc.pem")
    r = t.spo_run(["token"], cert_env(t, e, path, AZURE_CLIENT_CERTIFICATE_PASSWORD="not it"))
    expect_fail(r, path, "password does not decrypt", "AZURE_CLIENT_CERTIFICATE_PASSWORD")
    if e.stats()["token_requests"]:
        raise Fail("a token request was sent although the key could not be decrypted")
    no_cert_leaks(r, e)


@case("cert.missing_password")
def _(t):
    e, d = cert_emu(t)
    r = t.spo_run(["token"], cert_env(t, e, os.path.join(d, "app-enc.pem")))
    expect_fail(r, "encrypted", "AZURE_CLIENT_CERTIFICATE_PASSWORD")
    if e.stats()["token_requests"]:
        raise Fail("a token request was sent without a usable key")


@case("cert.unreadable_file")
def _(t):
    e, d = cert_emu(t)
    path = os.path.join(d, "no-such.pem")
    r = t.spo_run(["token"], cert_env(t, e, path))
    expect_fail(r, path, "cannot be read", "AZURE_CLIENT_CERTIFICATE_PATH")


@case("cert.not_registered")
def _(t):
    e, d = cert_emu(t)
    r = t.spo_run(["token"], cert_env(t, e, os.path.join(d, "other.pem")))
    expect_fail(r, "AADSTS700027", "Certificates & secrets", "not registered")
    st = e.stats()
    if (st.get("assertion_errors") or {}).get("AADSTS700027") != 1 or st["token_requests"] != 1:
        raise Fail("expected one request refused with AADSTS700027: %r" % st.get("assertion_errors"))
    no_cert_leaks(r, e)


@case("cert.valgrind_clock_corrected")
def _(t):
    """Certificate sign-in, a clock correction and sites under valgrind (whatever --valgrind says)."""
    if not shutil.which("valgrind"):
        print("ok cert.valgrind_clock_corrected # skipped: no valgrind")
        raise Skip()
    with open(t.spo, "rb") as f:
        if b"__asan_init" in f.read():
            print("ok cert.valgrind_clock_corrected # skipped: an ASan binary does not run under valgrind")
            raise Skip()
    d = cert_files(t)
    e = main_emu(t, client_cert=[os.path.join(d, "app.crt")], clock_offset_s=86400, sites=30)
    env = cert_env(t, e, os.path.join(d, "app-enc.pem"), AZURE_CLIENT_CERTIFICATE_PASSWORD=CERT_PASSWORD)
    p = subprocess.run(["valgrind", "--error-exitcode=99", "--leak-check=full", "-q", t.spo, "sites"],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
    r = Result(p.returncode, p.stdout, p.stderr, 0, ["sites"])
    if r.rc == 99:
        raise Fail("valgrind reported errors: %s" % r.err_text.strip()[-600:])
    expect_exact(r, t.expected(30))
    if e.stats()["token_requests"] != 2:
        raise Fail("%d token requests, expected 2" % e.stats()["token_requests"])
    no_cert_leaks(r, e)


def clock_case(t, offset, chain=None):
    """The emulator's clock is offset s ahead (= the device is that far behind): one AADSTS700024,
    the clock corrected from the Date header, then success: two token requests in all."""
    d = cert_files(t)
    if chain:
        e = t.emulator("longlived", chain="longlived-chain.pem", key="longlived.key")
        e.configure(client_cert=[os.path.join(d, "app.crt")], clock_offset_s=offset, sites=30)
        env = cert_env(t, e, os.path.join(d, "app-pkcs8.pem"))
    else:
        e = main_emu(t, client_cert=[os.path.join(d, "app.crt")], clock_offset_s=offset, sites=30)
        env = cert_env(t, e, os.path.join(d, "app-pkcs8.pem"))
    r = t.spo_run(["-v", "sites"], env)
    expect_exact(r, t.expected(30))
    st = e.stats()
    if st["token_requests"] != 2 or (st.get("assertion_errors") or {}).get("AADSTS700024") != 1 \
            or st.get("assertions_ok") != 1:
        raise Fail("expected 2 token requests (one AADSTS700024, then success): %d, errors %r, ok %r"
                   % (st["token_requests"], st.get("assertion_errors"), st.get("assertions_ok")))
    m = re.search(r"device clock corrected by ([+-]\d+) s", r.err_text)
    if not m or abs(int(m.group(1)) - offset) > 5:
        raise Fail("--verbose should say the clock was corrected by about %+d s: %r" % (offset, r.err_text[:500]))
    no_cert_leaks(r, e)


@case("cert.clock_device_1_day_behind")
def _(t):
    clock_case(t, 86400)


@case("cert.clock_device_3_years_behind")
def _(t):
    # 3 years on, pki.sh's usual server certificate has expired: this emulator serves the longlived one
    clock_case(t, 3 * 365 * 86400, chain="longlived")


@case("cert.clock_still_refused")
def _(t):
    # the emulator's clock runs 1 day ahead but its Date headers are what a broken proxy would send:
    # without a correct Date the retry fails as well; exactly two requests, then a clear error
    e, d = cert_emu(t, clock_offset_s=86400, http_date_offset=-86400)
    r = t.spo_run(["token"], cert_env(t, e, os.path.join(d, "app-pkcs8.pem")))
    expect_fail(r, "AADSTS700024", "even after")
    if e.stats()["token_requests"] != 2:
        raise Fail("%d token requests, expected exactly 2" % e.stats()["token_requests"])
    no_cert_leaks(r, e)
# ---- proxy
# HTTPS through an HTTP proxy: a real tinyproxy (Debian's package, installed by scripts/deps.sh),
# started on a free loopback port with its own configuration in the run's temporary folder. Its log
# records each CONNECT, which tells whether spo went through it; the emulator's stats tell what
# reached the server through the tunnel.
PROXY_USER, PROXY_PASS = "proxy.user-1", "Pr0xy-pass_9"   # tinyproxy's BasicAuth takes [-._a-z0-9]


class TinyProxy:
    def __init__(self, t, name, connect_ports, auth=False, listen="127.0.0.1"):
        if not shutil.which("tinyproxy"):
            raise Fail("tinyproxy is not installed (scripts/deps.sh installs it: apt-get install tinyproxy)")
        d = os.path.join(t.tmp, "tinyproxy-" + name)
        os.makedirs(d, exist_ok=True)
        self.log_path = os.path.join(d, "tinyproxy.log")
        open(self.log_path, "w").close()
        self.listen = listen
        self.port = free_port(listen)
        conf = os.path.join(d, "tinyproxy.conf")
        with open(conf, "w") as f:
            f.write("Port %d\nListen %s\nTimeout 60\nMaxClients 20\nLogLevel Connect\n"
                    "LogFile \"%s\"\nDisableViaHeader Yes\n" % (self.port, listen, self.log_path))
            for p in connect_ports:
                f.write("ConnectPort %d\n" % p)
            if auth:
                f.write("BasicAuth %s %s\n" % (PROXY_USER, PROXY_PASS))
        self.err = open(os.path.join(d, "stderr.log"), "wb")
        self.proc = subprocess.Popen(["tinyproxy", "-d", "-c", conf], stdout=self.err, stderr=self.err)
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection((listen, self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("tinyproxy %s did not start (see %s)" % (name, d))
                time.sleep(0.05)
        self.mark()

    def url(self, userinfo=""):
        host = "[%s]" % self.listen if ":" in self.listen else self.listen
        return "http://%s%s:%d" % (userinfo + "@" if userinfo else "", host, self.port)

    def mark(self):
        self.offset = os.path.getsize(self.log_path)

    def connects(self):
        """The CONNECT requests logged since the last mark()."""
        time.sleep(0.1)     # tinyproxy logs from its own thread
        with open(self.log_path, "rb") as f:
            f.seek(self.offset)
            text = f.read().decode("utf-8", "replace")
        return re.findall(r"Request \(file descriptor \d+\): CONNECT (\S+) HTTP/1\.1", text)

    def stop(self):         # called by Run.close() with the emulators
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


def free_port(host="127.0.0.1"):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def tinyproxy(t, name, ports, auth=False, listen="127.0.0.1"):
    key = "tinyproxy-" + name          # kept with the emulators so that Run.close() stops it
    if key not in t.emus:
        t.emus[key] = TinyProxy(t, name, ports, auth, listen)
    t.emus[key].mark()
    return t.emus[key]


def server_untouched(e):
    st = e.stats()      # one call: its own connection is counted in both figures
    if st["connections"] != st["api_connections"] or st["http_requests"] or st["token_requests"]:
        raise Fail("nothing may reach the server: %d connections (%d for the test API), %d requests"
                   % (st["connections"], st["api_connections"], st["http_requests"]))


def no_proxy_secret(r):
    b64 = __import__("base64").b64encode(("%s:%s" % (PROXY_USER, PROXY_PASS)).encode())
    for s in (PROXY_PASS.encode(), b64, b"wrong-Pass_7", b"Basic "):
        if s in r.out or s in r.err:
            raise Fail("a proxy credential (%r) appears in the output" % s)


class FakeProxy:
    """A proxy that misbehaves on purpose: answers every CONNECT with `answer` (or closes at once if
    it is None) and keeps each request it read, for the cases tinyproxy cannot play."""
    def __init__(self, answer):
        self.answer, self.requests = answer, []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                c.settimeout(10)
                req = b""
                try:
                    while b"\r\n\r\n" not in req and len(req) < 16384:
                        chunk = c.recv(4096)
                        if not chunk:
                            break
                        req += chunk
                    self.requests.append(req)
                    if self.answer is not None:
                        c.sendall(self.answer)
                        time.sleep(0.2)
                except OSError:
                    pass

    def stop(self):
        self.sock.close()


@case("proxy.broken_proxy_answers")
def _(t):
    e = main_emu(t)
    for answer, needles in ((None, ("closed the connection instead of answering CONNECT",)),
                            (b"SSH-2.0-OpenSSH_9.2p1\r\n", ("not HTTP", "SOCKS")),
                            (b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * 9000 + b"\r\n\r\n",
                             ("SPO_PROXY_ANSWER_MAX (8192)",))):
        fp = FakeProxy(answer)
        try:
            r = t.spo_run(["token"], t.env(e, HTTPS_PROXY="http://%s:%s@127.0.0.1:%d"
                                           % (PROXY_USER, PROXY_PASS.replace("-", "%2d"), fp.port)))
        finally:
            fp.stop()
        expect_fail(r, "proxy 127.0.0.1:%d" % fp.port, *needles)
        no_proxy_secret(r)
        # the request, byte for byte: one CONNECT, Basic credentials of the decoded user info
        b64 = __import__("base64").b64encode(("%s:%s" % (PROXY_USER, PROXY_PASS)).encode()).decode()
        want = ("CONNECT localhost:%d HTTP/1.1\r\nHost: localhost:%d\r\nProxy-Authorization: Basic %s"
                "\r\n\r\n" % (e.port, e.port, b64)).encode()
        if fp.requests != [want]:
            raise Fail("the proxy should have read exactly %r, got %r" % (want, fp.requests))
    server_untouched(e)


@case("proxy.token_and_sites_through_tinyproxy")
def _(t):
    e = main_emu(t)
    px = tinyproxy(t, "open", [e.port])
    env = t.env(e, HTTPS_PROXY=px.url())
    r = t.spo_run(["token"], env)
    expect_rc0(r)
    if px.connects() != ["localhost:%d" % e.port]:
        raise Fail("tinyproxy should have seen one CONNECT localhost:%d: %r" % (e.port, px.connects()))
    px.mark()
    e.configure()
    r = t.spo_run(["sites", "--verbose"], t.env(e, HTTPS_PROXY=px.url()))  # its own token cache
    expect_exact(r, t.expected(100))
    got = px.connects()
    if got != ["localhost:%d" % e.port] * 2:   # the token endpoint's connection, then Graph's
        raise Fail("tinyproxy should have seen two CONNECTs (token, Graph): %r" % got)
    st = e.stats()
    if st["tokens_issued"] != 1 or st["graph_requests"] != 1:
        raise Fail("the emulator should see 1 token and 1 Graph request: %d, %d"
                   % (st["tokens_issued"], st["graph_requests"]))
    line = "spo: CONNECT localhost:%d via proxy 127.0.0.1:%d -> 200 in" % (e.port, px.port)
    if r.err_text.count(line) != 2:
        raise Fail("--verbose should say twice %r: %r" % (line, r.err_text[-600:]))
    no_leaks(r, e)


@case("proxy.credentials_accepted")
def _(t):
    e = main_emu(t)
    px = tinyproxy(t, "auth", [e.port], auth=True)
    # percent-encoded user info is decoded ('%2D' is '-', '%70' is 'p')
    userinfo = PROXY_USER.replace("-", "%2D") + ":" + PROXY_PASS.replace("p", "%70")
    r = t.spo_run(["sites", "--verbose"], t.env(e, https_proxy=px.url(userinfo)))
    expect_exact(r, t.expected(100))
    if px.connects() != ["localhost:%d" % e.port] * 2:
        raise Fail("tinyproxy CONNECTs: %r" % px.connects())
    no_proxy_secret(r)
    no_leaks(r, e)


@case("proxy.wrong_credentials_407")
def _(t):
    e = main_emu(t)
    px = tinyproxy(t, "auth", [e.port], auth=True)
    r = t.spo_run(["token", "--verbose"], t.env(e, HTTPS_PROXY=px.url(PROXY_USER + ":wrong-Pass_7")))
    # tinyproxy 1.11 answers wrong credentials with 401, missing ones with 407: both are refusals
    # of the proxy credentials
    expect_fail(r, ("407", "401"), "proxy 127.0.0.1:%d" % px.port, "user name and password")
    no_proxy_secret(r)
    if r.out:
        raise Fail("stdout not empty: %r" % r.out[:80])
    server_untouched(e)
    # no credentials at all: the message says where they go
    px.mark()
    r = t.spo_run(["token"], t.env(e, HTTPS_PROXY=px.url()))
    expect_fail(r, "407", "http://USER:PASSWORD@")
    if len(px.connects()) != 1:
        raise Fail("one CONNECT expected, no retry of a refusal: %r" % px.connects())


@case("proxy.refused_403")
def _(t):
    e = main_emu(t)
    px = tinyproxy(t, "port443only", [443])    # CONNECT to the emulator's port is not allowed
    r = t.spo_run(["sites"], t.env(e, HTTPS_PROXY=px.url()))
    expect_fail(r, "refused to open a tunnel to localhost:%d" % e.port, "HTTP 403", "NO_PROXY")
    if r.out:
        raise Fail("stdout not empty: %r" % r.out[:80])
    server_untouched(e)


@case("proxy.no_proxy_goes_direct")
def _(t):
    e = main_emu(t)
    px = tinyproxy(t, "open", [e.port])
    for np in ("localhost", ".LOCALHOST", "example.com, localhost:1", "*"):
        px.mark()
        e.configure()
        r = t.spo_run(["sites", "--verbose"], t.env(e, HTTPS_PROXY=px.url(), NO_PROXY=np))
        expect_exact(r, t.expected(100))
        if px.connects():
            raise Fail("NO_PROXY=%r: tinyproxy saw %r" % (np, px.connects()))
        if "directly, not through the proxy" not in r.err_text:
            raise Fail("--verbose should say the connection is direct: %r" % r.err_text[-300:])
    # a list that does not match still goes through the proxy (lower-case no_proxy wins)
    px.mark()
    r = t.spo_run(["token"], t.env(e, HTTPS_PROXY=px.url(), no_proxy="notlocalhost,host.localhost.example",
                                   NO_PROXY="localhost"))
    expect_rc0(r)
    if px.connects() != ["localhost:%d" % e.port]:
        raise Fail("no_proxy does not match: the CONNECT should go through tinyproxy: %r" % px.connects())


@case("proxy.variable_precedence")
def _(t):
    e = main_emu(t)
    px = tinyproxy(t, "open", [e.port])
    # https_proxy before HTTPS_PROXY before all_proxy / ALL_PROXY, as curl reads them
    for env in ({"https_proxy": px.url(), "HTTPS_PROXY": "socks5://127.0.0.1:1"},
                {"ALL_PROXY": px.url()}):
        px.mark()
        r = t.spo_run(["token"], t.env(e, **env))
        expect_rc0(r)
        if len(px.connects()) != 1:
            raise Fail("%r: tinyproxy CONNECTs %r" % (env, px.connects()))


@case("proxy.ipv6_literals")
def _(t):
    # the proxy at [::1], and the server named by an IPv6 literal: CONNECT [::1]:PORT
    e = main_emu(t)
    px = tinyproxy(t, "ipv6", [e.port], listen="::1")
    origin = "https://[::1]:%d" % e.port
    r = t.spo_run(["sites", "--verbose"], t.env(e, HTTPS_PROXY=px.url(), AZURE_AUTHORITY_HOST=origin,
                                                 SPO_GRAPH_URL=origin))
    expect_exact(r, t.expected(100))
    if px.connects() != ["[::1]:%d" % e.port] * 2:
        raise Fail("tinyproxy CONNECTs: %r" % px.connects())
    if "CONNECT [::1]:%d via proxy [::1]:%d -> 200" % (e.port, px.port) not in r.err_text:
        raise Fail("--verbose: %r" % r.err_text[-400:])
    # no_proxy names IPv6 addresses without brackets, as curl's
    px.mark()
    r = t.spo_run(["token"], t.env(e, HTTPS_PROXY=px.url(), AZURE_AUTHORITY_HOST=origin, NO_PROXY="::1"))
    expect_rc0(r)
    if px.connects():
        raise Fail("NO_PROXY=::1 should go direct: %r" % px.connects())


@case("proxy.down")
def _(t):
    e = main_emu(t)
    port = free_port()     # nothing listens there
    r = t.spo_run(["token"], t.env(e, HTTPS_PROXY="http://127.0.0.1:%d" % port))
    expect_fail(r, "cannot connect to the proxy 127.0.0.1:%d" % port, "HTTPS_PROXY")
    if r.elapsed > 10:
        raise Fail("an unreachable proxy should fail at once, not after retries (%.1f s)" % r.elapsed)


@case("proxy.unsupported_url")
def _(t):
    e = main_emu(t)
    for url, shown in (("https://127.0.0.1:3128", "(https://)"),
                       ("socks5://" + PROXY_USER + ":" + PROXY_PASS + "@127.0.0.1:1080", "(socks5://)"),
                       ("http://127.0.0.1:3128/path", "http://[user:password@]host[:port]")):
        r = t.spo_run(["token"], t.env(e, HTTPS_PROXY=url))
        expect_fail(r, "HTTPS_PROXY is not a proxy URL spo can use", shown)
        no_proxy_secret(r)
    server_untouched(e)


@case("proxy.tls_still_verified")
def _(t):
    # through the tunnel, the origin's certificate and host name are checked as on a direct line
    e = main_emu(t)
    px = tinyproxy(t, "open", [e.port])
    r = t.spo_run(["token"], t.env(e, HTTPS_PROXY=px.url(), SPO_CA_FILE=os.path.join(t.pki, "untrusted-ca.pem")))
    expect_fail(r, "not signed by a CA in the trusted bundle",
                "through the proxy 127.0.0.1:%d: if that proxy inspects TLS" % px.port)
    if px.connects() != ["localhost:%d" % e.port]:
        raise Fail("the handshake should have gone through the tunnel: %r" % px.connects())
    expect_no_request(e)
    w = t.emulator("tls-wronghost", chain="wronghost-chain.pem", key="wronghost.key")
    w.configure()
    px2 = tinyproxy(t, "wronghost", [w.port])
    r = t.spo_run(["token"], t.env(w, HTTPS_PROXY=px2.url()))
    expect_fail(r, "does not name this host", "through the proxy")
    # a direct connection gets no proxy hint
    r = t.spo_run(["token"], t.env(w, HTTPS_PROXY=px2.url(), NO_PROXY="localhost"))
    expect_fail(r, "does not name this host")
    if "proxy" in r.err_text:
        raise Fail("a direct connection's message mentions the proxy: %r" % r.err_text)
    if len(px2.connects()) != 1:
        raise Fail("the handshake should have gone through the tunnel: %r" % px2.connects())
    expect_no_request(w)
# ---- files: ls, mkdir, get, list-add
# The oracle is the emulator's own state, read over Graph by this runner (with a token from
# `spo token --raw`) or through its /_emulator API, never spo's output of an earlier step.
FILES_SITE = "contoso.sharepoint.com"          # the root site (index 0) of the emulated tenant


class GraphClient:
    """Plain Graph requests to the emulator, for setting up files and reading the truth back."""

    def __init__(self, t, e):
        r = t.spo_run(["token", "--raw"], t.env(e))
        expect_rc0(r)
        self.e, self.tok = e, r.out.decode().strip()

    def call(self, method, path, body=None, headers=None, port=None, auth=True):
        c = http.client.HTTPSConnection("127.0.0.1", port or self.e.port, context=self.e.ctx, timeout=120)
        try:
            h = {"Host": "localhost:%d" % (port or self.e.port), "Connection": "close"}
            if auth:
                h["Authorization"] = "Bearer " + self.tok
            h.update(headers or {})
            c.request(method, path, body, h)
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            c.close()

    def json(self, method, path, body=None):
        st, _, data = self.call(method, path, json.dumps(body).encode() if body is not None else None,
                                {"Content-Type": "application/json"} if body is not None else None)
        if st >= 300:
            raise Fail("setup: %s %s -> %d %r" % (method, path, st, data[:300]))
        return json.loads(data) if data else None

    def drive_id(self, name=None):
        if name is None:
            return self.json("GET", "/v1.0/sites/%s/drive" % FILES_SITE)["id"]
        return [d["id"] for d in self.json("GET", "/v1.0/sites/%s/drives" % FILES_SITE)["value"]
                if d["name"] == name][0]

    def put(self, path, data, drive=None):
        d = drive or self.drive_id()
        q = "/".join(urllib.parse.quote(s, safe="") for s in path.split("/"))
        st, _, body = self.call("PUT", "/v1.0/drives/%s/root:/%s:/content" % (d, q), data,
                                {"Content-Type": "application/octet-stream"})
        if st not in (200, 201):
            raise Fail("setup: PUT %s -> %d %r" % (path, st, body[:300]))
        return json.loads(body)

    def children(self, path, drive=None):
        d = drive or self.drive_id()
        q = "/".join(urllib.parse.quote(s, safe="") for s in path.split("/") if s)
        url = "/v1.0/drives/%s/%s/children" % (d, "root:/%s:" % q if q else "root")
        out = []
        while url:
            page = self.json("GET", url)
            out += page["value"]
            nxt = page.get("@odata.nextLink")
            url = urllib.parse.urlsplit(nxt)._replace(scheme="", netloc="").geturl() if nxt else None
        return out

    def item(self, path, drive=None):
        d = drive or self.drive_id()
        q = "/".join(urllib.parse.quote(s, safe="") for s in path.split("/") if s)
        st, _, body = self.call("GET", "/v1.0/drives/%s/root:/%s" % (d, q))
        return st, (json.loads(body) if body else None)


def ls_text(items):
    """spo ls's documented text format, computed here from Graph's JSON."""
    def clean(s):
        return "".join(" " if ord(ch) < 0x20 or 0x7f <= ord(ch) <= 0x9f else ch for ch in s)
    return "".join("%s\t%s\t%s\t%s\n" % (clean(i["name"]), i["size"] if "size" in i else "-",
                                         clean(i.get("lastModifiedDateTime", "")),
                                         "folder" if "folder" in i else "file") for i in items).encode()


def ls_json(items):
    return "".join(json.dumps({"name": i["name"], "size": i.get("size"),
                               "lastModifiedDateTime": i.get("lastModifiedDateTime", ""),
                               "folder": "folder" in i, "id": i["id"]},
                              ensure_ascii=False, separators=(",", ":")) + "\n" for i in items).encode()


@case("files.ls_root_default_drive")
def _(t):
    e = main_emu(t)
    g = GraphClient(t, e)
    want = ls_text(g.children(""))
    for site in (FILES_SITE, "https://contoso.sharepoint.com/", "contoso.sharepoint.com:/"):
        r = t.spo_run(["ls", site], t.env(e))
        expect_exact(r, want)
    if b"Caf\xc3\xa9 \xe2\x98\x95 notes.txt\t" not in r.out or b"\tfolder\n" not in r.out:
        raise Fail("seeded items missing: %r" % r.out[:300])
    no_leaks(r, e)


@case("files.ls_paging_json_and_named_drive")
def _(t):
    e = main_emu(t, drive_page_size=7)
    g = GraphClient(t, e)
    want = g.children("bulk")
    if len(want) < 200:
        raise Fail("setup: bulk has %d children" % len(want))
    e.api("POST", "/_emulator/reset", {})
    r = t.spo_run(["ls", "https://contoso.sharepoint.com", "/bulk/", "--json"], t.env(e))
    expect_exact(r, ls_json(want))
    pages = (len(want) + 6) // 7
    st = e.stats()
    # site + drive + every page, nothing more
    if st["drive_requests"] != 2 + pages:
        raise Fail("expected %d Graph requests (2 + %d pages), got %d" % (2 + pages, pages, st["drive_requests"]))
    r = t.spo_run(["ls", FILES_SITE, "--drive", "Reports"], t.env(e))
    expect_exact(r, ls_text(g.children("", g.drive_id("Reports"))))
    if not r.out.startswith(b"Q1 report.txt\t15\t"):
        raise Fail("Reports library: %r" % r.out)


@case("files.ls_names_needing_escaping")
def _(t):
    e = main_emu(t)
    g = GraphClient(t, e)
    names = ["tab\there.txt", "new\nline.txt", "quote's & 100%.txt", "caf\u00e9 \U0001F600 #1.txt",
             "back\\slash".replace("\\", "_"), "\u55b6\u696d\u90e8.csv", "ctl\x01\x1f\x7f.bin", "c1\u0085nel\u009b2J.bin"]
    for i, n in enumerate(names):
        g.put("esc dir/" + n, b"x" * i)
    items = g.children("esc dir")
    r = t.spo_run(["ls", FILES_SITE, "esc dir"], t.env(e))
    expect_exact(r, ls_text(items))
    if r.out.count(b"\n") != len(names):
        raise Fail("a control character in a name broke a line: %r" % r.out)
    r = t.spo_run(["ls", FILES_SITE, "esc dir", "--json"], t.env(e))
    expect_exact(r, ls_json(items))
    got = [json.loads(l)["name"] for l in r.out.decode().split("\n")[:-1]]  # (splitlines cuts at NEL)
    if sorted(got) != sorted(names):
        raise Fail("--json names differ from the stored ones: %r" % got)


@case("files.ls_errors_name_the_part")
def _(t):
    e = main_emu(t)
    r = t.spo_run(["ls", "contoso.sharepoint.com:/sites/NoSuchSite"], t.env(e))
    expect_fail(r, "site was not found", "404", "check SITE")
    r = t.spo_run(["ls", FILES_SITE, "--drive", "No Such Library"], t.env(e))
    expect_fail(r, "document library was not found", "--drive")
    r = t.spo_run(["ls", FILES_SITE, "no/such/folder"], t.env(e))
    expect_fail(r, "no file or folder at that path", "no/such/folder", "404")
    e.configure(no_roles=True)
    r = t.spo_run(["ls", FILES_SITE], t.env(e))
    expect_fail(r, "403", "Sites.Read.All")
    e.configure()
    for bad in (["ls"], ["ls", "https://contoso.sharepoint.com/sites/x?web=1"], ["ls", FILES_SITE, "a/../b"],
                ["ls", FILES_SITE, "a", "b"], ["mkdir", FILES_SITE], ["mkdir", FILES_SITE, "/"]):
        r = t.spo_run(bad, t.env(e))
        if r.rc != 2 or b"see spo " not in r.err:
            raise Fail("%r: expected a usage error (2), got %s" % (bad, r.brief()))
    if e.stats()["http_requests"]:
        raise Fail("a usage error reached the server")
    r = t.spo_run(["ls", "--help"], t.env(e))
    if r.rc != 0 or not r.out.startswith(b"usage: spo ls SITE [PATH]"):
        raise Fail("ls --help: %s" % r.brief())


@case("files.mkdir_with_parents")
def _(t):
    e = main_emu(t)
    g = GraphClient(t, e)
    e.api("POST", "/_emulator/reset", {})
    r = t.spo_run(["mkdir", FILES_SITE, "mk/a b/c\u00e9 #1"], t.env(e))
    expect_exact(r, b"3 folders created\n")
    st = e.stats()
    if st["folders_created"] != 3:
        raise Fail("emulator made %d folders" % st["folders_created"])
    s, it = g.item("mk/a b/c\u00e9 #1")
    if s != 200 or "folder" not in it or it["name"] != "c\u00e9 #1":
        raise Fail("the folder is not there: %d %r" % (s, it))
    # again, one deeper: the existing parents are fine
    r = t.spo_run(["mkdir", "https://contoso.sharepoint.com", "/mk/a b/c\u00e9 #1/d/"], t.env(e))
    expect_exact(r, b"1 folder created\n")
    r = t.spo_run(["mkdir", FILES_SITE, "mk"], t.env(e))
    expect_exact(r, b"0 folders created\n")
    # a file in the way
    g.put("mk/file.txt", b"x")
    r = t.spo_run(["mkdir", FILES_SITE, "mk/file.txt/sub"], t.env(e))
    expect_fail(r, "exists and is not a folder", "409")
    s, _ = g.item("mk/file.txt/sub")
    if s != 404:
        raise Fail("something was made under the file: %d" % s)
    e.configure(no_roles=True)
    r = t.spo_run(["mkdir", FILES_SITE, "mk/x"], t.env(e))
    expect_fail(r, "403", "Sites.ReadWrite.All")
    e.configure()


def drive_put(e, path, **kw):
    """Seed a file through the emulator's control API (answers 201 new / 200 replaced)."""
    body = {"site": "0", "drive": kw.pop("drive", "Documents"), "path": path}
    body.update(kw)
    c = http.client.HTTPSConnection("127.0.0.1", e.port, context=e.ctx, timeout=300)
    try:
        c.request("POST", "/_emulator/drive/put", json.dumps(body),
                  {"Content-Type": "application/json", "Connection": "close"})
        r = c.getresponse()
        data = json.loads(r.read())
        if r.status not in (200, 201):
            raise Fail("setup: drive/put %s: %d %r" % (path, r.status, data))
        return data
    finally:
        c.close()


def same_file(local, stored):
    """Byte-for-byte comparison, 1 MiB at a time."""
    with open(local, "rb") as a, open(stored, "rb") as b:
        while True:
            x, y = a.read(1 << 20), b.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def no_temp_left(t, d):
    left = [n for n in os.listdir(d) if ".spo-" in n]
    if left:
        raise Fail("temporary files left behind: %r" % left)


@case("files.get_0_1_4mib_50mib")
def _(t):
    e = main_emu(t)
    d = os.path.join(t.tmp, "get-sizes")
    os.makedirs(d, exist_ok=True)
    sizes = [0, 1, 4 << 20, 50 << 20]
    stored = {}
    for n in sizes:
        stored[n] = drive_put(e, "get/%d.bin" % n, size=n, pattern="random", seed=n + 7)
    e.api("POST", "/_emulator/reset", {})
    for n in sizes:
        local = os.path.join(d, "f%d.bin" % n)
        r = t.spo_run(["get", FILES_SITE, "/get/%d.bin" % n, local], t.env(e), timeout=300)
        expect_exact(r, ("%s: %d bytes, quickXorHash checked\n" % (local, n)).encode())
        if os.path.getsize(local) != n or not same_file(local, stored[n]["file"]):
            raise Fail("%d bytes: the local file differs from the stored one" % n)
    no_temp_left(t, d)
    st = e.stats()
    if st["authorization_seen_on_sp_host"]:
        raise Fail("Authorization reached the download host %d times" % st["authorization_seen_on_sp_host"])
    if st["download_redirects"] != 4 or st["downloads"] != 4 or st["ranged_downloads"]:
        raise Fail("expected 4 redirects and 4 plain downloads: %d, %d, ranged %d"
                   % (st["download_redirects"], st["downloads"], st["ranged_downloads"]))
    if st["download_bytes"] != sum(sizes):
        raise Fail("the download host sent %d bytes, expected %d" % (st["download_bytes"], sum(sizes)))


@case("files.get_resumes_after_drop")
def _(t):
    e = main_emu(t)
    stored = drive_put(e, "get/drop.bin", size=4 << 20, pattern="seq")
    e.configure(drop_download="once", drop_download_bytes=1000000)
    local = os.path.join(t.tmp, "drop.bin")
    with open(local, "wb") as f:
        f.write(b"old contents")
    r = t.spo_run(["get", FILES_SITE, "get/drop.bin", local], t.env(e), timeout=120)
    expect_exact(r, ("%s: %d bytes, quickXorHash checked, resumed\n" % (local, 4 << 20)).encode())
    if not same_file(local, stored["file"]):
        raise Fail("the resumed download differs from the stored file")
    st = e.stats()
    if st["ranged_downloads"] < 1 or st["authorization_seen_on_sp_host"]:
        raise Fail("expected a ranged (206) resumption and no Authorization: %r"
                   % {k: st[k] for k in ("downloads", "ranged_downloads", "authorization_seen_on_sp_host")})
    if st["download_bytes"] >= 2 * (4 << 20):
        raise Fail("the download started again from zero (%d bytes sent)" % st["download_bytes"])
    no_temp_left(t, t.tmp)


@case("files.get_drop_every_time_leaves_local")
def _(t):
    e = main_emu(t)
    drive_put(e, "get/always.bin", size=300000, pattern="seq")
    e.configure(drop_download="every 1", drop_download_bytes=1000)
    local = os.path.join(t.tmp, "always.bin")
    with open(local, "wb") as f:
        f.write(b"precious")
    r = t.spo_run(["get", FILES_SITE, "get/always.bin", local], t.env(e), timeout=120)
    expect_fail(r, "left as it was")
    with open(local, "rb") as f:
        if f.read() != b"precious":
            raise Fail("LOCAL was changed by a failed download")
    no_temp_left(t, t.tmp)
    st = e.stats()
    if not 2 <= st["downloads"] <= 8:     # SPO_DOWNLOAD_ATTEMPTS transfers at most (206s count too)
        raise Fail("expected bounded resumptions (2..8 transfers), got %d" % st["downloads"])


@case("files.get_bad_hash_leaves_local")
def _(t):
    e = main_emu(t)
    drive_put(e, "get/hash.bin", size=1 << 20, pattern="random", seed=3)
    e.configure(bad_hash_get="once")
    local = os.path.join(t.tmp, "hash.bin")
    with open(local, "wb") as f:
        f.write(b"keep me")
    r = t.spo_run(["get", FILES_SITE, "get/hash.bin", local], t.env(e))
    expect_fail(r, "do not match", "quickXorHash", "left as it was")
    with open(local, "rb") as f:
        if f.read() != b"keep me":
            raise Fail("LOCAL was replaced although the hash did not match")
    no_temp_left(t, t.tmp)
    st = e.stats()
    if st["download_bytes"] != 1 << 20 or "bad_hash_get" not in json.dumps(st["faults"]):
        raise Fail("expected the whole file sent and the fault fired: %r" % {k: st[k] for k in ("download_bytes", "faults")})
    # without the fault the same command succeeds: the failure was the hash's
    r = t.spo_run(["get", FILES_SITE, "get/hash.bin", local], t.env(e))
    expect_rc0(r)


@case("files.get_errors")
def _(t):
    e = main_emu(t)
    local = os.path.join(t.tmp, "nothing.bin")
    r = t.spo_run(["get", FILES_SITE, "get/no such file.bin", local], t.env(e))
    expect_fail(r, "no file or folder at that path", "404")
    r = t.spo_run(["get", FILES_SITE, "telemetry", local], t.env(e))
    expect_fail(r, "is a folder")
    r = t.spo_run(["get", FILES_SITE, "Welcome.txt", t.tmp], t.env(e))
    if r.rc != 2 or b"is a directory" not in r.err:
        raise Fail("LOCAL a directory: %s" % r.brief())
    r = t.spo_run(["get", FILES_SITE, "Welcome.txt", os.path.join(t.tmp, "no-dir", "x")], t.env(e))
    expect_fail(r, "cannot create a temporary file")
    if os.path.exists(local):
        raise Fail("a failed get created LOCAL")
    r = t.spo_run(["get", FILES_SITE, "get"], t.env(e))
    if r.rc != 2:
        raise Fail("missing LOCAL: %s" % r.brief())
    r = t.spo_run(["get", "--help"], t.env(e))
    if r.rc != 0 or not r.out.startswith(b"usage: spo get SITE REMOTE_PATH LOCAL"):
        raise Fail("get --help: %s" % r.brief())


@case("files.get_verbose_redacts_tempauth")
def _(t):
    e = main_emu(t)
    drive_put(e, "get/v.txt", text="verbose\n")
    local = os.path.join(t.tmp, "v.txt")
    r = t.spo_run(["--verbose", "get", FILES_SITE, "get/v.txt", local], t.env(e))
    expect_rc0(r)
    if b"tempauth=[redacted]" not in r.err or re.search(rb"tempauth=(?!\[redacted\])", r.err):
        raise Fail("tempauth not redacted in --verbose: %r" % r.err[-600:])
    no_leaks(r, e)


def get_interrupted(t, sig):
    e = main_emu(t)
    drive_put(e, "get/slow.bin", size=1 << 20, pattern="seq")
    d = os.path.join(t.tmp, "get-interrupted-%d" % sig)
    os.makedirs(d, exist_ok=True)
    local = os.path.join(d, "slow.bin")
    argv = ["get", FILES_SITE, "get/slow.bin", local]
    # A first run counts the Graph requests of a get; the content request (the last one, made
    # once the temporary file exists) is then throttled with a long Retry-After: a slow download.
    expect_rc0(t.spo_run(argv, t.env(e)))
    os.unlink(local)
    n = e.stats()["graph_requests"]
    e.configure(throttle=5, throttle_after=n - 1, retry_after="60")
    proc = t.spo_start(argv, t.env(e))
    deadline = time.monotonic() + 60 * t.timeout_scale
    temp = []
    while time.monotonic() < deadline and proc.poll() is None:
        temp = [x for x in os.listdir(d) if ".spo-" in x]
        if temp and e.stats()["faults"].get("throttled_429"):
            break
        time.sleep(0.05)
    if proc.poll() is not None or not temp:
        proc.kill()
        proc.wait()
        raise Fail("spo ended (rc %s) or made no temporary file before the interrupt: %r"
                   % (proc.returncode, proc.stderr.read()[-300:]))
    proc.send_signal(sig)
    try:
        proc.wait(timeout=30 * t.timeout_scale)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    if proc.returncode != -sig:
        raise Fail("expected spo to end by signal %d, its exit status was %s" % (sig, proc.returncode))
    no_temp_left(t, d)
    if os.path.exists(local):
        raise Fail("LOCAL exists after an interrupted download")


@case("files.get_interrupted_removes_temp")
def _(t):
    get_interrupted(t, signal.SIGINT)


@case("files.get_terminated_removes_temp")
def _(t):
    get_interrupted(t, signal.SIGTERM)


def list_items(e, name="Telemetry"):
    return e.api("GET", "/_emulator/drive/list-items?site=0&list=" + urllib.parse.quote(name))["items"]


def body_bytes(fields_pairs):
    """The body spo must send: {"fields":{...}} compact, UTF-8 as is, controls escaped."""
    inner = ",".join("%s:%s" % (json.dumps(k, ensure_ascii=False), v) for k, v in fields_pairs)
    return ('{"fields":{%s}}' % inner).encode()


@case("files.list_add_escaping_byte_for_byte")
def _(t):
    e = main_emu(t)
    title = 'He said "hi" \\ back\tslash\nnew line caf\u00e9 \U0001F600 \x01\x1f\x7f </script>'
    before = len(list_items(e))
    r = t.spo_run(["list-add", FILES_SITE, "Telemetry", "Title=" + title, "Temperature:=21.5",
                   "Ok:=true", "Device=dev-01", "Note:=null"], t.env(e))
    expect_rc0(r)
    items = list_items(e)
    if len(items) != before + 1:
        raise Fail("expected one new item, the list has %d more" % (len(items) - before))
    it = items[-1]
    if r.out != (it["id"] + "\n").encode():
        raise Fail("stdout %r is not the new item's id %r" % (r.out, it["id"]))
    want = body_bytes([("Title", json.dumps(title, ensure_ascii=False)), ("Temperature", "21.5"),
                       ("Ok", "true"), ("Device", '"dev-01"'), ("Note", "null")])
    got = base64.b64decode(it["request_body_b64"])
    if got != want:
        raise Fail("body differs:\n got  %r\n want %r" % (got, want))
    if it["fields"].get("Title") != title or it["fields"].get("Temperature") != 21.5:
        raise Fail("stored fields: %r" % it["fields"])
    no_leaks(r, e)


@case("files.list_add_json_file_and_list_id")
def _(t):
    e = main_emu(t)
    g = GraphClient(t, e)
    lid = [x["id"] for x in g.json("GET", "/v1.0/sites/%s/lists" % FILES_SITE)["value"]
           if x["displayName"] == "Device Events"][0]
    path = os.path.join(t.tmp, "fields.json")
    with open(path, "wb") as f:
        f.write(' {"Title": "from \\"file\\" \u00e9", "Device":"d2"}\n'.encode())
    r = t.spo_run(["list-add", "https://contoso.sharepoint.com", lid, "--json-file", path,
                   "Note=arg \u2603"], t.env(e))
    expect_rc0(r)
    it = list_items(e, "Device Events")[-1]
    want = '{"fields":{"Title": "from \\"file\\" \u00e9", "Device":"d2","Note":"arg \u2603"}}'.encode()
    if base64.b64decode(it["request_body_b64"]) != want or r.out != (it["id"] + "\n").encode():
        raise Fail("body %r, stdout %r" % (base64.b64decode(it["request_body_b64"]), r.out))
    # by display name, case aside, and by URL name
    r = t.spo_run(["list-add", FILES_SITE, "device events", "Title=x"], t.env(e))
    expect_rc0(r)
    r = t.spo_run(["list-add", FILES_SITE, "DeviceEvents", "Title=y"], t.env(e))
    expect_rc0(r)
    if [i["fields"]["Title"] for i in list_items(e, "Device Events")[-2:]] != ["x", "y"]:
        raise Fail("the items did not land in Device Events")


@case("files.list_add_errors")
def _(t):
    e = main_emu(t)
    path = os.path.join(t.tmp, "bad.json")
    big = os.path.join(t.tmp, "big.json")
    with open(big, "w") as f:
        f.write('{"Note":"%s"}' % ("x" * 9000))
    usage = [
        (["list-add", FILES_SITE, "Telemetry"], "no field to set"),
        (["list-add", FILES_SITE, "Telemetry", "Temperature:=warm"], "after := comes a number"),
        (["list-add", FILES_SITE, "Telemetry", "Title"], "not FIELD=VALUE"),
        (["list-add", FILES_SITE, "Telemetry", "Title=a", "Title=b"], "given twice"),
        (["list-add", FILES_SITE, "Telemetry", b"Title=\xff".decode("utf-8", "surrogateescape")], "UTF-8"),
        (["list-add", FILES_SITE, "Telemetry", "--json-file", path], "cannot open"),
        (["list-add", FILES_SITE, "Telemetry", "--json-file", big], "SPO_LIST_BODY_MAX"),
    ]
    for argv, needle in usage:
        r = t.spo_run(argv, t.env(e))
        if r.rc != 2 or needle.encode() not in r.err:
            raise Fail("%r: expected usage error with %r, got %s" % (argv[3:], needle, r.brief()))
    for content, needle in (("[1,2]", "one JSON object"), ('{"Title":"x",}', "not valid JSON"),
                            ('{"Title":"a"}', "also in --json-file")):
        with open(path, "w") as f:
            f.write(content)
        r = t.spo_run(["list-add", FILES_SITE, "Telemetry", "--json-file", path, "Title=b"], t.env(e))
        if r.rc != 2 or needle.encode() not in r.err:
            raise Fail("--json-file %r: expected usage error with %r, got %s" % (content, needle, r.brief()))
    if e.stats()["graph_requests"]:
        raise Fail("a usage error reached Graph")
    before = len(list_items(e))
    r = t.spo_run(["list-add", FILES_SITE, "No Such List", "Title=x"], t.env(e))
    expect_fail(r, "the list was not found", "No Such List")
    r = t.spo_run(["list-add", FILES_SITE, "Telemetry", "Nope=x"], t.env(e))
    expect_fail(r, "400", "Field 'Nope' is not recognized", "internal name")
    e.configure(no_roles=True)
    r = t.spo_run(["list-add", FILES_SITE, "Telemetry", "Title=x"], t.env(e))
    expect_fail(r, "403", "Sites.ReadWrite.All")
    e.configure()
    if len(list_items(e)) != before:
        raise Fail("a failed list-add created an item")
    r = t.spo_run(["list-add", "--help"], t.env(e))
    if r.rc != 0 or not r.out.startswith(b"usage: spo list-add SITE LIST"):
        raise Fail("list-add --help: %s" % r.brief())


# ---- put
def put_emu(t, **cfg):
    return main_emu(t, **cfg)


def put_file(t, name, size, seed=None):
    """A local file of size pseudo-random bytes (reproducible per name); returns (path, bytes)."""
    import random
    d = os.path.join(t.tmp, "put-src")
    os.makedirs(os.path.dirname(os.path.join(d, name)), exist_ok=True)
    data = random.Random(seed if seed is not None else name).randbytes(size)
    path = os.path.join(d, name)
    with open(path, "wb") as f:
        f.write(data)
    return path, data


def graph_get(e, path, follow=False):
    """GET on the emulator's Graph with a token of its own (not spo's): (status, headers, body)."""
    ctx = e.ctx
    if not hasattr(e, "_put_token"):
        c = http.client.HTTPSConnection("127.0.0.1", e.port, context=ctx, timeout=30)
        form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": CLIENT_ID,
                                       "client_secret": SECRET,
                                       "scope": "https://graph.microsoft.com/.default"})
        c.request("POST", "/%s/oauth2/v2.0/token" % TENANT, form,
                  {"Content-Type": "application/x-www-form-urlencoded"})
        e._put_token = json.loads(c.getresponse().read())["access_token"]
        c.close()
    c = http.client.HTTPSConnection("127.0.0.1", e.port, context=ctx, timeout=60)
    c.request("GET", path, headers={"Authorization": "Bearer " + e._put_token, "Host": "localhost:%d" % e.port})
    r = c.getresponse()
    body = r.read()
    c.close()
    if follow and r.status == 302:
        u = urllib.parse.urlsplit(r.getheader("Location"))
        c = http.client.HTTPSConnection("127.0.0.1", u.port, context=ctx, timeout=60)
        c.request("GET", u.path + "?" + u.query)
        r2 = c.getresponse()
        body = r2.read()
        c.close()
        return r2.status, r2, body
    return r.status, r, body


def remote_item(e, rpath):
    st, _, body = graph_get(e, "/v1.0/sites/%s/drive/root:/%s" % (SP_HOST, urllib.parse.quote(rpath)))
    return json.loads(body) if st == 200 else None


def expect_remote(e, rpath, data):
    st, _, body = graph_get(e, "/v1.0/sites/%s/drive/root:/%s:/content" % (SP_HOST, urllib.parse.quote(rpath)),
                            follow=True)
    if st != 200:
        raise Fail("the emulator has no %s (HTTP %d)" % (rpath, st))
    if body != data:
        raise Fail("the emulator's %s differs from the local file (%d vs %d bytes)" % (rpath, len(body), len(data)))


def expect_no_auth_on_sp(e):
    st = e.stats()
    if st.get("authorization_seen_on_sp_host") or st.get("fragments_with_authorization"):
        raise Fail("an Authorization header reached the upload host (%s, %s)"
                   % (st.get("authorization_seen_on_sp_host"), st.get("fragments_with_authorization")))
    return st


def put_lines(e, names_paths):
    """The expected stdout: name<TAB>size<TAB>id per file, ids as the emulator has them."""
    out = []
    for rpath in names_paths:
        it = remote_item(e, rpath)
        if it is None:
            raise Fail("the emulator has no %s" % rpath)
        out.append("%s\t%d\t%s\n" % (it["name"], it["size"], it["id"]))
    return "".join(out).encode()


def no_upload_records(t):
    """No resume record left in any configuration folder of this case's runs."""
    left = []
    for x in t.xdg_dirs + [os.path.join(t.tmp, ".config")]:
        d = os.path.join(x, "spo")
        left += [n for n in (os.listdir(d) if os.path.isdir(d) else []) if n.startswith("upload-")]
    if left:
        raise Fail("upload records left behind: %s" % left)


@case("put.sizes_0_1_4mib_4mib_plus_1")
def _(t):
    e = put_emu(t)
    files = [put_file(t, "sizes/%s" % n, sz) for n, sz in
             (("empty.json", 0), ("one.bin", 1), ("four.bin", 4 << 20), ("four-plus-1.bin", (4 << 20) + 1))]
    r = t.spo_run(["put", SP_HOST] + [p for p, _ in files] + ["put-sizes/"], t.env(e), timeout=120)
    expect_rc0(r)
    expect_exact(r, put_lines(e, ["put-sizes/" + os.path.basename(p) for p, _ in files]))
    for p, data in files:
        expect_remote(e, "put-sizes/" + os.path.basename(p), data)
    st = expect_no_auth_on_sp(e)
    if st.get("simple_puts") != 3 or st.get("upload_sessions_created") != 1:
        raise Fail("expected 3 simple PUTs and 1 session, got %s and %s"
                   % (st.get("simple_puts"), st.get("upload_sessions_created")))
    no_upload_records(t)
    no_leaks(r, e)


@case("put.one_file_to_path_json")
def _(t):
    e = put_emu(t)
    p, data = put_file(t, "report.json", 1843)
    r = t.spo_run(["put", SP_HOST, p, "/telemetry/day 1/gw-42 #1.json", "--json"], t.env(e))
    expect_rc0(r)
    it = remote_item(e, "telemetry/day 1/gw-42 #1.json")
    line = json.loads(r.out.decode())
    if line != {"local": p, "path": "telemetry/day 1/gw-42 #1.json", "name": "gw-42 #1.json",
                "size": 1843, "id": it["id"], "quickXorHash": it["file"]["hashes"]["quickXorHash"]}:
        raise Fail("unexpected --json line %r" % r.out)
    expect_remote(e, "telemetry/day 1/gw-42 #1.json", data)


@case("put.50mib_drops_and_kill_resumed")
def _(t):
    e = put_emu(t, drop_fragment="every 6")
    p, data = put_file(t, "big/gateway-dump.bin", 50 << 20)
    env = t.env(e)
    argv = ["put", SP_HOST, p, "dumps/gateway-dump.bin"]
    proc = t.spo_start(argv, env)
    deadline = time.monotonic() + 120 * t.timeout_scale
    killed = False
    while time.monotonic() < deadline and proc.poll() is None:
        st = e.stats()
        if st.get("upload_fragments", 0) >= 9:   # after the first drop, before the second
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.02)
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    if not killed:
        raise Fail("spo finished (rc %s) before it could be killed" % proc.returncode)
    recdir = os.path.join(env["XDG_CONFIG_HOME"], "spo")
    recs = [n for n in os.listdir(recdir) if n.startswith("upload-")] if os.path.isdir(recdir) else []
    if len(recs) != 1 or os.stat(os.path.join(recdir, recs[0])).st_mode & 0o777 != 0o600:
        raise Fail("expected one 0600 upload record after the kill, found %s" % recs)
    st1 = e.stats()
    r = t.spo_run(argv, env, timeout=300)
    expect_rc0(r)
    expect_exact(r, put_lines(e, ["dumps/gateway-dump.bin"]))
    expect_remote(e, "dumps/gateway-dump.bin", data)
    st = expect_no_auth_on_sp(e)
    if st.get("upload_sessions_created") != 1:
        raise Fail("the second run did not resume: %s sessions" % st.get("upload_sessions_created"))
    drops = st.get("faults", {}).get("drop_fragment", 0)
    if drops < 2:
        raise Fail("expected two dropped fragments, the emulator dropped %s" % drops)
    sent_after = sum(x or 0 for x in st["upload_fragment_sizes"][len(st1["upload_fragment_sizes"]):])
    if sent_after >= len(data):
        raise Fail("the second run sent %d bytes: it started over" % sent_after)
    no_upload_records(t)
    no_leaks(r, e)


@case("put.batch_200_json")
def _(t):
    e = put_emu(t)
    files = [put_file(t, "batch/r-%03d.json" % i, 50 + i) for i in range(200)]
    r = t.spo_run(["put", SP_HOST] + [p for p, _ in files] + ["batch"], t.env(e), timeout=300)
    expect_rc0(r)
    names = ["batch/" + os.path.basename(p) for p, _ in files]
    expect_exact(r, put_lines(e, names))
    for (p, data), n in zip(files, names):
        expect_remote(e, n, data)
    if e.stats().get("simple_puts") != 200:
        raise Fail("expected 200 PUTs")


@case("put.bad_hash_fails")
def _(t):
    e = put_emu(t, bad_hash="every 1")
    p, _ = put_file(t, "hash/small.json", 300)
    q, _ = put_file(t, "hash/big.bin", (4 << 20) + 1000)
    r = t.spo_run(["put", SP_HOST, p, q, "hashcheck/"], t.env(e), timeout=120)
    expect_fail(r, "does not match", "small.json", "big.bin", "2 of 2 files failed")
    expect_stdout(r, b"")
    expect_no_auth_on_sp(e)
    no_upload_records(t)


@case("put.409_if_exists")
def _(t):
    e = put_emu(t)
    p, data = put_file(t, "dup/x.json", 120)
    r = t.spo_run(["put", SP_HOST, p, "dup/x.json"], t.env(e))
    expect_rc0(r)
    r = t.spo_run(["put", SP_HOST, p, "dup/x.json", "--if-exists", "fail"], t.env(e))
    expect_fail(r, "409", "--if-exists replace", "x.json")
    expect_stdout(r, b"")
    expect_remote(e, "dup/x.json", data)
    q, data2 = put_file(t, "dup/x-big.bin", (4 << 20) + 7)
    os.replace(q, os.path.join(os.path.dirname(q), "x.json"))
    q = os.path.join(os.path.dirname(q), "x.json")
    r = t.spo_run(["put", SP_HOST, q, "dup/x.json"], t.env(e))
    expect_fail(r, "409", "--if-exists")
    r = t.spo_run(["put", SP_HOST, q, "dup/x.json", "--if-exists", "rename"], t.env(e))
    expect_rc0(r)
    expect_exact(r, put_lines(e, ["dup/x 1.json"]))
    expect_remote(e, "dup/x 1.json", data2)
    r = t.spo_run(["put", SP_HOST, q, "dup/x.json", "--if-exists", "replace"], t.env(e))
    expect_rc0(r)
    expect_remote(e, "dup/x.json", data2)
    no_upload_records(t)


@case("put.throttled_fragments_and_session_faults")
def _(t):
    e = put_emu(t, upload_throttle="every 3", retry_after="1", fragment_416="once", expire_session="once")
    p, data = put_file(t, "thr/t.bin", (6 << 20) + 5)
    r = t.spo_run(["put", SP_HOST, p, "thr/t.bin", "--fragment-size", "655360"], t.env(e), timeout=180)
    expect_rc0(r)
    expect_remote(e, "thr/t.bin", data)
    st = expect_no_auth_on_sp(e)
    f = st.get("faults", {})
    if not (f.get("upload_throttle") and f.get("fragment_416") and f.get("expire_session")):
        raise Fail("faults did not fire: %s" % f)
    last = len(data) % 655360
    sizes = st["upload_fragment_sizes"]
    if sizes[-1] != last or any(x not in (655360, last) for x in sizes):
        raise Fail("fragments of another size than asked: %s" % sizes)


@case("put.verbose_never_shows_upload_url")
def _(t):
    e = put_emu(t, drop_fragment="once")
    p, data = put_file(t, "verbose/v.bin", (4 << 20) + 99)
    r = t.spo_run(["--verbose", "put", SP_HOST, p, "verbose/v.bin"], t.env(e), timeout=120)
    expect_rc0(r)
    expect_remote(e, "verbose/v.bin", data)
    expect_no_auth_on_sp(e)
    if b"uploadSession" not in r.err or b"tempauth=[redacted]" not in r.err \
            or b"[pre-authenticated, no Authorization]" not in r.err:
        raise Fail("the fragments are not traced as expected: %r" % r.err_text[-400:])
    if re.search(rb"tempauth=(?!\[redacted\])", r.err + r.out):
        raise Fail("the upload URL's tempauth appears in the output: %r" % r.err_text[-400:])
    no_leaks(r, e)


@case("put.403_names_the_permission")
def _(t):
    e = put_emu(t, no_roles=True)
    p, _ = put_file(t, "denied/d.json", 10)
    r = t.spo_run(["put", SP_HOST, p, "denied/d.json"], t.env(e))
    expect_fail(r, "403", "Sites.ReadWrite.All")
    expect_stdout(r, b"")


@case("put.progress_only_on_a_terminal")
def _(t):
    import pty
    e = put_emu(t)
    p, data = put_file(t, "tty/p.bin", (4 << 20) + 3)
    master, slave = pty.openpty()
    proc = subprocess.Popen([t.spo, "put", SP_HOST, p, "tty/p.bin"], env=t.env(e),
                            stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    err = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        err += chunk
    out = proc.stdout.read()
    proc.stdout.close()
    rc = proc.wait(120)
    os.close(master)
    if rc != 0:
        raise Fail("exit status %d: %r" % (rc, err[-300:]))
    if out != put_lines(e, ["tty/p.bin"]):
        raise Fail("stdout %r" % out)
    if b"spo: p.bin 3276800 / 4194307 bytes (78%)" not in err or not err.endswith(b"\r\x1b[K"):
        raise Fail("no progress line, or it was not cleared: %r" % err[-300:])
    r = t.spo_run(["put", SP_HOST, p, "tty/p2.bin"], t.env(e))   # stderr a pipe: nothing on it
    expect_rc0(r)
    if r.err:
        raise Fail("stderr is not a terminal, yet it got %r" % r.err[-200:])


@case("put.usage_and_missing_file")
def _(t):
    e = put_emu(t)
    r = t.spo_run(["put", SP_HOST, "only-two"], t.env(e))
    if r.rc != 2 or b"put needs SITE" not in r.err:
        raise Fail("usage: " + r.brief())
    r = t.spo_run(["put", SP_HOST, "a", "b", "--fragment-size", "1000"], t.env(e))
    if r.rc != 2 or b"327680" not in r.err:
        raise Fail("fragment size: " + r.brief())
    r = t.spo_run(["put", SP_HOST, os.path.join(t.tmp, "no-such-file"), "x/"], t.env(e))
    expect_fail(r, "cannot read", "no-such-file")


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
            run.xdg_dirs = []   # the configuration folders this case's runs used
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
