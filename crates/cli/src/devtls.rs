//! `coffer server --dev --dev-tls`: a throwaway certificate authority and a server
//! certificate for the loopback names, kept in `DATA_DIR/dev-tls/` so a restart on
//! the same data directory presents a certificate the client already trusts.
//!
//! The CA's private key is never written: once it has signed the server
//! certificate it is dropped, so nothing else can ever be issued under a CA that a
//! developer told their AWS clients to trust. Missing files mean a new set.

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The directory, under the data directory.
pub const DIR: &str = "dev-tls";

/// Where the set lives.
#[derive(Debug, Clone)]
pub struct DevTls {
    /// The CA certificate: what `AWS_CA_BUNDLE` names.
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    /// The server's private key (0600).
    pub key_file: PathBuf,
}

impl DevTls {
    fn at(data_dir: &Path) -> DevTls {
        let dir = data_dir.join(DIR);
        DevTls {
            ca_file: dir.join("ca.pem"),
            cert_file: dir.join("server.pem"),
            key_file: dir.join("server.key"),
        }
    }

    /// The set in `data_dir`, made if any file of it is missing.
    pub fn ensure(data_dir: &Path) -> anyhow::Result<DevTls> {
        let set = DevTls::at(data_dir);
        if [&set.ca_file, &set.cert_file, &set.key_file]
            .iter()
            .all(|p| p.exists())
        {
            return Ok(set);
        }
        let dir = data_dir.join(DIR);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        let (ca_pem, cert_pem, key_pem) = generate().context("generating the dev certificates")?;
        // The key and certificate first, the CA last: `ensure` reuses a set only
        // when all three exist, so a set cut short is made anew.
        write(&set.key_file, key_pem.as_bytes(), 0o600)?;
        write(&set.cert_file, cert_pem.as_bytes(), 0o644)?;
        write(&set.ca_file, ca_pem.as_bytes(), 0o644)?;
        Ok(set)
    }
}

/// (CA certificate, server certificate, server key), all PEM.
fn generate() -> Result<(String, String, String), rcgen::Error> {
    let now = time::OffsetDateTime::now_utc();
    // A day back tolerates a clock behind the one that made it; ten years
    // forward outlives any dev data directory.
    let (not_before, not_after) = (
        now - time::Duration::days(1),
        now + time::Duration::days(3650),
    );

    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name.push(
        DnType::CommonName,
        format!("Coffer dev CA {}", now.unix_timestamp()),
    );
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = not_before;
    ca.not_after = not_after;
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate()?;
    let names = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
    let mut leaf = CertificateParams::new(names)?;
    leaf.distinguished_name
        .push(DnType::CommonName, "Coffer dev server");
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = not_before;
    leaf.not_after = not_after;
    let cert = leaf.signed_by(&key, &issuer)?;
    Ok((ca_cert.pem(), cert.pem(), key.serialize_pem()))
}

/// Writes a file with `mode` from the start (never briefly readable by others),
/// replacing what was there.
fn write(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(path);
    write_new(path, bytes, mode)
}

/// Creates `path` with `mode` from the start, refusing to replace a file,
/// and syncs what it wrote.
pub fn write_new(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_with_private_key_0600_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let set = DevTls::ensure(dir.path()).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&set.key_file), 0o600);
        assert_eq!(mode(&dir.path().join(DIR)), 0o700);
        let ca = std::fs::read(&set.ca_file).unwrap();
        // No CA key anywhere: only the three files.
        assert_eq!(std::fs::read_dir(dir.path().join(DIR)).unwrap().count(), 3);
        // The server can load what was made.
        coffer_server::Tls::load(&set.cert_file, &set.key_file).unwrap();

        let again = DevTls::ensure(dir.path()).unwrap();
        assert_eq!(
            std::fs::read(&again.ca_file).unwrap(),
            ca,
            "reused on restart"
        );

        std::fs::remove_file(&set.key_file).unwrap();
        let fresh = DevTls::ensure(dir.path()).unwrap();
        assert_ne!(
            std::fs::read(&fresh.ca_file).unwrap(),
            ca,
            "a broken set is replaced"
        );
        coffer_server::Tls::load(&fresh.cert_file, &fresh.key_file).unwrap();
    }
}
