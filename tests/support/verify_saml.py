"""Independent XML-DSig verification of an issued assertion (signxml on lxml), used by the Rust tests.

usage: verify_saml.py ASSERTION_FILE CERT_PEM_FILE
Prints {"attributes": [[name, [values...]], ...], "name_id": ..., "issuer": ...} from the verified element;
exits non-zero when verification fails.
"""
import json
import sys

from signxml import XMLVerifier

SAML = "{urn:oasis:names:tc:SAML:2.0:assertion}"
data = open(sys.argv[1], "rb").read()
cert = open(sys.argv[2]).read()
verified = XMLVerifier().verify(data, x509_cert=cert).signed_xml
attributes = [
    [a.get("Name"), [v.text or "" for v in a.findall(SAML + "AttributeValue")]]
    for a in verified.iter(SAML + "Attribute")
]
print(json.dumps({
    "issuer": verified.findtext(SAML + "Issuer"),
    "name_id": verified.findtext(SAML + "Subject/" + SAML + "NameID"),
    "attributes": attributes,
}))
