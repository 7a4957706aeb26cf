"""JWT (ES256) → SAML: PyJWT verifies against a pinned JWKS key, lxml builds the assertion, python-xmlsec
signs it (RSA-SHA256, exclusive c14n, enveloped, one reference)."""

import base64
import json
import time
import uuid
from datetime import datetime, timezone

import jwt
import xmlsec
from lxml import etree

from .mapping import TF, PeerRejection, encode_attributes
from .saml_to_jwt import BEARER, SAML

XS = "http://www.w3.org/2001/XMLSchema"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
AC_X509 = "urn:oasis:names:tc:SAML:2.0:ac:classes:X509"
_A = "{%s}" % SAML


def _instant(ts):
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class JwtToSaml:
    def __init__(self, *, jwks, issuer, audiences, saml_key, saml_cert, entity_id, saml_audience,
                 max_jwt_lifetime=3600, max_lifetime=3600, skew=60):
        with open(jwks, "rb") as f:
            keys = [k for k in json.load(f)["keys"] if k.get("alg") == "ES256"]
        # Pinned: the issuer's one ES256 key, by kid.
        if len(keys) != 1:
            raise ValueError("the JWKS must hold exactly one ES256 key")
        self.kid, self.key = keys[0]["kid"], jwt.PyJWK(keys[0]).key
        self.issuer = issuer
        self.audiences = list(audiences)
        self.signing_key = xmlsec.Key.from_file(saml_key, xmlsec.constants.KeyDataFormatPem)
        self.signing_key.load_cert_from_file(saml_cert, xmlsec.constants.KeyDataFormatCertPem)
        self.entity_id = entity_id
        self.saml_audience = saml_audience
        self.max_jwt_lifetime = max_jwt_lifetime
        self.max_lifetime = max_lifetime
        self.skew = skew

    def verify(self, token, now):
        # Signature, iss and aud by PyJWT, in one parse (there is one pinned key, so the header need not be
        # read first); the time window below against `now`, so a check can move the clock.
        try:
            full = jwt.decode_complete(
                token, self.key, algorithms=["ES256"], audience=self.audiences, issuer=self.issuer,
                options={"require": ["exp", "iat", "iss", "aud", "jti"], "verify_exp": False,
                         "verify_nbf": False, "verify_iat": False})
        except jwt.InvalidTokenError as e:
            raise PeerRejection("the JWT does not verify: %s" % type(e).__name__) from e
        header, claims = full["header"], full["payload"]
        if header.get("typ") != "at+jwt" or header.get("kid") != self.kid:
            raise PeerRejection("not an access token of the pinned key")
        exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf", claims["iat"])
        if not all(isinstance(t, int) for t in (exp, iat, nbf)):
            raise PeerRejection("exp, iat and nbf must be integers")
        if now - self.skew >= exp or now + self.skew < nbf or now + self.skew < iat:
            raise PeerRejection("outside the validity window")
        if exp - iat > self.max_jwt_lifetime:
            raise PeerRejection("the JWT lives too long")
        if not isinstance(claims.get(TF), dict):
            raise PeerRejection("no trust-framework object")
        return claims

    def build(self, claims, now):
        """The unsigned assertion and its NotOnOrAfter (Unix seconds)."""
        practitioner = claims[TF].get("practitioner", {})
        identifier = practitioner.get("identifier", {})
        pid = claims.get("helseid://claims/identity/pid") or identifier.get("id")
        if not isinstance(pid, str):
            raise PeerRejection("no practitioner identifier")
        not_after = min(now + self.max_lifetime, claims["exp"])
        issued, expires = _instant(now), _instant(not_after)
        assertion_id = "_" + str(uuid.uuid4())

        root = etree.Element(_A + "Assertion", nsmap={"saml": SAML, "xs": XS, "xsi": XSI},
                             ID=assertion_id, IssueInstant=issued, Version="2.0")
        etree.SubElement(root, _A + "Issuer").text = self.entity_id
        subject = etree.SubElement(root, _A + "Subject")
        name_id = etree.SubElement(subject, _A + "NameID")
        if identifier.get("authority"):
            name_id.set("NameQualifier", identifier["authority"])
        name_id.text = pid
        sc = etree.SubElement(subject, _A + "SubjectConfirmation", Method=BEARER)
        etree.SubElement(sc, _A + "SubjectConfirmationData", NotOnOrAfter=expires)
        cond = etree.SubElement(root, _A + "Conditions", NotBefore=issued, NotOnOrAfter=expires)
        etree.SubElement(etree.SubElement(cond, _A + "AudienceRestriction"), _A + "Audience").text = \
            self.saml_audience
        authn = etree.SubElement(root, _A + "AuthnStatement", AuthnInstant=_instant(claims["iat"]))
        etree.SubElement(etree.SubElement(authn, _A + "AuthnContext"), _A + "AuthnContextClassRef").text = AC_X509
        statement = etree.SubElement(root, _A + "AttributeStatement")
        for name, text in encode_attributes(claims):
            attr = etree.SubElement(statement, _A + "Attribute", Name=name)
            etree.SubElement(attr, _A + "AttributeValue").text = text
        return root, not_after

    def sign(self, root):
        sig = xmlsec.template.create(root, xmlsec.constants.TransformExclC14N,
                                     xmlsec.constants.TransformRsaSha256, ns="ds")
        root.find(_A + "Issuer").addnext(sig)  # SAML's schema puts the Signature right after the Issuer
        ref = xmlsec.template.add_reference(sig, xmlsec.constants.TransformSha256, uri="#" + root.get("ID"))
        xmlsec.template.add_transform(ref, xmlsec.constants.TransformEnveloped)
        c14n = xmlsec.template.add_transform(ref, xmlsec.constants.TransformExclC14N)
        xmlsec.template.transform_add_c14n_inclusive_namespaces(c14n, "xs")
        xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(sig))
        ctx = xmlsec.SignatureContext()
        ctx.key = self.signing_key
        ctx.register_id(root, "ID")
        ctx.sign(sig)
        return etree.tostring(root)

    def exchange(self, token, now=None):
        """The signed assertion's bytes and its NotOnOrAfter (Unix seconds)."""
        now = time.time() if now is None else now
        root, not_after = self.build(self.verify(token, now), now)
        return self.sign(root), not_after


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
