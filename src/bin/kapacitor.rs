//! `kapacitor`: the command line client. All of it lives in the library.

fn main() -> std::process::ExitCode {
    kapacitor::cli::main()
}
