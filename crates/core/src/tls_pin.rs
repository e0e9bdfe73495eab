//! IAM's OIDC thumbprints: an issuer whose certificate no trusted CA signed
//! (a cluster's own CA) is still trusted when a certificate of the chain it
//! presents has one of its provider's SHA-1 thumbprints, as AWS does ("only
//! if the IdP's certificate is not signed by a trusted root CA does IAM use
//! the thumbprints"). The name must still be the host's, and the handshake
//! still proves the certificate's key.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};
use sha1::Digest;
use std::sync::Arc;

/// A certificate's thumbprint as IAM writes it: SHA-1, 40 hex digits.
pub(crate) fn thumbprint(der: &[u8]) -> String {
    hex::encode(sha1::Sha1::digest(der))
}

#[derive(Debug)]
struct Pinned {
    roots: Arc<WebPkiServerVerifier>,
    thumbprints: Vec<String>,
}

/// A client configuration trusting `roots` and, failing them, `thumbprints`.
pub(crate) fn config(
    roots: Arc<RootCertStore>,
    thumbprints: &[String],
) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| e.to_string())?;
    let pinned = Pinned {
        roots: verifier,
        thumbprints: thumbprints.iter().map(|t| t.to_ascii_lowercase()).collect(),
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(pinned))
        .with_no_client_auth())
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let by_roots =
            self.roots
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now);
        match by_roots {
            Err(Error::InvalidCertificate(CertificateError::UnknownIssuer)) => {
                let pinned = std::iter::once(end_entity)
                    .chain(intermediates)
                    .any(|c| self.thumbprints.contains(&thumbprint(c)));
                if !pinned {
                    return by_roots;
                }
                let cert = rustls::server::ParsedCertificate::try_from(end_entity)?;
                rustls::client::verify_server_name(&cert, server_name)?;
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.roots.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.roots.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.roots.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn thumbprints_are_sha1_in_lower_hex() {
        assert_eq!(
            super::thumbprint(b"abc"),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }
}
