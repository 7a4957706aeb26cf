//! `xua-gateway sample ...`: TEST-ONLY inputs signed with the sample keys.

use std::io::Write;

use anyhow::Context;
use base64::Engine;

use super::SampleKind;
use xua_gateway::samples::{self, MintOptions};

fn claims_text(path: Option<&std::path::PathBuf>) -> anyhow::Result<String> {
    Ok(match path {
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?
        }
        None => samples::FASTLEGE_CLAIMS.to_string(),
    })
}

pub fn run(kind: SampleKind) -> anyhow::Result<()> {
    match kind {
        SampleKind::Saml {
            claims,
            audience,
            issuer,
            lifetime,
            base64url,
        } => {
            let claims = samples::parse_claims(&claims_text(claims.as_ref())?)?;
            xua_gateway::saml::dsig::init()?;
            let profiles = xua_gateway::mapping::ProfileSet::embedded("no-pjd")?;
            let identity = samples::sample_idp()?;
            let options = MintOptions {
                issuer,
                audience,
                lifetime: time::Duration::seconds(lifetime),
            };
            let xml = samples::mint_assertion(
                profiles.default_profile(),
                &claims,
                &options,
                &identity,
                time::OffsetDateTime::now_utc(),
            )?;
            let mut out = std::io::stdout().lock();
            if base64url {
                writeln!(
                    out,
                    "{}",
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&xml)
                )?;
            } else {
                out.write_all(&xml)?;
                writeln!(out)?;
            }
            Ok(())
        }
        SampleKind::Jwt {
            claims,
            audience,
            issuer,
            lifetime,
            dpop_bound,
        } => {
            let claims = samples::parse_claims(&claims_text(claims.as_ref())?)?;
            let options = samples::JwtMintOptions {
                issuer,
                audience,
                lifetime: time::Duration::seconds(lifetime),
                cnf_jkt: if dpop_bound {
                    Some(samples::sample_dpop_thumbprint()?)
                } else {
                    None
                },
            };
            let jwt = samples::mint_jwt(&claims, &options, time::OffsetDateTime::now_utc())?;
            writeln!(std::io::stdout().lock(), "{jwt}")?;
            Ok(())
        }
        SampleKind::ClientAssertion {
            client_id,
            audience,
            lifetime,
        } => {
            let jwt = samples::mint_client_assertion(
                &client_id,
                &audience,
                time::Duration::seconds(lifetime),
                time::OffsetDateTime::now_utc(),
            )?;
            writeln!(std::io::stdout().lock(), "{jwt}")?;
            Ok(())
        }
        SampleKind::Dpop { htu, htm, nonce } => {
            let proof = samples::mint_dpop_proof(
                &htm,
                &htu,
                nonce.as_deref(),
                time::OffsetDateTime::now_utc(),
            )?;
            writeln!(std::io::stdout().lock(), "{proof}")?;
            Ok(())
        }
    }
}
