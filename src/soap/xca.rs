//! What the XCA proxy reads from a query or retrieve body: the transaction (from the WS-Addressing Action,
//! which must agree with the Body), the patient a query names, and for a retrieve only how many documents
//! it asks for.
//!
//! A retrieve (ITI-39, ITI-43) names no patient: documents are addressed by repository and unique id. The
//! proxy then uses the token's patient and compares nothing; the responding gateway enforces that the
//! documents belong to the patient in the assertion. The same holds for stored queries that take no
//! patient slot (GetDocuments, GetAssociations, ...).

use std::fmt;

use super::envelope::Envelope;
use super::xml::{self, Cursor, Item};
use crate::error::Rejection;
use crate::mapping::hl7::cx_parse;
use crate::model::Identifier;
use crate::ns;
use crate::soap::uri;

/// The slots of the XDS.b stored queries that name the patient.
pub const PATIENT_SLOTS: [&str; 4] = [
    "$XDSDocumentEntryPatientId",
    "$XDSFolderPatientId",
    "$XDSSubmissionSetPatientId",
    "$patientId",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transaction {
    /// ITI-38 Cross Gateway Query.
    Iti38,
    /// ITI-39 Cross Gateway Retrieve.
    Iti39,
    /// ITI-18 Registry Stored Query.
    Iti18,
    /// ITI-43 Retrieve Document Set.
    Iti43,
}

impl Transaction {
    pub fn from_action(action: &str) -> Option<Self> {
        match action {
            uri::ACTION_ITI38 => Some(Transaction::Iti38),
            uri::ACTION_ITI39 => Some(Transaction::Iti39),
            uri::ACTION_ITI18 => Some(Transaction::Iti18),
            uri::ACTION_ITI43 => Some(Transaction::Iti43),
            _ => None,
        }
    }

    pub fn is_query(self) -> bool {
        matches!(self, Transaction::Iti38 | Transaction::Iti18)
    }

    pub fn name(self) -> &'static str {
        match self {
            Transaction::Iti38 => "ITI-38",
            Transaction::Iti39 => "ITI-39",
            Transaction::Iti18 => "ITI-18",
            Transaction::Iti43 => "ITI-43",
        }
    }
}

/// A query body's content the proxy needs.
#[derive(Clone, PartialEq, Eq)]
pub struct Query {
    pub transaction: Transaction,
    /// The stored query's id (`urn:uuid:14d4debf-...` is FindDocuments).
    pub query_id: Option<String>,
    /// The patient the query names (all patient slots agree), if any slot names one.
    pub patient: Option<Identifier>,
    /// Which patient slots were present.
    pub patient_slots: Vec<&'static str>,
}

/// Debug leaves the patient out: it is a person's identifier.
impl fmt::Debug for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Query")
            .field("transaction", &self.transaction)
            .field("query_id", &self.query_id)
            .field("patient", &self.patient.as_ref().map(|_| "<present>"))
            .field("patient_slots", &self.patient_slots)
            .finish()
    }
}

/// A retrieve body's content the proxy needs: counts only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retrieve {
    pub transaction: Transaction,
    pub documents: usize,
    pub home_community_ids: usize,
    pub repository_unique_ids: usize,
    pub document_unique_ids: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XcaRequest {
    Query(Query),
    Retrieve(Retrieve),
}

impl XcaRequest {
    pub fn transaction(&self) -> Transaction {
        match self {
            XcaRequest::Query(q) => q.transaction,
            XcaRequest::Retrieve(r) => r.transaction,
        }
    }
}

