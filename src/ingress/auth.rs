//! Who may use the server: the password every connection must present
//! (`AUTH`, or `HELLO ... AUTH`) before anything else, compared in constant
//! time; and protected mode, which without a password accepts clients on
//! the loopback interface only, as Redis does.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq;

/// The server's password. `Debug` does not show it.
///
/// # Examples
///
/// ```
/// use ringmaster::ingress::Password;
/// let password = Password::new(b"correct horse".to_vec())?;
/// assert!(password.matches(b"correct horse"));
/// assert!(!password.matches(b"correct horsf"));
/// assert!(!format!("{password:?}").contains("horse"));
/// # Ok::<(), ringmaster::ingress::PasswordError>(())
/// ```
#[derive(Clone)]
pub struct Password(Vec<u8>);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<hidden>)")
    }
}

/// A password that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// Empty (or only a newline).
    #[error("the password is empty")]
    Empty,
    /// Longer than a request argument may be.
    #[error("the password is {len} bytes; at most {max}")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The password file could not be read.
    #[error("cannot read the password file {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Longest password: a request's bulk string limit.
const MAX_PASSWORD: usize = 64 * 1024;

impl Password {
    /// A password from its bytes.
    ///
    /// # Errors
    ///
    /// [`PasswordError::Empty`], [`PasswordError::TooLong`].
    pub fn new(bytes: Vec<u8>) -> Result<Self, PasswordError> {
        if bytes.is_empty() {
            return Err(PasswordError::Empty);
        }
        if bytes.len() > MAX_PASSWORD {
            return Err(PasswordError::TooLong {
                len: bytes.len(),
                max: MAX_PASSWORD,
            });
        }
        Ok(Self(bytes))
    }

    /// The password in a file: its first line, without the line end. The
    /// recommended form: a password given on a command line is visible to
    /// every user of the machine in `ps`.
    ///
    /// # Errors
    ///
    /// [`PasswordError::File`] if it cannot be read, and as
    /// [`Password::new`].
    pub fn from_file(path: &Path) -> Result<Self, PasswordError> {
        let bytes = std::fs::read(path).map_err(|source| PasswordError::File {
            path: path.to_owned(),
            source,
        })?;
        let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        Self::new(line.to_vec())
    }

    /// The password itself, for a client that must send it (`ringmaster
    /// promote` reads the server's file with [`Password::from_file`], so
    /// both read it by the same rule).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Whether `candidate` is the password, in time that does not depend
    /// on where the two differ.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        bool::from(self.0.as_slice().ct_eq(candidate))
    }
}

/// Whether protected mode refuses a client from `peer`: no password is set
/// and the client is not on the loopback interface.
pub(crate) fn protected_mode_refuses(
    protected_mode: bool,
    password: Option<&Password>,
    peer: &SocketAddr,
) -> bool {
    let loopback = match peer {
        SocketAddr::V4(v4) => v4.ip().is_loopback(),
        SocketAddr::V6(v6) => {
            v6.ip().is_loopback() || v6.ip().to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    };
    protected_mode && password.is_none() && !loopback
}

/// What a client refused by protected mode is told before it is closed.
pub(crate) const PROTECTED_MODE_REFUSAL: &str = "DENIED ringmaster is running in protected mode: \
     no password is set, so only clients on the loopback interface are accepted. \
     To accept others, set a password (`ringmaster serve --requirepass-file FILE`) \
     and connect with AUTH, or, on a network you trust, start the server with \
     `--no-protected-mode`.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_mode_refuses_only_remote_clients_without_a_password() {
        let remote: SocketAddr = "192.0.2.7:5000".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let local6: SocketAddr = "[::1]:5000".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:5000".parse().unwrap();
        let pw = Password::new(b"x".to_vec()).unwrap();
        assert!(protected_mode_refuses(true, None, &remote));
        assert!(!protected_mode_refuses(true, None, &local));
        assert!(!protected_mode_refuses(true, None, &local6));
        assert!(!protected_mode_refuses(true, None, &mapped));
        assert!(!protected_mode_refuses(true, Some(&pw), &remote));
        assert!(!protected_mode_refuses(false, None, &remote));
    }

    #[test]
    fn a_password_file_gives_its_first_line() {
        let dir = std::env::temp_dir().join(format!("rm-pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pw");
        std::fs::write(&file, b"s3cret\r\nignored\n").unwrap();
        assert!(Password::from_file(&file).unwrap().matches(b"s3cret"));
        std::fs::write(&file, b"\n").unwrap();
        assert!(matches!(
            Password::from_file(&file),
            Err(PasswordError::Empty)
        ));
        assert!(matches!(
            Password::from_file(&dir.join("missing")),
            Err(PasswordError::File { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
