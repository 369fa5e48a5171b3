//! The consortium's transport PKI: each member's certificate authority (whose certificate is
//! in the genesis file), the certificates a member's CA issues to its nodes and to the systems
//! that call them, and reading a caller's identity (member, role, name) back from a
//! certificate.
//!
//! Trust in callers follows from the genesis file, as trust in validators does: a certificate
//! is a member's word about who holds a TLS key and in which role, and the member is the one
//! whose CA issued it. A certificate's subject carries the caller's name as its common name
//! (CN) and its role as its one organizational unit (OU); its organization (O) is the member
//! id, for people reading it (the issuer decides the member, not the O).
//!
//! A member CA's key is an Ed25519 key, so a CA certificate made from the same key, member and
//! time is the same bytes every time (Ed25519 signatures are deterministic): the testnet and
//! the golden vectors can rebuild it. Certificates for nodes and callers get fresh ECDSA P-256
//! keys, the key type TLS stacks everywhere support.

use std::fmt;

use evidence_core::keys::SigningKey;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_ED25519, SerialNumber,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use thiserror::Error;
use x509_parser::prelude::{FromDer as _, X509Certificate};

/// The role of a member's node: the only role that may call `Relay`.
pub const ROLE_MEMBER_NODE: &str = "member-node";
/// The role of a filing system that notarizes documents.
pub const ROLE_FILER_SYSTEM: &str = "filer-system";
/// The role of an auditor who checks that the log only grows.
pub const ROLE_AUDITOR: &str = "auditor";
/// The role of a court that fetches receipts and checkpoints.
pub const ROLE_COURT: &str = "court";

/// Largest CA certificate accepted in a genesis file, in DER bytes.
pub const CA_CERTIFICATE_BYTES_MAX: usize = 8 * 1024;

const DAY_MS: u64 = 24 * 60 * 60 * 1000;
/// A member CA is valid from a day before the consortium was formed (clocks differ) ...
const CA_BACKDATE_MS: u64 = DAY_MS;
/// ... for thirty years: its certificate is fixed in genesis for the chain's life.
const CA_VALIDITY_MS: u64 = 30 * 365 * DAY_MS;

/// Why a certificate could not be made or read.
#[derive(Debug, Error)]
pub enum PkiError {
    #[error("cannot make a certificate: {0}")]
    Generate(String),
    #[error("not an X.509 certificate: {0}")]
    NotACertificate(String),
    #[error(
        "the certificate of member {member:?}'s CA is not a CA certificate (basic constraints)"
    )]
    NotACa { member: String },
    #[error(
        "the certificate was issued by {issuer:?}, which is no member's certificate authority in \
         this genesis file"
    )]
    UnknownIssuer { issuer: String },
    #[error(
        "the certificate's subject must name one role as its organizational unit (OU); it names \
         {found}"
    )]
    Role { found: usize },
    #[error("the certificate's subject must name the caller as its common name (CN)")]
    Name,
    #[error("the certificate's {field} is not UTF-8 text")]
    NotText { field: &'static str },
}

/// A member CA's certificate as it stands in the genesis file: DER bytes, hex in JSON.
#[derive(Clone, PartialEq, Eq)]
pub struct CaCertificate(Vec<u8>);

impl CaCertificate {
    /// Wraps DER bytes; [`CaCertificate::check`] says whether they are a usable CA.
    pub fn from_der(der: Vec<u8>) -> Self {
        Self(der)
    }

    pub fn der(&self) -> &[u8] {
        &self.0
    }

    /// The certificate in PEM form, for TLS libraries and people.
    pub fn to_pem(&self) -> String {
        pem_encode("CERTIFICATE", &self.0)
    }

    /// SHA-256 of the DER bytes, hex: how operators compare certificates
    /// (`openssl x509 -fingerprint -sha256` prints the same bytes).
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.0)
    }

    /// Checks that the bytes are one X.509 certificate, no larger than
    /// [`CA_CERTIFICATE_BYTES_MAX`], that may sign others (basic constraints CA), and returns
    /// its subject's DER bytes.
    ///
    /// # Errors
    /// Anything else.
    pub fn check(&self, member: &str) -> Result<Vec<u8>, PkiError> {
        if self.0.len() > CA_CERTIFICATE_BYTES_MAX {
            return Err(PkiError::NotACertificate(format!(
                "{} bytes, more than {CA_CERTIFICATE_BYTES_MAX}",
                self.0.len()
            )));
        }
        let (rest, certificate) = X509Certificate::from_der(&self.0)
            .map_err(|e| PkiError::NotACertificate(e.to_string()))?;
        if !rest.is_empty() {
            return Err(PkiError::NotACertificate(format!(
                "{} bytes follow the certificate",
                rest.len()
            )));
        }
        if !certificate.is_ca() {
            return Err(PkiError::NotACa {
                member: member.to_owned(),
            });
        }
        Ok(certificate.subject().as_raw().to_vec())
    }
}

