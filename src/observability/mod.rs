//! Ordinary logs, metrics and readiness: what operators watch. None of it ever carries a patient's or a
//! practitioner's identifier (that is the access log's business, in `audit/`): log fields are written by
//! code that never records them, and the log writer scrubs anything shaped like a fødselsnummer as a last
//! line of defence. Metric labels are small fixed sets.

pub mod logging;
pub mod metrics;
pub mod readiness;
pub mod request_id;
pub mod rotation;
