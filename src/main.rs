//! The gatehouse binary: parse the command line and hand over.

fn main() -> std::process::ExitCode {
    gatehouse::cli::main()
}
