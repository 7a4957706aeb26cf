//! SAML 2.0 metadata for the gateway as an issuer of XUA assertions: the signing certificates that
//! relying parties (XCA responding gateways) configure to trust the assertions it issues. During a rollover
//! it lists the current certificate and the next (and one being retired) side by side, one KeyDescriptor
//! each, so relying parties that refresh it trust the new certificate before the first assertion it signs.

use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

use crate::error::Rejection;
use crate::ns;

const URI_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:URI";

/// The certificate's DER bytes in base64, as `ds:X509Certificate` wants them.
fn cert_base64(pem: &[u8]) -> Result<String, Rejection> {
    let cert = openssl::x509::X509::from_pem(pem)
        .map_err(|_| Rejection::internal("the signing certificate is not PEM"))?;
    let der = cert
        .to_der()
        .map_err(|_| Rejection::internal("the signing certificate cannot be encoded"))?;
    use base64::Engine;
    Ok(base64::engine::general_purpose::STANDARD.encode(der))
}

/// The metadata of `entity_id`, reached at `public_url`, signing with the certificates `cert_pems` (PEM,
/// the current one first).
pub fn entity_descriptor(
    entity_id: &str,
    public_url: &str,
    cert_pems: &[&[u8]],
) -> Result<String, Rejection> {
    let certs = cert_pems
        .iter()
        .map(|pem| cert_base64(pem))
        .collect::<Result<Vec<_>, _>>()?;
    let io = |_| Rejection::internal("cannot write the metadata");
    let mut w = Writer::new(Vec::new());
    let mut root = BytesStart::new("md:EntityDescriptor");
    root.push_attribute(("xmlns:md", ns::MD));
    root.push_attribute(("xmlns:ds", ns::DSIG));
    root.push_attribute(("entityID", entity_id));
    w.write_event(Event::Start(root)).map_err(io)?;
    let mut idp = BytesStart::new("md:IDPSSODescriptor");
    idp.push_attribute(("protocolSupportEnumeration", ns::SAMLP));
    w.write_event(Event::Start(idp)).map_err(io)?;
    for cert in &certs {
        let mut kd = BytesStart::new("md:KeyDescriptor");
        kd.push_attribute(("use", "signing"));
        w.write_event(Event::Start(kd)).map_err(io)?;
        for name in ["ds:KeyInfo", "ds:X509Data", "ds:X509Certificate"] {
            w.write_event(Event::Start(BytesStart::new(name)))
                .map_err(io)?;
        }
        w.write_event(Event::Text(BytesText::new(cert)))
            .map_err(io)?;
        for name in [
            "ds:X509Certificate",
            "ds:X509Data",
            "ds:KeyInfo",
            "md:KeyDescriptor",
        ] {
            w.write_event(Event::End(BytesEnd::new(name))).map_err(io)?;
        }
    }
    // Assertions are obtained by token exchange at /token; the URI binding is SAML's name for "fetch it".
    let mut sso = BytesStart::new("md:SingleSignOnService");
    sso.push_attribute(("Binding", URI_BINDING));
    let location = format!("{}/token", public_url.trim_end_matches('/'));
    sso.push_attribute(("Location", location.as_str()));
    w.write_event(Event::Empty(sso)).map_err(io)?;
    w.write_event(Event::End(BytesEnd::new("md:IDPSSODescriptor")))
        .map_err(io)?;
    w.write_event(Event::End(BytesEnd::new("md:EntityDescriptor")))
        .map_err(io)?;
    String::from_utf8(w.into_inner()).map_err(|_| Rejection::internal("metadata is not UTF-8"))
}
