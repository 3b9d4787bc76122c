//! Progress that breathes: without a terminal, a step that waits on a slow Tars task
//! prints a "still running … [10s elapsed] (task …, N %)" line every 10 s.

mod common;

use std::time::Duration;

use common::{Bed, Start, Tars};

#[test]
fn a_slow_task_gets_still_running_lines_with_its_task_and_percent() {
    let bed = Bed::new(
        Start::Seed,
        Tars {
            task: Duration::from_secs(12),
            ..Tars::default()
        },
    );
    let run = bed.apply();
    assert_eq!(run.code, Some(0), "{}", run.both());
    let beats: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains(": still running… ["))
        .collect();
    assert!(!beats.is_empty(), "no heartbeat in\n{}", run.stderr);
    for beat in &beats {
        assert!(beat.starts_with("  start node["), "{beat}");
        assert!(beat.contains("s elapsed] (task "), "{beat}");
        assert!(beat.ends_with(" %)"), "{beat}");
    }
    let first = run
        .stderr
        .lines()
        .position(|l| l.contains("still running"))
        .unwrap();
    let done = run
        .stderr
        .lines()
        .position(|l| l.starts_with("  start node[") && l.contains(": done"))
        .unwrap();
    assert!(
        first < done,
        "the heartbeat comes while the step runs:\n{}",
        run.stderr
    );
}

/// On a terminal (apply run under `script`, which gives it a pseudo-terminal) the bar is
/// redrawn while a 12 s task runs: the frame shows the IP first, the step's elapsed
/// seconds advancing and its Tars task, before the step reports done.
#[test]
fn on_a_terminal_the_bar_is_redrawn_while_a_task_runs() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("`script` (util-linux) is needed for the pseudo-terminal test");
    }
    let bed = Bed::new(
        Start::Seed,
        Tars {
            task: Duration::from_secs(12),
            ..Tars::default()
        },
    );
    let bin = std::env::var("TARSFORM_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_tarsform").into());
    // 80 columns, as in the issue: the IP must stay visible.
    let inner = format!("stty cols 80 rows 24; exec '{bin}' apply -c config.toml --auto-approve");
    let out = std::process::Command::new("script")
        .args(["-qfec", &inner, "/dev/null"])
        .current_dir(bed.path())
        .env("TARSFORM_TARS_TOKEN", common::TOKEN)
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .env("TARSFORM_SETTLE", "100ms")
        .env("TARSFORM_START_TIMEOUT", "30s")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run script");
    let raw = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{raw}");
    assert!(!raw.contains(common::TOKEN), "the token leaked");
    let text = split_at_escapes(&raw);
    let frames: Vec<&str> = text.split(['\r', '\n']).collect();
    let done = frames
        .iter()
        .position(|f| f.contains("start node[") && f.contains(": done"))
        .unwrap_or_else(|| panic!("no start step finished:\n{text}"));
    // Frames of a start step on the new host, drawn before the first start finished.
    let seconds: Vec<u64> = frames[..done]
        .iter()
        .filter(|f| f.contains("172.25.0.5 start ") && f.contains(" %)"))
        .filter_map(|f| elapsed_of(f))
        .collect();
    let mut distinct = seconds.clone();
    distinct.dedup();
    assert!(
        distinct.len() >= 4 && distinct.windows(2).all(|w| w[0] < w[1]),
        "the bar's elapsed time did not advance frame by frame: {seconds:?}\n{text}"
    );
    let bar_frames: Vec<&&str> = frames[..done]
        .iter()
        // A bar frame starts with the spinner (a printed line before it starts with spaces).
        .filter(|f| f.contains("172.25.0.5 start ") && !f.starts_with(' '))
        .collect();
    assert!(
        bar_frames.iter().all(|f| f.trim_end().chars().count() <= 80),
        "a frame is wider than the terminal: {bar_frames:?}"
    );
}

/// `… 172.25.0.5 start 7s (task …` → 7.
fn elapsed_of(frame: &str) -> Option<u64> {
    let before_task = frame.split(" (task ").next()?;
    let word = before_task.rsplit(' ').next()?;
    word.strip_suffix('s')?.parse().ok()
}

/// The text with each ANSI escape sequence (CSI `ESC [ … final`, or two-byte `ESC x`)
/// replaced by a line break: the bar redraws its frame after cursor movements.
fn split_at_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        out.push('\n');
        if chars.next_if_eq(&'[').is_some() {
            for c in chars.by_ref() {
                if ('\u{40}'..='\u{7e}').contains(&c) {
                    break;
                }
            }
        } else {
            chars.next();
        }
    }
    out
}
