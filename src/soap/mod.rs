//! SOAP 1.2 at the gateway's edge: the strict envelope scanner, WS-Security header injection for the XCA
//! proxy, the XCA/XDS.b fields a route needs (the patient of a query), MTOM/XOP packages, WS-Trust 1.3
//! Issue requests and responses, and SOAP faults.
//!
//! Every module reads untrusted bytes through `xml::Cursor` (limits, no DTD, no entities, no processing
//! instructions) and records byte ranges, so what the gateway forwards is the client's message with only
//! the security header replaced.

pub mod envelope;
pub mod fault;
pub mod inject;
pub mod mtom;
pub mod uri;
pub mod wstrust;
pub mod xca;
pub mod xml;

pub use envelope::{scan, BlockKind, Envelope, HeaderBlock};
pub use xml::SoapLimits;
