//! Client certificates from the gateway's own TLS listener (RFC 8705): what the connection presented, and
//! how a registered client's certificate is recognised.

use std::net::IpAddr;

use base64::Engine;
use openssl::x509::X509Ref;

/// The RFC 8705 §3.1 thumbprint (`x5t#S256`): SHA-256 of the DER certificate, base64url without padding.
pub fn thumbprint_der(der: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(openssl::sha::sha256(der))
}

/// The client certificate a TLS connection presented, read once per connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    /// `x5t#S256`.
    pub thumbprint: String,
    /// Whether the chain verified against the configured client CAs during the handshake.
    pub chain_verified: bool,
    /// The subject's attributes in certificate (ASN.1) order, as (type, value); types by OpenSSL's short
    /// name, or the dotted OID when it has none.
    pub subject: Vec<(String, String)>,
    pub san_dns: Vec<String>,
    pub san_uri: Vec<String>,
    pub san_email: Vec<String>,
    pub san_ip: Vec<IpAddr>,
}

impl PeerCertificate {
    /// Reads a certificate; `None` when it cannot be encoded (then the connection counts as presenting none).
    pub fn from_x509(cert: &X509Ref, chain_verified: bool) -> Option<Self> {
        let der = cert.to_der().ok()?;
        let mut subject = Vec::new();
        for entry in cert.subject_name().entries() {
            let object = entry.object();
            let kind = object
                .nid()
                .short_name()
                .map(str::to_string)
                .unwrap_or_else(|_| object.to_string());
            let value = entry.data().to_string().ok()?;
            subject.push((kind, value));
        }
        let mut out = Self {
            thumbprint: thumbprint_der(&der),
            chain_verified,
            subject,
            san_dns: Vec::new(),
            san_uri: Vec::new(),
            san_email: Vec::new(),
            san_ip: Vec::new(),
        };
        for name in cert.subject_alt_names().into_iter().flatten() {
            if let Some(d) = name.dnsname() {
                out.san_dns.push(d.to_string());
            } else if let Some(u) = name.uri() {
                out.san_uri.push(u.to_string());
            } else if let Some(e) = name.email() {
                out.san_email.push(e.to_string());
            } else if let Some(ip) = name.ipaddress() {
                let ip = match ip.len() {
                    4 => <[u8; 4]>::try_from(ip).ok().map(IpAddr::from),
                    16 => <[u8; 16]>::try_from(ip).ok().map(IpAddr::from),
                    _ => None,
                };
                out.san_ip.extend(ip);
            }
        }
        Some(out)
    }
}

/// How a registered client's certificate is recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateMatch {
    /// RFC 8705 `tls_client_auth_subject_dn`: the subject, as an RFC 4514 string (most specific RDN first).
    SubjectDn(Vec<(String, String)>),
    SanDns(String),
    SanUri(String),
    SanIp(IpAddr),
    SanEmail(String),
    /// `self_signed_tls_client_auth`: the thumbprints of the registered certificates.
    Thumbprints(Vec<String>),
}

/// RFC 4514 attribute types and the OpenSSL short names the certificate reading produces.
const DN_ALIASES: [(&str, &str); 3] = [
    ("SERIALNUMBER", "serialNumber"),
    ("EMAIL", "emailAddress"),
    ("E", "emailAddress"),
];

fn same_type(configured: &str, found: &str) -> bool {
    configured.eq_ignore_ascii_case(found)
        || DN_ALIASES
            .iter()
            .any(|(a, b)| configured.eq_ignore_ascii_case(a) && found == *b)
}

