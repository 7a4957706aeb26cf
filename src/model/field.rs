//! Addressing model fields by name, so mapping tables can say where a value goes without code.

use std::fmt;

use super::{AccessContext, Coded, DecisionRef, Identifier, Patient};

/// Every model field a mapping table may name. The table name is `FieldId::name()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldId {
    PractitionerIdentifier,
    PractitionerHprNr,
    PractitionerAuthorization,
    PractitionerLegalEntity,
    PractitionerPointOfCare,
    PractitionerDepartment,
    HealthcareService,
    PurposeOfUse,
    PurposeOfUseDetails,
    DecisionRef,
    PatientIdentifier,
    PatientPointOfCare,
    PatientDepartment,
    SecurityLevel,
    Scope,
    ClientId,
    HomeCommunityId,
    ConsentPolicy,
    ConsentDocument,
}

/// What kind of value a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Identifier,
    Coded,
    DecisionRef,
    Text,
}

/// A part of a structured value, so that one transport item can fill part of a field (the SAML NameID fills
/// `practitioner.identifier.id`, the `subject-id` attribute its `name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldPart {
    Whole,
    Id,
    Name,
    System,
    Authority,
    Code,
    Text,
    Assigner,
    UserSelected,
    UserReason,
}

impl FieldPart {
    pub fn name(self) -> &'static str {
        match self {
            FieldPart::Whole => "",
            FieldPart::Id => "id",
            FieldPart::Name => "name",
            FieldPart::System => "system",
            FieldPart::Authority => "authority",
            FieldPart::Code => "code",
            FieldPart::Text => "text",
            FieldPart::Assigner => "assigner",
            FieldPart::UserSelected => "user_selected",
            FieldPart::UserReason => "user_reason",
        }
    }

    fn parse(kind: FieldKind, s: &str) -> Option<Self> {
        let part = match (kind, s) {
            (FieldKind::Identifier, "id") => FieldPart::Id,
            (FieldKind::Identifier, "name") => FieldPart::Name,
            (FieldKind::Identifier, "system") => FieldPart::System,
            (FieldKind::Identifier, "authority") => FieldPart::Authority,
            (FieldKind::Coded, "code") => FieldPart::Code,
            (FieldKind::Coded, "text") => FieldPart::Text,
            (FieldKind::Coded, "system") => FieldPart::System,
            (FieldKind::Coded, "assigner") => FieldPart::Assigner,
            (FieldKind::DecisionRef, "id") => FieldPart::Id,
            (FieldKind::DecisionRef, "user_selected") => FieldPart::UserSelected,
            (FieldKind::DecisionRef, "user_reason") => FieldPart::UserReason,
            _ => return None,
        };
        Some(part)
    }
}

const ALL: [FieldId; 19] = [
    FieldId::PractitionerIdentifier,
    FieldId::PractitionerHprNr,
    FieldId::PractitionerAuthorization,
    FieldId::PractitionerLegalEntity,
    FieldId::PractitionerPointOfCare,
    FieldId::PractitionerDepartment,
    FieldId::HealthcareService,
    FieldId::PurposeOfUse,
    FieldId::PurposeOfUseDetails,
    FieldId::DecisionRef,
    FieldId::PatientIdentifier,
    FieldId::PatientPointOfCare,
    FieldId::PatientDepartment,
    FieldId::SecurityLevel,
    FieldId::Scope,
    FieldId::ClientId,
    FieldId::HomeCommunityId,
    FieldId::ConsentPolicy,
    FieldId::ConsentDocument,
];

