//! Random identifiers in AWS's forms: user, role, policy and key ids, access
//! keys, secret keys, account ids.

use coffer_crypto::SecretBytes;
use rand::Rng;

fn random_from(alphabet: &[u8], n: usize) -> String {
    let mut rng = rand::rngs::OsRng;
    (0..n)
        .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
        .collect()
}

/// `n` characters of AWS's id alphabet (upper-case base 32), for user, role,
/// policy and key ids.
pub fn random_id(n: usize) -> String {
    random_from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", n)
}

/// An access key id in AWS's form: `AKIA` and 16 base-32 characters.
pub fn new_access_key_id() -> String {
    format!("AKIA{}", random_id(16))
}

/// A 40-character secret access key.
pub fn new_secret_key() -> SecretBytes {
    SecretBytes::new(
        random_from(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+",
            40,
        )
        .into_bytes(),
    )
}

/// A random 12-digit account id that does not start with 0.
pub fn new_account_id() -> String {
    let mut rng = rand::rngs::OsRng;
    format!("{}{}", rng.gen_range(1..10), random_from(b"0123456789", 11))
}

pub fn valid_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let id = new_access_key_id();
        assert!(id.starts_with("AKIA") && id.len() == 20);
        assert_eq!(new_secret_key().len(), 40);
        let acct = new_account_id();
        assert!(valid_account_id(&acct) && !acct.starts_with('0'));
        assert!(!valid_account_id("12345"));
    }
}
