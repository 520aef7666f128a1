//! Helpers shared by the interop tests.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

fn run(cmd: &mut Command) -> bool {
    cmd.status().map(|s| s.success()).unwrap_or(false)
}

/// A Python interpreter with aioice (PyPI) importable: a virtualenv under the cargo target dir,
/// created and filled on first use (once per test binary; test binaries run one after another).
pub(crate) fn aioice_python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("aioice-venv");
            let python = venv.join("bin/python");
            if run(Command::new(&python).args(["-c", "import aioice"])) {
                return python;
            }
            if !run(Command::new("python3").args(["-m", "venv"]).arg(&venv)) {
                // Debian splits venv support out of python3.
                assert!(run(Command::new("apt-get").args([
                    "install",
                    "-y",
                    "-qq",
                    "python3",
                    "python3-venv"
                ])));
                assert!(
                    run(Command::new("python3").args(["-m", "venv"]).arg(&venv)),
                    "python3 -m venv failed"
                );
            }
            assert!(
                run(Command::new(&python).args(["-m", "pip", "install", "-q", "aioice"])),
                "pip install aioice failed"
            );
            assert!(run(Command::new(&python).args(["-c", "import aioice"])));
            python
        })
        .clone()
}
