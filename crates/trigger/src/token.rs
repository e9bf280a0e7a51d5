//! Trigger ids and tokens: generation, hashing and constant-time comparison.
//!
//! A token is 256 random bits, shown to the user once. Only its SHA-256 is stored, so reading
//! the `RedeployTrigger` (or a backup of etcd) does not give the power to roll the workload.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Random bytes in a token: 256 bits.
pub const TOKEN_BYTES: usize = 32;

/// Why an id or token could not be generated.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed: {0}")]
pub struct RandomError(getrandom::Error);

/// A fresh secret token. `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// 256 bits from the operating system's CSPRNG, URL-safe base64 without padding (43 chars).
    pub fn generate() -> Result<Self, RandomError> {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes).map_err(RandomError)?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The token text, for the one time it is shown.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash that is stored instead of the token.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// The SHA-256 of a token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenHash([u8; 32]);

/// A stored hash that is not 64 hex characters.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("token-sha256 is not 64 hexadecimal characters")]
pub struct BadHash;

impl TokenHash {
    /// Hashes a presented token; any string, so a caller can always hash before it compares.
    pub fn of(presented: &str) -> Self {
        Self(Sha256::digest(presented.as_bytes()).into())
    }

    /// Lowercase hex, as stored (after `sha256:`) in `spec.tokenHash`.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses the stored hex form.
    pub fn from_hex(text: &str) -> Result<Self, BadHash> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| BadHash)?;
        Ok(Self(bytes))
    }

    /// Constant-time equality: the time taken does not depend on where the hashes differ.
    pub fn matches(&self, other: &TokenHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The hash is not the secret, but there is no reason to spread it around either.
        write!(f, "TokenHash({}…)", &self.to_hex()[..8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_has_256_bits_and_is_url_safe() {
        let t = Token::generate().unwrap();
        assert_eq!(t.expose().len(), 43);
        assert!(t.expose().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(URL_SAFE_NO_PAD.decode(t.expose()).unwrap().len(), TOKEN_BYTES);
        assert_ne!(t, Token::generate().unwrap());
    }

    #[test]
    fn debug_never_shows_the_token() {
        let t = Token::generate().unwrap();
        assert!(!format!("{t:?}").contains(t.expose()));
    }

    #[test]
    fn hash_round_trips_through_hex_and_matches_only_its_token() {
        let t = Token::generate().unwrap();
        let stored = TokenHash::from_hex(&t.hash().to_hex()).unwrap();
        assert!(stored.matches(&TokenHash::of(t.expose())));
        assert!(!stored.matches(&TokenHash::of(&format!("{}x", t.expose()))));
        assert!(!stored.matches(&TokenHash::of("")));
        // The SHA-256 of "abc", from FIPS 180-2.
        assert_eq!(
            TokenHash::of("abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn bad_stored_hashes_are_refused() {
        assert_eq!(TokenHash::from_hex("abc"), Err(BadHash));
        assert_eq!(TokenHash::from_hex(&"zz".repeat(32)), Err(BadHash));
    }
}
