//! WS-Trust 1.3 Issue: the request the gateway's STS endpoint reads (`request`), the subject assertion cut
//! out of the envelope so the SAML verifier can check exactly those bytes (`cut`), and the responses and
//! faults it answers with (`response`).

pub mod cut;
pub mod request;
pub mod response;

pub use cut::CutAssertion;
pub use request::{
    not_understood, read_issue, IssueRequest, RequestedType, SubjectToken, TokenKind, TokenSource,
};
pub use response::{fault_for, response_envelope, IssueResponse, IssuedToken, ResponseShape};
