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
        SampleKind::AccessLog {
            out,
            records,
            threads,
        } => access_log(&out, records, threads),
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

/// Writes the synthetic log and says who is who in it.
fn access_log(out: &std::path::Path, records: Option<u64>, threads: usize) -> anyhow::Result<()> {
    use xua_gateway::reports::synthetic::{write_log, Plan};
    if out.exists() {
        anyhow::bail!(
            "{} exists; the sample log is written to a new file",
            out.display()
        );
    }
    let plan = records.map_or_else(Plan::small, Plan::sized);
    let zone = xua_gateway::reports::zone::Zone::named("Europe/Oslo")
        .context("the bundled time-zone database has no Europe/Oslo")?;
    let sink = xua_gateway::audit::sqlite::SqliteSink::open(
        out,
        xua_gateway::audit::sqlite::Settings {
            retention_days: 0,
            ..Default::default()
        },
        None,
        xua_gateway::clock::system(),
    )?;
    let (cast, written) = write_log(&sink, &plan, &zone, threads)?;
    drop(sink);
    let mut o = std::io::stdout().lock();
    writeln!(o, "wrote {written} TEST-ONLY records to {}", out.display())?;
    writeln!(o, "review period: {}", plan.review_period())?;
    writeln!(o, "watch-listed patient: {}", cast.watched)?;
    writeln!(o, "patient for an insight report: {}", cast.insight_patient)?;
    Ok(())
}
