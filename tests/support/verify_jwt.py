"""Independent JWT verification (PyJWT), used by the Rust tests to prove interoperability.

usage: verify_jwt.py JWKS_FILE TOKEN_FILE AUDIENCE ISSUER
Prints the verified payload as JSON; exits non-zero when verification fails.
"""
import json
import sys

import jwt

jwks_path, token_path, audience, issuer = sys.argv[1:5]
with open(jwks_path) as f:
    jwks = jwt.PyJWKSet.from_dict(json.load(f))
with open(token_path) as f:
    token = f.read().strip()

header = jwt.get_unverified_header(token)
key = next(k for k in jwks.keys if k.key_id == header["kid"])
payload = jwt.decode(
    token,
    key.key,
    algorithms=[key.algorithm_name],
    audience=audience,
    issuer=issuer,
    options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]},
)
print(json.dumps({"header": header, "payload": payload}))
