use std::process::ExitCode;

fn main() -> ExitCode {
    tarsform::cli::main()
}
