"""Independent JOSE for the client-authentication and DPoP tests (PyJWT with cryptography).

usage: jose.py sign < SPEC_JSON       prints a compact JWS
       jose.py thumbprint KEY_PEM     prints the RFC 7638 SHA-256 thumbprint of the key's public JWK
       jose.py x5t CERT_PEM           prints the RFC 8705 x5t#S256 of a certificate
       jose.py jwk KEY_PEM KID ALG    prints the key's public JWK with that kid and alg

SPEC: {"alg": "ES256", "key": PEM path (or "secret": text for HS256, nothing for none),
       "headers": {...}, "payload": {...}, "jwk": "public" | "private" (embed the key in the header)}
The thumbprint is computed here from the RFC 7638 rules, not by PyJWT.
"""
import base64
import hashlib
import json
import sys

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def load_key(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def public_jwk(key):
    pub = key.public_key() if hasattr(key, "public_key") else key
    if isinstance(pub, ec.EllipticCurvePublicKey):
        n = pub.public_numbers()
        size = (pub.curve.key_size + 7) // 8
        crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[pub.curve.name]
        return {"kty": "EC", "crv": crv, "x": b64(n.x.to_bytes(size, "big")), "y": b64(n.y.to_bytes(size, "big"))}
    if isinstance(pub, rsa.RSAPublicKey):
        n = pub.public_numbers()
        return {"kty": "RSA", "n": b64(n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")),
                "e": b64(n.e.to_bytes((n.e.bit_length() + 7) // 8, "big"))}
    if isinstance(pub, ed25519.Ed25519PublicKey):
        raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}
    raise SystemExit("unsupported key type")


def private_jwk(key):
    jwk = public_jwk(key)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        size = (key.curve.key_size + 7) // 8
        jwk["d"] = b64(key.private_numbers().private_value.to_bytes(size, "big"))
    elif isinstance(key, rsa.RSAPrivateKey):
        d = key.private_numbers().d
        jwk["d"] = b64(d.to_bytes((d.bit_length() + 7) // 8, "big"))
    return jwk


def thumbprint(jwk):
    required = {"EC": ["crv", "kty", "x", "y"], "RSA": ["e", "kty", "n"], "OKP": ["crv", "kty", "x"]}
    members = {k: jwk[k] for k in required[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return b64(hashlib.sha256(canonical.encode()).digest())


def sign(spec):
    alg = spec.get("alg", "ES256")
    headers = dict(spec.get("headers", {}))
    key = None
    if "key" in spec:
        key = load_key(spec["key"])
    if spec.get("jwk") == "public":
        headers["jwk"] = public_jwk(key)
    elif spec.get("jwk") == "private":
        headers["jwk"] = private_jwk(key)
    if alg == "none":
        signing_key = None
    elif alg.startswith("HS"):
        signing_key = spec["secret"]
    else:
        signing_key = key
    return jwt.encode(spec["payload"], signing_key, algorithm=alg, headers=headers)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "sign":
        print(sign(json.load(sys.stdin)))
    elif mode == "thumbprint":
        print(thumbprint(public_jwk(load_key(sys.argv[2]))))
    elif mode == "x5t":
        with open(sys.argv[2], "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        print(b64(hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()))
    elif mode == "jwk":
        jwk = public_jwk(load_key(sys.argv[2]))
        jwk.update({"kid": sys.argv[3], "alg": sys.argv[4], "use": "sig"})
        print(json.dumps(jwk))
    else:
        raise SystemExit("usage: jose.py sign|thumbprint|x5t|jwk")
