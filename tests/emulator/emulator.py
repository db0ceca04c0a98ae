#!/usr/bin/env python3
"""Local emulator of login.microsoftonline.com (token endpoint: client credentials with a secret or a
certificate assertion, device code flow, refresh tokens; those beyond secrets live in identity.py) and
graph.microsoft.com (/v1.0/sites) over TLS, with fault injection. Python 3 standard library plus the
openssl command (assertion signatures).

One process, one port, both roles (the paths differ). Prints "READY <port>" on stdout once it listens.
See tests/emulator/README.md for the flags and the runtime configuration API (/_emulator/...).
"""
import argparse
import base64
import collections
import email.utils
import hashlib
import hmac
import http
import json
import os
import random
import signal
import socket
import socketserver
import struct
import ssl
import sys
import threading
import time
import urllib.parse
import uuid

import identity
from identity import now
import drive as drive_mod

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
OIDC_SCOPES = {"openid", "profile", "offline_access", "email"}
SITE_FIELDS = ("createdDateTime", "description", "id", "lastModifiedDateTime", "name", "webUrl",
               "displayName", "root", "siteCollection")
GRAPH_CT = ("application/json;odata.metadata=minimal;odata.streaming=true;"
            "IEEE754Compatible=false;charset=utf-8")
AGS_DIAG = ('{"ServerInfo":{"DataCenter":"West Europe","Slice":"E","Ring":"5","ScaleUnit":"003",'
            '"RoleInstance":"AM2PEPF0000C2A1"}}')
SECRET_FIELDS = ("client_secret", "client_assertion", "device_code", "refresh_token")   # never in stats
MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024

# --------------------------------------------------------------------------------------------------
# Configuration: every key can be set by a CLI flag (--some-key) and at runtime (POST /_emulator/config)
DEFAULTS = {
    # identity
    "tenant": "aaaabbbb-0000-cccc-1111-dddd2222eeee",
    "tenant_domain": ["contoso.onmicrosoft.com"],
    "tenant_name": "Contoso",
    "client_id": "535fb089-9ff3-47b6-9bfb-4f1264799865",
    # like a real Entra secret value; has ~ . _ - and + / = so the client must form-encode it
    "client_secret": "Xq8Q~fT3.kL_9zR-eP+wN/uY=bD4mG6hJ2sV7cA1",
    "secret_expired": False,
    "graph_resource": ["https://graph.microsoft.com", GRAPH_APP_ID],
    "expires_in": 3599,
    "expires_in_string": False,
    "token_len": 1702,
    "token_ttl": None,          # server-side validity in seconds (default: expires_in)
    "refresh_in": None,         # add "refresh_in" to the token response
    "token_throttle": 0,        # first N token requests answer 429 (Retry-After: retry_after)
    # graph
    "sites": 100,
    "seed": 1,
    "page_size": 200,
    "max_top": 999,
    "sp_host": "contoso.sharepoint.com",
    "scan_budget": 50000,       # sites examined per search page before answering with what it has
    "no_roles": False,
    "ignore_select": False,
    "pretty": False,
    "next_link_position": "before",   # before|after|random (relative to "value")
    "trailing_empty_page": False,
    # framing / connection
    "framing": "chunked",       # chunked|length|random (Graph answers; token answers use length)
    "framing_scope": "graph",   # graph|all
    "chunk_ext": False,
    "trailers": False,
    "no_keepalive": False,
    "max_requests_per_conn": 0,
    "idle_timeout": 60.0,
    "lowercase_headers": False,
    "extra_header_bytes": 0,
    "extra_headers": 0,         # N more header lines (X-Extra-NNN) in the answer
    "header_fault_page": 0,     # 0: extra header bytes/lines on every answer; K: only on Graph page K
    # faults
    "throttle": 0,
    "throttle_after": 0,
    "throttle_status": 429,
    "throttle_style": "graph",  # graph|sharepoint
    "retry_after": "1",         # literal; "none" = omit; "http-date:N" = HTTP date N seconds ahead
    "drop_after_bytes": None,
    "drop_page": 2,
    "drop_every_time": False,
    "drop_mode": "fin",         # fin|rst
    "drop_where": "body",       # body|headers: count drop_after_bytes in the body or in the header block
    "drop_target": "graph",     # graph (page drop_page) | token (the token answer)
    "bad_framing": None,        # chunk-overflow|cl-and-te on Graph page bad_framing_page
    "bad_framing_page": 2,
    "token_malformed": None,    # truncated|invalid|html|no-token|deep: the 200 token answer is unusable
    "trickle": False,
    "trickle_bytes": 1,
    "malformed": False,
    "malformed_page": 2,
    "malformed_mode": "truncated",  # truncated|invalid|badutf8|html|shape|deep|deep-object
    "malformed_once": False,
    "next_link_host": None,
    "empty_page": [],
    "slow": 0.0,
    "slow_page": 1,
    "slow_target": "graph",     # graph|token
    "slow_where": "headers",    # headers|body
    "slow_every_time": False,
    "http_date_offset": 0,
}
CHOICES = {
    "framing": ("chunked", "length", "random", "close"), "framing_scope": ("graph", "all"),
    "throttle_status": (429, 500, 502, 503, 504), "throttle_style": ("graph", "sharepoint"),
    "drop_mode": ("fin", "rst"), "next_link_position": ("before", "after", "random"),
    "drop_where": ("body", "headers"), "drop_target": ("graph", "token"),
    "bad_framing": (None, "chunk-overflow", "cl-and-te"),
    "token_malformed": (None, "truncated", "invalid", "html", "no-token", "deep"),
    "malformed_mode": ("truncated", "invalid", "badutf8", "html", "shape", "deep", "deep-object"),
    "slow_target": ("graph", "token"), "slow_where": ("headers", "body"),
}
DEFAULTS.update(identity.DEFAULTS)      # certificate credentials, clock, device code, refresh tokens
CHOICES.update(identity.CHOICES)
DEFAULTS.update(drive_mod.DEFAULTS)     # document libraries, uploads, downloads, lists (drive.py)
CHOICES.update(drive_mod.CHOICES)


def _coerce(key, value):
    d = DEFAULTS[key]
    if key == "empty_page":
        if value in (None, False, ""):
            return []
        if isinstance(value, (int, str)):
            value = [value]
        return sorted({int(v) for v in value})
    if isinstance(d, list):
        return [str(v) for v in (value if isinstance(value, list) else [value])]
    if isinstance(d, bool):
        if isinstance(value, str):
            return value.lower() in ("1", "true", "yes", "on")
        return bool(value)
    if value is None:
        return None
    if isinstance(d, int) or key in ("drop_after_bytes", "token_ttl", "refresh_in"):
        return int(value)
    if isinstance(d, float):
        return float(value)
    return str(value) if d is not None or key == "next_link_host" else value


# --------------------------------------------------------------------------------------------------
# Site data: deterministic from (seed, index); generated on demand, never materialised.
WORDS = ["Apollo", "Contoso", "Fabrikam", "Northwind", "Tailspin", "Litware", "Adatum", "Proseware",
         "Woodgrove", "Alpine", "Coho", "Lucerne", "Margie", "Relecloud", "Wingtip", "Humongous"]


def _guid(b):
    return str(uuid.UUID(bytes=bytes(b), version=4))


def _when(h, base):
    t = base + int.from_bytes(h, "big") % (8 * 365 * 86400)
    s = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
    return s + (".%03dZ" % (h[0] * 3 % 1000) if h[1] & 1 else "Z")


