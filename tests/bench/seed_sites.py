#!/usr/bin/python3
"""The approach spo replaces: Python with MSAL and requests (Debian's python3-msal, python3-requests).

Lists every site like `spo sites` does (client credentials, then /v1.0/sites with $select, following
@odata.nextLink), printing displayName<TAB>webUrl. Configuration from the same environment variables.
Used only by `make bench` for comparison."""
import os
import sys

import msal
import requests

authority = os.environ.get("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com").rstrip("/")
graph = os.environ.get("SPO_GRAPH_URL", "https://graph.microsoft.com").rstrip("/")
ca = os.environ.get("SPO_CA_FILE", True)
if ca is not True:
    # msal 1.21's own HTTP session ignores `verify` for authority discovery; requests reads this.
    os.environ["REQUESTS_CA_BUNDLE"] = ca

app = msal.ConfidentialClientApplication(
    os.environ["AZURE_CLIENT_ID"],
    authority=f"{authority}/{os.environ['AZURE_TENANT_ID']}",
    client_credential=os.environ["AZURE_CLIENT_SECRET"],
    validate_authority=False,
    verify=ca,
)
result = app.acquire_token_for_client(scopes=[f"{graph}/.default"])
if "access_token" not in result:
    sys.exit(f"token: {result.get('error')}: {result.get('error_description')}")

session = requests.Session()
session.verify = ca
session.headers["Authorization"] = "Bearer " + result["access_token"]
url = f"{graph}/v1.0/sites?$select=id,displayName,webUrl"
out = sys.stdout
while url:
    r = session.get(url, timeout=30)
    r.raise_for_status()
    page = r.json()
    for s in page.get("value", []):
        out.write(f"{s.get('displayName', '')}\t{s.get('webUrl', '')}\n")
    url = page.get("@odata.nextLink")
