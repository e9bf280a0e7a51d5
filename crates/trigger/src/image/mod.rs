//! Image references ([`reference`]: the distribution reference grammar, OCI digests) and the
//! patterns a `set-image` trigger restricts them to ([`pattern`]).

pub mod pattern;
pub mod reference;

pub use pattern::ImagePattern;
pub use reference::{Digest, DigestAlgorithm, ImageError, ImageRef};

#[cfg(test)]
mod tests;