impl fmt::Debug for CaCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CaCertificate(sha256:{})", self.fingerprint())
    }
}

impl Serialize for CaCertificate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for CaCertificate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.len() > 2 * CA_CERTIFICATE_BYTES_MAX {
            return Err(serde::de::Error::custom(format!(
                "a CA certificate is at most {CA_CERTIFICATE_BYTES_MAX} bytes"
            )));
        }
        if text.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(serde::de::Error::custom(
                "a CA certificate is lower-case hex of its DER bytes",
            ));
        }
        hex::decode(&text)
            .map(Self)
            .map_err(|e| serde::de::Error::custom(format!("not hex: {e}")))
    }
}

/// SHA-256 of `der`, lower-case hex.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// A member's certificate authority, able to issue certificates.
pub struct MemberCa {
    member: String,
    key: KeyPair,
    certificate: rcgen::Certificate,
}

/// What to put in a certificate a member CA issues.
#[derive(Debug, Clone)]
pub struct CertificateRequest<'a> {
    /// The common name: which node or system holds the key (e.g. `bureau-filing-system`).
    pub name: &'a str,
    /// The role the node's access rules grant methods to (e.g. [`ROLE_FILER_SYSTEM`]).
    pub role: &'a str,
    /// DNS names and IP addresses a server answers on; empty for a certificate only used by
    /// callers.
    pub hosts: &'a [String],
    /// Valid from (Unix milliseconds) ...
    pub not_before_ms: u64,
    /// ... for this many days.
    pub validity_days: u32,
}

/// A certificate and its new private key, both PEM.
#[derive(Clone)]
pub struct IssuedCertificate {
    pub certificate_pem: String,
    pub private_key_pem: String,
    pub certificate_der: Vec<u8>,
}

impl fmt::Debug for IssuedCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCertificate")
            .field("fingerprint", &fingerprint(&self.certificate_der))
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for MemberCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemberCa")
            .field("member", &self.member)
            .field("certificate", &self.certificate())
            .finish_non_exhaustive()
    }
}

impl MemberCa {
    /// The CA of `member` with the Ed25519 key `key`, valid from a day before
    /// `genesis_time_ms` for thirty years. The same inputs give the same certificate bytes.
    ///
    /// # Errors
    /// The certificate cannot be built (not expected for valid inputs).
    pub fn new(member: &str, key: &SigningKey, genesis_time_ms: u64) -> Result<Self, PkiError> {
        let key = ed25519_key_pair(key)?;
        let not_before_ms = genesis_time_ms.saturating_sub(CA_BACKDATE_MS);
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{member} evidence ledger CA"));
        params
            .distinguished_name
            .push(DnType::OrganizationName, member);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = time_of(not_before_ms)?;
        params.not_after = time_of(not_before_ms.saturating_add(CA_VALIDITY_MS))?;
        params.serial_number = Some(serial(&[member.as_bytes(), key.public_key_raw()]));
        let certificate = params
            .self_signed(&key)
            .map_err(|e| PkiError::Generate(e.to_string()))?;
        Ok(Self {
            member: member.to_owned(),
            key,
            certificate,
        })
    }

    pub fn member(&self) -> &str {
        &self.member
    }

    /// The certificate for the genesis file.
    pub fn certificate(&self) -> CaCertificate {
        CaCertificate(self.certificate.der().to_vec())
    }

