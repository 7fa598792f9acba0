//! The capi-loadgen binary: parse flags, run, map errors to one line and an exit code.

use clap::Parser;

/// mimalloc: a third less CPU per request than glibc malloc on the put path (object trees
/// are built and dropped per request, from every worker thread).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // No transparent huge pages: mimalloc's arenas would fault in (and zero) 2 MiB at a
    // time, which doubled peak RSS and cost more CPU than it saved on short runs.
    // SAFETY: prctl with PR_SET_THP_DISABLE takes plain integers and touches no memory.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    let cli = capi_loadgen::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("warn,kube_client=off,capi_loadgen=info")
            }),
        )
        .with_writer(std::io::stderr)
        // Plain text for CI logs and `kubectl logs`: colours only on a terminal.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("capi-loadgen: cannot start the async runtime: {e}");
            std::process::exit(capi_loadgen::exit::INTERNAL);
        }
    };
    let code = match runtime.block_on(capi_loadgen::run(cli)) {
        Ok(()) => capi_loadgen::exit::OK,
        Err(e) => {
            eprintln!("capi-loadgen: {e}");
            e.exit_code()
        }
    };
    drop(runtime);
    std::process::exit(code);
}
