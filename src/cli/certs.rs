//! Development and test certificates: a CA and a serving certificate signed by it,
//! made with rcgen (no openssl).

use anyhow::Context;
use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use time::{Duration, OffsetDateTime};

#[derive(clap::Args)]
pub struct CertsArgs {
    /// Directory to write ca.crt, tls.crt and tls.key to.
    #[arg(long, env = "EFA_WEBHOOK_CERTS_OUT")]
    pub out: PathBuf,
    /// DNS names of the serving certificate.
    #[arg(
        long = "dns",
        env = "EFA_WEBHOOK_CERTS_DNS",
        value_delimiter = ',',
        default_value = "localhost"
    )]
    pub dns: Vec<String>,
    /// IP addresses of the serving certificate.
    #[arg(
        long = "ip",
        env = "EFA_WEBHOOK_CERTS_IP",
        value_delimiter = ',',
        default_value = "127.0.0.1"
    )]
    pub ip: Vec<IpAddr>,
    /// Days the certificates are valid.
    #[arg(long, env = "EFA_WEBHOOK_CERTS_DAYS", default_value_t = 365)]
    pub days: i64,
    /// Replace certificates that already exist.
    #[arg(long, env = "EFA_WEBHOOK_CERTS_FORCE")]
    pub force: bool,
}

/// Writes the certificates (unless they exist), then prints the CA as a caBundle.
pub fn run(args: CertsArgs) -> anyhow::Result<ExitCode> {
    let cert = args.out.join(CERT_FILE);
    if cert.exists() && !args.force {
        eprintln!(
            "{} exists; keeping it (--force replaces it)",
            cert.display()
        );
    } else {
        generate(&args.dns, &args.ip, args.days)?.write_to(&args.out)?;
        eprintln!("wrote {}/{{ca.crt,tls.crt,tls.key}}", args.out.display());
    }
    let ca = std::fs::read(args.out.join(CA_FILE)).context("reading ca.crt")?;
    println!("{}", base64::engine::general_purpose::STANDARD.encode(ca));
    Ok(ExitCode::SUCCESS)
}

pub const CA_FILE: &str = "ca.crt";
pub const CERT_FILE: &str = "tls.crt";
pub const KEY_FILE: &str = "tls.key";

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("generating certificates: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// A CA and a serving certificate it signed, PEM-encoded.
pub struct GeneratedCerts {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

/// A certificate authority that signs serving (and client) certificates.
pub struct Authority {
    params: CertificateParams,
    key: KeyPair,
    pub pem: String,
}

/// A certificate and its key, PEM-encoded.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

fn validity(params: &mut CertificateParams, valid_for_days: i64) {
    let now = OffsetDateTime::now_utc();
    // An hour of slack for clocks that lag ours.
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(valid_for_days);
}

fn common_name(params: &mut CertificateParams, name: &str) {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
}

impl Authority {
    pub fn new(valid_for_days: i64) -> Result<Self, CertError> {
        let mut params = CertificateParams::default();
        common_name(&mut params, "machine-efa-webhook CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        validity(&mut params, valid_for_days);
        let key = KeyPair::generate()?;
        let pem = params.self_signed(&key)?.pem();
        Ok(Authority { params, key, pem })
    }

    fn sign(
        &self,
        mut params: CertificateParams,
        name: &str,
        usage: ExtendedKeyUsagePurpose,
        valid_for_days: i64,
    ) -> Result<Issued, CertError> {
        common_name(&mut params, name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        validity(&mut params, valid_for_days);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &Issuer::from_params(&self.params, &self.key))?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// A serving certificate for `dns_names` and `ips`.
    pub fn issue_serving(
        &self,
        dns_names: &[String],
        ips: &[IpAddr],
        valid_for_days: i64,
    ) -> Result<Issued, CertError> {
        let mut params = CertificateParams::new(dns_names.to_vec())?;
        params
            .subject_alt_names
            .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        let name = dns_names
            .first()
            .map_or("machine-efa-webhook", String::as_str);
        self.sign(
            params,
            name,
            ExtendedKeyUsagePurpose::ServerAuth,
            valid_for_days,
        )
    }

    /// A client certificate, for API servers that authenticate to webhooks.
    pub fn issue_client(&self, name: &str, valid_for_days: i64) -> Result<Issued, CertError> {
        self.sign(
            CertificateParams::default(),
            name,
            ExtendedKeyUsagePurpose::ClientAuth,
            valid_for_days,
        )
    }
}

/// A new CA and a serving certificate it signed.
pub fn generate(
    dns_names: &[String],
    ips: &[IpAddr],
    valid_for_days: i64,
) -> Result<GeneratedCerts, CertError> {
    let ca = Authority::new(valid_for_days)?;
    let serving = ca.issue_serving(dns_names, ips, valid_for_days)?;
    Ok(GeneratedCerts {
        ca_pem: ca.pem,
        cert_pem: serving.cert_pem,
        key_pem: serving.key_pem,
    })
}

impl GeneratedCerts {
    /// Writes `ca.crt`, `tls.crt` and `tls.key` (the names a Kubernetes TLS Secret uses);
    /// the key is readable by its owner only from the moment it exists.
    pub fn write_to(&self, dir: &Path) -> Result<(), CertError> {
        std::fs::create_dir_all(dir).map_err(|source| CertError::Write {
            path: dir.display().to_string(),
            source,
        })?;
        write_file(&dir.join(KEY_FILE), &self.key_pem, true)?;
        write_file(&dir.join(CERT_FILE), &self.cert_pem, false)?;
        write_file(&dir.join(CA_FILE), &self.ca_pem, false)
    }
}

/// Writes through a temp file renamed into place, so a reader never sees half a file
/// and a replaced key is never readable by others, even for a moment.
fn write_file(path: &Path, text: &str, private: bool) -> Result<(), CertError> {
    use std::io::Write;
    let err = |source| CertError::Write {
        path: path.display().to_string(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let _ = std::fs::remove_file(&tmp);
    options
        .open(&tmp)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(err)
}
