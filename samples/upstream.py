#!/usr/bin/env python3
"""A local SOAP upstream (an XCA responding gateway stand-in) for trying the gateway's XCA proxy and for its tests.

usage: upstream.py [--port N] [--port-file FILE]
                   [--cert PEM]                 check the wsse:Security assertion's signature with the xmlsec1 CLI
                   [--expect-patient-id ID]     the assertion's resource-id must name this patient (CX id part)
                   [--expect-body FILE]         the SOAP Body must be byte for byte the Body of this message
                   [--record FILE]              write what arrived: FILE (body bytes), FILE.json (method, path,
                                                headers, checks)
                   [--response FILE] [--response-type CONTENT-TYPE]
                                                answer this file's bytes as they are (default: a small ITI-38
                                                response; content type application/soap+xml; charset=UTF-8)
                   [--chunk-size N] [--chunk-delay SECONDS]
                                                send the answer chunked (Transfer-Encoding: chunked) in pieces of N
                                                bytes, pausing between them
                   [--delay SECONDS]            wait this long before answering (timeout tests)
                   [--redirect URL]             answer 302 with this Location instead
                   [--tls-cert PEM --tls-key PEM]
                                                serve HTTPS with this certificate (e.g. a wrong one, for TLS tests)

It listens on 127.0.0.1 (port 0 = any free port), prints "listening on PORT" and writes PORT to --port-file once
it accepts connections. Every POST is checked; a failed check is answered 400 with a SOAP 1.2 Fault whose reason
names the checks that failed (the record says why). Stop it with SIGTERM or Ctrl-C.

Example, next to a gateway proxy route whose upstream is http://127.0.0.1:8089/xca:
    python3 samples/upstream.py --port 8089 --cert samples/keys/TEST-ONLY-gateway-saml.crt.pem
"""
import argparse
import json
import os
import re
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
RESOURCE_IDS = (
    "urn:oasis:names:tc:xacml:1.0:resource:resource-id",
    "urn:oasis:names:tc:xacml:2.0:resource:resource-id",
)
DEFAULT_RESPONSE = (
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing">'
    "<s:Header><a:Action>urn:ihe:iti:2007:CrossGatewayQueryResponse</a:Action></s:Header><s:Body>"
    '<query:AdhocQueryResponse xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0" '
    'status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success">'
    '<rim:RegistryObjectList xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"/>'
    "</query:AdhocQueryResponse></s:Body></s:Envelope>"
).encode()


def soap_root(content_type, body):
    """The SOAP envelope: the body itself, or the root part of an MTOM package (start parameter or first part)."""
    if not content_type.lower().startswith("multipart/related"):
        return body
    params = dict(
        (k.strip().lower(), v.strip().strip('"'))
        for k, _, v in (p.partition("=") for p in content_type.split(";")[1:])
    )
    delimiter = b"--" + params["boundary"].encode()
    start = params.get("start", "").strip("<>")
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk.split(b"\n", 1)[1]
        sep = b"\r\n\r\n" if b"\r\n\r\n" in chunk else b"\n\n"
        head, _, content = chunk.partition(sep)
        content = content[:-2] if content.endswith(b"\r\n") else content[:-1] if content.endswith(b"\n") else content
        ids = re.findall(rb"(?im)^content-id:\s*<?([^>\r\n]*)>?", head)
        if not start or (ids and ids[0].decode() == start):
            return content
    raise ValueError("no root part")


def body_element(envelope):
    """The bytes of the SOAP Body element, found by the Envelope's own prefix."""
    m = re.search(rb"<(?:([\w.-]+):)?Envelope\b", envelope)
    prefix = (m.group(1) + b":") if m and m.group(1) else b""
    start = envelope.find(b"<" + prefix + b"Body")
    end = envelope.rfind(b"</" + prefix + b"Body>")
    if start < 0:
        return None
    if end < 0:  # <Body/>
        return envelope[start:envelope.find(b">", start) + 1]
    return envelope[start:end + len(b"</" + prefix + b"Body>")]


def check_signature(envelope, cert):
    with tempfile.NamedTemporaryFile(suffix=".xml", delete=False) as f:
        f.write(envelope)
        path = f.name
    try:
        out = subprocess.run(
            ["xmlsec1", "--verify", "--id-attr:ID", SAML + ":Assertion", "--pubkey-cert-pem", cert, path],
            capture_output=True, text=True, timeout=30,
        )
        return out.returncode == 0, out.stderr.strip()[-400:]
    finally:
        os.unlink(path)