/// Reads the transaction and its patient (queries) or document counts (retrieves) from `env`.
pub fn read_request(env: &Envelope<'_>) -> Result<XcaRequest, Rejection> {
    let action = env
        .action
        .as_deref()
        .ok_or_else(|| Rejection::request("the message has no WS-Addressing Action"))?;
    let transaction = Transaction::from_action(action).ok_or_else(|| {
        Rejection::request("the WS-Addressing Action is not an XCA or XDS.b query or retrieve")
    })?;
    let child = env.body_child()?;
    let expected = if transaction.is_query() {
        (ns::QUERY, "AdhocQueryRequest")
    } else {
        (ns::XDSB, "RetrieveDocumentSetRequest")
    };
    if child.namespace.as_deref() != Some(expected.0) || child.local != expected.1 {
        return Err(Rejection::request(format!(
            "the Body of an {} request must be a {}",
            transaction.name(),
            expected.1
        )));
    }
    let (text, base) = xml::text_of(env.as_bytes(), &env.limits)?;
    let mut cursor = Cursor::new(text, base, &env.limits);
    // Walk to the Body's child: the Envelope was scanned already, so this only positions the cursor with the
    // namespace bindings in scope there.
    loop {
        match cursor.next()? {
            Item::Start(e) if e.span.start == child.range.start => break,
            Item::Eof => return Err(Rejection::internal("the Body element was not found again")),
            _ => {}
        }
    }
    if transaction.is_query() {
        read_query(&mut cursor, env, transaction).map(XcaRequest::Query)
    } else {
        read_retrieve(&mut cursor, transaction).map(XcaRequest::Retrieve)
    }
}

type Path = Vec<(Option<String>, String)>;

fn at(path: &Path, names: &[(&str, &str)]) -> bool {
    path.len() == names.len()
        && path
            .iter()
            .zip(names)
            .all(|((n, l), (en, el))| n.as_deref() == Some(*en) && l == el)
}

