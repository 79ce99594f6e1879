//! [`Name`]: a product name or search query, validated UTF-8 stored inline.

use super::error::ValidationError;
use std::fmt;

/// The longest name or query, in UTF-8 bytes.
pub const MAX_NAME_LEN: usize = 64;

/// A non-empty UTF-8 string of at most [`MAX_NAME_LEN`] bytes, stored
/// inline (no heap): what a product is called, or what a search asks for.
///
/// # Examples
///
/// ```
/// use ringmaster::shop::{Name, ValidationError};
///
/// let name = Name::new("Blue Cotton Shirt")?;
/// assert_eq!(name.as_str(), "Blue Cotton Shirt");
/// assert!(matches!(Name::new(""), Err(ValidationError::EmptyName)));
/// assert!(matches!(Name::from_bytes(&[0xff]), Err(ValidationError::InvalidUtf8 { .. })));
/// # Ok::<(), ValidationError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Name {
    len: u8,
    bytes: [u8; MAX_NAME_LEN],
}

impl Name {
    /// Validate `text` as a name.
    ///
    /// # Errors
    ///
    /// [`ValidationError::EmptyName`] or [`ValidationError::NameTooLong`].
    pub fn new(text: &str) -> Result<Self, ValidationError> {
        if text.is_empty() {
            return Err(ValidationError::EmptyName);
        }
        if text.len() > MAX_NAME_LEN {
            return Err(ValidationError::NameTooLong {
                len: text.len(),
                max: MAX_NAME_LEN,
            });
        }
        let mut bytes = [0u8; MAX_NAME_LEN];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        Ok(Self {
            len: text.len() as u8,
            bytes,
        })
    }

    /// Validate raw bytes (from the network or disk) as a name.
    ///
    /// # Errors
    ///
    /// [`ValidationError::InvalidUtf8`] naming the first bad byte, or the
    /// errors of [`Name::new`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ValidationError> {
        if bytes.len() > MAX_NAME_LEN {
            return Err(ValidationError::NameTooLong {
                len: bytes.len(),
                max: MAX_NAME_LEN,
            });
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => Self::new(text),
            Err(e) => Err(ValidationError::InvalidUtf8 {
                valid_up_to: e.valid_up_to(),
            }),
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        // Only `new` builds a Name, from a &str, so the prefix is UTF-8; the
        // fallback is unreachable and keeps this free of unsafe and panics.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The name's UTF-8 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// Length in bytes (1 to [`MAX_NAME_LEN`]).
    #[allow(clippy::len_without_is_empty)] // reason: a Name is never empty
    pub fn len(&self) -> usize {
        self.len as usize
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert!(Name::new(&"x".repeat(64)).is_ok());
        assert!(matches!(
            Name::new(&"x".repeat(65)),
            Err(ValidationError::NameTooLong { len: 65, max: 64 })
        ));
        // 32 two-byte characters fit exactly; one more does not.
        assert!(Name::new(&"é".repeat(32)).is_ok());
        assert!(Name::new(&"é".repeat(33)).is_err());
        assert!(matches!(
            Name::from_bytes(b"ab\xc3"),
            Err(ValidationError::InvalidUtf8 { valid_up_to: 2 })
        ));
        assert_eq!(Name::new("Grüne Tasse").unwrap().as_str(), "Grüne Tasse");
    }
}