def patient_ids(envelope):
    from lxml import etree  # signxml's dependency, installed by .ci/setup
    root = etree.fromstring(envelope, etree.XMLParser(resolve_entities=False, no_network=True))
    ids = []
    for attr in root.iter("{%s}Attribute" % SAML):
        if attr.get("Name") in RESOURCE_IDS:
            for value in attr.iter("{%s}AttributeValue" % SAML):
                ids.append((value.text or "").strip().split("^")[0])
    return ids


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    options = None

    def log_message(self, fmt, *args):
        sys.stderr.write("upstream: " + (fmt % args) + "\n")

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def do_POST(self):
        o = self.options
        body = self.read_body()
        content_type = self.headers.get("Content-Type", "")
        checks = {}
        try:
            envelope = soap_root(content_type, body)
        except Exception as e:  # noqa: BLE001 - any parse failure is a failed check
            envelope, checks["envelope"] = None, "no SOAP envelope: %s" % e
        if envelope is not None:
            if o.cert:
                ok, why = check_signature(envelope, o.cert)
                checks["signature"] = "ok" if ok else "failed: " + why
            if o.expect_patient_id:
                try:
                    ids = patient_ids(envelope)
                    checks["patient"] = "ok" if ids == [o.expect_patient_id] else "mismatch: %d value(s)" % len(ids)
                except Exception as e:  # noqa: BLE001
                    checks["patient"] = "failed: %s" % e
            if o.expect_body:
                with open(o.expect_body, "rb") as f:
                    expected = body_element(soap_root(o.expect_body_type or "", f.read()))
                checks["body"] = "ok" if expected is not None and body_element(envelope) == expected else "mismatch"
        if o.record:
            # Requests are served on threads of their own: each writes its own temporary file, then the last
            # to finish replaces the record.
            tmp = "%s.%d.tmp" % (o.record, threading.get_ident())
            with open(tmp, "wb") as f:
                f.write(body)
            os.replace(tmp, o.record)
            meta = {"method": "POST", "path": self.path, "headers": dict(self.headers.items()), "checks": checks}
            with open(tmp, "w") as f:
                json.dump(meta, f, indent=1)
            os.replace(tmp, o.record + ".json")
        if o.delay:
            time.sleep(o.delay)
        failed = sorted(k for k, v in checks.items() if v != "ok")
        if failed:
            reason = "upstream check failed: " + ", ".join(failed)
            fault = (
                '<s:Envelope xmlns:s="%s"><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value></s:Code>'
                '<s:Reason><s:Text xml:lang="en">%s</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>'
            ) % (SOAP12, reason)
            return self.answer(400, "application/soap+xml; charset=UTF-8", fault.encode())
        if o.redirect:
            self.send_response(302)
            self.send_header("Location", o.redirect)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        return self.answer(200, o.response_type, o.response_bytes)

    def answer(self, status, content_type, data):
        o = self.options
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if o.chunk_size and status == 200:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(data), o.chunk_size):
                piece = data[i:i + o.chunk_size]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
                if o.chunk_delay:
                    time.sleep(o.chunk_delay)
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        self.wfile.flush()
        return None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--cert")
    p.add_argument("--expect-patient-id")
    p.add_argument("--expect-body")
    p.add_argument("--expect-body-type", help="Content-Type of the --expect-body file when it is an MTOM package")
    p.add_argument("--record")
    p.add_argument("--response")
    p.add_argument("--response-type", default="application/soap+xml; charset=UTF-8")
    p.add_argument("--chunk-size", type=int, default=0)
    p.add_argument("--chunk-delay", type=float, default=0.0)
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--redirect")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    o = p.parse_args()
    if o.response:
        with open(o.response, "rb") as f:
            o.response_bytes = f.read()
    else:
        o.response_bytes = DEFAULT_RESPONSE
    Handler.options = o
    server = ThreadingHTTPServer(("127.0.0.1", o.port), Handler)
    server.daemon_threads = True
    if o.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(o.tls_cert, o.tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    if o.port_file:
        with open(o.port_file + ".tmp", "w") as f:
            f.write(str(port))
        os.replace(o.port_file + ".tmp", o.port_file)
    print("listening on %d" % port, flush=True)
    stop = threading.Event()
    try:
        import signal
        signal.signal(signal.SIGTERM, lambda *_: (stop.set(), threading.Thread(target=server.shutdown).start()))
    except (ImportError, ValueError):
        pass
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