impl FieldId {
    pub fn all() -> &'static [FieldId] {
        &ALL
    }

    pub fn name(self) -> &'static str {
        match self {
            FieldId::PractitionerIdentifier => "practitioner.identifier",
            FieldId::PractitionerHprNr => "practitioner.hpr_nr",
            FieldId::PractitionerAuthorization => "practitioner.authorization",
            FieldId::PractitionerLegalEntity => "practitioner.legal_entity",
            FieldId::PractitionerPointOfCare => "practitioner.point_of_care",
            FieldId::PractitionerDepartment => "practitioner.department",
            FieldId::HealthcareService => "care_relationship.healthcare_service",
            FieldId::PurposeOfUse => "care_relationship.purpose_of_use",
            FieldId::PurposeOfUseDetails => "care_relationship.purpose_of_use_details",
            FieldId::DecisionRef => "care_relationship.decision_ref",
            FieldId::PatientIdentifier => "patient.identifier",
            FieldId::PatientPointOfCare => "patient.point_of_care",
            FieldId::PatientDepartment => "patient.department",
            FieldId::SecurityLevel => "session.security_level",
            FieldId::Scope => "session.scope",
            FieldId::ClientId => "session.client_id",
            FieldId::HomeCommunityId => "session.home_community_id",
            FieldId::ConsentPolicy => "session.consent_policy",
            FieldId::ConsentDocument => "session.consent_document",
        }
    }

    pub fn kind(self) -> FieldKind {
        match self {
            FieldId::PractitionerIdentifier
            | FieldId::PractitionerHprNr
            | FieldId::PractitionerLegalEntity
            | FieldId::PractitionerPointOfCare
            | FieldId::PractitionerDepartment
            | FieldId::PatientIdentifier
            | FieldId::PatientPointOfCare
            | FieldId::PatientDepartment => FieldKind::Identifier,
            FieldId::PractitionerAuthorization
            | FieldId::HealthcareService
            | FieldId::PurposeOfUse
            | FieldId::PurposeOfUseDetails => FieldKind::Coded,
            FieldId::DecisionRef => FieldKind::DecisionRef,
            FieldId::SecurityLevel
            | FieldId::Scope
            | FieldId::ClientId
            | FieldId::HomeCommunityId
            | FieldId::ConsentPolicy
            | FieldId::ConsentDocument => FieldKind::Text,
        }
    }

    /// Whether the model holds several values for this field.
    pub fn is_list(self) -> bool {
        matches!(
            self,
            FieldId::PractitionerAuthorization | FieldId::PurposeOfUse | FieldId::Scope
        )
    }

    /// Parses `practitioner.legal_entity` or `practitioner.legal_entity.name`.
    pub fn parse_path(path: &str) -> Option<(FieldId, FieldPart)> {
        if let Some(field) = ALL.iter().copied().find(|f| f.name() == path) {
            return Some((field, FieldPart::Whole));
        }
        let (head, tail) = path.rsplit_once('.')?;
        let field = ALL.iter().copied().find(|f| f.name() == head)?;
        let part = FieldPart::parse(field.kind(), tail)?;
        Some((field, part))
    }
}

impl FieldId {
    /// The field a name such as `care_relationship.healthcare_service` names.
    pub fn from_name(name: &str) -> Option<FieldId> {
        ALL.iter().copied().find(|f| f.name() == name)
    }
}

/// A field is written as its name wherever it is stored (audit records keep which field a rule changed).
impl serde::Serialize for FieldId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for FieldId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        FieldId::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom("not a field of the model"))
    }
}

impl fmt::Display for FieldId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One value of a field, as the mapping engine moves it between the model and a transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    Identifier(Identifier),
    Coded(Coded),
    DecisionRef(DecisionRef),
    Text(String),
}

impl FieldValue {
    /// The value's main string (id or code or text), used to compare values from different sources.
    pub fn key(&self) -> &str {
        match self {
            FieldValue::Identifier(v) => &v.id,
            FieldValue::Coded(v) => &v.code,
            FieldValue::DecisionRef(v) => &v.id,
            FieldValue::Text(v) => v,
        }
    }
}

