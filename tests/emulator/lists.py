"""SharePoint lists for the emulator: Telemetry, Device Events, Documents; list-item creation."""
import hashlib
import json
import re
import threading
import urllib.parse
import uuid

from drive_util import GraphFail, iso_now

LIST_COLUMNS = {"Title": "text", "Device": "text", "Temperature": "number", "Ok": "boolean", "Note": "text"}


LISTS = (  # (name, displayName, template, columns)
    ("Telemetry", "Telemetry", "genericList", ("Title", "Device", "Temperature", "Ok", "Note")),
    ("DeviceEvents", "Device Events", "genericList", ("Title", "Device", "Note")),
    ("Shared Documents", "Documents", "documentLibrary", ()),
)
SYSTEM_FIELDS = ("id", "ContentType", "Modified", "Created", "AuthorLookupId", "EditorLookupId",
                 "_UIVersionString", "Attachments", "Edit", "LinkTitleNoMenu", "LinkTitle", "ItemChildCount",
                 "FolderChildCount", "_ComplianceFlags", "_ComplianceTag", "_ComplianceTagWrittenTime",
                 "_ComplianceTagUserId")


class SpList:
    def __init__(self, site, k, seed):
        self.site = site
        self.name, self.display, self.template, self.columns = LISTS[k]
        h = hashlib.blake2b(b"list:%d:%s:%d" % (seed, site["id"].encode(), k), digest_size=32).digest()
        self.id = str(uuid.UUID(bytes=h[:16]))
        self.etag_guid = str(uuid.UUID(bytes=h[16:]))
        self.items = []         # dicts: id, created, guid, fields (user values), body (raw request bytes)
        self.lock = threading.Lock()

    def web_url(self):
        if self.template == "documentLibrary":
            return self.site["webUrl"] + "/Shared%20Documents"
        return self.site["webUrl"] + "/Lists/" + self.name


