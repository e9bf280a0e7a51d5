//! `diurnal webhook certs`: a CA and a serving certificate for the webhook's Service, for clusters
//! without cert-manager. The API server trusts the CA through the webhook configuration's
//! `caBundle`.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

/// PEM files for the webhook.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The CA certificate (PEM): the `caBundle`, base64-encoded.
    pub ca_cert: String,
    /// The serving certificate (PEM), signed by the CA.
    pub cert: String,
    /// The serving key (PEM).
    pub key: String,
}

/// A certificate could not be made.
#[derive(Debug, thiserror::Error)]
#[error("generating certificates: {0}")]
pub struct CertError(#[from] rcgen::Error);

/// The DNS names the API server may use for `service` in `namespace`.
pub fn service_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        service.to_owned(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ]
}

/// A new CA and a serving certificate for `names` (DNS names or IP addresses), valid `days` days.
pub fn generate(names: &[String], days: i64) -> Result<Bundle, CertError> {
    let not_before = time_now();
    let not_after =
        not_before + std::time::Duration::from_secs(u64::try_from(days.max(1)).unwrap_or(1) * 86_400);

    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name.push(DnType::CommonName, "diurnal-webhook-ca");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = not_before.into();
    ca.not_after = not_after.into();
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = rcgen::Issuer::from_params(&ca, &ca_key);

    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(names.to_vec())?;
    params.distinguished_name.push(DnType::CommonName, names.first().cloned().unwrap_or_default());
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.not_before = not_before.into();
    params.not_after = not_after.into();
    let cert = params.signed_by(&key, &issuer)?;
    Ok(Bundle { ca_cert: ca_cert.pem(), cert: cert.pem(), key: key.serialize_pem() })
}

fn time_now() -> std::time::SystemTime {
    // A minute back: clocks of the API server and this machine may differ slightly.
    std::time::SystemTime::now() - std::time::Duration::from_secs(60)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rustls::client::WebPkiServerVerifier;
    use rustls::client::danger::ServerCertVerifier as _;
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

    use super::*;

    /// Verifies `bundle`'s serving certificate for `name` the way a TLS client trusting only
    /// the bundle's CA does (chain, validity, server-auth usage, subject alternative names).
    fn verify(bundle: &Bundle, name: &str) -> Result<(), rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(bundle.ca_cert.as_bytes()).unwrap()).unwrap();
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build().unwrap();
        let leaf = CertificateDer::from_pem_slice(bundle.cert.as_bytes()).unwrap();
        let name = ServerName::try_from(name.to_owned()).unwrap();
        verifier.verify_server_cert(&leaf, &[], &name, &[], UnixTime::now()).map(|_| ())
    }

    #[test]
    fn the_serving_certificate_is_trusted_through_the_ca_for_every_service_name_and_no_other() {
        let mut names = service_names("diurnal-webhook", "diurnal-system");
        names.push("127.0.0.1".to_owned());
        let bundle = generate(&names, 30).unwrap();
        for name in &names {
            verify(&bundle, name).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        assert_eq!(names[2], "diurnal-webhook.diurnal-system.svc", "the name the API server dials");
        assert!(verify(&bundle, "other.diurnal-system.svc").is_err());
        // Another CA's bundle does not vouch for it.
        let other = generate(&names, 30).unwrap();
        let mixed = Bundle { ca_cert: other.ca_cert, ..bundle };
        assert!(verify(&mixed, &names[2]).is_err());
    }
}
