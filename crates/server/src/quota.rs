//! Request quotas: token buckets per principal (a user, the root, a role
//! session) and per account, one per family of operations, so one client
//! cannot take the whole server. A call over its quota answers AWS's ThrottlingException, which the SDKs back off and retry.

use coffer_api::{ApiError, ErrorCode};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Families of operations, each with its own rate (AWS quotas its API the same
/// way: reads far above writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// Secrets Manager reads: GetSecretValue, DescribeSecret, ListSecrets, ...
    Read,
    /// Secrets Manager writes.
    Write,
    /// IAM and STS.
    Iam,
}

impl Family {
    fn label(self) -> &'static str {
        match self {
            Family::Read => "read",
            Family::Write => "write",
            Family::Iam => "iam",
        }
    }
}

/// Requests per second allowed per principal, per family (0: no limit). An
/// account gets four times that, shared by all its principals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuotaConfig {
    pub reads_per_second: f64,
    pub writes_per_second: f64,
    pub iam_per_second: f64,
}

impl QuotaConfig {
    /// No limits (dev mode's default: a local emulator).
    pub const UNLIMITED: QuotaConfig = QuotaConfig {
        reads_per_second: 0.0,
        writes_per_second: 0.0,
        iam_per_second: 0.0,
    };

    fn rate(&self, f: Family) -> f64 {
        match f {
            Family::Read => self.reads_per_second,
            Family::Write => self.writes_per_second,
            Family::Iam => self.iam_per_second,
        }
    }
}

/// One bucket: `tokens` refill at `rate` per second up to `rate` (a second's burst).
#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// Refills to `now`; is a token there?
    fn refill(&mut self, rate: f64, now: Instant) -> bool {
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * rate).min(rate);
        self.at = now;
        self.tokens >= 1.0
    }
}

/// A holder's buckets, one per family (indexed by `Family as usize`).
type Buckets = [Option<Bucket>; 3];

#[derive(Default)]
struct Tables {
    principals: HashMap<String, Buckets>,
    accounts: HashMap<String, Buckets>,
}

/// Where an unauthenticated caller is throttled from: its address, or for
/// IPv6 its /64 (one host holds a whole /64, and would otherwise get a fresh
/// budget per address).
pub(crate) fn network_of(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v) => v.to_string(),
        std::net::IpAddr::V6(v) => {
            if let Some(m) = v.to_ipv4_mapped() {
                return m.to_string();
            }
            let s = v.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

pub(crate) struct Quotas {
    cfg: QuotaConfig,
    tables: Mutex<Tables>,
}

/// Holders kept at most; past it the table starts over (every bucket full).
const MAX_BUCKETS: usize = 100_000;

/// The bucket of `family` for `id`, full when first seen (the key is only
/// allocated then: this runs on every request).
fn bucket<'a>(
    table: &'a mut HashMap<String, Buckets>,
    id: &str,
    family: Family,
    rate: f64,
    now: Instant,
) -> &'a mut Bucket {
    if !table.contains_key(id) {
        if table.len() >= MAX_BUCKETS {
            table.clear();
        }
        table.insert(id.to_string(), [None; 3]);
    }
    let slot = &mut table.get_mut(id).expect("inserted above")[family as usize];
    slot.get_or_insert(Bucket {
        tokens: rate,
        at: now,
    })
}

impl Quotas {
    pub(crate) fn new(cfg: QuotaConfig) -> Quotas {
        Quotas {
            cfg,
            tables: Mutex::default(),
        }
    }

    /// Takes one token for `principal` and one for `account` in `family`, or answers
    /// ThrottlingException (taking none).
    pub(crate) fn take(
        &self,
        family: Family,
        principal: &str,
        account: &str,
    ) -> Result<(), ApiError> {
        let rate = self.cfg.rate(family);
        if rate <= 0.0 {
            return Ok(());
        }
        let Ok(mut guard) = self.tables.lock() else {
            return Ok(());
        };
        let tables = &mut *guard;
        let now = Instant::now();
        let mine = bucket(&mut tables.principals, principal, family, rate, now);
        let theirs = bucket(&mut tables.accounts, account, family, rate * 4.0, now);
        // Both refilled either way, so a refusal leaves them consistent.
        let (a, b) = (mine.refill(rate, now), theirs.refill(rate * 4.0, now));
        if !(a && b) {
            metrics::counter!("coffer_throttled_total", "family" => family.label()).increment(1);
            return Err(ApiError::new(ErrorCode::Throttling, "Rate exceeded"));
        }
        mine.tokens -= 1.0;
        theirs.tokens -= 1.0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthenticated_callers_are_counted_by_network() {
        let a: std::net::IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: std::net::IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(network_of(a), network_of(b));
        assert_eq!(network_of("10.0.0.1".parse().unwrap()), "10.0.0.1");
        assert_eq!(network_of("::ffff:10.0.0.1".parse().unwrap()), "10.0.0.1");
    }

    #[test]
    fn a_key_is_throttled_past_its_rate_and_others_are_not() {
        let q = Quotas::new(QuotaConfig {
            reads_per_second: 5.0,
            writes_per_second: 1.0,
            iam_per_second: 0.0,
        });
        let takes = (0..20)
            .filter(|_| q.take(Family::Read, "A", "1").is_ok())
            .count();
        assert!((5..=6).contains(&takes), "{takes}");
        assert!(
            q.take(Family::Read, "B", "1").is_ok(),
            "another key has its own bucket"
        );
        assert!(
            q.take(Family::Write, "A", "1").is_ok(),
            "another family too"
        );
        assert!(q.take(Family::Iam, "A", "1").is_ok(), "0 means no limit");
        let e = q.take(Family::Read, "A", "1").unwrap_err();
        assert_eq!(e.code, ErrorCode::Throttling);
    }

    #[test]
    fn an_account_shares_four_keys_worth() {
        let q = Quotas::new(QuotaConfig {
            reads_per_second: 2.0,
            writes_per_second: 0.0,
            iam_per_second: 0.0,
        });
        let takes: usize = (0..10)
            .map(|k| {
                (0..5)
                    .filter(|_| q.take(Family::Read, &k.to_string(), "1").is_ok())
                    .count()
            })
            .sum();
        assert!((8..=9).contains(&takes), "{takes}");
    }
}
