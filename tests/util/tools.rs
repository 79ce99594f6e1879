//! The outside tools the client tests drive: a Python with redis-py (the
//! most used Redis client) in a virtual environment under Cargo's target
//! directory, made and filled from PyPI on first use; `redis-cli` and
//! `promtool`, from Debian packages (`redis-tools`, `prometheus`) when
//! missing.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

fn apt_install(package: &str) {
    super::say("clients", &format!("installing {package} with apt-get"));
    let _ = Command::new("apt-get")
        .args(["install", "-y", "-qq", package])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The virtual environment's python, with redis-py 8 installed.
pub fn redis_py() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("redis-py-venv");
            let python = venv.join("bin/python");
            let ready = |p: &PathBuf| {
                runs(
                    p.to_str().unwrap_or_default(),
                    &["-c", "import redis, sys; sys.exit(int(redis.__version__.split('.')[0]) < 8)"],
                )
            };
            if ready(&python) {
                return python;
            }
            if !runs("python3", &["-m", "venv", "--help"]) {
                apt_install("python3-venv");
            }
            let venv_arg = venv.to_str().expect("utf-8 path");
            assert!(
                runs("python3", &["-m", "venv", venv_arg]),
                "cannot make a Python virtual environment at {venv_arg} (apt-get install python3-venv)"
            );
            let pip = venv.join("bin/pip");
            assert!(
                runs(pip.to_str().expect("utf-8 path"), &["install", "-q", "redis>=8,<9"]),
                "cannot install redis-py from PyPI into {venv_arg}"
            );
            assert!(ready(&python), "redis-py 8 missing after pip install");
            python
        })
        .clone()
}

/// Run `script` with the redis-py python, `args` as `sys.argv[1:]`; its
/// standard output, or a panic with its error output.
pub fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new(redis_py())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `program`, installed from the Debian package `package` the first time
/// it is missing (`once` remembers that it was looked for).
fn debian_tool(once: &OnceLock<()>, program: &'static str, package: &str) -> &'static str {
    once.get_or_init(|| {
        if !runs(program, &["--version"]) {
            apt_install(package);
        }
        assert!(
            runs(program, &["--version"]),
            "{program} is needed (apt-get install {package})"
        );
    });
    program
}

/// `redis-cli`, installed from Debian's redis-tools when missing.
pub fn redis_cli() -> &'static str {
    static CLI: OnceLock<()> = OnceLock::new();
    debian_tool(&CLI, "redis-cli", "redis-tools")
}

/// `promtool` (Prometheus's checker), installed from Debian's prometheus
/// package when missing.
pub fn promtool() -> &'static str {
    static PROMTOOL: OnceLock<()> = OnceLock::new();
    debian_tool(&PROMTOOL, "promtool", "prometheus")
}
