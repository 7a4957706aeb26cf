"""Independent JWT verification (PyJWT) of many tokens against one JWKS, used by the Rust tests.

usage: verify_jwts.py JWKS_FILE TOKENS_FILE AUDIENCE ISSUER
TOKENS_FILE holds one compact JWT per line. Prints {"verified": N, "kids": {kid: count}}; exits non-zero at
the first token that does not verify (or whose kid the set does not hold).
"""
import json
import sys

import jwt

jwks_path, tokens_path, audience, issuer = sys.argv[1:5]
with open(jwks_path) as f:
    jwks = jwt.PyJWKSet.from_dict(json.load(f))
keys = {k.key_id: k for k in jwks.keys}
kids = {}
with open(tokens_path) as f:
    tokens = [line.strip() for line in f if line.strip()]
for i, token in enumerate(tokens):
    kid = jwt.get_unverified_header(token).get("kid")
    if kid not in keys:
        sys.exit(f"token {i}: kid {kid} is not in the JWKS")
    key = keys[kid]
    jwt.decode(
        token,
        key.key,
        algorithms=[key.algorithm_name],
        audience=audience,
        issuer=issuer,
        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]},
    )
    kids[kid] = kids.get(kid, 0) + 1
print(json.dumps({"verified": len(tokens), "kids": kids}))
