"""`POST /token` (RFC 8693 token exchange) as a plain ASGI app, for uvicorn:

    PEER_JWT_ALG=ES256 uvicorn peer.app:app --workers 2

The signature work runs on the event loop: it is CPU-bound, and handing it to threads would only add GIL
contention; each uvicorn worker process is one core's worth of work.
"""

import base64
import json
import os
import time
from urllib.parse import parse_qs

from . import Peer, PeerRejection, b64url

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
SAML2 = "urn:ietf:params:oauth:token-type:saml2"
JWT = "urn:ietf:params:oauth:token-type:jwt"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
# The gateway's bound: max_body_bytes of XML, base64url-encoded, plus the other parameters.
MAX_BODY = 262144 * 4 // 3 + 4096

PEER = Peer(os.environ.get("PEER_JWT_ALG", "ES256"))


def _json(status, obj):
    return status, json.dumps(obj, separators=(",", ":")).encode()


def _error(description, status=400, error="invalid_request"):
    return _json(status, {"error": error, "error_description": description})


def _b64url_decode(text):
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        raise PeerRejection("subject_token is not base64url")


def token(body):
    try:
        form = parse_qs(body.decode("ascii"), strict_parsing=True, max_num_fields=16)
    except (UnicodeDecodeError, ValueError):
        return _error("the body is not a form")
    params = {}
    for k, v in form.items():
        if len(v) != 1:
            return _error("a parameter is repeated")
        params[k] = v[0]
    if params.get("grant_type") != GRANT:
        return _error("unsupported grant_type", error="unsupported_grant_type")
    subject, kind = params.get("subject_token"), params.get("subject_token_type")
    wanted = params.get("requested_token_type")
    if not subject:
        return _error("subject_token is missing")
    now = time.time()
    try:
        if kind == SAML2 and wanted in (None, JWT, ACCESS_TOKEN):
            issued, exp = PEER.saml_to_jwt.exchange(_b64url_decode(subject), now)
            return _json(200, {"access_token": issued, "issued_token_type": wanted or JWT,
                               "token_type": "Bearer", "expires_in": max(0, exp - int(now))})
        if kind in (JWT, ACCESS_TOKEN) and wanted == SAML2:
            assertion, not_after = PEER.jwt_to_saml.exchange(subject, now)
            return _json(200, {"access_token": b64url(assertion), "issued_token_type": SAML2,
                               "token_type": "N_A", "expires_in": max(0, int(not_after - now))})
    except PeerRejection as e:
        return _error(str(e))
    return _error("unsupported token types")


async def _read(receive):
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["method"] == "GET" and scope["path"] == "/healthz":
        status, body, ctype = 200, b"ok", b"text/plain"
    elif scope["method"] == "POST" and scope["path"] == "/token":
        data = await _read(receive)
        status, body = _error("the body is too large", 413) if data is None else token(data)
        ctype = b"application/json"
    else:
        status, body, ctype = 404, b"", b"text/plain"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", ctype), (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})
