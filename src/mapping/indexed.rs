//! Arrays a profile reads at one position only (a claim path such as `…/patients/0/identifier`). A token with
//! several entries there would otherwise lose all but the first without a word, so each entry is decoded on
//! its own and whoever decodes says which one counts (the pipeline: the `patient` parameter) or refuses.

use serde_json::{Map, Value};

use super::claims::{lookup, path_label};
use super::Profile;
use crate::error::Rejection;
use crate::model::AccessContext;

fn is_index(segment: &str) -> bool {
    !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit())
}

impl Profile {
    /// The arrays (the claim path before the index) the table reads at index 0 and at no other index.
    fn single_entry_arrays(&self) -> Vec<&[String]> {
        let mut read: Vec<(&[String], bool)> = Vec::new();
        let paths = self
            .jwt_fields
            .iter()
            .flat_map(|f| f.claim.iter().chain(f.legacy.iter()));
        for path in paths {
            let Some(at) = path.iter().position(|s| is_index(s)) else {
                continue;
            };
            let (prefix, rest) = path.split_at(at);
            let first_only = rest.first().is_some_and(|s| s == "0");
            match read.iter_mut().find(|(p, _)| *p == prefix) {
                Some((_, only)) => *only &= first_only,
                None => read.push((prefix, first_only)),
            }
        }
        read.into_iter()
            .filter(|(_, only)| *only)
            .map(|(p, _)| p)
            .collect()
    }

    /// The model of verified or unverified claims, once per entry when one array the table reads at a single
    /// position holds several entries (in entry order), else once. Two such arrays at once are refused: their
    /// entries cannot be paired up.
    pub(crate) fn decode_claims_each(
        &self,
        claims: &Map<String, Value>,
    ) -> Result<Vec<AccessContext>, Rejection> {
        let lifted = self.lifted_claims(claims)?;
        let claims = lifted.as_ref().unwrap_or(claims);
        let mut several = self
            .single_entry_arrays()
            .into_iter()
            .filter_map(|prefix| match lookup(claims, prefix) {
                Some(Value::Array(items)) if items.len() > 1 => Some((prefix, items)),
                _ => None,
            });
        let Some((prefix, items)) = several.next() else {
            return Ok(vec![self.decode_lifted(claims)?]);
        };
        if let Some((other, _)) = several.next() {
            return Err(Rejection::claim(format!(
                "claims {} and {} both hold several entries; the profile reads one of each",
                path_label(prefix),
                path_label(other)
            )));
        }
        items
            .iter()
            .map(|item| {
                let mut one = claims.clone();
                replace_at(&mut one, prefix, Value::Array(vec![item.clone()]));
                self.decode_lifted(&one)
            })
            .collect()
    }

    /// The model of claims that must describe one of everything: several entries in an array the profile
    /// reads at one position are refused (CLAIM) rather than all but the first dropped.
    pub(crate) fn decode_claims(
        &self,
        claims: &Map<String, Value>,
    ) -> Result<AccessContext, Rejection> {
        let mut each = self.decode_claims_each(claims)?;
        match each.len() {
            1 => Ok(each.remove(0)),
            n => Err(Rejection::claim(format!(
                "the token describes {n} entries where the profile reads one (several patients?); \
                 an exchange can pick one with the patient parameter"
            ))),
        }
    }
}

/// Replaces the value at `path` (which [`lookup`] found, so every step exists).
fn replace_at(root: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let mut slot = root.get_mut(first);
    for seg in rest {
        slot = match slot {
            Some(Value::Object(map)) => map.get_mut(seg),
            Some(Value::Array(items)) => seg.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
            _ => None,
        };
    }
    if let Some(slot) = slot {
        *slot = value;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::mapping::ProfileSet;

    fn claims(patients: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        let mut c: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(include_str!("../../samples/claims/fastlege.json")).unwrap();
        c["nhn:tillitsrammeverk:parameters"]["patients"] = patients;
        c
    }

    #[test]
    fn each_patient_is_decoded_on_its_own_and_several_are_never_cut_to_one() {
        let set = ProfileSet::embedded("no-pjd").unwrap();
        let p = set.default_profile();
        let two = claims(json!([
            {"identifier": {"id": "21868534521"}, "point_of_care": {"id": "974589095"}},
            {"identifier": {"id": "14035234595"}}
        ]));
        let each = p.decode_claims_each(&two).unwrap();
        let ids: Vec<_> = each
            .iter()
            .map(|c| c.patients[0].identifier.as_ref().unwrap().id.as_str())
            .collect();
        assert_eq!(ids, ["21868534521", "14035234595"]);
        // Each entry keeps its own parts: the second patient does not inherit the first one's point of care.
        assert!(each[0].patients[0].point_of_care.is_some());
        assert!(each[1].patients[0].point_of_care.is_none());
        let refused = p.decode_claims(&two).unwrap_err();
        assert_eq!(refused.class, crate::error::ErrorClass::Claim);
        assert!(refused.message.contains("2 entries"), "{}", refused.message);

        let one = claims(json!([{"identifier": {"id": "21868534521"}}]));
        assert_eq!(p.decode_claims_each(&one).unwrap().len(), 1);
        assert!(p.decode_claims(&one).is_ok());
    }
}
