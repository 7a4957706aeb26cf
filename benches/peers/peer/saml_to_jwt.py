"""SAML → JWT, the minimal honest way: python-xmlsec (libxmlsec1) verifies against one pinned certificate,
lxml reads the claims from the signed element only, PyJWT mints the JWT."""

import base64
import hashlib
import json
import time
import uuid
from datetime import datetime

import jwt
import xmlsec
from cryptography.hazmat.primitives import serialization
from lxml import etree

from .mapping import NIN_SYSTEM, TF, PeerRejection, decode_attribute

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"

_A = "{%s}" % SAML
_D = "{%s}" % DS

# No DTDs, no entities, no network, no huge-tree mode: the parser refuses what it must not process.
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                         remove_blank_text=False, remove_comments=False)


def _instant(text, what):
    if not text:
        raise PeerRejection("%s is missing" % what)
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError as e:
        raise PeerRejection("%s is not a date-time" % what) from e


def jwk_thumbprint(public_key):
    """RFC 7638 thumbprint, the `kid` the gateway publishes for the same key."""
    jwk = json.loads(jwt.algorithms.get_default_algorithms()[
        "ES256" if hasattr(public_key, "curve") else "RS256"].to_jwk(public_key))
    members = ("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("e", "kty", "n")
    canonical = json.dumps({k: jwk[k] for k in members}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


class SamlToJwt:
    def __init__(self, *, trusted_cert, idp_entity_id, audiences, jwt_key, jwt_alg, issuer, jwt_audience,
                 max_lifetime=300, skew=60):
        self.cert_key = xmlsec.Key.from_file(trusted_cert, xmlsec.constants.KeyDataFormatCertPem)
        self.idp = idp_entity_id
        self.audiences = frozenset(audiences)
        with open(jwt_key, "rb") as f:
            self.signing_key = serialization.load_pem_private_key(f.read(), None)
        self.alg = jwt_alg
        self.headers = {"typ": "at+jwt", "kid": jwk_thumbprint(self.signing_key.public_key())}
        self.issuer = issuer
        self.jwt_audience = jwt_audience
        self.max_lifetime = max_lifetime
        self.skew = skew

    def verify(self, xml):
        """The signed Assertion element, or PeerRejection."""
        if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
            raise PeerRejection("DTD")
        try:
            root = etree.fromstring(xml, PARSER)
        except etree.XMLSyntaxError as e:
            raise PeerRejection("not XML") from e
        # One assertion, the document element, and nothing that could carry a second one.
        if root.tag != _A + "Assertion":
            raise PeerRejection("the document is not an Assertion")
        for _ in root.iterdescendants(_A + "Assertion", etree.Comment):
            raise PeerRejection("a nested assertion or a comment")
        assertion_id = root.get("ID")
        if not assertion_id:
            raise PeerRejection("the assertion has no ID")
        sigs = root.findall(_D + "Signature")
        if len(sigs) != 1:
            raise PeerRejection("the assertion must carry exactly one Signature")
        sig = sigs[0]
        refs = sig.findall(_D + "SignedInfo/" + _D + "Reference")
        if len(refs) != 1 or refs[0].get("URI") != "#" + assertion_id:
            raise PeerRejection("the one Reference must point to the assertion's ID")
        transforms = [t.get("Algorithm") for t in refs[0].iterfind(_D + "Transforms/" + _D + "Transform")]
        if transforms != [ENVELOPED, EXC_C14N]:
            raise PeerRejection("unexpected transforms")
        if sig.find(_D + "SignedInfo/" + _D + "SignatureMethod").get("Algorithm") != RSA_SHA256 or \
                refs[0].find(_D + "DigestMethod").get("Algorithm") != SHA256:
            raise PeerRejection("weak or unknown algorithm")

        ctx = xmlsec.SignatureContext()
        ctx.key = self.cert_key  # the pinned certificate; KeyInfo in the message is never used
        ctx.register_id(root, "ID")
        for t in (xmlsec.constants.TransformEnveloped, xmlsec.constants.TransformExclC14N,
                  xmlsec.constants.TransformSha256):
            ctx.enable_reference_transform(t)
        for t in (xmlsec.constants.TransformExclC14N, xmlsec.constants.TransformRsaSha256):
            ctx.enable_signature_transform(t)
        try:
            ctx.verify(sig)
        except xmlsec.Error as e:
            raise PeerRejection("signature does not verify") from e
        return root

    def check_conditions(self, root, now):
        issuer = root.find(_A + "Issuer")
        if issuer is None or issuer.text != self.idp:
            raise PeerRejection("unknown Issuer")
        cond = root.find(_A + "Conditions")
        if cond is None:
            raise PeerRejection("no Conditions")
        not_before = _instant(cond.get("NotBefore"), "NotBefore")
        not_after = _instant(cond.get("NotOnOrAfter"), "NotOnOrAfter")
        if now + self.skew < not_before or now - self.skew >= not_after:
            raise PeerRejection("outside the validity window")
        restrictions = cond.findall(_A + "AudienceRestriction")
        if not restrictions:
            raise PeerRejection("no AudienceRestriction")
        for r in restrictions:
            if not any(a.text in self.audiences for a in r.findall(_A + "Audience")):
                raise PeerRejection("not addressed to us")
        confirmations = root.findall(_A + "Subject/" + _A + "SubjectConfirmation")
        if not any(c.get("Method") == BEARER for c in confirmations):
            raise PeerRejection("no bearer SubjectConfirmation")
        for c in confirmations:
            data = c.find(_A + "SubjectConfirmationData")
            if data is not None and data.get("NotOnOrAfter") and \
                    now - self.skew >= _instant(data.get("NotOnOrAfter"), "SubjectConfirmationData"):
                raise PeerRejection("the subject confirmation has expired")
        return not_after

    def claims(self, root):
        """The claims, read only from the verified Assertion element (never from the Signature)."""
        name_id = root.find(_A + "Subject/" + _A + "NameID")
        if name_id is None or not name_id.text:
            raise PeerRejection("no NameID")
        pid = name_id.text
        identifier = {"id": pid, "system": NIN_SYSTEM}
        if name_id.get("NameQualifier"):
            identifier["authority"] = name_id.get("NameQualifier")
        claims = {"helseid://claims/identity/pid": pid, TF: {"practitioner": {"identifier": identifier}}}
        for attr in root.iterfind(_A + "AttributeStatement/" + _A + "Attribute"):
            values = attr.findall(_A + "AttributeValue")
            if len(values) != 1 or values[0].text is None or len(values[0]):
                raise PeerRejection("an attribute must have one text value")
            decode_attribute(claims, attr.get("Name"), values[0].text)
        return claims, pid

    def exchange(self, xml, now=None):
        """The signed JWT and its expiry (Unix seconds)."""
        now = time.time() if now is None else now
        root = self.verify(xml)
        not_after = self.check_conditions(root, now)
        claims, pid = self.claims(root)
        iat = int(now)
        exp = min(iat + self.max_lifetime, int(not_after))
        claims.update({
            "iss": self.issuer, "sub": pid, "aud": self.jwt_audience, "iat": iat, "nbf": iat, "exp": exp,
            "jti": str(uuid.uuid4()),
        })
        return jwt.encode(claims, self.signing_key, algorithm=self.alg, headers=self.headers), exp