    /// Issues a certificate with a fresh ECDSA P-256 key. A certificate with `hosts` is for a
    /// server and a client (a node answers calls and relays to other nodes); without, for a
    /// client only.
    ///
    /// # Errors
    /// A host that is neither a DNS name nor an IP address, or a name that does not fit.
    pub fn issue(&self, request: &CertificateRequest<'_>) -> Result<IssuedCertificate, PkiError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
            .map_err(|e| PkiError::Generate(e.to_string()))?;
        let mut params = CertificateParams::new(request.hosts.to_vec())
            .map_err(|e| PkiError::Generate(format!("hosts {:?}: {e}", request.hosts)))?;
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, request.name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, self.member.as_str());
        params
            .distinguished_name
            .push(DnType::OrganizationalUnitName, request.role);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        if !request.hosts.is_empty() {
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ServerAuth);
        }
        params.use_authority_key_identifier_extension = true;
        params.not_before = time_of(request.not_before_ms)?;
        params.not_after = time_of(
            request
                .not_before_ms
                .saturating_add(u64::from(request.validity_days) * DAY_MS),
        )?;
        let mut random = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut random);
        params.serial_number = Some(serial(&[&random]));
        let certificate = params
            .signed_by(&key, &self.certificate, &self.key)
            .map_err(|e| PkiError::Generate(e.to_string()))?;
        Ok(IssuedCertificate {
            certificate_pem: certificate.pem(),
            private_key_pem: key.serialize_pem(),
            certificate_der: certificate.der().to_vec(),
        })
    }
}

impl MemberCa {
    /// Signs a certificate of any shape under this CA, for `public_key`: for operators whose
    /// callers need what [`MemberCa::issue`] does not make (and for tests of certificates the
    /// node must refuse).
    ///
    /// # Errors
    /// The parameters cannot be encoded.
    pub fn sign(
        &self,
        params: CertificateParams,
        public_key: &KeyPair,
    ) -> Result<rcgen::Certificate, PkiError> {
        params
            .signed_by(public_key, &self.certificate, &self.key)
            .map_err(|e| PkiError::Generate(e.to_string()))
    }
}

/// Who a verified certificate says the caller is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// The member whose CA issued the certificate.
    pub member: String,
    /// The role named in the certificate (its OU).
    pub role: String,
    /// The caller's name (its CN).
    pub name: String,
    /// SHA-256 of the certificate, hex.
    pub certificate: String,
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} of {})", self.name, self.role, self.member)
    }
}

/// Reads who `leaf` (a DER certificate) identifies, against the member CAs of `cas`
/// (`(member, CA subject DER)` pairs, as [`crate::Genesis::ca_subjects`] gives).
///
/// This reads names only: call it on a certificate whose chain the TLS layer has already
/// verified against the same CAs.
///
/// # Errors
/// Not a certificate, issued by no member's CA, or without exactly one role and a name.
pub fn identify(leaf: &[u8], cas: &[(String, Vec<u8>)]) -> Result<Identity, PkiError> {
    let (_, certificate) =
        X509Certificate::from_der(leaf).map_err(|e| PkiError::NotACertificate(e.to_string()))?;
    let issuer = certificate.issuer();
    let member = cas
        .iter()
        .find(|(_, subject)| subject.as_slice() == issuer.as_raw())
        .map(|(member, _)| member.clone())
        .ok_or_else(|| PkiError::UnknownIssuer {
            issuer: issuer.to_string(),
        })?;
    let subject = certificate.subject();
    let roles: Vec<_> = subject.iter_organizational_unit().collect();
    let [role] = roles.as_slice() else {
        return Err(PkiError::Role { found: roles.len() });
    };
    let role = role
        .as_str()
        .map_err(|_| PkiError::NotText { field: "role (OU)" })?
        .to_owned();
    let name = subject
        .iter_common_name()
        .next()
        .ok_or(PkiError::Name)?
        .as_str()
        .map_err(|_| PkiError::NotText { field: "name (CN)" })?
        .to_owned();
    Ok(Identity {
        member,
        role,
        name,
        certificate: fingerprint(leaf),
    })
}

/// An Ed25519 key as rcgen's key pair, through its PKCS#8 (v1, RFC 8410) encoding.
fn ed25519_key_pair(key: &SigningKey) -> Result<KeyPair, PkiError> {
    // SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING seed } }
    const PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let mut der = zeroize::Zeroizing::new(Vec::with_capacity(48));
    der.extend_from_slice(&PREFIX);
    der.extend_from_slice(zeroize::Zeroizing::new(key.seed()).as_slice());
    let pkcs8 = rustls_pki_types::PrivatePkcs8KeyDer::from(der.as_slice());
    KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &PKCS_ED25519)
        .map_err(|e| PkiError::Generate(e.to_string()))
}

/// A positive serial number of at most 16 bytes from a hash of `parts`.
fn serial(parts: &[&[u8]]) -> SerialNumber {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    let mut bytes = hasher.finalize()[..16].to_vec();
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    SerialNumber::from_slice(&bytes)
}

fn time_of(unix_ms: u64) -> Result<time::OffsetDateTime, PkiError> {
    let seconds = i64::try_from(unix_ms / 1000)
        .map_err(|_| PkiError::Generate(format!("time {unix_ms} ms is out of range")))?;
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .map_err(|e| PkiError::Generate(format!("time {unix_ms} ms: {e}")))
}

