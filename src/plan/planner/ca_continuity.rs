//! CA continuity, checked on every plan: while nodes of a service type exist (in Tars or
//! in state), the CA in use must be the one they were issued from. A missing CA, another
//! CA than the one in state, or one Tars does not serve stops the plan; rotating a CA is
//! never implicit. Works from state alone when the CA directory is absent.

use x509_parser::prelude::{FromDer, X509Certificate};

use super::*;

/// What one existing node is served, as far as Tars (or else the state) tells.
struct Served {
    node: Address,
    /// `ca.crt` fingerprint (pem digest), when known.
    ca: Option<String>,
    /// Whether `ca.crt` was seen in Tars (else it comes from state).
    from_tars: bool,
    /// sha256 of the `ca.crt` file the state says was pushed.
    ca_file_in_state: Option<String>,
    /// `ssl.crt` served by Tars, when seen.
    ssl_pem: Option<String>,
    /// The CA fingerprint the state says `ssl.crt` was signed by.
    ssl_ca_in_state: Option<String>,
}

impl Planner<'_> {
    /// Fails the plan when a service type with existing nodes would use another CA.
    pub(super) fn check_ca_continuity(&self) -> Result<(), PlanError> {
        for kind in ServiceKind::ALL {
            if !self.input.graph.contains(&Address::ca(kind))
                || !self.kinds_with_nodes.contains(&kind)
                || self.switching.contains(&kind)
            {
                continue;
            }
            let served = self.served(kind);
            if served.is_empty() {
                continue;
            }
            let ca = &self.cas[&kind];
            let fail = |problem: String, hint: String, lines: Vec<String>| PlanError::CaContinuity {
                kind: kind.as_str().to_string(),
                dir: ca.dir.clone(),
                problem,
                nodes: lines,
                hint,
            };
            let all_lines = || served.iter().map(|s| self.describe(s, ca)).collect::<Vec<_>>();
            let Some(digest) = &ca.digest else {
                return Err(fail(
                    "is missing: no ca.crt there and no CA certificate recorded in state".into(),
                    format!(
                        "point `{kind}_ca_cert_path` at the CA directory these nodes were issued from \
                         (BcosBuilder keeps it at `generated/{kind}/<chain_id>/ca`) or restore it from a backup; \
                         tarsform makes a new {kind} CA only when no {kind} node exists anywhere"
                    ),
                    all_lines(),
                ));
            };
            if let Some(recorded) = ca.state_digest.as_ref().filter(|r| ca.local && *r != digest) {
                return Err(fail(
                    format!(
                        "is not the CA recorded in state (ca.crt {}, state has {})",
                        short(digest),
                        short(recorded)
                    ),
                    format!(
                        "point `{kind}_ca_cert_path` at the CA with fingerprint {} (the one these nodes were issued from); \
                         rotating a CA is never implicit",
                        short(recorded)
                    ),
                    all_lines(),
                ));
            }
            let wrong: Vec<&Served> = served.iter().filter(|s| !self.continuous(s, ca)).collect();
            if !wrong.is_empty() {
                return Err(fail(
                    format!(
                        "(ca.crt {}) is not the CA these nodes were issued from",
                        short(digest)
                    ),
                    format!(
                        "point `{kind}_ca_cert_path` at the CA Tars serves to them; certificates signed by another CA \
                         fail the SSL handshake, and rotating a CA is never implicit"
                    ),
                    wrong.iter().map(|s| self.describe(s, ca)).collect(),
                ));
            }
        }
        Ok(())
    }

    /// Every existing node of `kind` and what it is served.
    fn served(&self, kind: ServiceKind) -> Vec<Served> {
        let servers = self.servers_with_nodes();
        let kind_ca = self.served_ca(kind);
        // The rows of the certificate set in use (`ca.crt`/`ssl.crt`, or `sm_ca.crt`/
        // `sm_ssl.crt`): rows of the other set are left over from a switch.
        let mode = self.topology.chain.cert_mode(kind);
        let ca_file = mode.ca_cert_file();
        let leaf = mode.cert_purposes(kind)[0];
        let leaf_file = format!("{leaf}.crt");
        let mut out = Vec::new();
        for server in servers.into_iter().filter(|s| kind_of_server(s) == Some(kind)) {
            for ip in self.existing_nodes(server) {
                let obs = self.observed().and_then(|o| o.node(server, &ip));
                let row = |file: &str| obs.and_then(|n| n.configs.get(file)).map(|r| r.content.clone());
                let state_str = |a: Address, key: &str| {
                    self.state_attrs(&a)
                        .and_then(|b| b.get(key))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                };
                let tars_ca = row(ca_file).or_else(|| kind_ca.cloned());
                out.push(Served {
                    node: Address::node(server, &ip),
                    from_tars: tars_ca.is_some(),
                    ca: tars_ca.as_deref().map(pem_sha256),
                    ca_file_in_state: state_str(Address::config(server, &ip, ca_file), "content_sha256"),
                    ssl_pem: row(&leaf_file),
                    ssl_ca_in_state: state_str(Address::cert(server, &ip, leaf), "ca_sha256"),
                });
            }
        }
        out
    }

    /// The CA Tars serves to nodes of `kind`, when it is of the key type in use.
    pub(super) fn served_ca(&self, kind: ServiceKind) -> Option<&'_ String> {
        let sm = self.topology.chain.cert_mode(kind).is_sm();
        self.observed()
            .and_then(|o| o.ca_crt.get(&kind))
            .filter(|pem| crate::pki::sm2::is_sm2_cert(pem) == sm)
    }

    fn continuous(&self, s: &Served, ca: &CaFacts) -> bool {
        let digest = ca.digest.as_deref();
        let ca_ok = match (&s.ca, &s.ca_file_in_state) {
            (Some(d), _) => Some(d.as_str()) == digest,
            (None, Some(file)) => ca.pem.is_some() && *file == ca.file_digest,
            (None, None) => true,
        };
        let ssl_ok = match (&s.ssl_pem, &ca.pem) {
            (Some(leaf), Some(ca_pem)) => signed_by(leaf, ca_pem) != Some(false),
            _ => s.ssl_ca_in_state.is_none() || s.ssl_ca_in_state.as_deref() == digest,
        };
        ca_ok && ssl_ok
    }

    fn describe(&self, s: &Served, ca: &CaFacts) -> String {
        let source = if s.from_tars {
            "Tars serves"
        } else {
            "state records"
        };
        let ca_part = match (&s.ca, &s.ca_file_in_state) {
            (Some(d), _) => format!("{source} ca.crt {}", short(d)),
            (None, Some(file)) => format!("state records ca.crt (file {})", short(file)),
            (None, None) => "no ca.crt seen".to_string(),
        };
        let ssl_part = match (&s.ssl_pem, &ca.pem) {
            (Some(leaf), Some(ca_pem)) => match signed_by(leaf, ca_pem) {
                Some(true) => "its ssl.crt verifies against this CA".to_string(),
                Some(false) => "its ssl.crt does not verify against this CA".to_string(),
                None => "its ssl.crt could not be checked".to_string(),
            },
            (Some(leaf), None) => match issuer(leaf) {
                Some(dn) => format!("its ssl.crt was issued by `{dn}`"),
                None => "its ssl.crt is not a readable certificate".to_string(),
            },
            _ => match &s.ssl_ca_in_state {
                Some(d) => format!("state says its ssl.crt was issued by CA {}", short(d)),
                None => "ssl.crt not seen".to_string(),
            },
        };
        format!("  - {}: {ca_part}; {ssl_part}", s.node)
    }
}

