//! The `flexform` binary: a thin shell around [`flexform::app::main`].

fn main() -> std::process::ExitCode {
    flexform::app::main().into()
}