/// PEM text of `der` under `label`, lines of 64 characters.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut text = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        text.push_str(std::str::from_utf8(line).unwrap_or_default());
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----\n"));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca(member: &str, seed: u8) -> MemberCa {
        MemberCa::new(
            member,
            &SigningKey::from_seed(&[seed; 32]),
            1_700_000_000_000,
        )
        .unwrap()
    }

    #[test]
    fn a_member_ca_is_the_same_bytes_from_the_same_key_member_and_time() {
        let first = ca("bureau", 1).certificate();
        assert_eq!(first, ca("bureau", 1).certificate());
        assert_ne!(first, ca("bureau", 2).certificate());
        assert_ne!(first, ca("finance", 1).certificate());
        first.check("bureau").unwrap();
    }

    #[test]
    fn an_issued_certificate_names_its_member_role_and_name() {
        let bureau = ca("bureau", 1);
        let finance = ca("finance", 2);
        let cas = vec![
            (
                "bureau".to_owned(),
                bureau.certificate().check("bureau").unwrap(),
            ),
            (
                "finance".to_owned(),
                finance.certificate().check("finance").unwrap(),
            ),
        ];
        let issued = finance
            .issue(&CertificateRequest {
                name: "finance-payments",
                role: ROLE_FILER_SYSTEM,
                hosts: &[],
                not_before_ms: 1_700_000_000_000,
                validity_days: 30,
            })
            .unwrap();
        let identity = identify(&issued.certificate_der, &cas).unwrap();
        assert_eq!(identity.member, "finance");
        assert_eq!(identity.role, ROLE_FILER_SYSTEM);
        assert_eq!(identity.name, "finance-payments");
        assert_eq!(identity.certificate, fingerprint(&issued.certificate_der));
        assert!(
            issued
                .certificate_pem
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        assert!(issued.private_key_pem.contains("PRIVATE KEY"));
    }

    #[test]
    fn certificates_of_unknown_issuers_or_without_a_role_are_refused() {
        let bureau = ca("bureau", 1);
        let stranger = ca("stranger", 9);
        let cas = vec![(
            "bureau".to_owned(),
            bureau.certificate().check("bureau").unwrap(),
        )];
        let request = CertificateRequest {
            name: "x",
            role: ROLE_COURT,
            hosts: &[],
            not_before_ms: 1_700_000_000_000,
            validity_days: 1,
        };
        let foreign = stranger.issue(&request).unwrap();
        assert!(matches!(
            identify(&foreign.certificate_der, &cas),
            Err(PkiError::UnknownIssuer { .. })
        ));
        // The CA's own certificate names no role.
        assert!(matches!(
            identify(bureau.certificate().der(), &cas),
            Err(PkiError::Role { found: 0 })
        ));
        assert!(matches!(
            identify(b"not a certificate", &cas),
            Err(PkiError::NotACertificate(_))
        ));
    }

    #[test]
    fn a_leaf_certificate_or_garbage_is_not_a_ca() {
        let bureau = ca("bureau", 1);
        let leaf = bureau
            .issue(&CertificateRequest {
                name: "node",
                role: ROLE_MEMBER_NODE,
                hosts: &["127.0.0.1".to_owned(), "localhost".to_owned()],
                not_before_ms: 1_700_000_000_000,
                validity_days: 1,
            })
            .unwrap();
        assert!(matches!(
            CaCertificate::from_der(leaf.certificate_der).check("bureau"),
            Err(PkiError::NotACa { .. })
        ));
        assert!(matches!(
            CaCertificate::from_der(vec![0x30, 0x03, 1, 2, 3]).check("bureau"),
            Err(PkiError::NotACertificate(_))
        ));
        let mut trailing = bureau.certificate().der().to_vec();
        trailing.push(0);
        assert!(matches!(
            CaCertificate::from_der(trailing).check("bureau"),
            Err(PkiError::NotACertificate(_))
        ));
    }

    #[test]
    fn ca_certificates_in_json_are_lower_case_hex() {
        let certificate = ca("bureau", 1).certificate();
        let json = serde_json::to_string(&certificate).unwrap();
        let back: CaCertificate = serde_json::from_str(&json).unwrap();
        assert_eq!(back, certificate);
        assert!(serde_json::from_str::<CaCertificate>(&json.to_uppercase()).is_err());
        assert!(serde_json::from_str::<CaCertificate>("\"zz\"").is_err());
    }
}
