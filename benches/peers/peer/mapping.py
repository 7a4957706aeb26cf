"""The handful of attributes the sample tokens carry, mapped by name in both directions.

A plain table, as a Python service would write it: no profiles, no code lists, no value rules. Names and
claim paths are the ones `mappings/profiles/no-pjd.toml` gives for the same fields, so the peer's JWT carries
the claims the gateway's does for the sample assertion (the run script compares the two).
"""

from lxml import etree

HL7 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
TF = "nhn:tillitsrammeverk:parameters"
NIN_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.1"

# SAML attribute Name -> (encoding, claim path under the trust-framework object or a top-level claim,
# HL7 element name for hl7_ce / hl7_ii).
ATTRIBUTES = {
    "urn:oasis:names:tc:xacml:1.0:subject:subject-id": ("text", (TF, "practitioner", "identifier", "name"), None),
    "urn:ihe:iti:xua:2017:subject:provider-identifier": ("hl7_ii", (TF, "practitioner", "hpr_nr"), "id"),
    "urn:oasis:names:tc:xspa:1.0:subject:npi": ("text", ("helseid://claims/hpr/hpr_number",), None),
    "urn:oasis:names:tc:xacml:2.0:subject:role": ("hl7_ce", (TF, "practitioner", "authorization"), "Role"),
    "urn:oasis:names:tc:xspa:1.0:subject:organization-id": ("hl7_ii", (TF, "practitioner", "legal_entity"), "id"),
    "urn:oasis:names:tc:xspa:1.0:subject:organization": ("text", (TF, "practitioner", "legal_entity", "name"), None),
    "urn:oasis:names:tc:xspa:1.0:subject:child-organization": ("hl7_ii", (TF, "practitioner", "point_of_care"), "id"),
    "urn:nhn:trust-framework:1.0:ext:subject:child-organization-name": (
        "text", (TF, "practitioner", "point_of_care", "name"), None),
    "urn:nhn:trust-framework:1.0:ext:care-relationship:healthcare-service": (
        "hl7_ce", (TF, "care_relationship", "healthcare_service"), "HealthcareService"),
    "urn:oasis:names:tc:xacml:2.0:action:purpose": ("hl7_ce", (TF, "care_relationship", "purpose_of_use"), "Purpose"),
    "urn:nhn:trust-framework:1.0:ext:care-relationship:decision-ref": (
        "decision_ref", (TF, "care_relationship", "decision_ref"), None),
    "urn:oasis:names:tc:xacml:1.0:resource:resource-id": ("cx", (TF, "patients", 0, "identifier"), None),
    "urn:no:ehelse:saml:1.0:subject:SecurityLevel": ("text", ("helseid://claims/identity/security_level",), None),
    "urn:no:ehelse:saml:1.0:subject:Scope": ("scope", ("scope",), None),
    "urn:no:ehelse:saml:1.0:subject:client_id": ("text", ("client_id",), None),
}
# Where encoding looks when the claim is absent (HelseID's JWT carries the HPR number only inside hpr_nr).
ENCODE_FALLBACK = {"urn:oasis:names:tc:xspa:1.0:subject:npi": (TF, "practitioner", "hpr_nr", "id")}
# Carried by XUA only; the JWT has no claim for it, and a JWT input gets the national community's id.
HOME_COMMUNITY = "urn:ihe:iti:xca:2010:homeCommunityId"
HOME_COMMUNITY_DEFAULT = "2.16.578.1.12.4.1.7.1.1"

# The HL7 fragments inside AttributeValue text are parsed with their own hardened parser.
_FRAGMENT_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


class PeerRejection(Exception):
    """A token the peer refuses; the message names the check, never a value."""


def _put(claims, path, value):
    node = claims
    for i, key in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(node, list):
            while len(node) <= key:
                node.append({})
            node = node[key]
        else:
            node = node.setdefault(key, [] if isinstance(nxt, int) else {})
    node[path[-1]] = value


def _get(claims, path):
    node = claims
    for key in path:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _fragment(text, element):
    if "<!" in text:
        raise PeerRejection("HL7 value holds a DTD or comment")
    try:
        el = etree.fromstring(text.encode("utf-8"), _FRAGMENT_PARSER)
    except etree.XMLSyntaxError as e:
        raise PeerRejection("HL7 value is not XML") from e
    if el.tag != "{%s}%s" % (HL7, element):
        raise PeerRejection("HL7 value has the wrong element")
    return el


