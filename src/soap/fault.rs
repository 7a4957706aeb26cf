//! SOAP 1.2 Faults. The reason text is a [`Rejection`]'s message, which names what is wrong and never holds
//! token bytes or identifiers of persons; it is escaped all the same, and so is everything else written.

use super::xml::escape;
use crate::error::{ErrorClass, Rejection};
use crate::ns;
use crate::soap::uri;

/// The SOAP 1.2 fault codes (Part 1 §5.4.6) the gateway sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    VersionMismatch,
    MustUnderstand,
    Sender,
    Receiver,
}

impl Code {
    fn local(self) -> &'static str {
        match self {
            Code::VersionMismatch => "VersionMismatch",
            Code::MustUnderstand => "MustUnderstand",
            Code::Sender => "Sender",
            Code::Receiver => "Receiver",
        }
    }

    /// The SOAP 1.2 HTTP binding's status for a fault with this code.
    pub fn http_status(self) -> u16 {
        match self {
            Code::Sender => 400,
            _ => 500,
        }
    }
}

/// A subcode QName: namespace, the prefix to write it with, local name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subcode {
    pub namespace: &'static str,
    pub prefix: &'static str,
    pub local: String,
}

impl Subcode {
    /// The gateway's error class as a subcode (`xg:PARSE`).
    pub fn class(class: ErrorClass) -> Self {
        Self {
            namespace: ns::GATEWAY_FAULT,
            prefix: "xg",
            local: class.as_str().to_string(),
        }
    }
}

/// A fault to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub code: Code,
    /// Outermost first; each is a Subcode of the previous one.
    pub subcodes: Vec<Subcode>,
    pub reason: String,
}

impl Fault {
    /// Sender for the caller's mistakes, Receiver for ours (INTERNAL, UNAVAILABLE); the class is the
    /// subcode.
    pub fn from_rejection(rejection: &Rejection) -> Self {
        Self {
            code: code_for(rejection.class),
            subcodes: vec![Subcode::class(rejection.class)],
            reason: rejection.message.clone(),
        }
    }

    pub fn version_mismatch() -> Self {
        Self {
            code: Code::VersionMismatch,
            subcodes: Vec::new(),
            reason: "only SOAP 1.2 envelopes are supported".to_string(),
        }
    }

    /// For a mustUnderstand header block the gateway does not understand; `local` is the block's local
    /// name (a schema name, shown cut short).
    pub fn must_understand(local: &str) -> Self {
        let shown: String = local.chars().take(60).collect();
        Self {
            code: Code::MustUnderstand,
            subcodes: Vec::new(),
            reason: format!("the header block {shown} is not understood"),
        }
    }

    pub fn http_status(&self) -> u16 {
        self.code.http_status()
    }

    /// A complete SOAP 1.2 envelope holding this fault; `relates_to` is the request's MessageID, copied
    /// into `wsa:RelatesTo` only when it is a short printable URI.
    pub fn to_envelope(&self, relates_to: Option<&str>) -> String {
        let mut out = String::with_capacity(512);
        out.push_str(r#"<soapenv:Envelope xmlns:soapenv=""#);
        out.push_str(ns::SOAP12);
        out.push_str(r#"" xmlns:wsa=""#);
        out.push_str(ns::WSA);
        out.push_str(r#""><soapenv:Header><wsa:Action>"#);
        out.push_str(uri::ACTION_FAULT);
        out.push_str("</wsa:Action>");
        if let Some(id) = relates_to.filter(|id| plain_uri(id)) {
            out.push_str("<wsa:RelatesTo>");
            out.push_str(&escape(id));
            out.push_str("</wsa:RelatesTo>");
        }
        out.push_str("</soapenv:Header><soapenv:Body>");
        self.write_fault(&mut out);
        out.push_str("</soapenv:Body></soapenv:Envelope>");
        out
    }

    /// The `soapenv:Fault` element alone (the `soapenv` prefix must be bound by the caller).
    pub fn write_fault(&self, out: &mut String) {
        out.push_str("<soapenv:Fault><soapenv:Code><soapenv:Value>soapenv:");
        out.push_str(self.code.local());
        out.push_str("</soapenv:Value>");
        for sub in &self.subcodes {
            out.push_str("<soapenv:Subcode><soapenv:Value xmlns:");
            out.push_str(sub.prefix);
            out.push_str("=\"");
            out.push_str(&escape(sub.namespace));
            out.push_str("\">");
            out.push_str(sub.prefix);
            out.push(':');
            out.push_str(&escape(&sub.local));
            out.push_str("</soapenv:Value>");
        }
        for _ in &self.subcodes {
            out.push_str("</soapenv:Subcode>");
        }
        out.push_str(r#"</soapenv:Code><soapenv:Reason><soapenv:Text xml:lang="en">"#);
        out.push_str(&escape(&self.reason));
        out.push_str("</soapenv:Text></soapenv:Reason></soapenv:Fault>");
    }
}

fn code_for(class: ErrorClass) -> Code {
    match class {
        ErrorClass::Internal | ErrorClass::Unavailable => Code::Receiver,
        _ => Code::Sender,
    }
}

/// A MessageID worth echoing: printable ASCII without spaces, at most 256 characters.
fn plain_uri(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 256
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'&')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::{scan, SoapLimits};

    #[test]
    fn a_fault_is_a_strict_soap_envelope_with_code_subcode_and_escaped_reason() {
        let r = Rejection::parse("a <bad> & \"odd\" value\u{0}");
        let xml = Fault::from_rejection(&r).to_envelope(Some("urn:uuid:1"));
        let env = scan(xml.as_bytes(), &SoapLimits::default()).unwrap();
        assert_eq!(env.action.as_deref(), Some(uri::ACTION_FAULT));
        assert!(xml.contains("<soapenv:Value>soapenv:Sender</soapenv:Value>"));
        assert!(xml.contains(
            r#"<soapenv:Value xmlns:xg="urn:xua-gateway:fault">xg:PARSE</soapenv:Value>"#
        ));
        assert!(xml.contains("a &lt;bad&gt; &amp; &quot;odd&quot; value</soapenv:Text>"));
        assert!(xml.contains("<wsa:RelatesTo>urn:uuid:1</wsa:RelatesTo>"));
        assert_eq!(Fault::from_rejection(&r).http_status(), 400);
    }

    #[test]
    fn our_failures_are_receiver_faults_and_odd_message_ids_are_not_echoed() {
        let f = Fault::from_rejection(&Rejection::internal("audit store failed"));
        assert_eq!(f.code, Code::Receiver);
        assert_eq!(f.http_status(), 500);
        let xml = f.to_envelope(Some("urn:uuid:1 <script>"));
        assert!(!xml.contains("RelatesTo"));
        assert!(!xml.contains("script"));
    }

    #[test]
    fn version_mismatch_and_must_understand_use_their_codes() {
        let xml = Fault::version_mismatch().to_envelope(None);
        assert!(xml.contains("soapenv:VersionMismatch"));
        let xml = Fault::must_understand("Custom").to_envelope(None);
        assert!(xml.contains("soapenv:MustUnderstand"));
        assert!(xml.contains("header block Custom is not understood"));
    }
}