/// The first 16 hex digits of a fingerprint, as shown to people.
fn short(digest: &str) -> String {
    format!("sha256:{}…", &digest[..digest.len().min(16)])
}

/// Whether `leaf_pem` is signed by the key of `ca_pem`; `None` when either is not a
/// parseable certificate.
pub(super) fn signed_by(leaf_pem: &str, ca_pem: &str) -> Option<bool> {
    // x509-parser does not verify SM2 signatures.
    if crate::pki::sm2::is_sm2_cert(ca_pem) {
        return crate::pki::sm2::sm_signed_by(leaf_pem, ca_pem);
    }
    let ca_der = pem_der(ca_pem)?;
    let leaf_der = pem_der(leaf_pem)?;
    let (_, ca) = X509Certificate::from_der(&ca_der).ok()?;
    let (_, leaf) = X509Certificate::from_der(&leaf_der).ok()?;
    Some(leaf.verify_signature(Some(ca.public_key())).is_ok())
}

/// The issuer name of a certificate, as text.
fn issuer(pem: &str) -> Option<String> {
    let der = pem_der(pem)?;
    let (_, cert) = X509Certificate::from_der(&der).ok()?;
    Some(cert.issuer().to_string())
}

fn pem_der(pem: &str) -> Option<Vec<u8>> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    (block.label == "CERTIFICATE").then_some(block.contents)
}
