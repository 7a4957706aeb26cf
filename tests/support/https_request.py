"""A request over real TLS (Python's ssl and http.client), for the mutual-TLS tests.

usage: https_request.py SPEC_JSON_FILE
SPEC: {"method": "POST", "url": "https://127.0.0.1:PORT/token", "ca": CA PEM path,
       "cert": client certificate PEM path (optional), "key": its key (optional),
       "headers": {...}, "form": [[name, value], ...]}
Prints {"status": int, "headers": {lower-case name: value}, "body": JSON or text}.
"""
import http.client
import json
import ssl
import sys
import urllib.parse

spec = json.load(open(sys.argv[1]))
url = urllib.parse.urlsplit(spec["url"])
context = ssl.create_default_context(cafile=spec["ca"])
if spec.get("cert"):
    context.load_cert_chain(spec["cert"], spec["key"])
conn = http.client.HTTPSConnection(url.hostname, url.port, context=context, timeout=20)
headers = dict(spec.get("headers", {}))
body = None
if "form" in spec:
    body = urllib.parse.urlencode([tuple(pair) for pair in spec["form"]])
    headers["Content-Type"] = "application/x-www-form-urlencoded"
conn.request(spec.get("method", "POST"), url.path or "/", body=body, headers=headers)
response = conn.getresponse()
text = response.read().decode()
try:
    parsed = json.loads(text)
except ValueError:
    parsed = text
print(json.dumps({
    "status": response.status,
    "headers": {k.lower(): v for k, v in response.getheaders()},
    "body": parsed,
}))
