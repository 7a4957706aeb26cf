"""Independent XML-DSig signing of an assertion (signxml on lxml), used by the Rust tests.

usage: sign_saml.py KEY_PEM CERT_PEM ASSERTION_FILE [PREFIX ...]
Prints the assertion with an enveloped signature: exc-c14n, RSA-SHA256, SHA-256, Reference "#"+ID,
InclusiveNamespaces PrefixList from the PREFIX arguments (none if there are none). signxml places the
Signature as the Assertion's last child.
"""
import sys

from lxml import etree
from signxml import XMLSigner

key = open(sys.argv[1], "rb").read()
cert = open(sys.argv[2]).read()
root = etree.fromstring(open(sys.argv[3], "rb").read())
prefixes = sys.argv[4:] or None
signer = XMLSigner(c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#")
signed = signer.sign(
    root,
    key=key,
    cert=cert,
    reference_uri="#" + root.get("ID"),
    inclusive_ns_prefixes=prefixes,
)
sys.stdout.buffer.write(etree.tostring(signed))
