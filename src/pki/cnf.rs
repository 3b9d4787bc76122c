//! `cert.cnf`: the OpenSSL configuration BcosBuilder keeps next to the CA and copies next
//! to every leaf (reference/bcosbuilder.md §4.1), so operators can sign by hand with the
//! same settings. tarsform itself signs with rcgen and only writes this file.

/// The text of `cert.cnf` (RSA mode): the settings of reference §4.1.
pub fn cert_cnf() -> String {
    let lines = [
        "# OpenSSL settings of this chain's certificates (compatible with BcosBuilder).",
        "[ca]",
        "default_ca = default_ca",
        "",
        "[default_ca]",
        "default_days = 36500",
        "default_md = sha256",
        "",
        "[req]",
        "distinguished_name = req_distinguished_name",
        "req_extensions = v3_req",
        "",
        "[req_distinguished_name]",
        "countryName = Country Name (2 letter code)",
        "countryName_default = CN",
        "stateOrProvinceName = State or Province Name",
        "stateOrProvinceName_default = GuangDong",
        "localityName = Locality Name",
        "localityName_default = ShenZhen",
        "organizationalUnitName = Organizational Unit Name",
        "organizationalUnitName_default = FISCO-BCOS",
        "commonName = Common Name",
        "commonName_default = FISCO-BCOS",
        "commonName_max = 64",
        "",
        "# leaf certificates",
        "[v3_req]",
        "basicConstraints = CA:FALSE",
        "keyUsage = nonRepudiation, digitalSignature, keyEncipherment",
        "",
        "[v4_req]",
        "basicConstraints = CA:TRUE",
    ];
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `section.key` → value, as OpenSSL's config reader sees it.
    fn settings(text: &str) -> std::collections::BTreeMap<String, String> {
        let mut section = String::new();
        let mut out = std::collections::BTreeMap::new();
        for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.trim().to_string();
            } else if let Some((k, v)) = line.split_once('=') {
                out.insert(format!("{section}.{}", k.trim()), v.trim().to_string());
            }
        }
        out
    }

    #[test]
    fn cert_cnf_holds_the_settings_of_generate_cert_sh() {
        let s = settings(&cert_cnf());
        assert_eq!(s["ca.default_ca"], "default_ca");
        assert_eq!(s["default_ca.default_days"], "36500");
        assert_eq!(s["default_ca.default_md"], "sha256");
        assert_eq!(s["req.req_extensions"], "v3_req");
        assert_eq!(s["req_distinguished_name.commonName_default"], "FISCO-BCOS");
        assert_eq!(s["v3_req.basicConstraints"], "CA:FALSE");
        assert_eq!(
            s["v3_req.keyUsage"],
            "nonRepudiation, digitalSignature, keyEncipherment"
        );
        assert_eq!(s["v4_req.basicConstraints"], "CA:TRUE");
    }
}
