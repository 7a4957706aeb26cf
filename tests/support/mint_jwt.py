"""Independent JWT minting (PyJWT), used by the Rust tests to prove the gateway accepts other stacks' tokens.

usage: mint_jwt.py ALG PRIVATE_KEY_PEM_FILE KID PAYLOAD_JSON_FILE
Prints the compact JWT (typ at+jwt).
"""
import json
import sys

import jwt

alg, key_file, kid, payload_file = sys.argv[1:5]
with open(key_file, "rb") as f:
    key = f.read()
with open(payload_file) as f:
    payload = json.load(f)
print(jwt.encode(payload, key, algorithm=alg, headers={"kid": kid, "typ": "at+jwt"}))
