//! A signer for the differential harness that neither verifier under test shares code with: libxml2's own
//! exclusive canonicaliser (through the `libxml` crate) for the digest and for SignedInfo, OpenSSL for the
//! signature. It signs what `dsig::sign_assertion` cannot: a Response, other digests and signature methods,
//! PrefixList variants, ECDSA. The Signature goes right after the signed element's first child (its Issuer),
//! with no white space around it, so that canonicalising the element before it was inserted gives the bytes
//! the verifiers digest.

use base64::Engine as _;
use libxml::parser::{Parser, ParserOptions};
use libxml::tree::c14n::{CanonicalizationMode, CanonicalizationOptions};
use libxml::tree::{Document, Node};
use libxml::xpath::Context;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::{hash, MessageDigest};
use openssl::pkey::{Id, PKey, Private};
use openssl::sign::Signer;

pub const DS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// How to sign.
#[derive(Debug, Clone)]
pub struct Params {
    pub digest: &'static str,
    /// The Reference transform's PrefixList (`None`: no InclusiveNamespaces element).
    pub reference_prefixes: Option<&'static str>,
    /// The CanonicalizationMethod's PrefixList.
    pub c14n_prefixes: Option<&'static str>,
    /// For RSA keys: rsa-sha256, rsa-sha384 or rsa-sha512 (ECDSA keys always sign ecdsa-sha256).
    pub rsa_method: &'static str,
    /// Prefix for the ds namespace (`None`: the default namespace on ds:Signature).
    pub ds_prefix: Option<&'static str>,
    /// Line breaks inside the base64 values (every 64 characters), as xmlsec1 writes them.
    pub wrap_base64: bool,
}

pub const DIGESTS: [&str; 3] = [
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
];
pub const RSA_METHODS: [&str; 3] = [
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
];
const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
pub const PREFIX_LISTS: [Option<&str>; 8] = [
    Some("xs"),
    None,
    Some("xs saml"),
    Some("#default"),
    Some(""),
    Some(" xs"),
    Some("xs  saml xsi"),
    Some("saml xs xsi samlp ds"),
];

fn md_for(uri: &str) -> MessageDigest {
    match uri {
        "http://www.w3.org/2001/04/xmldsig-more#sha384"
        | "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" => MessageDigest::sha384(),
        "http://www.w3.org/2001/04/xmlenc#sha512"
        | "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => MessageDigest::sha512(),
        _ => MessageDigest::sha256(),
    }
}

fn parse(xml: &str) -> Option<Document> {
    let options = ParserOptions {
        recover: false,
        no_net: true,
        no_error: true,
        no_warning: true,
        ..ParserOptions::default()
    };
    Parser::default()
        .parse_string_with_options(xml, options)
        .ok()
}

/// The PrefixList as libxmlsec1 hands it to libxml2: split at each space, no entry after a trailing one.
fn tokens(list: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = list;
    while !rest.is_empty() {
        let (token, tail) = rest.split_once(' ').unwrap_or((rest, ""));
        out.push(token.to_string());
        rest = tail;
    }
    out
}

fn canonical(node: &mut Node, prefixes: Option<&str>) -> Option<String> {
    let inclusive_ns_prefixes = prefixes.map(tokens).unwrap_or_default();
    node.canonicalize(CanonicalizationOptions {
        mode: CanonicalizationMode::ExclusiveCanonical1_0,
        with_comments: false,
        inclusive_ns_prefixes,
    })
    .ok()
}

fn element_by_id(doc: &Document, id: &str) -> Option<Node> {
    let mut context = Context::new(doc).ok()?;
    let found = context.findnodes(&format!("//*[@ID='{id}']"), None).ok()?;
    match found.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

fn b64(bytes: &[u8], wrap: bool) -> String {
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    if !wrap {
        return text;
    }
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i > 0 && i % 64 == 0 {
            out.push('\n');
        }
        out.push(c);
    }
    out
}

fn inclusive(prefixes: Option<&str>) -> String {
    prefixes
        .map(|list| {
            format!(r#"<ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="{list}"/>"#)
        })
        .unwrap_or_default()
}

/// Signs the element with `ID="id"` in `xml` (which must hold it once, with its Issuer as first child and
/// nothing between that Issuer's end tag and the position `insert_at`). Returns the signed document.
pub fn sign(
    xml: &str,
    id: &str,
    insert_at: usize,
    key: &PKey<Private>,
    params: &Params,
) -> Option<String> {
    let doc = parse(xml)?;
    let mut element = element_by_id(&doc, id)?;
    let digest = hash(
        md_for(params.digest),
        canonical(&mut element, params.reference_prefixes)?.as_bytes(),
    )
    .ok()?;
    let method = if key.id() == Id::EC {
        ECDSA_SHA256
    } else {
        params.rsa_method
    };
    let (open, close, p) = match params.ds_prefix {
        Some(prefix) => (
            format!(r#"<{prefix}:Signature xmlns:{prefix}="{DS}">"#),
            format!("</{prefix}:Signature>"),
            format!("{prefix}:"),
        ),
        None => (
            format!(r#"<Signature xmlns="{DS}">"#),
            "</Signature>".to_string(),
            String::new(),
        ),
    };
    let signed_info = format!(
        r##"<{p}SignedInfo><{p}CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#">{c14n}</{p}CanonicalizationMethod><{p}SignatureMethod Algorithm="{method}"/><{p}Reference URI="#{id}"><{p}Transforms><{p}Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><{p}Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#">{reference}</{p}Transform></{p}Transforms><{p}DigestMethod Algorithm="{digest_method}"/><{p}DigestValue>{digest_value}</{p}DigestValue></{p}Reference></{p}SignedInfo>"##,
        c14n = inclusive(params.c14n_prefixes),
        reference = inclusive(params.reference_prefixes),
        digest_method = params.digest,
        digest_value = b64(&digest, params.wrap_base64),
    );
    let before = format!("{open}{signed_info}<{p}SignatureValue>");
    let after = format!("</{p}SignatureValue>{close}");
    let (head, tail) = (xml.get(..insert_at)?, xml.get(insert_at..)?);
    let with_template = format!("{head}{before}{after}{tail}");
    let value_at = head.len() + before.len();

    let doc = parse(&with_template)?;
    let element = element_by_id(&doc, id)?;
    let signature = element.get_child_elements().into_iter().find(|c| {
        c.get_name() == "Signature" && c.get_namespace().is_some_and(|n| n.get_href() == DS)
    })?;
    let mut signed_info = signature.get_child_elements().into_iter().next()?;
    let canonical_signed_info = canonical(&mut signed_info, params.c14n_prefixes)?;
    let value = if key.id() == Id::EC {
        let digest = hash(MessageDigest::sha256(), canonical_signed_info.as_bytes()).ok()?;
        let sig = EcdsaSig::sign(&digest, key.ec_key().ok()?.as_ref()).ok()?;
        let mut raw = sig.r().to_vec_padded(32).ok()?;
        raw.extend(sig.s().to_vec_padded(32).ok()?);
        raw
    } else {
        let mut signer = Signer::new(md_for(method), key).ok()?;
        signer
            .sign_oneshot_to_vec(canonical_signed_info.as_bytes())
            .ok()?
    };
    let (head, tail) = (
        with_template.get(..value_at)?,
        with_template.get(value_at..)?,
    );
    Some(format!("{head}{}{tail}", b64(&value, params.wrap_base64)))
}
