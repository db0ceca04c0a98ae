"""Shared pieces of the emulator's drive modules: the item model, Graph errors, names, body streaming."""
import base64
import json
import os
import re
import time
import urllib.parse
import uuid

from identity import now      # the emulator's clock (clock_offset_s)

KIB = 1024
FRAGMENT_UNIT = 320 * KIB
IO_PIECE = 1024 * KIB
FORBIDDEN_NAME = re.compile(r'["*:<>?/\\|]')


def iso_now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now()))


def iso_ms(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


def dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def rename_candidate(name, n):
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return "%s %d" % (name, n)
    return "%s %d.%s" % (stem, n, ext)


class Item:
    __slots__ = ("id", "name", "parent", "children", "size", "created", "modified", "guid", "version",
                 "path", "qxh", "sha256", "mime", "drive")

    def __init__(self, drive, name, parent, folder):
        self.drive = drive
        self.id = "01" + base64.b32encode(os.urandom(20)).decode()[:32]
        self.name = name
        self.parent = parent
        self.children = {} if folder else None
        self.size = 0
        self.created = self.modified = iso_now()
        self.guid = str(uuid.uuid4()).upper()
        self.version = 1
        self.path = self.qxh = self.sha256 = None
        self.mime = None

    def rel_path(self):
        parts = []
        it = self
        while it.parent is not None:
            parts.append(it.name)
            it = it.parent
        return "/".join(reversed(parts))

    def total_size(self):
        if self.children is None:
            return self.size
        return sum(c.total_size() for c in self.children.values())


class Drive:
    def __init__(self, svc, site, index, no):
        self.svc = svc
        self.site = site
        self.index = index
        self.no = no
        self.name = ("Documents", "Reports")[no]
        self.url_name = ("Shared%20Documents", "Reports")[no]
        self.id = svc.drive_id(index, no)
        self.created = site["createdDateTime"]
        self.items = {}
        self.root = self.new_item("root", None, True)

    def new_item(self, name, parent, folder):
        it = Item(self, name, parent, folder)
        self.items[it.id] = it
        if parent is not None:
            parent.children[name.lower()] = it
        return it

    def remove(self, it):
        if it.children:
            for c in list(it.children.values()):
                self.remove(c)
        self.items.pop(it.id, None)
        if it.parent is not None:
            it.parent.children.pop(it.name.lower(), None)
        if it.path:
            try:
                os.unlink(it.path)
            except OSError:
                pass


class NotMine(Exception):
    pass


class GraphFail(Exception):
    def __init__(self, status, code, message, headers=(), inner=None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers, self.inner = status, code, message, headers, inner




def site_rel(site):
    return urllib.parse.urlsplit(site["webUrl"]).path.rstrip("/")


def check_name(name):
    if FORBIDDEN_NAME.search(name) or name.strip() != name or name in (".", "..") or len(name) > 400:
        raise GraphFail(400, "invalidRequest", "The provided name contains invalid characters: %s" % name)


def free_name(parent, name):
    n = 1
    while rename_candidate(name, n).lower() in parent.children:
        n += 1
    return rename_candidate(name, n)


def wrong_hash(q):
    raw = bytearray(base64.b64decode(q))
    raw[0] ^= 0xFF
    return base64.b64encode(bytes(raw)).decode()


def select_of(req):
    for k, v in req.query:
        if k.lower() == "$select":
            return {f.strip() for f in v.split(",") if f.strip()}
    return None


def read_body(conn, n, sink, stop_after=None):
    """Move up to n body bytes (stop_after: fewer) from the connection to sink(), piece by piece."""
    limit = n if stop_after is None else min(n, stop_after)
    got = 0
    while got < limit:
        if conn.buf:
            piece = conn.buf[:limit - got]
            conn.buf = conn.buf[len(piece):]
        else:
            conn.sock.settimeout(30)
            piece = conn.sock.recv(min(IO_PIECE, limit - got))
            if not piece:
                conn.body_left = n - got
                raise ConnectionError("client closed mid-body")
        sink(piece)
        got += len(piece)
    conn.body_left = n - got
    return got


def defer_body(conn, req, on_sp):
    """True when this request's body should stay on the connection for the handler to stream."""
    if req.method != "PUT":
        return False
    if on_sp:
        return True
    path = req.target.partition("?")[0]
    return path.startswith(("/v1.0/drives/", "/v1.0/sites/")) and path.endswith("/content")


def drain(conn, limit=256 * 1024 * KIB):
    """Discard an unread request body so the connection can serve the next request; False = close it."""
    if conn.body_left > limit:
        return False
    try:
        read_body(conn, conn.body_left, lambda _piece: None)
    except (OSError, ConnectionError):
        return False
    return True