impl CertificateMatch {
    /// Parses an RFC 4514 distinguished name: `CN=client,O=Org\, Inc,C=NO`. Multi-valued RDNs (`+`) are not
    /// supported.
    pub fn subject_dn(text: &str) -> Result<Self, String> {
        let mut rdns = Vec::new();
        let mut current = String::new();
        let mut parts: Vec<String> = Vec::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    let next = chars.next().ok_or("the DN ends with a lone backslash")?;
                    if next.is_ascii_hexdigit() {
                        let low = chars.next().ok_or("the DN has a broken \\XX escape")?;
                        let byte = u8::from_str_radix(&format!("{next}{low}"), 16)
                            .map_err(|_| "the DN has a broken \\XX escape")?;
                        if !byte.is_ascii() {
                            return Err("write non-ASCII characters in the DN as they are, not as \\XX escapes".into());
                        }
                        current.push(char::from(byte));
                    } else {
                        current.push(next);
                    }
                }
                '+' => return Err("multi-valued RDNs (+) are not supported".into()),
                ',' => parts.push(std::mem::take(&mut current)),
                _ => current.push(c),
            }
        }
        parts.push(current);
        for part in parts {
            let (kind, value) = part
                .split_once('=')
                .ok_or("every RDN of the DN must be TYPE=value")?;
            let kind = kind.trim();
            if kind.is_empty() {
                return Err("an RDN of the DN has no type".into());
            }
            rdns.push((kind.to_string(), value.to_string()));
        }
        // RFC 4514 writes the last RDN of the sequence first.
        rdns.reverse();
        Ok(Self::SubjectDn(rdns))
    }

    pub fn matches(&self, cert: &PeerCertificate) -> bool {
        match self {
            Self::SubjectDn(rdns) => {
                rdns.len() == cert.subject.len()
                    && rdns
                        .iter()
                        .zip(&cert.subject)
                        .all(|((k, v), (ck, cv))| same_type(k, ck) && v == cv)
            }
            Self::SanDns(d) => cert.san_dns.iter().any(|c| c.eq_ignore_ascii_case(d)),
            Self::SanUri(u) => cert.san_uri.iter().any(|c| c == u),
            Self::SanIp(ip) => cert.san_ip.contains(ip),
            Self::SanEmail(e) => cert.san_email.iter().any(|c| c == e),
            Self::Thumbprints(t) => t.contains(&cert.thumbprint),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(subject: &[(&str, &str)]) -> PeerCertificate {
        PeerCertificate {
            thumbprint: "t".into(),
            chain_verified: true,
            subject: subject
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            san_dns: vec!["client.example".into()],
            san_uri: Vec::new(),
            san_email: Vec::new(),
            san_ip: Vec::new(),
        }
    }

    #[test]
    fn subject_dns_match_in_rfc_4514_order_with_escapes() {
        let c = cert(&[("C", "NO"), ("O", "Org, Inc"), ("CN", "client")]);
        let m = CertificateMatch::subject_dn("CN=client,O=Org\\, Inc,C=NO").unwrap();
        assert!(m.matches(&c));
        let m = CertificateMatch::subject_dn("cn=client,o=Org\\2C Inc,c=NO").unwrap();
        assert!(m.matches(&c));
        let wrong_order = CertificateMatch::subject_dn("C=NO,O=Org\\, Inc,CN=client").unwrap();
        assert!(!wrong_order.matches(&c));
        let fewer = CertificateMatch::subject_dn("CN=client").unwrap();
        assert!(!fewer.matches(&c));
        assert!(CertificateMatch::subject_dn("CN=a+O=b").is_err());
        assert!(CertificateMatch::subject_dn("CN").is_err());
        let serial = cert(&[("serialNumber", "983544622"), ("CN", "x")]);
        assert!(CertificateMatch::subject_dn("CN=x,SERIALNUMBER=983544622")
            .unwrap()
            .matches(&serial));
    }

    #[test]
    fn sans_and_thumbprints() {
        let c = cert(&[]);
        assert!(CertificateMatch::SanDns("CLIENT.example".into()).matches(&c));
        assert!(!CertificateMatch::SanDns("other.example".into()).matches(&c));
        assert!(CertificateMatch::Thumbprints(vec!["x".into(), "t".into()]).matches(&c));
        assert!(!CertificateMatch::Thumbprints(vec!["x".into()]).matches(&c));
    }
}
