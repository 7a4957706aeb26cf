//! The `patient` request parameter (JWT → SAML): a CX value, or a bare national identifier whose system the
//! profile's rules declare (`[identifier_systems]` in `mappings/rules/`), so no profile's identifier systems
//! are written here.

use crate::error::Rejection;
use crate::mapping::hl7;
use crate::model::Identifier;
use crate::rules::Rules;

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