fn read_query(
    cursor: &mut Cursor<'_>,
    env: &Envelope<'_>,
    transaction: Transaction,
) -> Result<Query, Rejection> {
    const QUERY_PATH: [(&str, &str); 1] = [(ns::RIM, "AdhocQuery")];
    const SLOT_PATH: [(&str, &str); 2] = [(ns::RIM, "AdhocQuery"), (ns::RIM, "Slot")];
    const VALUE_PATH: [(&str, &str); 4] = [
        (ns::RIM, "AdhocQuery"),
        (ns::RIM, "Slot"),
        (ns::RIM, "ValueList"),
        (ns::RIM, "Value"),
    ];
    let mut path: Path = Vec::new();
    let mut queries = 0usize;
    let mut query_id = None;
    let mut patient: Option<Identifier> = None;
    let mut slots: Vec<&'static str> = Vec::new();
    // The patient slot being read and the values seen in it.
    let mut current: Option<(&'static str, Vec<String>)> = None;
    loop {
        match cursor.next()? {
            Item::Start(e) => {
                path.push((e.namespace.clone(), e.local.clone()));
                if at(&path, &QUERY_PATH) {
                    queries += 1;
                    query_id = e.attr("id")?;
                } else if at(&path, &SLOT_PATH) {
                    let name = e.attr("name")?.unwrap_or_default();
                    if let Some(slot) = PATIENT_SLOTS.iter().find(|s| **s == name) {
                        if slots.contains(slot) {
                            return Err(Rejection::structure(format!(
                                "the query has the slot {slot} more than once"
                            )));
                        }
                        slots.push(slot);
                        current = Some((slot, Vec::new()));
                    }
                } else if at(&path, &VALUE_PATH) && current.is_some() {
                    let value = if e.empty {
                        String::new()
                    } else {
                        xml::simple_text(cursor, "a patient slot value", &env.limits)?.0
                    };
                    path.pop();
                    if let Some((_, values)) = current.as_mut() {
                        values.push(value);
                    }
                    continue;
                }
                if e.empty {
                    path.pop();
                    if at(&path, &[(ns::RIM, "AdhocQuery")]) {
                        // An empty Slot: handled below like a closed one.
                        if let Some(done) = current.take() {
                            take_patient(done, &mut patient)?;
                        }
                    }
                }
            }
            Item::End { .. } => {
                if path.is_empty() {
                    break;
                }
                let closing_slot = at(&path, &SLOT_PATH);
                path.pop();
                if closing_slot {
                    if let Some(done) = current.take() {
                        take_patient(done, &mut patient)?;
                    }
                }
            }
            Item::Text(_) | Item::Comment => {}
            Item::Eof => return Err(Rejection::parse("the SOAP message is truncated")),
        }
    }
    match queries {
        1 => {}
        0 => {
            return Err(Rejection::structure(
                "the AdhocQueryRequest holds no AdhocQuery",
            ))
        }
        _ => {
            return Err(Rejection::structure(
                "the AdhocQueryRequest holds more than one AdhocQuery",
            ))
        }
    }
    Ok(Query {
        transaction,
        query_id,
        patient,
        patient_slots: slots,
    })
}

/// Checks a patient slot's values (exactly one, a quoted CX) and merges it into `patient`.
fn take_patient(
    (slot, values): (&'static str, Vec<String>),
    patient: &mut Option<Identifier>,
) -> Result<(), Rejection> {
    let [value] = values.as_slice() else {
        return Err(Rejection::structure(format!(
            "the query slot {slot} must hold exactly one value"
        )));
    };
    let inner = value
        .trim()
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .filter(|v| !v.contains('\''))
        .ok_or_else(|| {
            Rejection::parse(format!(
                "the query slot {slot} must hold one patient id in single quotes"
            ))
        })?;
    let id = cx_parse(inner)
        .map_err(|e| Rejection::claim(format!("the patient id in the query slot {slot}: {e}")))?;
    match patient {
        Some(existing) if !same_patient(existing, &id) => {
            Err(Rejection::claim("the query names two different patients"))
        }
        Some(_) => Ok(()),
        None => {
            *patient = Some(id);
            Ok(())
        }
    }
}

/// Two identifiers name the same patient when id and system are equal.
pub fn same_patient(a: &Identifier, b: &Identifier) -> bool {
    a.id == b.id && a.system == b.system
}

fn read_retrieve(cursor: &mut Cursor<'_>, transaction: Transaction) -> Result<Retrieve, Rejection> {
    let mut path: Path = Vec::new();
    let mut r = Retrieve {
        transaction,
        documents: 0,
        home_community_ids: 0,
        repository_unique_ids: 0,
        document_unique_ids: 0,
    };
    loop {
        match cursor.next()? {
            Item::Start(e) => {
                path.push((e.namespace.clone(), e.local.clone()));
                if at(&path, &[(ns::XDSB, "DocumentRequest")]) {
                    r.documents += 1;
                } else if path.len() == 2
                    && path.first().is_some_and(|(n, l)| {
                        n.as_deref() == Some(ns::XDSB) && l == "DocumentRequest"
                    })
                {
                    match (e.namespace.as_deref(), e.local.as_str()) {
                        (Some(ns::XDSB), "HomeCommunityId") => r.home_community_ids += 1,
                        (Some(ns::XDSB), "RepositoryUniqueId") => r.repository_unique_ids += 1,
                        (Some(ns::XDSB), "DocumentUniqueId") => r.document_unique_ids += 1,
                        _ => {}
                    }
                }
                if e.empty {
                    path.pop();
                }
            }
            Item::End { .. } => {
                if path.pop().is_none() {
                    break;
                }
            }
            Item::Text(_) | Item::Comment => {}
            Item::Eof => return Err(Rejection::parse("the SOAP message is truncated")),
        }
    }
    if r.documents == 0 {
        return Err(Rejection::structure(
            "the RetrieveDocumentSetRequest holds no DocumentRequest",
        ));
    }
    Ok(r)
}

/// The patient the proxy issues for: the query's and the token's must agree; a query without a patient slot
/// and a retrieve use the token's (or none); a token without a patient takes the query's.
pub fn resolve_patient(
    request: &XcaRequest,
    token_patient: Option<&Identifier>,
) -> Result<Option<Identifier>, Rejection> {
    match (request, token_patient) {
        (
            XcaRequest::Query(Query {
                patient: Some(q), ..
            }),
            Some(t),
        ) => {
            if same_patient(q, t) {
                Ok(Some(t.clone()))
            } else {
                Err(Rejection::claim(
                    "the query's patient is not the patient the token names",
                ))
            }
        }
        (
            XcaRequest::Query(Query {
                patient: Some(q), ..
            }),
            None,
        ) => Ok(Some(q.clone())),
        (_, t) => Ok(t.cloned()),
    }
}

#[cfg(test)]
#[path = "xca_tests.rs"]
mod tests;