class ListsMixin:
    """Lists: GET /sites/{s}/lists, GET …/lists/{id|name}, POST/GET …/lists/{l}/items."""

    def site_lists(self, site):
        with self.lock:
            ls = self.lists.get(site["id"])
            if ls is None:
                ls = self.lists[site["id"]] = [SpList(site, k, int(self.emu.cfg["seed"])) for k in range(len(LISTS))]
            return ls

    def find_list(self, site, ref):
        ref = urllib.parse.unquote(ref).lower()
        for li in self.site_lists(site):
            if ref in (li.id.lower(), li.display.lower(), li.name.lower()):
                return li
        raise GraphFail(404, "itemNotFound", "List not found")

    def list_obj(self, req, li, context=True):
        o = {}
        host = req.header("host", "graph.microsoft.com")
        if context:
            o["@odata.context"] = "https://%s/v1.0/$metadata#sites('%s')/lists/$entity" % (
                host, urllib.parse.quote(li.site["id"], safe=""))
        o.update({
            "@odata.etag": '"%s,1"' % li.etag_guid, "createdDateTime": li.site["createdDateTime"],
            "description": "", "eTag": '"%s,1"' % li.etag_guid, "id": li.id,
            "lastModifiedDateTime": li.site["lastModifiedDateTime"], "name": li.name, "webUrl": li.web_url(),
            "displayName": li.display, "createdBy": {"user": {"displayName": "System Account"}},
            "parentReference": {"siteId": li.site["id"]},
            "list": {"contentTypesEnabled": False, "hidden": False, "template": li.template}})
        return o

    def lists_route(self, conn, req, close, site, segs):
        host = req.header("host", "graph.microsoft.com")
        if not segs or segs == [""]:
            self.need(req, "GET")
            return self.reply(conn, req, close, 200, {
                "@odata.context": "https://%s/v1.0/$metadata#sites('%s')/lists" % (
                    host, urllib.parse.quote(site["id"], safe="")),
                "value": [self.list_obj(req, li, False) for li in self.site_lists(site)]})
        li = self.find_list(site, segs[0])
        if len(segs) == 1:
            self.need(req, "GET")
            return self.reply(conn, req, close, 200, self.list_obj(req, li))
        if segs[1] != "items":
            raise GraphFail(400, "BadRequest", "Resource not found for the segment '%s'." % segs[1])
        if len(segs) == 2 and req.method == "POST":
            return self.create_list_item(conn, req, close, li)
        self.need(req, "GET")
        expand = any(k.lower() in ("expand", "$expand") and "fields" in v for k, v in req.query)
        with li.lock:
            items = list(li.items)
        if len(segs) == 3:
            hit = [x for x in items if x["id"] == segs[2]]
            if not hit:
                raise GraphFail(404, "itemNotFound", "The specified list item was not found.")
            return self.reply(conn, req, close, 200, self.item_json(req, li, hit[0], True, expand))
        return self.reply(conn, req, close, 200, {
            "@odata.context": "https://%s/v1.0/$metadata#sites('%s')/lists('%s')/items" % (
                host, urllib.parse.quote(site["id"], safe=""), li.id),
            "value": [self.item_json(req, li, x, False, expand) for x in items]})

    def create_list_item(self, conn, req, close, li):
        try:
            body = json.loads(req.body or b"")
        except ValueError:
            raise GraphFail(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type "
                            "header is set and payload is of valid JSON format.")
        if not isinstance(body, dict) or not isinstance(body.get("fields"), dict):
            raise GraphFail(400, "invalidRequest", "Invalid request")
        if li.template != "genericList":
            raise GraphFail(400, "invalidRequest", "Files and folders should only be added to a DocumentLibrary "
                            "via the OneDrive API")
        fields = {}
        for k, v in body["fields"].items():
            if k not in li.columns:
                raise GraphFail(400, "invalidRequest", "Field '%s' is not recognized" % k)
            kind = LIST_COLUMNS[k]
            if v is None:
                fields[k] = None
            elif kind == "number":
                if isinstance(v, bool) or not isinstance(v, (int, float, str)):
                    raise GraphFail(400, "invalidRequest", "Cannot convert the value of field '%s' to Number." % k)
                if isinstance(v, str):
                    try:
                        v = float(v) if re.fullmatch(r"\s*-?\d+(\.\d+)?([eE][-+]?\d+)?\s*", v) else None
                    except ValueError:
                        v = None
                    if v is None:
                        raise GraphFail(400, "invalidRequest", "Cannot convert the value of field '%s' to Number." % k)
                    v = int(v) if v == int(v) else v
                fields[k] = v
            elif kind == "boolean":
                if not isinstance(v, bool):
                    raise GraphFail(400, "invalidRequest", "Cannot convert the value of field '%s' to Boolean." % k)
                fields[k] = v
            else:
                if not isinstance(v, str):
                    v = json.dumps(v) if not isinstance(v, (int, float)) else str(v)
                if k != "Note" and len(v) > 255:
                    raise GraphFail(400, "invalidRequest", "The value of field '%s' is longer than 255 characters." % k)
                fields[k] = v
        with li.lock:
            x = {"id": str(len(li.items) + 1), "created": iso_now(), "guid": str(uuid.uuid4()),
                 "fields": fields, "body": req.body}
            li.items.append(x)
        self.stat("list_items_created")
        return self.reply(conn, req, close, 201, self.item_json(req, li, x, True, True))

    def item_json(self, req, li, x, context, with_fields):
        host = req.header("host", "graph.microsoft.com")
        sid = urllib.parse.quote(li.site["id"], safe="")
        etag = '"%s,1"' % x["guid"]
        o = {}
        if context:
            o["@odata.context"] = "https://%s/v1.0/$metadata#sites('%s')/lists('%s')/items/$entity" % (host, sid, li.id)
        who = {"application": {"id": self.emu.cfg["client_id"], "displayName": "kiosk-gateway-uploader"},
               "user": {"displayName": "SharePoint App"}}
        o.update({"@odata.etag": etag, "createdDateTime": x["created"], "eTag": etag, "id": x["id"],
                  "lastModifiedDateTime": x["created"], "webUrl": "%s/%s_.000" % (li.web_url(), x["id"]),
                  "createdBy": who, "lastModifiedBy": who,
                  "parentReference": {"id": li.etag_guid, "siteId": li.site["id"]},
                  "contentType": {"id": "0x0100" + hashlib.md5(li.id.encode()).hexdigest().upper(), "name": "Item"}})
        if with_fields:
            o["fields@odata.context"] = ("https://%s/v1.0/$metadata#sites('%s')/lists('%s')/items('%s')/fields/$entity"
                                         % (host, sid, li.id, x["id"]))
            f = {"@odata.etag": etag}
            for c in li.columns:
                if c in x["fields"] and x["fields"][c] is not None:
                    f[c] = x["fields"][c]
            title = x["fields"].get("Title") or ""
            sysv = {"id": x["id"], "ContentType": "Item", "Modified": x["created"], "Created": x["created"],
                    "AuthorLookupId": "1073741822", "EditorLookupId": "1073741822", "_UIVersionString": "1.0",
                    "Attachments": False, "Edit": "", "LinkTitleNoMenu": title, "LinkTitle": title,
                    "ItemChildCount": "0", "FolderChildCount": "0", "_ComplianceFlags": "", "_ComplianceTag": "",
                    "_ComplianceTagWrittenTime": "", "_ComplianceTagUserId": ""}
            for k in SYSTEM_FIELDS:
                f[k] = sysv[k]
            o["fields"] = f
        return o
