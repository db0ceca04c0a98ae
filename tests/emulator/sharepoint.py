"""The SharePoint host of the emulator (second TLS port): upload sessions and pre-authenticated downloads."""
import hmac
import json
import os
import re
import threading
import time
import urllib.parse
import uuid

from drive_util import (FRAGMENT_UNIT, IO_PIECE, GraphFail, check_name, dumps, free_name, iso_ms, iso_now,
                        read_body, site_rel, wrong_hash)
from identity import now      # the emulator's clock (clock_offset_s)


class Session:
    __slots__ = ("guid", "drive", "parent", "name", "behaviour", "existing", "total", "next", "expires",
                 "path", "tempauth", "lock", "url", "gone")


class SharePointMixin:
    """Upload sessions (createUploadSession on Graph, fragments on the SharePoint port) and downloads."""

    def is_sp(self, sock):
        try:
            return self.sp_port is not None and sock.getsockname()[1] == self.sp_port
        except OSError:
            return False

    # ---- Graph side
    def create_session(self, conn, req, close, d, base, rel):
        try:
            body = json.loads(req.body or b"{}")
        except ValueError:
            raise GraphFail(400, "BadRequest", "Unable to read JSON request payload.")
        item = body.get("item", {}) if isinstance(body, dict) else None
        if not isinstance(item, dict):
            raise GraphFail(400, "invalidRequest", "Invalid request: 'item' must be an object.")
        behaviour = str(item.get("@microsoft.graph.conflictBehavior", "fail")).lower()
        if behaviour not in ("fail", "replace", "rename"):
            raise GraphFail(400, "invalidRequest", "Invalid conflict behavior.")
        if rel.strip("/"):
            with self.lock:
                parent, name, existing = self.lookup(d, base, rel, create_parents=True)
        elif base.children is None:
            parent, name, existing, behaviour = base.parent, base.name, base, "replace"
        else:
            raise GraphFail(400, "invalidRequest", "Cannot upload content to a folder.")
        check_name(name)
        if self.fire("name_conflict") or (existing is not None and behaviour == "fail"):
            raise GraphFail(409, "nameAlreadyExists", "The specified item name already exists. Name: %s" % name)
        if existing is not None and existing.children is not None:
            raise GraphFail(409, "nameAlreadyExists", "A folder with the name %s already exists." % name)
        ss = Session()
        ss.guid = str(uuid.uuid4())
        ss.drive, ss.parent, ss.name, ss.behaviour = d, parent, name, behaviour
        ss.total, ss.next = None, 0
        if isinstance(item.get("fileSize"), int) and item["fileSize"] >= 0:
            ss.total = item["fileSize"]
        ss.expires = now() + float(self.emu.cfg["session_ttl"])
        ss.path = self.new_path()
        open(ss.path, "wb").close()
        ss.tempauth = self.tempauth("session:" + ss.guid)
        ss.lock = threading.Lock()
        ss.gone = False
        ss.url = ("https://localhost:%d%s/_api/v2.0/drives/%s/items/%s/uploadSession?guid='%s'&path='~tmp%s'"
                  "&overwrite=%s&rename=%s&dc=0&tempauth=%s") % (
            self.sp_port or 0, site_rel(d.site), d.id, parent.id, ss.guid,
            urllib.parse.quote(name[-40:]), "True" if behaviour == "replace" else "False",
            "True" if behaviour == "rename" else "False", ss.tempauth)
        with self.lock:
            self.sessions[ss.guid] = ss
        self.stat("upload_sessions_created")
        host = req.header("host", "graph.microsoft.com")
        return self.reply(conn, req, close, 200, {
            "@odata.context": "https://%s/v1.0/$metadata#microsoft.graph.uploadSession" % host,
            "expirationDateTime": iso_ms(ss.expires), "nextExpectedRanges": ["0-"], "uploadUrl": ss.url})

    def content_redirect(self, conn, req, close, it):
        if it.children is not None:
            raise GraphFail(400, "invalidRequest", "You cannot get content for a folder.")
        self.stat("download_redirects")
        self.emu.bump("graph_status", "302")
        hdrs = self.emu.graph_headers(req) + [("Location", self.download_url(it))]
        hdrs = [h for h in hdrs if h[0] != "Content-Type"]
        return self.emu.write(conn, 302, hdrs, b"", framing="length", close=close)

    # ---- SharePoint side
    def sp_headers(self, ctype="application/json;odata=nometadata;streaming=true;charset=utf-8"):
        rid = str(uuid.uuid4())
        return [("Cache-Control", "private, max-age=0"), ("Content-Type", ctype),
                ("SPRequestGuid", rid), ("request-id", rid), ("X-SharePointHealthScore", "1"),
                ("MicrosoftSharePointTeamServices", "16.0.0.24817"), ("X-Content-Type-Options", "nosniff"),
                ("Strict-Transport-Security", "max-age=31536000"), ("Date", time.strftime(
                    "%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now())))]

    def sp_reply(self, conn, status, obj, close, headers=()):
        self.stat("sp_status", sub=str(status))
        body = dumps(obj) if obj is not None else b""
        hdrs = self.sp_headers() + list(headers)
        if obj is None:
            hdrs = [h for h in hdrs if h[0] != "Content-Type"]
        return self.emu.write(conn, status, hdrs, body, framing="length", close=close)

    def sp_error(self, conn, e, close):
        err = {"code": e.code, "message": e.message}
        err["innerError"] = e.inner if e.inner is not None else {
            "date": iso_now()[:-1], "request-id": str(uuid.uuid4())}
        return self.sp_reply(conn, e.status, {"error": err}, close, e.headers)

    def sp(self, conn, req, close):
        self.stat("sp_requests")
        try:
            if req.path.endswith("/uploadSession") and req.method == "PUT":
                self.count_fragment(req)
            if req.header("authorization") is not None:
                self.stat("authorization_seen_on_sp_host")
                if req.path.endswith("/uploadSession") and req.method == "PUT":
                    self.stat("fragments_with_authorization")
                self.stat("sp_status", sub="401")
                return self.emu.write(conn, 401, self.sp_headers(), b'{"error":{"code":"unauthenticated",'
                                      b'"message":"Unauthenticated"}}', framing="length", close=close)
            if req.path.endswith("/uploadSession"):
                return self.session_route(conn, req, close)
            if req.path.endswith("/_layouts/15/download.aspx"):
                return self.download(conn, req, close)
            raise GraphFail(404, "itemNotFound", "The resource could not be found.")
        except GraphFail as e:
            return self.sp_error(conn, e, close)

    def find_session(self, req):
        q = dict(req.query)
        guid = q.get("guid", "").strip("'")
        with self.lock:
            ss = self.sessions.get(guid)
        if ss is None or ss.gone or not hmac.compare_digest(q.get("tempauth", ""), ss.tempauth):
            raise GraphFail(404, "itemNotFound", "The upload session was not found.",
                            inner={"code": "uploadSessionNotFound", "date": iso_now()[:-1]})
        if ss.expires <= now():
            self.end_session(ss)
            raise GraphFail(404, "itemNotFound", "The upload session has expired.",
                            inner={"code": "uploadSessionNotFound", "date": iso_now()[:-1]})
        return ss

    def end_session(self, ss):
        ss.gone = True
        with self.lock:
            self.sessions.pop(ss.guid, None)
        if ss.path:
            try:
                os.unlink(ss.path)
            except OSError:
                pass

    def session_status(self, ss):
        return {"expirationDateTime": iso_ms(ss.expires), "nextExpectedRanges": ["%d-" % ss.next]}

    def session_route(self, conn, req, close):
        if req.method == "PUT":
            return self.fragment(conn, req, close)
        ss = self.find_session(req)
        if req.method == "GET":
            return self.sp_reply(conn, 200, self.session_status(ss), close)
        if req.method == "DELETE":
            self.end_session(ss)
            self.stat("upload_sessions_deleted")
            return self.sp_reply(conn, 204, None, close)
        raise GraphFail(405, "invalidRequest", "Method not allowed on an upload session.")

    def count_fragment(self, req):
        self.stat("upload_fragments")
        cl = req.header("content-length")
        with self.emu.lock:
            sizes = self.emu.stats["upload_fragment_sizes"]
            sizes.append(int(cl) if cl and cl.isdigit() else None)
            del sizes[:-1000]

    def fragment(self, conn, req, close):
        cl = req.header("content-length")
        ss = self.find_session(req)
        if self.fire("expire_session"):
            self.end_session(ss)
            raise GraphFail(404, "itemNotFound", "The upload session has expired.",
                            inner={"code": "uploadSessionNotFound", "date": iso_now()[:-1]})
        if self.fire("upload_throttle"):
            raise self.throttle_fail()
        if cl is None:
            raise GraphFail(411, "lengthRequired", "Content-Length header is required.")
        n = int(cl)
        m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", req.header("content-range", "").strip())
        if not m:
            raise self.reject("badContentRange", 400, "invalidRequest",
                              "The Content-Range header is missing or malformed.")
        a, b, total = (int(x) for x in m.groups())
        if ss.total is not None and total != ss.total:
            raise self.reject("totalMismatch", 400, "invalidRequest",
                              "The current upload session is for %d total bytes, but the current fragment "
                              "declares a total of %d." % (ss.total, total))
        if b < a or b >= total or b - a + 1 != n:
            raise self.reject("lengthMismatch", 400, "invalidRequest",
                              "The Content-Range does not match the Content-Length of the fragment.",
                              inner={"code": "fragmentLengthMismatch", "date": iso_now()[:-1]})
        if n > int(self.emu.cfg["max_fragment"]):
            raise self.reject("tooLarge", 400, "invalidRequest", "The fragment is larger than the maximum "
                              "of %d bytes." % int(self.emu.cfg["max_fragment"]),
                              inner={"code": "maxFragmentLengthExceeded", "date": iso_now()[:-1]})
        if a != ss.next or self.fire("fragment_416"):
            raise self.reject("range", 416, "invalidRange",
                              "Uploaded fragment overlaps with existing data." if a < ss.next else
                              "The uploaded fragment is not in the expected order.",
                              inner={"code": "fragmentOverlap" if a < ss.next else "fragmentOutOfOrder",
                                     "request-id": str(uuid.uuid4()), "date": iso_now()[:-1]},
                              headers=[])
        if b + 1 != total and n % FRAGMENT_UNIT:
            raise self.reject("notMultiple", 400, "invalidRequest", "The fragment size must be a multiple of "
                              "320 KiB (327680 bytes) except for the last fragment.",
                              inner={"code": "fragmentLengthMismatch", "date": iso_now()[:-1]})
        if not ss.lock.acquire(blocking=False):
            raise self.reject("busy", 409, "resourceModified", "Another fragment of this session is in flight.")
        try:
            cut = None
            if self.fire("drop_fragment"):
                db = self.emu.cfg["drop_fragment_bytes"]
                cut = min(int(db), n - 1) if db not in (None, "") else n // 2
            with open(ss.path, "r+b") as f:
                f.seek(a)
                got = read_body(conn, n, f.write, cut)
            if got < n:             # the fault: the bytes received so far are not committed
                self.emu._abort(conn, conn.sock)
                return False
            ss.total, ss.next = total, b + 1
        finally:
            ss.lock.release()
        if ss.next < total:
            return self.sp_reply(conn, 202, self.session_status(ss), close)
        return self.commit(conn, req, close, ss)

    def reject(self, why, status, code, message, inner=None, headers=()):
        self.stat("fragments_rejected", sub=why)
        return GraphFail(status, code, message, headers, inner)

    def commit(self, conn, req, close, ss):
        d, parent = ss.drive, ss.parent
        with self.lock:
            existing = parent.children.get(ss.name.lower())
            name = ss.name
            if existing is not None and (ss.behaviour == "fail" or existing.children is not None):
                ss.next = ss.total          # all bytes are there; the session waits for a retry or expiry
                raise GraphFail(409, "nameAlreadyExists", "Another file exists with the same name as the "
                                "uploaded session. You can redirect the upload session to use a new filename "
                                "by calling PUT with the new metadata and @microsoft.graph.sourceUrl attribute.")
            if existing is not None and ss.behaviour == "rename":
                name, existing = free_name(parent, name), None
            with open(ss.path, "r+b") as f:
                f.truncate(ss.total)
            it = self.attach(d, parent, name, ss.path, existing)
            ss.path = None
            self.end_session(ss)
        self.stat("upload_sessions_completed")
        self.stat("bytes_committed", it.size)
        obj = self.item_obj(req, it, sp=True)
        if self.fire("bad_hash"):
            obj["file"]["hashes"]["quickXorHash"] = wrong_hash(it.qxh)
        return self.sp_reply(conn, 200 if existing is not None else 201, obj, close)

    # ---- downloads
    def download(self, conn, req, close):
        if req.method not in ("GET", "HEAD"):
            raise GraphFail(405, "invalidRequest", "Method not allowed.")
        q = dict(req.query)
        with self.lock:
            it = self.downloads.get(q.get("UniqueId", "").lower())
            ok = it is not None and it.drive.items.get(it.id) is it and it.path is not None and \
                hmac.compare_digest(q.get("tempauth", ""), self.tempauth("dl:%s:%d" % (it.guid, it.version)))
            if ok:
                f = open(it.path, "rb")     # opened now: a replace during the transfer cannot change it
        if not ok:
            raise GraphFail(404, "itemNotFound", "The resource could not be found.")
        try:
            size = os.fstat(f.fileno()).st_size
            start, end, status = 0, size - 1, 200
            rng = req.header("range")
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", (rng or "").strip())
            if m and (m.group(1) or m.group(2)):
                a, b = m.group(1), m.group(2)
                if a:
                    start, end = int(a), min(int(b), size - 1) if b else size - 1
                else:
                    start, end = max(0, size - int(b)), size - 1
                if start >= size or (a and b and int(b) < int(a)) or (not a and int(b) == 0):
                    self.stat("ranged_downloads")
                    self.stat("sp_status", sub="416")
                    hdrs = [h for h in self.sp_headers() if h[0] != "Content-Type"]
                    hdrs.append(("Content-Range", "bytes */%d" % size))
                    return self.emu.write(conn, 416, hdrs, b"", framing="length", close=close)
                status = 206
                self.stat("ranged_downloads")
            length = max(0, end - start + 1)
            hdrs = [h for h in self.sp_headers(it.mime) if h[0] != "Cache-Control"]
            hdrs[0:0] = [("Cache-Control", "private")]
            hdrs += [("Content-Length", str(length)), ("Accept-Ranges", "bytes"),
                     ("ETag", '"{%s},%d"' % (it.guid, it.version)),
                     ("Content-Disposition", "attachment; filename*=UTF-8''%s" % urllib.parse.quote(it.name))]
            if status == 206:
                hdrs.append(("Content-Range", "bytes %d-%d/%d" % (start, end, size)))
            if close:
                hdrs.append(("Connection", "close"))
            self.stat("downloads")
            self.stat("sp_status", sub=str(status))
            lines = ["HTTP/1.1 %d %s" % (status, "OK" if status == 200 else "Partial Content")]
            lines += ["%s: %s" % kv for kv in hdrs]
            conn.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))
            if req.method == "HEAD":
                return not close
            cut = None
            if length and self.fire("drop_download"):     # a short body is cut before its last byte
                cut = min(int(self.emu.cfg["drop_download_bytes"]), length - 1)
            f.seek(start)
            left, sent = length, 0
            while left > 0:
                piece = f.read(min(IO_PIECE, left))
                if not piece:
                    break
                if cut is not None and sent + len(piece) >= cut:
                    conn.sock.sendall(piece[:max(0, cut - sent)])
                    self.stat("download_bytes", max(0, cut - sent))
                    self.emu._abort(conn, conn.sock)
                    return False
                conn.sock.sendall(piece)
                sent += len(piece)
                left -= len(piece)
            self.stat("download_bytes", sent)
            return not close
        finally:
            f.close()
