"""Correctness before speed: the peer must accept what the gateway accepts and refuse the forgeries the
gateway refuses, or a faster peer means nothing."""

import copy
import json
import os
import time

import jwt
from cryptography.hazmat.primitives import serialization
from lxml import etree

from . import RSA_JWT_KEY, SAMPLES, Peer, PeerRejection
from .saml_to_jwt import DS, SAML

_A, _D = "{%s}" % SAML, "{%s}" % DS
# Claims that differ between two exchanges of the same token by design.
PER_EXCHANGE = {"iat", "nbf", "exp", "jti"}


def _rejects(fn, arg, what, failures, **kw):
    try:
        fn(arg, **kw)
    except PeerRejection:
        return
    failures.append("the peer accepted %s" % what)


def _forgeries(xml):
    """Tampered and wrapped variants of a signed assertion, by name."""
    root = etree.fromstring(xml)
    out = {"tampered-patient": xml.replace(b"21868534521", b"14035234595")}

    # Comment inside the NameID: exclusive c14n drops comments, so the signature still verifies, and a
    # careless reader sees only the text before the comment.
    name_id = root.find(_A + "Subject/" + _A + "NameID")
    commented = copy.deepcopy(root)
    n = commented.find(_A + "Subject/" + _A + "NameID")
    n.text = name_id.text[:5]
    comment = etree.Comment("x")
    comment.tail = name_id.text[5:]
    n.append(comment)
    out["comment-in-nameid"] = etree.tostring(commented)

    def evil(keep_id, move_signature):
        e = copy.deepcopy(root)
        e.find(_A + "Subject/" + _A + "NameID").text = "14035234595"
        sig = e.find(_D + "Signature")
        e.remove(sig)
        if not keep_id:
            e.set("ID", "_evil")
        if move_signature:
            e.find(_A + "Issuer").addnext(copy.deepcopy(root.find(_D + "Signature")))
        advice = etree.Element(_A + "Advice")
        advice.append(copy.deepcopy(root))
        e.find(_A + "Conditions").addnext(advice)
        return etree.tostring(e)

    out["wrapped-new-id"] = evil(keep_id=False, move_signature=False)
    out["wrapped-new-id-signature-moved"] = evil(keep_id=False, move_signature=True)
    out["wrapped-same-id"] = evil(keep_id=True, move_signature=True)
    envelope = etree.Element("{urn:example}Envelope")
    forged = copy.deepcopy(root)
    forged.remove(forged.find(_D + "Signature"))
    forged.find(_A + "Subject/" + _A + "NameID").text = "14035234595"
    envelope.append(forged)
    envelope.append(copy.deepcopy(root))
    out["wrapped-in-envelope"] = etree.tostring(envelope)
    return out


def _claims_of(token):
    return {k: v for k, v in jwt.decode(token, options={"verify_signature": False}).items()
            if k not in PER_EXCHANGE}


