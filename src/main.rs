//! The gatehouse binary: parse the command line and hand over.

// mimalloc: the proxy path allocates small, short-lived buffers; glibc's
// malloc showed up at ~7% in profiles.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    gatehouse::cli::main()
}
