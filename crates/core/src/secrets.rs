//! Secrets at rest: the [`SecretBox`] port, its AES-256-GCM implementation, and [`Password`], a
//! string that never shows itself in logs or debug output.
//!
//! A sealed value is `nonce (12 bytes) || ciphertext || tag (16 bytes)`, with a fresh random
//! nonce per sealing. The associated data binds it to where it is stored (e.g. one inbox row and
//! one column): the same bytes opened with any other associated data fail, so a ciphertext copied
//! to another row is useless.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, Generate, Key, KeyInit, Nonce, Payload};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Bytes of a nonce at the start of a sealed value.
pub const NONCE_LEN: usize = 12;
/// Bytes of the key.
pub const KEY_LEN: usize = 32;

/// Why a secret could not be sealed or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The bytes are not a sealed value for this key and associated data (tampered, moved to
    /// another row, or sealed under another key).
    #[error("the secret cannot be decrypted with this key for this record")]
    Undecryptable,
    /// Encryption failed (only for absurdly large inputs).
    #[error("the secret cannot be encrypted")]
    Unencryptable,
}

/// Encrypts and decrypts small secrets (passwords) with associated data.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait SecretBox: Send + Sync {
    /// Seals `plaintext`, binding it to `associated_data`. Two sealings of the same input MUST
    /// differ (a fresh nonce each time).
    ///
    /// # Errors
    /// [`SecretError::Unencryptable`].
    fn seal(&self, plaintext: &[u8], associated_data: &[u8]) -> Result<Vec<u8>, SecretError>;

    /// Opens what [`SecretBox::seal`] produced with the same associated data.
    ///
    /// # Errors
    /// [`SecretError::Undecryptable`] for any other key, associated data or altered bytes.
    fn open(&self, sealed: &[u8], associated_data: &[u8]) -> Result<Vec<u8>, SecretError>;
}

/// Why a configured key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("is not valid base64")]
    NotBase64,
    #[error("must decode to exactly 32 bytes")]
    WrongLength,
}

/// [`SecretBox`] with AES-256-GCM.
#[derive(Clone)]
pub struct AesGcmSecretBox {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for AesGcmSecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AesGcmSecretBox(<key>)")
    }
}

impl AesGcmSecretBox {
    /// A box over a base64-encoded 32-byte key (surrounding white space ignored).
    ///
    /// # Errors
    /// [`KeyError`] when the text is not base64 of exactly 32 bytes.
    pub fn from_base64(key: &str) -> Result<Self, KeyError> {
        let bytes = STANDARD
            .decode(key.trim())
            .map_err(|_| KeyError::NotBase64)?;
        Self::from_bytes(&bytes)
    }

    /// A box over a raw 32-byte key.
    ///
    /// # Errors
    /// [`KeyError::WrongLength`].
    pub fn from_bytes(key: &[u8]) -> Result<Self, KeyError> {
        if key.len() != KEY_LEN {
            return Err(KeyError::WrongLength);
        }
        let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| KeyError::WrongLength)?;
        Ok(Self { cipher })
    }

    /// A new random key, base64-encoded (what `secrets.key` expects).
    #[must_use]
    pub fn generate_key_base64() -> String {
        let key = Key::<Aes256Gcm>::generate();
        STANDARD.encode(key.as_slice())
    }
}

impl SecretBox for AesGcmSecretBox {
    fn seal(&self, plaintext: &[u8], associated_data: &[u8]) -> Result<Vec<u8>, SecretError> {
        let nonce = Nonce::<Aes256Gcm>::generate();
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: associated_data,
                },
            )
            .map_err(|_| SecretError::Unencryptable)?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(nonce.as_slice());
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    fn open(&self, sealed: &[u8], associated_data: &[u8]) -> Result<Vec<u8>, SecretError> {
        if sealed.len() < NONCE_LEN {
            return Err(SecretError::Undecryptable);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::<Aes256Gcm>::try_from(nonce).map_err(|_| SecretError::Undecryptable)?;
        self.cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: associated_data,
                },
            )
            .map_err(|_| SecretError::Undecryptable)
    }
}

/// A password in memory: its `Debug` never shows it, and it is never serialised.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Password(String);

impl Password {
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The clear text, for the one place that needs it (a login).
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed() -> AesGcmSecretBox {
        AesGcmSecretBox::from_base64(&AesGcmSecretBox::generate_key_base64()).expect("key")
    }

    #[test]
    fn a_sealed_secret_opens_with_the_same_associated_data() {
        let b = boxed();
        let sealed = b.seal(b"hunter2", b"inbox:1:smtp").expect("seal");
        assert_eq!(b.open(&sealed, b"inbox:1:smtp"), Ok(b"hunter2".to_vec()));
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(sealed.len(), NONCE_LEN + 7 + 16);
    }

    #[test]
    fn each_sealing_uses_a_fresh_nonce() {
        let b = boxed();
        let one = b.seal(b"same", b"ad").expect("seal");
        let two = b.seal(b"same", b"ad").expect("seal");
        assert_ne!(one, two);
        assert_ne!(one[..NONCE_LEN], two[..NONCE_LEN]);
    }

    #[test]
    fn other_associated_data_another_key_or_altered_bytes_do_not_open() {
        let b = boxed();
        let sealed = b.seal(b"secret", b"inbox:1:smtp").expect("seal");
        assert_eq!(
            b.open(&sealed, b"inbox:2:smtp"),
            Err(SecretError::Undecryptable)
        );
        assert_eq!(
            b.open(&sealed, b"inbox:1:imap"),
            Err(SecretError::Undecryptable)
        );
        assert_eq!(
            boxed().open(&sealed, b"inbox:1:smtp"),
            Err(SecretError::Undecryptable)
        );
        let mut altered = sealed.clone();
        if let Some(last) = altered.last_mut() {
            *last ^= 1;
        }
        assert_eq!(
            b.open(&altered, b"inbox:1:smtp"),
            Err(SecretError::Undecryptable)
        );
        assert_eq!(b.open(&sealed[..5], b""), Err(SecretError::Undecryptable));
    }

    #[test]
    fn keys_must_be_base64_of_32_bytes() {
        assert_eq!(
            AesGcmSecretBox::from_base64("not base64!").err(),
            Some(KeyError::NotBase64)
        );
        assert_eq!(
            AesGcmSecretBox::from_base64(&STANDARD.encode([0u8; 16])).err(),
            Some(KeyError::WrongLength)
        );
        assert!(
            AesGcmSecretBox::from_base64(&format!(" {}\n", STANDARD.encode([7u8; 32]))).is_ok()
        );
    }

    #[test]
    fn passwords_never_show_in_debug_output() {
        assert_eq!(
            format!("{:?}", Password::new("hunter2")),
            "Password(<redacted>)"
        );
    }
}
