//! `tarsform plan`: gather inputs, plan, print, optionally save.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use super::inputs::{self, GENERATED_ROOT};
use super::{Outcome, PlanArgs, PlanFormat};
use crate::addr::Target;
use crate::plan::{self, PlanInput, PlanOptions, saved};
use crate::secret::Secret;
use crate::view;

pub fn run(args: PlanArgs) -> anyhow::Result<Outcome> {
    let targets = parse_targets(&args.target)?;
    let ctx = inputs::gather(&args.config.config, args.state.state.as_deref(), GENERATED_ROOT)?;
    let observed = if args.refresh {
        Some(super::tars_client::observe_blocking(
            &ctx.topology,
            ctx.state.as_ref(),
        )?)
    } else {
        None
    };
    let options = PlanOptions {
        targets,
        destroy: args.destroy,
        generated_root: GENERATED_ROOT.into(),
        switch_crypto: args.switch_crypto,
        restart: false,
    };
    let plan = plan::plan(&PlanInput {
        topology: &ctx.topology,
        graph: &ctx.graph,
        state: ctx.state.as_ref(),
        observed: observed.as_ref(),
        local: &ctx.local,
        options: &options,
    })?;
    let token = &ctx.topology.tars.token;
    // The Terraform-shaped JSON costs more than the plan itself at scale: only when read.
    let plan_json = (args.policy.is_some() || matches!(args.format, PlanFormat::Json))
        .then(|| view::json_with_state(&plan, ctx.state.as_ref()));
    let verdict = match (&args.policy, &plan_json) {
        (Some(dir), Some(json)) => Some(super::policy::check(dir, json)?),
        _ => None,
    };
    let denied = verdict.as_ref().is_some_and(|v| !v.passed());
    let text = match args.format {
        PlanFormat::Human => None,
        PlanFormat::Markdown => Some(view::markdown(&plan)),
        // A denied plan's JSON is replaced by the diagnostics (one document on stdout).
        PlanFormat::Json if denied => Some(String::new()),
        PlanFormat::Json => Some(plan_json.unwrap_or_default()),
    };
    print_redacted(token, |print| match text {
        Some(text) => print(&text),
        // Written as it is made: the text of a 10,000-node plan is never held whole.
        None => view::write_human(&plan, inputs::stdout_color(), args.full, print),
    })?;
    if let (Some(v), Some(dir)) = (&verdict, &args.policy) {
        eprint!("{}", token.redact_in(&super::policy::warnings(v)));
        if denied {
            anyhow::bail!(
                "{}",
                token.redact_in(&super::policy::denial(v, dir, args.out.is_some()))
            );
        }
        eprintln!(
            "Policies in {} passed ({} warning(s)).",
            dir.display(),
            v.warnings.len()
        );
    }
    if let Some(out) = &args.out {
        write_plan_file(out, &token.redact_in(&saved::to_file_text(&plan)))?;
        eprintln!(
            "Saved the plan to {}. To perform exactly these actions, run: tarsform apply {}",
            out.display(),
            out.display()
        );
    }
    let outcome = if args.detailed_exitcode && plan.has_changes() {
        Outcome::ChangesPresent
    } else {
        Outcome::Success
    };
    // Plain data, and the process ends next: freeing a 10,000-node plan (or the state
    // and graph it was made from) piece by piece costs more time than rendering it.
    std::mem::forget(plan);
    std::mem::forget(ctx);
    Ok(outcome)
}

/// Runs `write` with a printer of text to stdout, the token redacted in each piece.
fn print_redacted(
    token: &Secret,
    write: impl FnOnce(&mut dyn FnMut(&str) -> std::io::Result<()>) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    write(&mut |piece: &str| stdout.write_all(token.redact_in(piece).as_bytes()))
        .and_then(|()| stdout.flush())
        .context("writing the plan to stdout")
}

pub(crate) fn parse_targets(raw: &[String]) -> anyhow::Result<Vec<Target>> {
    raw.iter()
        .map(|t| t.parse::<Target>().with_context(|| format!("--target {t}")))
        .collect()
}

fn write_plan_file(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing the plan to {}", path.display()))
}