def _merge(claims, path, obj):
    existing = _get(claims, path)
    if isinstance(existing, dict):
        existing.update(obj)
    else:
        _put(claims, path, obj)


def decode_attribute(claims, name, text):
    """Puts one attribute's value into the claims; unknown names are skipped."""
    entry = ATTRIBUTES.get(name)
    if entry is None:
        return
    encoding, path, element = entry
    if encoding == "text":
        if path[0] == TF:
            _merge(claims, path[:-1], {path[-1]: text})
        else:
            _put(claims, path, text)
    elif encoding == "scope":
        _put(claims, path, " ".join(s.strip() for s in text.split(",") if s.strip()))
    elif encoding == "hl7_ii":
        el = _fragment(text, element)
        obj = {"id": el.get("extension"), "system": el.get("root")}
        if el.get("assigningAuthorityName"):
            obj["authority"] = el.get("assigningAuthorityName")
        _merge(claims, path, obj)
    elif encoding == "hl7_ce":
        el = _fragment(text, element)
        obj = {"code": el.get("code"), "system": el.get("codeSystem")}
        if el.get("displayName"):
            obj["text"] = el.get("displayName")
        if el.get("assigningAuthorityName"):
            obj["assigner"] = el.get("assigningAuthorityName")
        _merge(claims, path, obj)
    elif encoding == "decision_ref":
        el = etree.fromstring(text.encode("utf-8"), _FRAGMENT_PARSER)
        ref_id, selected = el.find("id"), el.find("user-selected")
        if ref_id is None or selected is None:
            raise PeerRejection("decision-ref lacks id or user-selected")
        _put(claims, path, {"id": ref_id.get("value"), "user_selected": selected.get("value") == "true"})
    elif encoding == "cx":
        parts = text.split("^")
        if len(parts) != 4 or not parts[3].startswith("&") or not parts[3].endswith("&ISO"):
            raise PeerRejection("resource-id is not a CX value")
        _put(claims, path, {"id": parts[0], "system": "urn:oid:" + parts[3][1:-4]})


def _hl7(element, attrs):
    el = etree.Element("{%s}%s" % (HL7, element), nsmap={None: HL7, "xsi": XSI})
    for k, v in attrs:
        if v is not None:
            el.set(k, v)
    return etree.tostring(el, encoding="unicode")


def encode_attributes(claims):
    """The (Name, text) pairs of an assertion for the claims, in the gateway's order."""
    out = []
    for name, (encoding, path, element) in ATTRIBUTES.items():
        value = _get(claims, path)
        if value is None and name in ENCODE_FALLBACK:
            value = _get(claims, ENCODE_FALLBACK[name])
        if value is None:
            continue
        if encoding in ("text", "scope"):
            if not isinstance(value, str):
                raise PeerRejection("claim is not a string")
            out.append((name, ",".join(value.split()) if encoding == "scope" else value))
        elif encoding == "hl7_ii":
            out.append((name, _hl7(element, [
                ("{%s}type" % XSI, "II"), ("root", value.get("system")), ("extension", value.get("id")),
                ("assigningAuthorityName", value.get("authority")), ("displayable", "true")])))
        elif encoding == "hl7_ce":
            out.append((name, _hl7(element, [
                ("{%s}type" % XSI, "CE"), ("code", value.get("code")), ("codeSystem", value.get("system")),
                ("displayName", value.get("text")), ("assigningAuthorityName", value.get("assigner"))])))
        elif encoding == "decision_ref":
            root = etree.Element("decision-ref")
            etree.SubElement(root, "id", value=str(value.get("id")))
            etree.SubElement(root, "user-selected", value="true" if value.get("user_selected") else "false")
            out.append((name, etree.tostring(root, encoding="unicode")))
        elif encoding == "cx":
            system = value.get("system", "")
            oid = system[len("urn:oid:"):] if system.startswith("urn:oid:") else system
            out.append((name, "%s^^^&%s&ISO" % (value.get("id"), oid)))
    out.append((HOME_COMMUNITY, HOME_COMMUNITY_DEFAULT))
    return out