def make_site(seed, i, sp_host):
    """Site number i as a dict with every field (Graph order) plus '_mode' (JSON escape style)."""
    h = hashlib.blake2b(b"%d:%d" % (seed, i), digest_size=40).digest()
    w1, w2 = WORDS[h[2] % 16], WORDS[h[3] % 16]
    coll = "teams" if h[4] % 4 == 0 else "sites"
    desc = ""
    if i == 0:
        name, dn, url = "Communication site", "Communication site", "https://" + sp_host
    else:
        k = (i + seed) % 16
        slug = "%s%s%d" % (w1, w2, i)
        url = "https://%s/%s/%s" % (sp_host, coll, slug)
        if k == 0:
            dn = "%s %s %05d" % (w1, w2, i)
        elif k == 1:
            dn = 'Team "%s" Site %d' % (w1, i)
            desc = 'Quoted "%s"' % w2
        elif k == 2:
            dn = "Back\\slash %s\\Docs %d" % (w1, i)
        elif k == 3:
            dn = "\u00c9quipe %s \u2014 Caf\u00e9 Cr\u00e8me %d" % (w1, i)
            url = "https://%s/%s/Equipe-Caf%%C3%%A9-%d" % (sp_host, coll, i)
        elif k == 4:
            dn = "\u55b6\u696d\u90e8 %s \u30b5\u30a4\u30c8 %d" % (w1, i)
        elif k == 5:
            dn = "Launch \U0001F680 %s \U0001F600 %d" % (w1, i)
            desc = "line one\nline\ttwo \U0001F600"
        elif k == 6:
            dn = "Sales/Marketing %s %d" % (w1, i)
        elif k == 7:
            dn = '\u00dcn\u00efc\u00f8d\u00e9 "\U0001F600" \\ / %s %d' % (w1, i)
        elif k == 8:
            dn = "\u0641\u0631\u064a\u0642 \u0627\u0644\u0645\u0628\u064a\u0639\u0627\u062a %s %d" % (w1, i)
        elif k == 9:     # SharePoint's longest title: 255 characters (ASCII, or CJK every other time)
            tail = " %d" % i
            fill = "Long Name " if (i // 16) % 2 == 0 else "\u9577\u3044\u540d\u524d"
            dn = (w1 + " " + fill * 64)[:255 - len(tail)] + tail
            url = "https://%s/%s/%s%s" % (sp_host, coll, "LongName" * 12, i)
        elif k == 10:
            dn = "O'Brien & Sons <Intranet> %s %d" % (w1, i)
        elif k == 11:
            dn = "Cafe\u0301 \U0001F468\u200d\U0001F469\u200d\U0001F467 family %s %d" % (w1, i)
        elif k == 12:
            dn = "Progress 100%% %%s %%d %%n %s %d" % (w1, i)
            url = "https://%s/%s/Progress100%%25-%%s-%d" % (sp_host, coll, i)
        elif k == 13:
            dn = "\u7814\u53d1\u4e2d\u5fc3 \ud55c\uad6d\uc5b4 \ud300 %s %d" % (w1, i)
        elif k == 14:
            dn = "%s-%s_%d" % (w1, w2, i)
        else:
            dn = "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac \u041a\u0438\u0440\u0438\u043b\u043b\u0438\u0446\u0430 %s %d" % (w1, i)
        name = slug
    site = {
        "createdDateTime": _when(h[5:9], 1451606400),
        "description": desc,
        "id": "%s,%s,%s" % (sp_host, _guid(h[8:24]), _guid(h[24:40])),
        "lastModifiedDateTime": _when(h[9:13], 1577836800),
        "name": name,
        "webUrl": url,
        "displayName": dn,
        "root": {},
        "siteCollection": {"hostname": sp_host},
        "_mode": h[1] % 4 if i else 0,
    }
    if i == 0:
        site["siteCollection"] = {"hostname": sp_host, "dataLocationCode": "NAM", "root": {}}
    return site


def _heavy(s, upper):
    out = []
    for ch in s:
        o = ord(ch)
        if o > 0xFFFF:
            o -= 0x10000
            pair = (0xD800 + (o >> 10), 0xDC00 + (o & 0x3FF))
        else:
            pair = (o,)
        for u in pair:
            out.append(("\\u%04X" if upper else "\\u%04x") % u)
    return '"' + "".join(out) + '"'


def enc_str(s, mode, field):
    """JSON string literal in one of four escape styles (all valid JSON, same decoded value)."""
    if mode == 0:
        return json.dumps(s, ensure_ascii=False)
    if mode == 1:
        return json.dumps(s, ensure_ascii=True)          # non-BMP as \ud83d\ude00 surrogate pairs
    if mode == 2:
        return json.dumps(s, ensure_ascii=False).replace("/", "\\/")
    if field == "displayName":
        return _heavy(s, len(s) % 2 == 0)                # every character as \uXXXX
    return json.dumps(s, ensure_ascii=True).replace("/", "\\/")


def enc_value(v, mode, field):
    if isinstance(v, str):
        return enc_str(v, mode, field)
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def site_json(site, fields, pretty):
    mode = site["_mode"]
    sep = ": " if pretty else ":"
    parts = ['"%s"%s%s' % (f, sep, enc_value(site[f], mode, f)) for f in fields]
    if pretty:
        return "{\n      " + ",\n      ".join(parts) + "\n    }"
    return "{" + ",".join(parts) + "}"


def dump_sites(path, n, seed, sp_host):
    with open(path, "w", encoding="utf-8", newline="\n") as jf, \
            open(path + ".tsv", "w", encoding="utf-8", newline="\n") as tf:
        for i in range(n):
            s = make_site(seed, i, sp_host)
            jf.write(json.dumps({"id": s["id"], "displayName": s["displayName"], "webUrl": s["webUrl"]},
                                ensure_ascii=False, separators=(",", ":")) + "\n")
            tf.write("%s\t%s\n" % (s["displayName"], s["webUrl"]))


# --------------------------------------------------------------------------------------------------
# Every time the emulator shows or checks goes through identity.now() (real time + clock_offset_s)
def now_http_date(offset=0):
    return email.utils.formatdate(now() + offset, usegmt=True)


def ests_timestamp():
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(now()))


def graph_date():
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now()))


class HttpError(Exception):
    pass


class Request:
    __slots__ = ("method", "target", "version", "headers", "body", "path", "query", "raw_query")

    def header(self, name, default=None):
        v = self.headers.get(name.lower())
        return v[0] if v else default


