//! Colour in the human plan on a terminal (a pseudo-terminal from `script`): on by
//! default and with an empty `NO_COLOR` (no-color.org), off with `NO_COLOR=1`,
//! `--no-color` and Terraform's `-no-color`.

mod common;

use common::{Bed, Start, Tars};

/// The plan's output on an 80-column pseudo-terminal, with `no_color` as NO_COLOR.
fn plan_on_a_terminal(bed: &Bed, no_color: Option<&str>, flag: &str) -> String {
    let bin = std::env::var("TARSFORM_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_tarsform").into());
    let inner = format!("stty cols 80 rows 24; exec '{bin}' {flag} plan -c config.toml");
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qfec", &inner, "/dev/null"])
        .current_dir(bed.path())
        .env("TARSFORM_TARS_TOKEN", common::TOKEN)
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .stdin(std::process::Stdio::null());
    if let Some(value) = no_color {
        cmd.env("NO_COLOR", value);
    }
    let out = cmd
        .output()
        .expect("`script` (util-linux) runs the plan on a pseudo-terminal");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("Plan:"), "no plan printed: {text}");
    text
}

fn coloured(text: &str) -> bool {
    // SGR colour sequences, e.g. ESC[32m; the terminal setup prints none.
    text.contains("\u{1b}[3") || text.contains("\u{1b}[1;3")
}

#[test]
fn colour_follows_the_terminal_no_color_and_the_flag() {
    let bed = Bed::new(Start::Seed, Tars::default());
    assert!(
        coloured(&plan_on_a_terminal(&bed, None, "")),
        "a terminal gets colour"
    );
    assert!(
        coloured(&plan_on_a_terminal(&bed, Some(""), "")),
        "an empty NO_COLOR is as if unset (no-color.org)"
    );
    for (no_color, flag) in [(Some("1"), ""), (None, "--no-color"), (None, "-no-color")] {
        let text = plan_on_a_terminal(&bed, no_color, flag);
        assert!(
            !coloured(&text),
            "NO_COLOR={no_color:?} {flag}: colour printed\n{text}"
        );
    }
}
