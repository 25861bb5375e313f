//! The `herald` binary: parses the command line and hands over to [`herald::cli::run`].

fn main() -> std::process::ExitCode {
    herald::cli::run()
}