class Conn:
    """Buffered reader over a (TLS) socket with strict HTTP/1.1 request parsing."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.dropped = False
        self.body_left = 0      # bytes of a deferred (streamed) request body still on the socket
        self.defer = None       # defer(conn, req) -> True: leave the body for the handler (drive.py)

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def read_request(self, idle_timeout):
        self.sock.settimeout(idle_timeout)
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > MAX_HEAD:
                raise HttpError("431")
            if not self._fill():
                if self.buf:
                    raise HttpError("400")
                return None
            self.sock.settimeout(30)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if len(head) > MAX_HEAD:
            raise HttpError("431")
        lines = head.split(b"\r\n")
        if any(b"\n" in ln or b"\r" in ln for ln in lines):
            raise HttpError("400")          # bare CR or LF: Microsoft's front ends refuse it
        parts = lines[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            raise HttpError("400")
        req = Request()
        req.method = parts[0].decode("latin-1")
        req.target = parts[1].decode("latin-1")
        req.version = parts[2].decode("latin-1")
        req.headers = {}
        for ln in lines[1:]:
            if not ln or ln[:1] in (b" ", b"\t") or b":" not in ln:
                raise HttpError("400")      # obs-fold or junk
            name, value = ln.split(b":", 1)
            if name != name.strip() or not name:
                raise HttpError("400")
            req.headers.setdefault(name.decode("latin-1").lower(), []).append(
                value.strip(b" \t").decode("latin-1"))
        if req.version == "HTTP/1.1" and len(req.headers.get("host", [])) != 1:
            raise HttpError("400-host")
        te = req.header("transfer-encoding")
        cl = req.headers.get("content-length")
        if te and cl:
            raise HttpError("400")
        if req.header("expect", "").lower() == "100-continue":
            self.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if te:
            if te.lower() != "chunked":
                raise HttpError("501")
            req.body = self._read_chunked()
        elif cl:
            if len(cl) != 1 or not cl[0].isdigit():
                raise HttpError("400")
            n = int(cl[0])
            if self.defer is not None and self.defer(self, req):
                req.body = None
                self.body_left = n
            elif n > MAX_BODY:
                raise HttpError("413")
            else:
                while len(self.buf) < n:
                    if not self._fill():
                        raise HttpError("400")
                req.body, self.buf = self.buf[:n], self.buf[n:]
        else:
            req.body = b""
        t = req.target
        if t.startswith("https://") or t.startswith("http://"):
            rest = t.split("://", 1)[1]
            t = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
        req.path, _, req.raw_query = t.partition("?")
        req.query = parse_query(req.raw_query)
        return req

    def _readline(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > MAX_HEAD or not self._fill():
                raise HttpError("400")
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _read_chunked(self):
        body = b""
        while True:
            size = int(self._readline().split(b";")[0].strip(), 16)
            if size == 0:
                while self._readline():
                    pass
                return body
            while len(self.buf) < size + 2:
                if not self._fill():
                    raise HttpError("400")
            body += self.buf[:size]
            self.buf = self.buf[size + 2:]
            if len(body) > MAX_BODY:
                raise HttpError("413")


def parse_query(raw):
    """[(key, value)] with percent-decoding (keys too: %24top == $top); '+' is a space."""
    out = []
    if not raw:
        return out
    for part in raw.split("&"):
        if not part:
            continue
        k, _, v = part.partition("=")
        out.append((urllib.parse.unquote_plus(k), urllib.parse.unquote_plus(v)))
    return out


def q_encode(v):
    """Graph-style percent-encoding in nextLinks (lower-case hex, e.g. %2c)."""
    parts = urllib.parse.quote(v, safe="$-_.~").split("%")
    return parts[0] + "".join("%" + p[:2].lower() + p[2:] for p in parts[1:])


# --------------------------------------------------------------------------------------------------
class Emulator:
    def __init__(self, cfg, port_hint=None):
        self.cfg = cfg
        self.lock = threading.Lock()
        self.port = port_hint
        self.tokens = collections.OrderedDict()   # token -> expiry (epoch)
        self.key = os.urandom(16)                  # skiptoken integrity
        self.log = False
        self.identity = identity.Identity(self)
        self.identity.config_changed()
        self.drive = drive_mod.DriveService(self, make_site, SITE_FIELDS)
        self.reset_stats()
        self.reset_faults()

    # ---- state
    def reset_stats(self):
        with self.lock:
            self.stats = {
                "connections": 0, "tls_handshake_failures": 0, "tls_failure_reasons": {},
                "tls_versions": {}, "open_connections": 0, "connections_without_request": 0,
                "api_connections": 0,
                "http_requests": 0, "api_requests": 0, "bad_requests": 0,
                "token_requests": 0, "oidc_requests": 0, "tokens_issued": 0, "token_errors": {}, "last_token": None,
                "last_token_form": None,
                "graph_requests": 0, "graph_requests_by_path": {}, "graph_status": {},
                "sites_pages_served": 0, "sites_items_served": 0,
                "authorization_headers": 0, "authorization_by_host": {}, "requests_by_host": {},
                "faults": {}, "recent": [], "last_graph_headers": None,
                "last_request_id": None, "retry_gaps": [], "header_page_lines": None,
            }
            self.stats.update(identity.Identity.fresh_stats())
            self.stats.update(drive_mod.DriveService.fresh_stats())

    def reset_faults(self):
        self.throttle_served = 0
        self.token_throttle_served = 0
        self.graph_seen = 0
        self.fired = set()
        self.resp_counter = 0
        self.throttle_sent_at = None    # monotonic time the last throttled/5xx answer was written
        if getattr(self, "drive", None):
            self.drive.reset_faults()

    def bump(self, key, sub=None, n=1):
        with self.lock:
            if sub is None:
                self.stats[key] += n
            else:
                d = self.stats[key]
                d[sub] = d.get(sub, 0) + n

    def fault(self, name):
        self.bump("faults", name)

    def once(self, tag, every):
        with self.lock:
            if every:
                return True
            if tag in self.fired:
                return False
            self.fired.add(tag)
            return True

    def rng(self):
        with self.lock:
            self.resp_counter += 1
            n = self.resp_counter
        return random.Random("%s:%d" % (self.cfg["seed"], n))

    # ---- connection loop
    def handle_connection(self, raw, addr, ctx):
        self.bump("connections")
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        raw.settimeout(10)
        try:
            sock = ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.bump("tls_handshake_failures")
            self.bump("tls_failure_reasons", getattr(e, "reason", None) or type(e).__name__)
            try:
                raw.close()
            except OSError:
                pass
            return
        self.bump("tls_versions", sock.version() or "?")
        self.bump("open_connections")
        conn = Conn(sock)
        on_sp = self.drive.is_sp(sock)
        conn.defer = lambda c, r: drive_mod.defer_body(c, r, on_sp)
        served = 0
        first_api = False
        try:
            while True:
                try:
                    # idle_timeout applies between requests; the first one gets at least 10 s
                    idle = float(self.cfg["idle_timeout"])
                    req = conn.read_request(idle if served else max(idle, 10.0))
                except HttpError as e:
                    self.bump("bad_requests")
                    self.send_plain_error(conn, str(e))
                    break
                if req is None:
                    break
                served += 1
                if served == 1:
                    first_api = req.path.startswith("/_emulator/")
                keep = self.dispatch(conn, req, addr, on_sp)
                if conn.body_left and not (keep and drive_mod.drain(conn)):
                    break
                mr = int(self.cfg["max_requests_per_conn"] or 0)
                if not keep or (mr and served >= mr):
                    break
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            self.bump("open_connections", n=-1)
            if served and first_api:
                self.bump("api_connections")
            if served == 0:
                self.bump("connections_without_request")
            if not conn.dropped:
                # orderly close: send close_notify without waiting for the peer's
                try:
                    sock.settimeout(0)
                    sock.unwrap()
                except (OSError, ssl.SSLError, ValueError):
                    pass
            try:
                sock.close()
            except OSError:
                pass

    def send_plain_error(self, conn, code):
        status = {"400-host": 400, "431": 431, "413": 413, "501": 501}.get(code, 400)
        title = "Bad Request - Invalid Hostname" if code == "400-host" else \
            "Bad Request" if status == 400 else http.HTTPStatus(status).phrase
        body = ('<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN""http://www.w3.org/TR/html4/strict.dtd">\r\n'
                "<HTML><HEAD><TITLE>%s</TITLE>\r\n<META HTTP-EQUIV=\"Content-Type\" Content=\"text/html; "
                "charset=us-ascii\"></HEAD>\r\n<BODY><h2>%s</h2>\r\n<hr><p>HTTP Error %d. The request is "
                "badly formed.</p>\r\n</BODY></HTML>\r\n") % (title, title, status)
        try:
            self.write(conn, status, [("Content-Type", "text/html; charset=us-ascii"),
                                      ("Server", "Microsoft-HTTPAPI/2.0"), ("Date", now_http_date())],
                       body.encode(), framing="length", close=True)
        except OSError:
            pass

    # ---- routing
    def dispatch(self, conn, req, addr, on_sp=False):
        host = req.header("host", "")
        client_close = (req.header("connection", "").lower() == "close" or
                        (req.version == "HTTP/1.0" and req.header("connection", "").lower() != "keep-alive"))
        if req.path.startswith("/_emulator/") and not on_sp:
            self.bump("api_requests")
            return self.api(conn, req, addr) and not client_close
        self.bump("http_requests")
        self.bump("requests_by_host", host)
        if req.header("authorization") is not None:
            self.bump("authorization_headers")
            self.bump("authorization_by_host", host)
        close = client_close or bool(self.cfg["no_keepalive"])
        segs = req.path.split("/")
        with self.lock:
            rec = self.stats["recent"]
            rec.append("%s %s host=%s" % (req.method, req.target, host))
            del rec[:-200]
        if self.log:
            sys.stderr.write("emulator: %s %s host=%s\n" % (req.method, req.target[:200], host))
        if on_sp:       # the SharePoint host: upload sessions and downloads (drive.py)
            return self.drive.sp(conn, req, close)
        if len(segs) == 5 and segs[2:] == ["oauth2", "v2.0", "token"]:
            return self.token(conn, req, segs[1], close)
        if len(segs) == 5 and segs[2:] == ["oauth2", "v2.0", "devicecode"]:
            return self.identity.devicecode(conn, req, segs[1], self.token_form(req), close)
        if len(segs) == 5 and segs[2:] == ["v2.0", ".well-known", "openid-configuration"]:
            return self.oidc(conn, req, segs[1], close)
        if len(segs) >= 2 and segs[1] in ("v1.0", "beta"):
            return self.graph(conn, req, close)
        body = b'{"error":{"code":"BadRequest","message":"Invalid version."}}'
        return self.write(conn, 404, self.graph_headers(req), body, close=close)

    # ---- control API
    def api(self, conn, req, addr):
        ip = addr[0] if addr else ""
        if not (ip == "::1" or ip.startswith("127.") or ip.startswith("::ffff:127.")):
            return self.json_reply(conn, 403, {"error": "loopback only"})
        p = req.path
        try:
            payload = json.loads(req.body or b"{}")
        except ValueError:
            return self.json_reply(conn, 400, {"error": "body is not JSON"})
        if p.startswith("/_emulator/drive/"):
            return self.drive.api(conn, req, payload)
        if p == "/_emulator/stats" and req.method == "GET":
            with self.lock:
                snap = json.loads(json.dumps(self.stats))
            snap["issued_valid_tokens"] = sum(1 for e in self.tokens.values() if e > now())
            snap["port"] = self.port
            snap["sp_port"] = self.drive.sp_port
            return self.json_reply(conn, 200, snap)
        if p == "/_emulator/config" and req.method == "GET":
            return self.json_reply(conn, 200, self.cfg)
        if p == "/_emulator/config" and req.method == "POST":
            if not isinstance(payload, dict):
                return self.json_reply(conn, 400, {"error": "expected a JSON object"})
            bad = [k for k in payload if k.replace("-", "_") not in DEFAULTS]
            if bad:
                return self.json_reply(conn, 400, {"error": "unknown keys", "keys": bad})
            try:
                new = {k.replace("-", "_"): _coerce(k.replace("-", "_"), v) for k, v in payload.items()}
                for k, v in new.items():
                    if k in CHOICES and v not in CHOICES[k]:
                        raise ValueError("%s must be one of %s" % (k, CHOICES[k]))
            except (ValueError, TypeError) as e:
                return self.json_reply(conn, 400, {"error": str(e)})
            with self.lock:
                self.cfg.update(new)
            self.identity.config_changed()
            self.reset_faults()
            return self.json_reply(conn, 200, self.cfg)
        if p == "/_emulator/reset" and req.method == "POST":
            self.reset_stats()
            self.reset_faults()
            if payload.get("tokens"):
                with self.lock:
                    self.tokens.clear()
                self.identity.forget()
            return self.json_reply(conn, 200, {"reset": True})
        if p == "/_emulator/expire-tokens" and req.method == "POST":
            with self.lock:
                for t in self.tokens:
                    self.tokens[t] = 0
            return self.json_reply(conn, 200, {"expired": len(self.tokens)})
        if p == "/_emulator/expire-refresh-tokens" and req.method == "POST":
            return self.json_reply(conn, 200, {"expired": self.identity.expire_refresh_tokens()})
        if p == "/_emulator/shutdown" and req.method == "POST":
            self.json_reply(conn, 200, {"shutdown": True})
            threading.Thread(target=lambda: os.kill(os.getpid(), signal.SIGTERM), daemon=True).start()
            return False
        return self.json_reply(conn, 404, {"error": "unknown emulator endpoint"})

    def json_reply(self, conn, status, obj):
        body = json.dumps(obj, ensure_ascii=False, indent=1).encode() + b"\n"
        return self.write(conn, status, [("Content-Type", "application/json; charset=utf-8"),
                                         ("Date", now_http_date())], body, framing="length", kind="api")

    # ---- identity platform
    def ests_headers(self, req):
        return [
            ("Cache-Control", "no-store, no-cache"),
            ("Pragma", "no-cache"),
            ("Content-Type", "application/json; charset=utf-8"),
            ("Expires", "-1"),
            ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),
            ("X-Content-Type-Options", "nosniff"),
            ("P3P", 'CP="DSP CUR OTPi IND OTRi ONL FIN"'),
            ("x-ms-request-id", str(uuid.uuid4())),
            ("x-ms-ests-server", "2.1.19512.8 - WEULR1 ProdSlices"),
            ("x-ms-clitelem", "1,0,0,,"),
            ("Set-Cookie", "fpc=A%s; expires=%s; path=/; secure; HttpOnly; SameSite=None"
             % (base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("="),
                time.strftime("%a, %d-%b-%Y %H:%M:%S GMT", time.gmtime(now() + 30 * 86400)))),
            ("Set-Cookie", "x-ms-gateway-slice=estsfd; path=/; secure; samesite=none; httponly"),
            ("Set-Cookie", "stsservicecookie=estsfd; path=/; secure; samesite=none; httponly"),
            ("Date", now_http_date(self.cfg["http_date_offset"])),
        ]

    def ests_error(self, conn, req, status, error, code, text, close, uri=True):
        self.bump("token_errors", "AADSTS%d" % code)
        trace = str(uuid.uuid4())
        corr = req.header("client-request-id") or str(uuid.uuid4())
        ts = ests_timestamp()
        body = collections.OrderedDict([
            ("error", error),
            ("error_description", "AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s"
             % (code, text, trace, corr, ts)),
            ("error_codes", [code]),
            ("timestamp", ts),
            ("trace_id", trace),
            ("correlation_id", corr),
        ])
        if uri:
            body["error_uri"] = "https://login.microsoftonline.com/error?code=%d" % code
        data = json.dumps(body, separators=(",", ":")).encode()
        return self.write(conn, status, self.ests_headers(req), data, close=close, kind="token")

    def tenant_known(self, t):
        t = t.lower()
        return t == self.cfg["tenant"].lower() or t in [d.lower() for d in self.cfg["tenant_domain"]]

    def own_origins(self, req):
        out = set()
        h = req.header("host")
        if h:
            out.add("https://" + h.lower())
        if self.port:
            for n in ("localhost", "127.0.0.1", "[::1]"):
                out.add("https://%s:%d" % (n, self.port))
        return out

    @staticmethod
    def token_form(req):
        ctype = req.header("content-type", "").split(";")[0].strip().lower()
        form = {}
        if ctype == "application/x-www-form-urlencoded":
            try:
                text = req.body.decode("utf-8")
            except UnicodeDecodeError:
                text = ""
            for k, v in parse_query(text):
                form.setdefault(k, v)
        return form

    def token(self, conn, req, tenant, close):
        cfg = self.cfg
        self.bump("token_requests")
        tslow = None
        if cfg["slow"] and cfg["slow_target"] == "token" and self.once(("slow-token",), cfg["slow_every_time"]):
            self.fault("slow")
            tslow = (float(cfg["slow"]), cfg["slow_where"])
        if req.method != "POST":
            return self.ests_error(conn, req, 400, "invalid_request", 900561,
                                   "The endpoint only accepts POST, OPTIONS requests. Received a %s request."
                                   % req.method, close)
        with self.lock:
            throttled = self.token_throttle_served < int(cfg["token_throttle"])
            if throttled:
                self.token_throttle_served += 1
        if throttled:
            self.fault("token_throttled")
            hdrs = self.ests_headers(req)
            ra = self.retry_after_value()
            if ra is not None:
                hdrs.append(("Retry-After", ra))
            return self.write(conn, 429, hdrs, b'{"error":"temporarily_unavailable","error_description":'
                              b'"AADSTS50196: The server terminated an operation because it encountered a '
                              b'client request loop."}', close=close, kind="token")
        if tenant.lower() in ("common", "organizations", "consumers"):
            return self.ests_error(conn, req, 400, "invalid_request", 50059,
                                   "No tenant-identifying information found in either the request or implied "
                                   "by any provided credentials.", close)
        if not self.tenant_known(tenant):
            return self.ests_error(conn, req, 400, "invalid_request", 90002,
                                   "Tenant '%s' not found. Check to make sure you have the correct tenant ID "
                                   "and are signing into the correct cloud. Check with your subscription "
                                   "administrator, this may happen if there are no active subscriptions for "
                                   "the tenant." % tenant, close)
        form = self.token_form(req)
        basic_id = basic_secret = None
        auth = req.header("authorization", "")
        if auth[:6].lower() == "basic ":
            try:
                u, _, pw = base64.b64decode(auth[6:].strip()).decode("utf-8").partition(":")
                basic_id, basic_secret = urllib.parse.unquote_plus(u), urllib.parse.unquote_plus(pw)
            except (ValueError, UnicodeDecodeError):
                pass
        with self.lock:
            self.stats["last_token_form"] = {k: ("<redacted>" if k in SECRET_FIELDS else v)
                                             for k, v in form.items()}
        missing = lambda p: self.ests_error(
            conn, req, 400, "invalid_request", 900144,
            "The request body must contain the following parameter: '%s'." % p, close)
        gt = form.get("grant_type", "")
        if not gt:
            return missing("grant_type")
        if gt in identity.GRANTS:        # device code polls and refresh tokens: identity.py
            return self.identity.token(conn, req, form, basic_id, basic_secret, close, tslow)
        if gt != "client_credentials":
            return self.ests_error(conn, req, 400, "unsupported_grant_type", 70003,
                                   "The app requested an unsupported grant type '%s'." % gt, close)
        cid = form.get("client_id") or basic_id or ""
        if not cid:
            return missing("client_id")
        if cid.lower() != cfg["client_id"].lower():
            return self.ests_error(conn, req, 400, "unauthorized_client", 700016,
                                   "Application with identifier '%s' was not found in the directory '%s'. "
                                   "This can happen if the application has not been installed by the "
                                   "administrator of the tenant or consented to by any user in the tenant. "
                                   "You may have sent your authentication request to the wrong tenant."
                                   % (cid, cfg["tenant_name"]), close)
        scope = form.get("scope", "")
        if not scope.strip():
            return missing("scope")
        scopes = [s for s in scope.split(" ") if s and s not in OIDC_SCOPES]
        if not scopes:
            return self.ests_error(conn, req, 400, "invalid_scope", 70011,
                                   "The provided value for the input parameter 'scope' is not valid. "
                                   "The scope %s is not valid." % scope, close, uri=False)
        for s in scopes:
            if not s.endswith("/.default"):
                return self.ests_error(conn, req, 400, "invalid_scope", 1002012,
                                       "The provided value for scope %s is not valid. Client credential flows "
                                       "must have a scope value with /.default suffixed to the resource "
                                       "identifier (application ID URI)." % s, close)
        resources = {s[:-len("/.default")].rstrip("/") for s in scopes}
        if len(resources) > 1:
            return self.ests_error(conn, req, 400, "invalid_scope", 70011,
                                   "The provided value for the input parameter 'scope' is not valid. "
                                   "The scope %s is not valid. static scope limit exceeded." % scope,
                                   close, uri=False)
        resource = resources.pop()
        accepted = {r.rstrip("/").lower() for r in cfg["graph_resource"]} | self.own_origins(req)
        if resource.lower() not in accepted:
            return self.ests_error(conn, req, 400, "invalid_resource", 500011,
                                   "The resource principal named %s was not found in the tenant named %s. "
                                   "This can happen if the application has not been installed by the "
                                   "administrator of the tenant or consented to by any user in the tenant. "
                                   "You might have sent your authentication request to the wrong tenant."
                                   % (resource, cfg["tenant_name"]), close)
        secret = form.get("client_secret")
        if secret is None:
            secret = basic_secret
        if secret is None and "client_assertion" not in form:
            return self.ests_error(conn, req, 401, "invalid_client", 7000218,
                                   "The request body must contain the following parameter: "
                                   "'client_assertion' or 'client_secret'.", close)
        if "client_assertion" in form or "client_assertion_type" in form:   # certificate: identity.py
            bad = self.identity.check_assertion(req, form, tenant, secret)
            if bad:
                return self.ests_error(conn, req, bad.status, bad.error, bad.code, bad.text, close)
        elif secret is None or not hmac.compare_digest(secret.encode(), cfg["client_secret"].encode()):
            return self.ests_error(conn, req, 401, "invalid_client", 7000215,
                                   "Invalid client secret provided. Ensure the secret being sent in the "
                                   "request is the client secret value, not the client secret ID, for a "
                                   "secret added to app '%s'." % cfg["client_id"], close)
        if cfg["secret_expired"] and secret is not None:
            return self.ests_error(conn, req, 401, "invalid_client", 7000222,
                                   "The provided client secret keys for app '%s' are expired. Visit the "
                                   "Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, "
                                   "or consider using certificate credentials for added security: "
                                   "https://aka.ms/certCreds." % cfg["client_id"], close)
        tok = self.new_token(resource)
        exp = int(cfg["expires_in"])
        ttl = cfg["token_ttl"] if cfg["token_ttl"] is not None else exp
        with self.lock:
            self.tokens[tok] = now() + float(ttl)
            while len(self.tokens) > 10000:
                self.tokens.popitem(last=False)
            self.stats["tokens_issued"] += 1
            self.stats["last_token"] = tok
        e = str(exp) if cfg["expires_in_string"] else exp
        body = collections.OrderedDict([("token_type", "Bearer"), ("expires_in", e), ("ext_expires_in", e)])
        if cfg["refresh_in"] is not None:
            body["refresh_in"] = int(cfg["refresh_in"])
        body["access_token"] = tok
        data = json.dumps(body, separators=(",", ":")).encode()
        return self.token_answer(conn, req, data, tok, close, tslow)

    def token_answer(self, conn, req, data, tok, close, tslow):
        """A successful token answer (any grant), with the token faults applied."""
        cfg = self.cfg
        exp = int(cfg["expires_in"])
        hdrs = self.ests_headers(req)
        bad = cfg["token_malformed"]
        if bad:
            self.fault("token_malformed")
            if bad == "truncated":
                data = data[:len(data) // 2]
            elif bad == "invalid":
                data = data.replace(b'"expires_in":', b'"expires_in"::', 1)
            elif bad == "html":         # a captive portal or proxy login page, with status 200
                hdrs = [h for h in hdrs if h[0] != "Content-Type"] + [("Content-Type", "text/html")]
                data = (b"<!DOCTYPE html><html><head><title>Sign in to the network</title></head>"
                        b"<body><form method=post><input name=user></form></body></html>")
            elif bad == "no-token":     # well-formed JSON without access_token
                data = json.dumps({"token_type": "Bearer", "expires_in": exp}, separators=(",", ":")).encode()
            else:                       # deep: valid JSON nested 10,000 levels before access_token
                data = (b'{"token_type":"Bearer","x":' + b"[" * 10000 + b"]" * 10000 +
                        b',"expires_in":3599,"access_token":"' + tok.encode() + b'"}')
        fault = {}
        if tslow:
            fault["slow"], fault["slow_where"] = tslow
        if cfg["drop_after_bytes"] is not None and cfg["drop_target"] == "token" and \
                self.once(("drop-token",), cfg["drop_every_time"]):
            self.fault("dropped")
            fault["drop_after"] = int(cfg["drop_after_bytes"])
            fault["drop_where"] = cfg["drop_where"]
        return self.write(conn, 200, hdrs, data, close=close, kind="token", **fault)

    def new_token(self, resource, scp=None):
        """A JWT-shaped opaque token; scp (a list of delegated permissions) makes it a user token."""
        n = int(self.cfg["token_len"])
        b64 = lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")
        t = int(now())
        hdr = {"typ": "JWT", "nonce": b64(os.urandom(32)), "alg": "RS256",
               "x5t": b64(os.urandom(20)), "kid": b64(os.urandom(20))}
        claims = {"aud": resource if resource.startswith("http") else "https://graph.microsoft.com",
                  "iss": "https://sts.windows.net/%s/" % self.cfg["tenant"],
                  "iat": t, "nbf": t, "exp": t + int(self.cfg["expires_in"]),
                  "aio": b64(os.urandom(48)), "app_displayname": "kiosk-gateway-uploader",
                  "appid": self.cfg["client_id"], "appidacr": "1",
                  "idp": "https://sts.windows.net/%s/" % self.cfg["tenant"], "idtyp": "app",
                  "oid": str(uuid.uuid4()), "rh": b64(os.urandom(40)) + ".",
                  "roles": [] if self.cfg["no_roles"] else ["Sites.Read.All"],
                  "sub": str(uuid.uuid4()), "tenant_region_scope": "EU", "tid": self.cfg["tenant"],
                  "uti": b64(os.urandom(16)), "ver": "1.0", "xms_tcdt": 1512038400}
        if scp is not None:
            del claims["roles"]
            claims.update({"idtyp": "user", "scp": " ".join(scp), "upn": "kiosk@" + self.cfg["tenant_domain"][0]})
        head = b64(json.dumps(hdr, separators=(",", ":")).encode()) + "." + \
            b64(json.dumps(claims, separators=(",", ":")).encode()) + "."
        if len(head) + 86 > n:      # too short for a JWT shape: opaque random string of length n
            return b64(os.urandom(n))[:n] if n > 0 else ""
        sig = b64(os.urandom(n))
        return head + sig[:n - len(head)]

    def oidc(self, conn, req, tenant, close):
        self.bump("oidc_requests")
        if not self.tenant_known(tenant) and tenant.lower() not in ("common", "organizations"):
            trace, corr, ts = str(uuid.uuid4()), str(uuid.uuid4()), ests_timestamp()
            body = json.dumps(collections.OrderedDict([
                ("error", "invalid_tenant"),
                ("error_description", "AADSTS90002: Tenant '%s' not found. Check to make sure you have the "
                 "correct tenant ID and are signing into the correct cloud. Check with your subscription "
                 "administrator, this may happen if there are no active subscriptions for the tenant."
                 "\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s" % (tenant, trace, corr, ts)),
                ("error_codes", [90002]), ("timestamp", ts), ("trace_id", trace), ("correlation_id", corr),
                ("error_uri", "https://login.microsoftonline.com/error?code=90002")]),
                separators=(",", ":")).encode()
            return self.write(conn, 400, self.ests_headers(req), body, close=close, kind="token")
        base = "https://" + req.header("host", "login.microsoftonline.com")
        t = self.cfg["tenant"]
        doc = collections.OrderedDict([
            ("token_endpoint", "%s/%s/oauth2/v2.0/token" % (base, t)),
            ("token_endpoint_auth_methods_supported", ["client_secret_post", "private_key_jwt",
                                                       "client_secret_basic"]),
            ("jwks_uri", "%s/%s/discovery/v2.0/keys" % (base, t)),
            ("response_modes_supported", ["query", "fragment", "form_post"]),
            ("subject_types_supported", ["pairwise"]),
            ("id_token_signing_alg_values_supported", ["RS256"]),
            ("response_types_supported", ["code", "id_token", "code id_token", "id_token token"]),
            ("scopes_supported", ["openid", "profile", "email", "offline_access"]),
            ("issuer", "%s/%s/v2.0" % (base, t)),
            ("request_uri_parameter_supported", False),
            ("authorization_endpoint", "%s/%s/oauth2/v2.0/authorize" % (base, t)),
            ("device_authorization_endpoint", "%s/%s/oauth2/v2.0/devicecode" % (base, t)),
            ("http_logout_supported", True),
            ("frontchannel_logout_supported", True),
            ("end_session_endpoint", "%s/%s/oauth2/v2.0/logout" % (base, t)),
            ("claims_supported", ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce",
                                  "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"]),
            ("tenant_region_scope", "EU"),
            ("cloud_instance_name", "microsoftonline.com"),
            ("cloud_graph_host_name", "graph.windows.net"),
            ("msgraph_host", "graph.microsoft.com"),
            ("rbac_url", "https://pas.windows.net"),
        ])
        hdrs = [h for h in self.ests_headers(req) if h[0] not in ("Cache-Control", "Pragma", "Expires")]
        hdrs.insert(0, ("Cache-Control", "max-age=86400, private"))
        hdrs.append(("Access-Control-Allow-Origin", "*"))
        hdrs.append(("Access-Control-Allow-Methods", "GET, OPTIONS"))
        return self.write(conn, 200, hdrs, json.dumps(doc, separators=(",", ":")).encode(),
                          close=close, kind="token")

    # ---- graph
    def graph_headers(self, req, rid=None):
        rid = rid or str(uuid.uuid4())
        with self.lock:
            self.stats["last_request_id"] = rid
        return [
            ("Cache-Control", "no-cache"),
            ("Content-Type", GRAPH_CT),
            ("Vary", "Accept-Encoding"),
            ("Strict-Transport-Security", "max-age=31536000"),
            ("request-id", rid),
            ("client-request-id", req.header("client-request-id") or rid),
            ("x-ms-ags-diagnostic", AGS_DIAG),
            ("x-ms-resource-unit", "2"),
            ("OData-Version", "4.0"),
            ("Date", now_http_date(self.cfg["http_date_offset"])),
        ]

    def graph_error(self, conn, req, status, code, message, close, extra_headers=(), inner=None):
        self.bump("graph_status", str(status))
        rid = str(uuid.uuid4())
        cri = req.header("client-request-id") or rid
        if inner is None:
            inner = collections.OrderedDict([("date", graph_date()), ("request-id", rid),
                                             ("client-request-id", cri)])
        body = json.dumps({"error": collections.OrderedDict([("code", code), ("message", message),
                                                             ("innerError", inner)])},
                          separators=(",", ":")).encode()
        hdrs = self.graph_headers(req, rid)
        hdrs[1] = ("Content-Type", "application/json")
        hdrs.extend(extra_headers)
        return self.write(conn, status, hdrs, body, close=close)

    def retry_after_value(self):
        ra = str(self.cfg["retry_after"])
        if ra.lower() == "none":
            return None
        if ra.startswith("http-date:"):
            return now_http_date(float(ra.split(":", 1)[1]))
        return ra

    def graph(self, conn, req, close):
        cfg = self.cfg
        self.bump("graph_requests")
        self.bump("graph_requests_by_path", req.path)
        with self.lock:
            self.stats["last_graph_headers"] = {k: ("<%d bytes>" % len(v[0]) if k == "authorization" else v[0])
                                                for k, v in req.headers.items()}
            self.graph_seen += 1
            seen = self.graph_seen
            if self.throttle_sent_at is not None:
                self.stats["retry_gaps"].append(round(time.monotonic() - self.throttle_sent_at, 3))
                self.throttle_sent_at = None
        # authentication
        auth = req.header("authorization", "")
        www = [("WWW-Authenticate", 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/'
                'common/oauth2/authorize", client_id="%s"' % GRAPH_APP_ID)]
        if auth[:7].lower() != "bearer " or not auth[7:].strip():
            return self.graph_error(conn, req, 401, "InvalidAuthenticationToken", "Access token is empty.",
                                    close, www)
        tok = auth[7:].strip()
        with self.lock:
            exp = self.tokens.get(tok)
        if exp is None:
            msg = ("CompactToken parsing failed with error code: 80049217" if tok.count(".") != 2 else
                   "Access token validation failure. Invalid audience.")
            return self.graph_error(conn, req, 401, "InvalidAuthenticationToken", msg, close, www)
        if exp <= now():
            return self.graph_error(conn, req, 401, "InvalidAuthenticationToken",
                                    "Access token has expired or is not yet valid.", close, www)
        scopes = self.identity.delegated_scopes(tok)       # None: an app-only token
        if cfg["no_roles"] or scopes == set():
            return self.graph_error(conn, req, 403, "AccessDenied",
                                    "Either scp or roles claim need to be present in the token.", close)
        if scopes is not None and not self.identity.may_read(scopes, req.path):
            return self.graph_error(conn, req, 403, "accessDenied", "Access denied", close)
        # throttling
        throttled = False
        with self.lock:
            if seen > int(cfg["throttle_after"]) and self.throttle_served < int(cfg["throttle"]):
                self.throttle_served += 1
                throttled = True
        if throttled:
            keep = self.throttle_reply(conn, req, close)
            with self.lock:
                self.throttle_sent_at = time.monotonic()
            return keep
        answered = self.drive.graph(conn, req, close)     # sites/{id}, drives, items, lists (drive.py)
        if answered is not None:
            return answered
        if req.method != "GET":
            return self.graph_error(conn, req, 405, "BadRequest",
                                    "Specified HTTP method is not allowed for the request target.", close)
        if req.path.rstrip("/") == "/v1.0/sites":
            return self.sites(conn, req, close, delegated=scopes is not None)
        if req.path.startswith("/v1.0/sites/"):
            return self.graph_error(conn, req, 404, "itemNotFound", "Requested site could not be found", close)
        seg = req.path.split("/")[2] if len(req.path.split("/")) > 2 else ""
        return self.graph_error(conn, req, 400, "BadRequest",
                                "Resource not found for the segment '%s'." % seg, close)

    def throttle_reply(self, conn, req, close):
        cfg = self.cfg
        st = int(cfg["throttle_status"])
        self.fault("throttled_%d" % st)
        hdrs = []
        ra = self.retry_after_value()
        if ra is not None:
            hdrs.append(("Retry-After", ra))
        rid = str(uuid.uuid4())
        cri = req.header("client-request-id") or rid
        if st == 429 and cfg["throttle_style"] == "sharepoint":
            hdrs += [("RateLimit-Limit", "1200"), ("RateLimit-Remaining", "0"),
                     ("RateLimit-Reset", ra if ra and ra.isdigit() else "31")]
            inner = collections.OrderedDict([("code", "throttledRequest"), ("innerError", {"code": "quota"}),
                                             ("date", graph_date()), ("request-id", rid),
                                             ("client-request-id", cri)])
            return self.graph_error(conn, req, 429, "activityLimitReached", "The request has been throttled",
                                    close, hdrs, inner)
        if st == 429:
            inner = collections.OrderedDict([("code", "429"), ("date", graph_date()),
                                             ("message", "Please retry after"), ("request-id", rid),
                                             ("status", "429")])
            return self.graph_error(conn, req, 429, "TooManyRequests", "Please retry again later.",
                                    close, hdrs, inner)
        if st == 500:
            return self.graph_error(conn, req, 500, "generalException",
                                    "General exception while processing.", close, hdrs)
        if st == 502:
            return self.graph_error(conn, req, 502, "UnknownError", "Bad Gateway", close, hdrs)
        if st == 503:
            return self.graph_error(conn, req, 503, "serviceNotAvailable",
                                    "The service is not available. Try the request again after a delay. "
                                    "There may be a Retry-After header.", close, hdrs)
        return self.graph_error(conn, req, 504, "UnknownError", "", close, hdrs)

    def skiptoken(self, nxt, page):
        raw = "Paged=TRUE&p_ID=%d&p_Page=%d" % (nxt, page)
        mac = hmac.new(self.key, raw.encode(), "sha256").hexdigest()[:12]
        return base64.b64encode(("%s&p_Chk=%s" % (raw, mac)).encode()).decode()

    def parse_skiptoken(self, tok):
        try:
            raw = base64.b64decode(tok.encode(), validate=True).decode()
            fields = dict(p.split("=", 1) for p in raw.split("&"))
            base = "Paged=TRUE&p_ID=%s&p_Page=%s" % (fields["p_ID"], fields["p_Page"])
            mac = hmac.new(self.key, base.encode(), "sha256").hexdigest()[:12]
            if not hmac.compare_digest(mac, fields.get("p_Chk", "")):
                return None
            return int(fields["p_ID"]), int(fields["p_Page"])
        except (ValueError, KeyError, UnicodeDecodeError):
            return None

    def sites(self, conn, req, close, delegated=False):
        cfg = self.cfg
        select, search, top, skip = None, None, None, None
        others = []
        for k, v in req.query:
            kl = k.lower()
            if kl == "$select":
                select = v
            elif kl == "search":
                search = v
            elif kl == "$top":
                top = v
            elif kl == "$skiptoken":
                skip = v
            else:
                others.append((k, v))
        fields = list(SITE_FIELDS)
        ctx_sel = ""
        if select is not None:
            wanted = [f.strip() for f in select.split(",") if f.strip()]
            for f in wanted:
                if f not in SITE_FIELDS:
                    return self.graph_error(conn, req, 400, "BadRequest",
                                            "Could not find a property named '%s' on type "
                                            "'microsoft.graph.site'." % f, close)
            ctx_sel = "(" + ",".join(wanted) + ")"
            if not cfg["ignore_select"]:
                fields = [f for f in SITE_FIELDS if f in wanted]
        if top is not None:
            if not top.isdigit() or int(top) < 1:
                return self.graph_error(conn, req, 400, "BadRequest",
                                        "Invalid value '%s' for $top query option found. The $top query option "
                                        "requires a non-negative integer value." % top, close)
            size = min(int(top), int(cfg["max_top"]))
        else:
            size = int(cfg["page_size"])
        start, page = 0, 1
        if skip is not None:
            parsed = self.parse_skiptoken(skip)
            if parsed is None:
                return self.graph_error(conn, req, 400, "invalidRequest", "Invalid skip token.", close)
            start, page = parsed
        term = None
        if search is not None:
            term = search.strip()
            if len(term) >= 2 and term[0] == term[-1] == '"':
                term = term[1:-1]
            term = term.lower()
            if term == "*":         # treated as "everything" (an empty term matches every site)
                term = ""
        n = int(cfg["sites"])
        seed, host = int(cfg["seed"]), cfg["sp_host"]
        items = []
        nxt = None
        if page in cfg["empty_page"] and start < n:
            nxt = start
            self.fault("empty_page")
        elif term is None and delegated:
            pass                    # delegated GET /sites without search lists nothing (as Graph does)
        elif term is None:
            end = min(n, start + size)
            items = [make_site(seed, i, host) for i in range(start, end)]
            if end < n:
                nxt = end
        else:
            i, budget = start, int(cfg["scan_budget"])
            while i < n and budget > 0 and len(items) < size:
                s = make_site(seed, i, host)
                if term in s["displayName"].lower() or term in s["webUrl"].lower():
                    items.append(s)
                i += 1
                budget -= 1
            while i < n and budget > 0:     # look ahead for the next match so the last page has no link
                s = make_site(seed, i, host)
                if term in s["displayName"].lower() or term in s["webUrl"].lower():
                    break
                i += 1
                budget -= 1
            if i < n:
                nxt = i
        if nxt is None and cfg["trailing_empty_page"] and items and len(items) == size:
            nxt = n
        authority = cfg["next_link_host"] or req.header("host", "graph.microsoft.com")
        pretty = bool(cfg["pretty"])
        sep = ": " if pretty else ":"
        members = [('"@odata.context"%s"https://%s/v1.0/$metadata#sites%s"'
                    % (sep, req.header("host", "graph.microsoft.com"), ctx_sel))]
        link = None
        if nxt is not None:
            q = [(k, v) for k, v in req.query if k.lower() != "$skiptoken"]
            q.append(("$skiptoken", self.skiptoken(nxt, page + 1)))
            url = "https://%s%s?%s" % (authority, req.path,
                                        "&".join("%s=%s" % (q_encode(k), q_encode(v)) for k, v in q))
            link = '"@odata.nextLink"%s%s' % (sep, json.dumps(url))
        rng = self.rng()
        pos = cfg["next_link_position"]
        if pos == "random":
            pos = rng.choice(("before", "after"))
        if link and pos == "before":
            members.append(link)
        if pretty:
            value = ('"value": [\n    ' + ",\n    ".join(site_json(s, fields, True) for s in items) + "\n  ]"
                     if items else '"value": []')
        else:
            value = '"value":[' + ",".join(site_json(s, fields, False) for s in items) + "]"
        members.append(value)
        if link and pos == "after":
            members.append(link)
        if pretty:
            body = ("{\n  " + ",\n  ".join(members) + "\n}").encode()
        else:
            body = ("{" + ",".join(members) + "}").encode()
        self.bump("sites_pages_served")
        self.bump("sites_items_served", n=len(items))
        self.bump("graph_status", "200")
        hdrs = self.graph_headers(req)
        # per-page faults
        status = 200
        if cfg["malformed"] and page == int(cfg["malformed_page"]) and \
                self.once(("malformed", page), not cfg["malformed_once"]):
            self.fault("malformed")
            body, status, hdrs = self.malform(body, hdrs)
        fault = {}
        if cfg["drop_after_bytes"] is not None and cfg["drop_target"] == "graph" and \
                page == int(cfg["drop_page"]) and self.once(("drop", page), cfg["drop_every_time"]):
            self.fault("dropped")
            fault["drop_after"] = int(cfg["drop_after_bytes"])
            fault["drop_where"] = cfg["drop_where"]
        if int(cfg["header_fault_page"] or 0) == page:
            fault["header_page"] = True
        if cfg["bad_framing"] and page == int(cfg["bad_framing_page"]):
            self.fault("bad_framing")
            fault["bad_framing"] = cfg["bad_framing"]
        if cfg["slow"] and cfg["slow_target"] == "graph" and \
                (int(cfg["slow_page"]) in (0, page)) and self.once(("slow", page), cfg["slow_every_time"]):
            self.fault("slow")
            fault["slow"] = float(cfg["slow"])
            fault["slow_where"] = cfg["slow_where"]
        return self.write(conn, status, hdrs, body, close=close, rng=rng, **fault)

    def malform(self, body, hdrs):
        mode = self.cfg["malformed_mode"]
        if mode == "truncated":
            return body[:max(1, len(body) // 2)], 200, hdrs
        if mode == "invalid":
            mid = body.find(b",{", len(body) // 2)
            if mid < 0:
                mid = body.find(b"[") + 1
                return body[:mid] + b"}" + body[mid:], 200, hdrs
            return body[:mid] + b",," + body[mid + 1:], 200, hdrs
        if mode == "badutf8":
            mid = body.find(b'"displayName":"', len(body) // 3)
            if mid < 0:
                mid = body.find(b'"', len(body) // 2)
            else:
                mid += len(b'"displayName":"')
            return body[:mid] + b"\xff\xfe\xc3" + body[mid:], 200, hdrs
        if mode == "html":
            hdrs = [h for h in hdrs if h[0] != "Content-Type"] + [("Content-Type", "text/html")]
            return (b"<html><head><title>Service Unavailable</title></head><body><h1>Service "
                    b"Unavailable</h1></body></html>"), 200, hdrs
        if mode == "deep":          # valid JSON: 10,000 nested arrays as an element of "value"
            return (b'{"@odata.context":"x","value":[' + b"[" * 10000 + b"]" * 10000 + b"]}"), 200, hdrs
        if mode == "deep-object":   # valid JSON: 10,000 nested objects in a member nobody asked for
            return (b'{"@odata.context":"x","x":' + b'{"a":' * 10000 + b"1" + b"}" * 10000 +
                    b',"value":[]}'), 200, hdrs
        return b'{"@odata.context":"x","value":{"id":1,"displayName":["x"]}}', 200, hdrs

    # ---- writing
    def write(self, conn, status, headers, body, framing=None, close=False, kind="graph", rng=None,
              drop_after=None, slow=0.0, slow_where="headers", drop_where="body", header_page=False,
              bad_framing=None):
        cfg = self.cfg
        if framing is None:
            framing = "length" if (kind == "token" and cfg["framing_scope"] != "all") else cfg["framing"]
        if framing == "random":
            framing = (rng or self.rng()).choice(("length", "chunked"))
        if bad_framing:
            framing = "chunked"
        rng = rng or self.rng()
        hdrs = list(headers)
        if kind != "api" and (header_page or not int(cfg["header_fault_page"] or 0)):
            if cfg["extra_header_bytes"]:
                hdrs.append(("X-Padding", "p" * int(cfg["extra_header_bytes"])))
            for i in range(int(cfg["extra_headers"] or 0)):
                hdrs.append(("X-Extra-%03d" % i, "v%d" % i))
        chunks = None
        if framing == "chunked":
            chunks = self.chunk(body, rng)
            if bad_framing == "chunk-overflow":     # a size line that does not fit 64 bits
                chunks.insert(0, b"ffffffffffffffffff\r\n")
            hdrs.insert(1, ("Transfer-Encoding", "chunked"))
            if bad_framing == "cl-and-te":          # request smuggling's favourite: both framings
                hdrs.insert(1, ("Content-Length", str(len(body))))
            if cfg["trailers"]:
                hdrs.append(("Trailer", "x-ms-trailer-check"))
        elif framing == "close":                    # body ends when the connection does
            close = True
        else:
            hdrs.insert(1 if kind == "graph" else 2, ("Content-Length", str(len(body))))
        if close:
            hdrs.append(("Connection", "close"))
        if header_page:
            with self.lock:
                self.stats["header_page_lines"] = len(hdrs)
        lines = ["HTTP/1.1 %d %s" % (status, http.HTTPStatus(status).phrase)]
        for k, v in hdrs:
            lines.append("%s: %s" % (k.lower() if cfg["lowercase_headers"] else k, v))
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        pieces = chunks if chunks is not None else [body]
        sock = conn.sock
        sent_body = 0
        if slow and slow_where == "headers":
            time.sleep(slow)
        trickle = max(1, int(cfg["trickle_bytes"])) if cfg["trickle"] else 0

        if drop_after is not None and drop_where == "headers":
            # the connection ends inside the status line / header block, after drop_after bytes
            self._send(sock, head[:max(0, min(drop_after, len(head) - 1))], trickle)
            self._abort(conn, sock)
            return False

        def out(data, is_body):
            nonlocal sent_body
            if drop_after is not None and is_body:
                room = drop_after - sent_body
                if room <= 0:
                    raise _Drop()
                if len(data) > room:
                    self._send(sock, data[:room], trickle)
                    sent_body += room
                    raise _Drop()
            self._send(sock, data, trickle)
            if is_body:
                sent_body += len(data)

        try:
            if not trickle and chunks is None and drop_after is None and not slow:
                sock.sendall(head + body)
            else:
                out(head, False)
                half = sum(len(p) for p in pieces) // 2
                done = 0
                for p in pieces:
                    if slow and slow_where == "body" and done <= half < done + len(p):
                        cut = half - done
                        out(p[:cut], True)
                        time.sleep(slow)
                        out(p[cut:], True)
                    else:
                        out(p, True)
                    done += len(p)
                if drop_after is not None:        # drop point beyond the body: drop right after it
                    raise _Drop()
        except _Drop:
            self._abort(conn, sock)
            return False
        return not close

    def _abort(self, conn, sock):
        # abrupt end: no close_notify (Python's SSLSocket.close never sends one); FIN or RST
        try:
            if self.cfg["drop_mode"] == "rst":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        conn.dropped = True

    @staticmethod
    def _send(sock, data, trickle):
        if not trickle:
            sock.sendall(data)
            return
        for i in range(0, len(data), trickle):
            sock.sendall(data[i:i + trickle])

    def chunk(self, body, rng):
        cfg = self.cfg
        out = []
        i = 0
        while i < len(body):
            r = rng.random()
            size = rng.randint(1, 16) if r < 0.2 else rng.randint(17, 1024) if r < 0.6 else rng.randint(1025, 16384)
            part = body[i:i + size]
            i += len(part)
            hexlen = "%x" % len(part)
            if rng.random() < 0.3:
                hexlen = hexlen.upper()
            ext = ""
            if cfg["chunk_ext"] and rng.random() < 0.25:
                ext = rng.choice([';foo=bar', ';ms-chunk', ';name="quoted value"', ' ;x=1'])
            out.append(("%s%s\r\n" % (hexlen, ext)).encode() + part + b"\r\n")
        last = b"0\r\n"
        if cfg["trailers"]:
            last += ("x-ms-trailer-check: %d\r\n" % len(body)).encode()
        out.append(last + b"\r\n")
        return out


class _Drop(Exception):
    pass


# --------------------------------------------------------------------------------------------------
class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, addr, family, emu, ctx):
        self.address_family = family
        self.emu = emu
        self.ctx = ctx
        super().__init__(addr, Handler)


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        self.server.emu.handle_connection(self.request, self.client_address, self.server.ctx)


def make_ctx(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    certfile = args.cert
    if getattr(args, "chain", None):        # leaf and intermediates in separate files
        import tempfile
        tmp = tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False)
        with open(args.cert, "rb") as a, open(args.chain, "rb") as b:
            tmp.write(a.read().rstrip(b"\n") + b"\n" + b.read())
        tmp.close()
        certfile = tmp.name
    try:
        ctx.load_cert_chain(certfile, args.key)
    finally:
        if certfile != args.cert:
            os.unlink(certfile)
    vers = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
    ctx.minimum_version = vers[args.tls_min]
    ctx.maximum_version = vers[args.tls_max]
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def listen(host, port, emu, ctx):
    """Bind; 'localhost' = 127.0.0.1 and (best effort) ::1 on the same port."""
    targets = [("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6)] if host == "localhost" else \
        [(host, socket.AF_INET6 if ":" in host else socket.AF_INET)]
    servers = []
    for i, (h, fam) in enumerate(targets):
        try:
            srv = Server((h, port), fam, emu, ctx)
        except OSError:
            if i == 0:
                raise
            continue
        if port == 0:
            port = srv.server_address[1]
        servers.append(srv)
    return servers, port


def build_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a = p.add_argument
    a("--host", default="localhost", help="listen address; 'localhost' = 127.0.0.1 + ::1 (default)")
    a("--port", type=int, default=0, help="0 = pick a free port (printed as READY <port>)")
    a("--cert", required=True, help="PEM: leaf + intermediates (tests/pki.sh chain.pem)")
    a("--key", required=True, help="PEM private key of the leaf")
    a("--chain", help="PEM intermediates, if --cert holds only the leaf")
    a("--tls-min", choices=("1.2", "1.3"), default="1.2")
    a("--tls-max", choices=("1.2", "1.3"), default="1.3")
    a("--port-file", help="write the port here once listening")
    a("--stats-file", help="write /_emulator/stats JSON here at exit")
    a("--dump-sites", metavar="FILE", help="write expected sites as JSON lines to FILE and TSV to FILE.tsv")
    a("--log", action="store_true", help="log each request line on stderr")
    # configuration keys
    for key, d in DEFAULTS.items():
        flag = "--" + key.replace("_", "-")
        if key == "empty_page":
            a(flag, nargs="?", const="2", default=None, metavar="K[,K...]",
              help="page numbers answered with an empty value + nextLink (flag alone: page 2)")
        elif isinstance(d, bool) and d:     # default true: --flag false turns it off
            a(flag, nargs="?", const="true", default=None, metavar="true|false")
        elif isinstance(d, bool):
            a(flag, action="store_true", default=None)
        elif isinstance(d, list):
            a(flag, action="append", default=None, metavar="VALUE", help="repeatable (replaces the default)")
        elif key in CHOICES:
            a(flag, default=None, choices=[str(c) for c in CHOICES[key]])
        else:
            a(flag, default=None, metavar=key.upper())
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    cfg = dict(DEFAULTS)
    cfg["tenant_domain"] = list(DEFAULTS["tenant_domain"])
    cfg["graph_resource"] = list(DEFAULTS["graph_resource"])
    for key in DEFAULTS:
        v = getattr(args, key)
        if v is None:
            continue
        if key == "empty_page":
            v = [x for x in str(v).split(",") if x]
        cfg[key] = _coerce(key, v)
    if args.dump_sites:
        dump_sites(args.dump_sites, int(cfg["sites"]), int(cfg["seed"]), cfg["sp_host"])
    emu = Emulator(cfg)
    emu.log = bool(args.log)
    ctx = make_ctx(args)
    servers, port = listen(args.host, args.port, emu, ctx)
    emu.port = port
    sp_servers, emu.drive.sp_port = listen(args.host, int(cfg["sp_port"]), emu, ctx)
    servers += sp_servers
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.replace(args.port_file + ".tmp", args.port_file)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    for srv in servers:
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    print("READY %d" % port, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for srv in servers:
            srv.shutdown()
            srv.server_close()
        if args.stats_file:
            with emu.lock:
                data = json.dumps(emu.stats, ensure_ascii=False, indent=1)
            with open(args.stats_file, "w", encoding="utf-8") as f:
                f.write(data + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
