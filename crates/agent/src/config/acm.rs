//! `[capabilities.acm]` of the Workload Credentials Provider's configuration:
//! certificates rendered to files with a command run when they change. ACM
//! itself is AWS's; in front of Coffer, a certificate is a secret holding the
//! JSON that ACM's ExportCertificate answers (`Certificate`, `PrivateKey`,
//! `CertificateChain`), named by `secret_id` (Coffer's key) in place of
//! `certificate_arn`. Each entry becomes file sinks: the certificate (with the
//! chain appended when there is no `chain_path`, "fullchain mode"), the key,
//! and the chain, written atomically with their modes, re-rendered on every
//! pushed change, and the `refresh_command` run once when they change.

use super::{invalid, ConfigError, FileSink};
use serde::Deserialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct AcmInput {
    enabled: Option<bool>,
    default_certificate_permission: Option<Permission>,
    default_key_permission: Option<Permission>,
    #[serde(default)]
    certificates: Vec<CertEntry>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct Permission {
    mode: Option<String>,
    trustee_type: Option<String>,
    trustee_name: Option<String>,
    rights: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CertEntry {
    certificate_arn: Option<String>,
    secret_id: Option<String>,
    certificate_path: PathBuf,
    private_key_path: PathBuf,
    chain_path: Option<PathBuf>,
    role_arn: Option<String>,
    refresh_command: Option<String>,
    certificate_and_chain_permission: Option<Permission>,
    key_permission: Option<Permission>,
}

const FIELD: &str = "capabilities.acm.certificates";

fn mode(p: Option<&Permission>, default: u32) -> Result<u32, ConfigError> {
    let Some(p) = p else { return Ok(default) };
    if p.trustee_type.is_some() || p.trustee_name.is_some() || p.rights.is_some() {
        return Err(invalid(FIELD, "Windows permissions (trustee_type, trustee_name, rights) do not apply here; give mode = \"0640\""));
    }
    let Some(m) = &p.mode else { return Ok(default) };
    u32::from_str_radix(m, 8)
        .ok()
        .filter(|v| *v <= 0o777)
        .ok_or_else(|| invalid(FIELD, format!("mode {m:?} is not an octal mode up to 0777")))
}

/// Absolute, in a directory that exists, with no symlink or `..` on the way
/// (the parent is its own canonical form), as the provider demands.
fn check_path(p: &Path) -> Result<(), ConfigError> {
    let parent = p
        .parent()
        .filter(|d| p.is_absolute() && !d.as_os_str().is_empty());
    let ok = parent.is_some_and(|d| std::fs::canonicalize(d).is_ok_and(|c| c == d));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            FIELD,
            format!(
                "{}: paths must be absolute, in an existing directory, without symlinks or ..",
                p.display()
            ),
        ))
    }
}

fn check_command(c: &str) -> Result<(), ConfigError> {
    let ok = c.starts_with('/')
        && c.chars()
            .all(|x| x.is_ascii_alphanumeric() || "/_-. =+@".contains(x));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            FIELD,
            "refresh_command must be an absolute path with arguments, without shell characters",
        ))
    }
}

/// The file sinks of an enabled ACM capability (none when it is off).
pub(crate) fn files(a: AcmInput) -> Result<Vec<FileSink>, ConfigError> {
    if a.enabled != Some(true) {
        return Ok(vec![]);
    }
    if a.certificates.len() > 50 {
        return Err(invalid(FIELD, "at most 50 certificates"));
    }
    let cert_mode = mode(a.default_certificate_permission.as_ref(), 0o600)?;
    let key_mode = mode(a.default_key_permission.as_ref(), 0o600)?;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for c in a.certificates {
        let Some(secret_id) = c.secret_id.filter(|s| !s.is_empty()) else {
            return Err(invalid(FIELD, format!(
                "{}: Coffer does not serve ACM; keep the certificate in a Coffer secret (the JSON of ExportCertificate: Certificate, PrivateKey, CertificateChain) and name it with secret_id",
                c.certificate_arn.unwrap_or_default()
            )));
        };
        let paths = [
            Some(&c.certificate_path),
            Some(&c.private_key_path),
            c.chain_path.as_ref(),
        ];
        for p in paths.into_iter().flatten() {
            check_path(p)?;
            if !seen.insert(p.clone()) {
                return Err(invalid(FIELD, format!("{} is named twice", p.display())));
            }
        }
        if let Some(cmd) = &c.refresh_command {
            check_command(cmd)?;
        }
        let cm = mode(c.certificate_and_chain_permission.as_ref(), cert_mode)?;
        let km = mode(c.key_permission.as_ref(), key_mode)?;
        let sink = |path: &PathBuf, key: &str, then: Option<&str>, mode: u32| FileSink {
            secret_id: secret_id.clone(),
            path: path.clone(),
            json_key: Some(key.into()),
            reload_command: c.refresh_command.clone(),
            then_key: then.map(str::to_string),
            mode,
            mode_text: None,
            role_arn: c.role_arn.clone(),
        };
        let fullchain = c.chain_path.is_none().then_some("CertificateChain");
        out.push(sink(&c.certificate_path, "Certificate", fullchain, cm));
        out.push(sink(&c.private_key_path, "PrivateKey", None, km));
        if let Some(p) = &c.chain_path {
            out.push(sink(p, "CertificateChain", None, cm));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::config::AgentConfig;

    #[test]
    fn certificates_become_file_sinks() {
        let dir = tempfile::tempdir().unwrap();
        let d = std::fs::canonicalize(dir.path()).unwrap();
        let d = d.display();
        let text = format!(
            "[capabilities.acm]\nenabled = true\n[capabilities.acm.default_key_permission]\nmode = \"0640\"\n[[capabilities.acm.certificates]]\nsecret_id = \"tls/web\"\ncertificate_path = \"{d}/web.crt\"\nprivate_key_path = \"{d}/web.key\"\nrefresh_command = \"/usr/sbin/nginx -s reload\"\n"
        );
        let c = AgentConfig::parse(&text).unwrap();
        assert_eq!(c.files.len(), 2);
        assert_eq!(
            c.files[0].then_key.as_deref(),
            Some("CertificateChain"),
            "fullchain"
        );
        assert_eq!((c.files[0].mode, c.files[1].mode), (0o600, 0o640));
        let off = text.replace("enabled = true", "enabled = false");
        assert!(AgentConfig::parse(&off).unwrap().files.is_empty());
        let arn = text.replace("secret_id = \"tls/web\"", "certificate_arn = \"arn:aws:acm:us-east-1:123456789012:certificate/x\"\nrole_arn = \"arn:aws:iam::123456789012:role/r\"");
        let e = AgentConfig::parse(&arn).unwrap_err().to_string();
        assert!(e.contains("secret_id"), "{e}");
        for bad in [
            text.replace("/usr/sbin/nginx -s reload", "nginx; rm -rf /"),
            text.replace(&format!("{d}/web.key"), "relative.key"),
            text.replace(&format!("{d}/web.key"), &format!("{d}/web.crt")),
            text.replace("\"0640\"", "\"999\""),
        ] {
            assert!(AgentConfig::parse(&bad).is_err(), "{bad}");
        }
    }
}