def run(work):
    """Reads the inputs the run script wrote into `work`, writes the forgeries there for the gateway to
    refuse too, and returns the list of failures (empty when all is well)."""
    failures = []
    es, rs = Peer("ES256"), Peer("RS256")
    xml = open(os.path.join(work, "sample.xml"), "rb").read()

    # 1. The gateway's sample assertion is accepted, and the JWT carries what the gateway's JWT carries.
    token, _ = es.saml_to_jwt.exchange(xml)
    with open(os.path.join(SAMPLES, "keys/TEST-ONLY-gateway-jwt-es256.key.pem"), "rb") as f:
        es_pub = serialization.load_pem_private_key(f.read(), None).public_key()
    claims = jwt.decode(token, es_pub, algorithms=["ES256"], audience="https://fhir.test.example/pjd")
    gateway = _claims_of(open(os.path.join(work, "gateway.jwt")).read().strip())
    ours = {k: v for k, v in claims.items() if k not in PER_EXCHANGE}
    if ours != gateway:
        diff = sorted(k for k in set(ours) | set(gateway) if ours.get(k) != gateway.get(k))
        failures.append("the peer's JWT differs from the gateway's in: %s" % ", ".join(diff))
    if claims["exp"] - claims["iat"] > 300:
        failures.append("the peer's JWT lives longer than jwt.max_lifetime_secs")
    if jwt.get_unverified_header(token) != \
            jwt.get_unverified_header(open(os.path.join(work, "gateway.jwt")).read().strip()):
        failures.append("the peer's JWT header differs from the gateway's")
    rs_token, _ = rs.saml_to_jwt.exchange(xml)
    with open(os.path.join(SAMPLES, RSA_JWT_KEY), "rb") as f:
        rs_pub = serialization.load_pem_private_key(f.read(), None).public_key()
    jwt.decode(rs_token, rs_pub, algorithms=["RS256"], audience="https://fhir.test.example/pjd")
    gateway_rs = open(os.path.join(work, "gateway-rs.jwt")).read().strip()
    if _claims_of(rs_token) != _claims_of(gateway_rs) or \
            jwt.get_unverified_header(rs_token) != jwt.get_unverified_header(gateway_rs):
        failures.append("the peer's RS256 JWT differs from the gateway's")

    # 2. Forgeries, an assertion for another audience, and the sample assertion after it has expired.
    for name, forged in _forgeries(xml).items():
        with open(os.path.join(work, "forged-%s.xml" % name), "wb") as f:
            f.write(forged)
        _rejects(es.saml_to_jwt.exchange, forged, name, failures)
    _rejects(es.saml_to_jwt.exchange, open(os.path.join(work, "other-audience.xml"), "rb").read(),
             "an assertion for another audience", failures)
    _rejects(es.saml_to_jwt.exchange, xml, "an expired assertion", failures, now=time.time() + 7200)
    _rejects(es.saml_to_jwt.exchange, xml, "an assertion before its NotBefore", failures,
             now=time.time() - 600)

    # 3. JWT → SAML: the sample JWT is accepted; the assertion names the attributes the gateway's does.
    jwt_in = open(os.path.join(work, "sample.jwt")).read().strip()
    assertion, _ = es.jwt_to_saml.exchange(jwt_in)
    with open(os.path.join(work, "peer-issued.xml"), "wb") as f:
        f.write(assertion)
    names = [a.get("Name") for a in etree.fromstring(assertion).iter(_A + "Attribute")]
    theirs = [a.get("Name") for a in etree.fromstring(open(os.path.join(work, "gateway-issued.xml"), "rb").read()).iter(
        _A + "Attribute")]
    if names != theirs:
        failures.append("the peer's assertion names other attributes than the gateway's")
    header, payload, signature = jwt_in.split(".")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    _rejects(es.jwt_to_saml.exchange, ".".join((header, flipped, signature)), "a tampered JWT", failures)
    pem = es_pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    _rejects(es.jwt_to_saml.exchange, _hs256_confusion(jwt_in, pem), "an HS256 JWT keyed with a public key",
             failures)
    _rejects(es.jwt_to_saml.exchange, open(os.path.join(work, "other-audience.jwt")).read().strip(),
             "a JWT for another audience", failures)
    _rejects(es.jwt_to_saml.exchange, jwt_in, "an expired JWT", failures, now=time.time() + 7200)
    return failures


def _hs256_confusion(token, secret):
    """The classic key-confusion forgery: the same claims, HMAC-signed with a public key as the secret."""
    import base64
    import hashlib
    import hmac
    header, payload, _ = token.split(".")
    head = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    head["alg"] = "HS256"
    h = base64.urlsafe_b64encode(json.dumps(head).encode()).rstrip(b"=").decode()
    mac = hmac.new(secret, ("%s.%s" % (h, payload)).encode(), hashlib.sha256).digest()
    return "%s.%s.%s" % (h, payload, base64.urlsafe_b64encode(mac).rstrip(b"=").decode())
