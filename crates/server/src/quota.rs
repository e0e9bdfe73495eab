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
struct Bucket {
    tokens: f64,
    at: Instant,
}

pub(crate) struct Quotas {
    cfg: QuotaConfig,
    buckets: Mutex<HashMap<(String, Family), Bucket>>,
}

/// Buckets kept at most; past it the table starts over (every bucket full).
const MAX_BUCKETS: usize = 100_000;

impl Quotas {
    pub(crate) fn new(cfg: QuotaConfig) -> Quotas {
        Quotas {
            cfg,
            buckets: Mutex::default(),
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
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() >= MAX_BUCKETS {
            buckets.clear();
        }
        let now = Instant::now();
        let limits = [
            (format!("principal:{principal}"), rate),
            (format!("account:{account}"), rate * 4.0),
        ];
        let mut ok = true;
        for (id, r) in &limits {
            let b = buckets.entry((id.clone(), family)).or_insert(Bucket {
                tokens: *r,
                at: now,
            });
            b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * r).min(*r);
            b.at = now;
            ok &= b.tokens >= 1.0;
        }
        if !ok {
            metrics::counter!("coffer_throttled_total", "family" => family.label()).increment(1);
            return Err(ApiError::new(ErrorCode::Throttling, "Rate exceeded"));
        }
        for (id, _) in &limits {
            if let Some(b) = buckets.get_mut(&(id.clone(), family)) {
                b.tokens -= 1.0;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
