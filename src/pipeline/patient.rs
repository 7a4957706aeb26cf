//! The `patient` request parameter (JWT → SAML): a CX value, or a bare national identifier whose system the
//! profile's rules declare (`[identifier_systems]` in `mappings/rules/`), so no profile's identifier systems
//! are written here.

use crate::error::Rejection;
use crate::mapping::hl7;
use crate::model::{AccessContext, Identifier, Patient};
use crate::rules::Rules;

/// Whether the `patient` parameter may name the patient when the token names none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Missing {
    /// JWT → SAML: HelseID leaves the patient out of the attestation and sends it as a parameter.
    FromParameter,
    /// SAML → JWT: the assertion is the only authority on its patient; a parameter cannot add one.
    Refuse,
}

fn patient_id(c: &AccessContext) -> Option<&str> {
    c.patients
        .first()
        .and_then(|p| p.identifier.as_ref())
        .map(|i| i.id.as_str())
}

/// The model the exchange goes on with: of the token's readings (one, or one per patient when it names
/// several), the one the `patient` parameter names. A parameter that names another patient than the
/// token's is refused, and so are several patients without a parameter that picks one of them.
pub(super) fn settle(
    mut readings: Vec<AccessContext>,
    parameter: Option<Identifier>,
    missing: Missing,
) -> Result<AccessContext, Rejection> {
    if readings.len() > 1 {
        let Some(param) = parameter else {
            return Err(Rejection::claim(format!(
                "the token names {} patients; the patient parameter must pick the one this exchange is for",
                readings.len()
            )));
        };
        let mut picked: Vec<AccessContext> = readings
            .into_iter()
            .filter(|c| patient_id(c) == Some(param.id.as_str()))
            .collect();
        return match picked.len() {
            1 => Ok(picked.remove(0)),
            0 => Err(Rejection::claim(
                "the patient parameter names none of the patients the token names",
            )),
            _ => Err(Rejection::claim(
                "the token names the patient the parameter picks more than once",
            )),
        };
    }
    let Some(mut context) = readings.pop() else {
        return Err(Rejection::internal("the token was decoded into nothing"));
    };
    match (patient_id(&context), parameter, missing) {
        (Some(in_token), Some(param), _) if in_token != param.id => Err(Rejection::claim(
            "the patient parameter names another patient than the token's",
        )),
        (Some(_), _, _) => Ok(context),
        (None, Some(param), Missing::FromParameter) => {
            match context.patients.first_mut() {
                Some(p) => p.identifier = Some(param),
                None => context.patients.push(Patient {
                    identifier: Some(param),
                    ..Patient::default()
                }),
            }
            Ok(context)
        }
        (None, Some(_), Missing::Refuse) => Err(Rejection::claim(
            "the patient parameter names a patient the assertion does not name",
        )),
        (None, None, Missing::FromParameter) => Err(Rejection::claim(
            "no patient: the token has no patients[].identifier and the request no patient parameter",
        )),
        (None, None, Missing::Refuse) => Ok(context),
    }
}

pub(super) fn parse(value: &str, rules: &Rules, profile: &str) -> Result<Identifier, Rejection> {
    let value = value.trim();
    if value.contains('^') {
        return hl7::cx_parse(value).map_err(|why| {
            Rejection::claim(format!(
                "the patient parameter is not a valid CX value: {why}"
            ))
        });
    }
    rules.national_identifier(profile, value).map_err(|why| {
        Rejection::claim(format!(
            "the patient parameter must be a CX value or a national identifier this profile knows ({why})"
        ))
    })
}
