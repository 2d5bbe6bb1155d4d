//! `kapacitor`: the command line client. All of it lives in the library.

/// As `kapacitord`'s: `kapacitor test` decodes a case's points on one
/// thread and its task frees them on a worker, which glibc's allocator
/// serialises on the allocating arena's lock.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    kapacitor::cli::main()
}
