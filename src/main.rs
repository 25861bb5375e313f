//! The `herald` binary: parses the command line and hands over to [`herald::cli::run`].

/// mimalloc instead of the system allocator: ingest allocates on the reader's thread and frees on the router's
/// and the validation pool's, where glibc's malloc spent a third of Herald's CPU time (perf, `bench ingest`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    herald::cli::run()
}
