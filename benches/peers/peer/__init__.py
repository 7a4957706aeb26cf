"""A minimal Python peer of xua-gateway for benchmarks: the same exchanges with the least honest work."""

import os
import tomllib

from .jwt_to_saml import JwtToSaml, b64url
from .mapping import PeerRejection
from .saml_to_jwt import SamlToJwt

__all__ = ["Peer", "PeerRejection", "b64url"]

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SAMPLES = os.path.join(ROOT, "samples")
RSA_JWT_KEY = "keys/TEST-ONLY-gateway-jwt-rsa.key.pem"


class Peer:
    """Both directions, configured from the gateway's own sample configuration (samples/config.toml), so
    both sides trust the same keys, audiences and issuers."""

    def __init__(self, jwt_alg="ES256", config=os.path.join(SAMPLES, "config.toml")):
        with open(config, "rb") as f:
            cfg = tomllib.load(f)
        base = os.path.dirname(config)

        def path(p):
            return os.path.join(base, p)

        skew = cfg["gateway"]["clock_skew_secs"]
        trusted = cfg["saml"]["trusted_issuers"][0]
        self.saml_to_jwt = SamlToJwt(
            trusted_cert=path(trusted["certificate"]), idp_entity_id=trusted["entity_id"],
            audiences=cfg["saml"]["audiences"],
            jwt_key=path(cfg["jwt"]["signing_key"] if jwt_alg == "ES256" else RSA_JWT_KEY), jwt_alg=jwt_alg,
            issuer=cfg["gateway"]["entity_id"], jwt_audience=cfg["jwt"]["audiences"][0],
            max_lifetime=cfg["jwt"]["max_lifetime_secs"], skew=skew)
        trust = cfg["jwt"]["trust"]
        signing = cfg["saml"]["signing"]
        self.jwt_to_saml = JwtToSaml(
            jwks=path(trust["issuers"][0]["jwks_file"]), issuer=trust["issuers"][0]["issuer"],
            audiences=trust["audiences"], saml_key=path(signing["key"]), saml_cert=path(signing["certificate"]),
            entity_id=cfg["gateway"]["entity_id"], saml_audience=signing["audiences"][0],
            max_jwt_lifetime=trust["max_lifetime_secs"], max_lifetime=signing["max_lifetime_secs"], skew=skew)