impl AccessContext {
    /// The values a field holds, in order (empty when absent).
    pub fn field_values(&self, field: FieldId) -> Vec<FieldValue> {
        let patient = self.patients.first();
        let ident =
            |v: Option<&Identifier>| v.cloned().map(FieldValue::Identifier).into_iter().collect();
        let coded = |v: Option<&Coded>| v.cloned().map(FieldValue::Coded).into_iter().collect();
        let text = |v: Option<&String>| v.cloned().map(FieldValue::Text).into_iter().collect();
        let p = &self.practitioner;
        let c = &self.care_relationship;
        let s = &self.session;
        match field {
            FieldId::PractitionerIdentifier => ident(p.identifier.as_ref()),
            FieldId::PractitionerHprNr => ident(p.hpr_nr.as_ref()),
            FieldId::PractitionerAuthorization => p
                .authorization
                .iter()
                .cloned()
                .map(FieldValue::Coded)
                .collect(),
            FieldId::PractitionerLegalEntity => ident(p.legal_entity.as_ref()),
            FieldId::PractitionerPointOfCare => ident(p.point_of_care.as_ref()),
            FieldId::PractitionerDepartment => ident(p.department.as_ref()),
            FieldId::HealthcareService => coded(c.healthcare_service.as_ref()),
            FieldId::PurposeOfUse => c
                .purpose_of_use
                .iter()
                .cloned()
                .map(FieldValue::Coded)
                .collect(),
            FieldId::PurposeOfUseDetails => coded(c.purpose_of_use_details.as_ref()),
            FieldId::DecisionRef => c
                .decision_ref
                .clone()
                .map(FieldValue::DecisionRef)
                .into_iter()
                .collect(),
            FieldId::PatientIdentifier => ident(patient.and_then(|p| p.identifier.as_ref())),
            FieldId::PatientPointOfCare => ident(patient.and_then(|p| p.point_of_care.as_ref())),
            FieldId::PatientDepartment => ident(patient.and_then(|p| p.department.as_ref())),
            FieldId::SecurityLevel => text(s.security_level.as_ref()),
            FieldId::Scope => s.scope.iter().cloned().map(FieldValue::Text).collect(),
            FieldId::ClientId => text(s.client_id.as_ref()),
            FieldId::HomeCommunityId => text(s.home_community_id.as_ref()),
            FieldId::ConsentPolicy => text(s.consent_policy.as_ref()),
            FieldId::ConsentDocument => text(s.consent_document.as_ref()),
        }
    }

    /// Replaces a field's values. The caller guarantees the values match the field's kind (the mapping engine
    /// checks kinds when it loads a table); a value of the wrong kind is ignored.
    pub fn set_field_values(&mut self, field: FieldId, values: Vec<FieldValue>) {
        fn idents(values: Vec<FieldValue>) -> Option<Identifier> {
            values.into_iter().find_map(|v| match v {
                FieldValue::Identifier(i) => Some(i),
                _ => None,
            })
        }
        fn codeds(values: Vec<FieldValue>) -> Vec<Coded> {
            values
                .into_iter()
                .filter_map(|v| match v {
                    FieldValue::Coded(c) => Some(c),
                    _ => None,
                })
                .collect()
        }
        fn texts(values: Vec<FieldValue>) -> Vec<String> {
            values
                .into_iter()
                .filter_map(|v| match v {
                    FieldValue::Text(t) => Some(t),
                    _ => None,
                })
                .collect()
        }
        fn patient(ctx: &mut AccessContext) -> &mut Patient {
            if ctx.patients.is_empty() {
                ctx.patients.push(Patient::default());
            }
            // Never empty here: a patient was just pushed when there was none.
            #[allow(clippy::indexing_slicing)]
            &mut ctx.patients[0]
        }
        match field {
            FieldId::PractitionerIdentifier => self.practitioner.identifier = idents(values),
            FieldId::PractitionerHprNr => self.practitioner.hpr_nr = idents(values),
            FieldId::PractitionerAuthorization => self.practitioner.authorization = codeds(values),
            FieldId::PractitionerLegalEntity => self.practitioner.legal_entity = idents(values),
            FieldId::PractitionerPointOfCare => self.practitioner.point_of_care = idents(values),
            FieldId::PractitionerDepartment => self.practitioner.department = idents(values),
            FieldId::HealthcareService => {
                self.care_relationship.healthcare_service = codeds(values).into_iter().next()
            }
            FieldId::PurposeOfUse => self.care_relationship.purpose_of_use = codeds(values),
            FieldId::PurposeOfUseDetails => {
                self.care_relationship.purpose_of_use_details = codeds(values).into_iter().next()
            }
            FieldId::DecisionRef => {
                self.care_relationship.decision_ref = values.into_iter().find_map(|v| match v {
                    FieldValue::DecisionRef(d) => Some(d),
                    _ => None,
                })
            }
            FieldId::PatientIdentifier => patient(self).identifier = idents(values),
            FieldId::PatientPointOfCare => patient(self).point_of_care = idents(values),
            FieldId::PatientDepartment => patient(self).department = idents(values),
            FieldId::SecurityLevel => {
                self.session.security_level = texts(values).into_iter().next()
            }
            FieldId::Scope => self.session.scope = texts(values),
            FieldId::ClientId => self.session.client_id = texts(values).into_iter().next(),
            FieldId::HomeCommunityId => {
                self.session.home_community_id = texts(values).into_iter().next()
            }
            FieldId::ConsentPolicy => {
                self.session.consent_policy = texts(values).into_iter().next()
            }
            FieldId::ConsentDocument => {
                self.session.consent_document = texts(values).into_iter().next()
            }
        }
    }
}
