//! `[backend]`: the local default, the mysql settings, and the values refused.

use std::path::PathBuf;

use super::*;

const BASE: &str = "[tars]\ntars_url = \"http://127.0.0.1:3000\"\n[chain]\nchain_id = \"chain0\"\n";

fn with_backend(section: &str) -> Result<BackendSettings, ConfigErrors> {
    parse_full(&format!("{BASE}{section}"), Format::Toml, "t.toml", None).map(|(_, b)| b)
}

fn errors_of(section: &str) -> String {
    with_backend(section).unwrap_err().to_string()
}

#[test]
fn no_section_or_local_is_the_state_file() {
    assert_eq!(with_backend("").unwrap(), BackendSettings::default());
    let local = with_backend("[backend]\ntype = \"local\"\n").unwrap();
    assert_eq!(local.mysql_url, None);
}

#[test]
fn mysql_takes_a_url_and_a_password_file() {
    let b = with_backend(
        "[backend]\ntype = \"mysql\"\nurl = \"mysql://tf@db:3306/tarsform\"\npassword_file = \"/run/pw\"\n",
    )
    .unwrap();
    assert_eq!(b.mysql_url.as_deref(), Some("mysql://tf@db:3306/tarsform"));
    assert_eq!(b.password_file, Some(PathBuf::from("/run/pw")));
}

#[test]
fn bad_backends_are_refused_with_the_key_and_a_hint() {
    let err = errors_of("[backend]\ntype = \"mysql\"\n");
    assert!(
        err.contains("backend.url") && err.contains("needs `url`"),
        "{err}"
    );
    let err = errors_of("[backend]\ntype = \"postgres\"\n");
    assert!(err.contains("unknown backend type `postgres`"), "{err}");
    let err = errors_of("[backend]\ntype = \"mysql\"\nurl = \"mysql://tf:hunter2@db/tarsform\"\n");
    assert!(
        err.contains("holds a password") && !err.contains("hunter2"),
        "{err}"
    );
    let err = errors_of("[backend]\nstore_keys = true\n");
    assert!(
        err.contains("store_keys") && err.contains("shared backend"),
        "{err}"
    );
    let b = with_backend("[backend]\ntype = \"mysql\"\nurl = \"mysql://tf@db/t\"\nstore_keys = true\nidentity_file = \"team.agekey\"\n").unwrap();
    assert!(b.store_keys);
    assert_eq!(b.identity_file, Some(PathBuf::from("team.agekey")));
    let err = errors_of("[backend]\nkind = \"mysql\"\n");
    assert!(err.contains("unknown key `kind`"), "{err}");
}
