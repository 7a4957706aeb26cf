#!/usr/bin/env python3
"""A minimal fast XCA upstream for benches/load/soap.sh: the least a responding gateway does, so that the
benchmark measures the proxy rather than the upstream.

usage: upstream.py --port-file FILE [--mtom-bytes N] [--sent-file FILE]

HTTP/1.1 with keep-alive on asyncio, nothing else. For every POST it reads the body (Content-Length or
chunked) and answers:
- a request whose WS-Addressing Action is CrossGatewayRetrieve: an ITI-39 MTOM (XOP) multipart/related answer
  whose one attachment is N bytes generated on the fly (default 200 MiB), sent chunked in 64 KiB pieces; the
  number of body bytes sent and their SHA-256 go to --sent-file once the answer is complete;
- anything else: a small ITI-38 AdhocQueryResponse (Content-Length).
Path /proxied expects what the gateway forwards: a request without a SAML assertion and a signature in it is
answered 400 (a cheap sanity check; the tests verify the signature itself with xmlsec1). samples/upstream.py
is the checking upstream for trying the proxy by hand; its http.server request handling costs more than the
proxy's own work on a small machine, which this one avoids.
"""
import argparse
import asyncio
import hashlib
import os

ITI38_RESPONSE = (
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing">'
    b"<s:Header><a:Action>urn:ihe:iti:2007:CrossGatewayQueryResponse</a:Action></s:Header><s:Body>"
    b'<query:AdhocQueryResponse xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0" '
    b'status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success">'
    b'<rim:RegistryObjectList xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"/>'
    b"</query:AdhocQueryResponse></s:Body></s:Envelope>"
)
BOUNDARY = b"uuid:0b7c1f2e-6a1d-4c59-9e3b-bench-mtom"
MTOM_TYPE = (
    b'multipart/related; type="application/xop+xml"; boundary="' + BOUNDARY + b'"; '
    b'start="<root.message@bench>"; start-info="application/soap+xml"'
)
MTOM_ROOT = (
    b"--" + BOUNDARY + b"\r\n"
    b'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"\r\n'
    b"Content-Transfer-Encoding: binary\r\nContent-ID: <root.message@bench>\r\n\r\n"
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing">'
    b"<s:Header><a:Action>urn:ihe:iti:2007:CrossGatewayRetrieveResponse</a:Action></s:Header><s:Body>"
    b'<xdsb:RetrieveDocumentSetResponse xmlns:xdsb="urn:ihe:iti:xds-b:2007">'
    b'<rs:RegistryResponse xmlns:rs="urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0" '
    b'status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"/>'
    b"<xdsb:DocumentResponse><xdsb:HomeCommunityId>urn:oid:2.16.578.1.12.4.5.100.1</xdsb:HomeCommunityId>"
    b"<xdsb:RepositoryUniqueId>2.16.578.1.12.4.5.100.1.2</xdsb:RepositoryUniqueId>"
    b"<xdsb:DocumentUniqueId>2.16.578.1.12.4.5.100.1.2.3</xdsb:DocumentUniqueId>"
    b"<xdsb:mimeType>application/octet-stream</xdsb:mimeType>"
    b'<xdsb:Document><xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:doc1@bench"/>'
    b"</xdsb:Document></xdsb:DocumentResponse></xdsb:RetrieveDocumentSetResponse></s:Body></s:Envelope>\r\n"
    b"--" + BOUNDARY + b"\r\n"
    b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n"
    b"Content-ID: <doc1@bench>\r\n\r\n"
)
MTOM_END = b"\r\n--" + BOUNDARY + b"--\r\n"
PIECE = 64 * 1024


def block():
    """64 KiB of the attachment: not one repeated byte, so nothing on the way can shrink it."""
    return bytes((i * 7 + (i >> 8)) & 0xFF for i in range(PIECE))


async def read_body(reader, headers):
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        parts = []
        while True:
            size = int((await reader.readline()).split(b";")[0].strip(), 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readline()
    return await reader.readexactly(int(headers.get(b"content-length", b"0")))


async def send_mtom(writer, size, sent_file):
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: " + MTOM_TYPE + b"\r\nMIME-Version: 1.0\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    digest, total, piece = hashlib.sha256(), 0, block()

    def chunk(data):
        nonlocal total
        digest.update(data)
        total += len(data)
        writer.write(b"%x\r\n" % len(data) + data + b"\r\n")

    chunk(MTOM_ROOT)
    left = size
    while left > 0:
        chunk(piece[: min(left, PIECE)])
        left -= PIECE
        await writer.drain()
    chunk(MTOM_END)
    writer.write(b"0\r\n\r\n")
    await writer.drain()
    if sent_file:
        with open(sent_file + ".tmp", "w") as f:
            f.write("%d %s\n" % (total, digest.hexdigest()))
        os.replace(sent_file + ".tmp", sent_file)


def answer(writer, status, body):
    writer.write(
        b"HTTP/1.1 %d %s\r\nContent-Type: application/soap+xml; charset=UTF-8\r\nContent-Length: %d\r\n\r\n"
        % (status, b"OK" if status == 200 else b"Bad Request", len(body))
        + body
    )


async def serve(reader, writer, options):
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            path = line.split(b" ")[1] if line.count(b" ") >= 2 else b"/"
            headers = {}
            while True:
                h = await reader.readline()
                if h in (b"\r\n", b"\n", b""):
                    break
                name, _, value = h.partition(b":")
                headers[name.strip().lower()] = value.strip()
            body = await read_body(reader, headers)
            if path.startswith(b"/proxied") and not (b"Assertion" in body and b"SignatureValue" in body):
                answer(writer, 400, b"<missing-assertion/>")
            elif b"urn:ihe:iti:2007:CrossGatewayRetrieve<" in body:
                await send_mtom(writer, options.mtom_bytes, options.sent_file)
            else:
                answer(writer, 200, ITI38_RESPONSE)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port-file", required=True)
    p.add_argument("--mtom-bytes", type=int, default=200 * 1024 * 1024)
    p.add_argument("--sent-file")
    o = p.parse_args()
    server = await asyncio.start_server(lambda r, w: serve(r, w, o), "127.0.0.1", 0, backlog=512)
    port = server.sockets[0].getsockname()[1]
    with open(o.port_file + ".tmp", "w") as f:
        f.write(str(port))
    os.replace(o.port_file + ".tmp", o.port_file)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
