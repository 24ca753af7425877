//! The `flexform` binary: a thin shell around [`flexform::cli::main`].

fn main() -> std::process::ExitCode {
    flexform::cli::main().into()
}
