//! Condition operators and how each compares a request's values with a policy's.

use crate::glob;
use crate::vars::{escape_text, substitute};
use crate::Context;
use std::borrow::Cow;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    ArnEquals,
    ArnLike,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    AnyValue,
    AllValues,
}

/// A condition operator: a base comparison, possibly negated (`StringNotEquals`,
/// `NotIpAddress`, `NumericNotEquals`, ...), possibly `...IfExists`, possibly
/// qualified by `ForAnyValue:` / `ForAllValues:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub base: Base,
    pub negated: bool,
    pub if_exists: bool,
    pub set: Option<SetOp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub op: Operator,
    pub key: String,
    pub values: Vec<String>,
}

const BASES: &[(&str, Base, bool)] = &[
    ("StringEquals", Base::StringEquals, false),
    ("StringNotEquals", Base::StringEquals, true),
    (
        "StringEqualsIgnoreCase",
        Base::StringEqualsIgnoreCase,
        false,
    ),
    (
        "StringNotEqualsIgnoreCase",
        Base::StringEqualsIgnoreCase,
        true,
    ),
    ("StringLike", Base::StringLike, false),
    ("StringNotLike", Base::StringLike, true),
    ("NumericEquals", Base::NumericEquals, false),
    ("NumericNotEquals", Base::NumericEquals, true),
    ("NumericLessThan", Base::NumericLessThan, false),
    ("NumericLessThanEquals", Base::NumericLessThanEquals, false),
    ("NumericGreaterThan", Base::NumericGreaterThan, false),
    (
        "NumericGreaterThanEquals",
        Base::NumericGreaterThanEquals,
        false,
    ),
    ("DateEquals", Base::DateEquals, false),
    ("DateNotEquals", Base::DateEquals, true),
    ("DateLessThan", Base::DateLessThan, false),
    ("DateLessThanEquals", Base::DateLessThanEquals, false),
    ("DateGreaterThan", Base::DateGreaterThan, false),
    ("DateGreaterThanEquals", Base::DateGreaterThanEquals, false),
    ("Bool", Base::Bool, false),
    ("BinaryEquals", Base::BinaryEquals, false),
    ("IpAddress", Base::IpAddress, false),
    ("NotIpAddress", Base::IpAddress, true),
    ("ArnEquals", Base::ArnEquals, false),
    ("ArnNotEquals", Base::ArnEquals, true),
    ("ArnLike", Base::ArnLike, false),
    ("ArnNotLike", Base::ArnLike, true),
    ("Null", Base::Null, false),
];

impl Operator {
    pub fn parse(name: &str) -> Option<Operator> {
        let (set, rest) = if let Some(r) = name.strip_prefix("ForAnyValue:") {
            (Some(SetOp::AnyValue), r)
        } else if let Some(r) = name.strip_prefix("ForAllValues:") {
            (Some(SetOp::AllValues), r)
        } else {
            (None, name)
        };
        let (if_exists, rest) = match rest.strip_suffix("IfExists") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let &(_, base, negated) = BASES.iter().find(|(n, _, _)| *n == rest)?;
        if base == Base::Null && (if_exists || set.is_some()) {
            return None;
        }
        Some(Operator {
            base,
            negated,
            if_exists,
            set,
        })
    }

    /// Rejects policy values the operator can never compare (AWS refuses such
    /// policies rather than letting them silently never match).
    pub fn check_values(&self, values: &[String]) -> Result<(), String> {
        let bad = |what: &str, v: &str| Err(format!("'{v}' is not a valid {what}."));
        for v in values {
            if v.contains("${") {
                continue;
            }
            match self.base {
                b if is_numeric(b) && v.parse::<f64>().is_err() => return bad("number", v),
                b if is_date(b) && parse_date(v).is_none() => return bad("date", v),
                Base::Bool | Base::Null if v != "true" && v != "false" => return bad("boolean", v),
                Base::IpAddress if parse_cidr(v).is_none() => return bad("IP address or CIDR", v),
                _ => {}
            }
        }
        Ok(())
    }
}

fn is_numeric(b: Base) -> bool {
    matches!(
        b,
        Base::NumericEquals
            | Base::NumericLessThan
            | Base::NumericLessThanEquals
            | Base::NumericGreaterThan
            | Base::NumericGreaterThanEquals
    )
}

fn is_date(b: Base) -> bool {
    matches!(
        b,
        Base::DateEquals
            | Base::DateLessThan
            | Base::DateLessThanEquals
            | Base::DateGreaterThan
            | Base::DateGreaterThanEquals
    )
}

impl Condition {
    /// Is the condition satisfied by `ctx`?
    pub fn holds(&self, ctx: &Context) -> bool {
        let found = ctx.get(&self.key);
        if self.op.base == Base::Null {
            let absent = found.is_none_or(<[std::string::String]>::is_empty);
            return self.values.iter().any(|v| (v == "true") == absent);
        }
        let request: &[String] = match found {
            Some(v) if !v.is_empty() => v,
            _ => {
                // A missing key: IfExists and ForAllValues are satisfied, negated
                // operators are satisfied, everything else fails.
                return self.op.if_exists
                    || self.op.set == Some(SetOp::AllValues)
                    || (self.op.negated && self.op.set.is_none());
            }
        };
        let policy: Vec<Cow<'_, str>> = self
            .values
            .iter()
            .filter_map(|v| substitute(v, ctx))
            .collect();
        let one = |r: &String| self.value_ok(r, &policy);
        match self.op.set {
            Some(SetOp::AllValues) => request.iter().all(one),
            Some(SetOp::AnyValue) => request.iter().any(one),
            // A single-valued operator on several values: a positive one needs one
            // value to match, a negated one needs all of them to differ.
            None if self.op.negated => request.iter().all(one),
            None => request.iter().any(one),
        }
    }

    /// One request value against the policy's values: a positive operator needs
    /// any policy value to match, a negated one none of them.
    fn value_ok(&self, r: &str, policy: &[Cow<'_, str>]) -> bool {
        let hit = policy.iter().any(|p| compare(self.op.base, r, p));
        hit != self.op.negated
    }
}

fn compare(base: Base, request: &str, policy: &str) -> bool {
    match base {
        Base::StringEquals | Base::BinaryEquals => request == policy,
        Base::StringEqualsIgnoreCase => request.to_lowercase() == policy.to_lowercase(),
        Base::StringLike => glob::matches(policy, &escape_text(request), false),
        Base::ArnEquals | Base::ArnLike => glob::arn_matches(policy, &escape_text(request)),
        Base::Bool => request.eq_ignore_ascii_case(policy),
        Base::IpAddress => match (request.parse::<IpAddr>(), parse_cidr(policy)) {
            (Ok(ip), Some(net)) => net.contains(ip),
            _ => false,
        },
        b if is_numeric(b) => match (request.parse::<f64>(), policy.parse::<f64>()) {
            (Ok(r), Ok(p)) => ordered(b, r.partial_cmp(&p)),
            _ => false,
        },
        b if is_date(b) => match (parse_date(request), parse_date(policy)) {
            (Some(r), Some(p)) => ordered(b, r.partial_cmp(&p)),
            _ => false,
        },
        _ => false,
    }
}

fn ordered(b: Base, o: Option<std::cmp::Ordering>) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let Some(o) = o else { return false };
    match b {
        Base::NumericEquals | Base::DateEquals => o == Equal,
        Base::NumericLessThan | Base::DateLessThan => o == Less,
        Base::NumericLessThanEquals | Base::DateLessThanEquals => o != Greater,
        Base::NumericGreaterThan | Base::DateGreaterThan => o == Greater,
        _ => o != Less,
    }
}

/// A CIDR block (or a bare address, as a /32 or /128).
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), self.bits),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), self.bits),
            _ => false,
        }
    }
}

fn prefix_eq(n: &[u8], a: &[u8], bits: u8) -> bool {
    let full = (bits / 8) as usize;
    if n[..full] != a[..full] {
        return false;
    }
    let rem = bits % 8;
    rem == 0 || {
        let mask = 0xffu8 << (8 - rem);
        n[full] & mask == a[full] & mask
    }
}

pub fn parse_cidr(s: &str) -> Option<Cidr> {
    let (addr, bits) = match s.split_once('/') {
        Some((a, b)) => (a, Some(b.parse::<u8>().ok()?)),
        None => (s, None),
    };
    let net: IpAddr = addr.parse().ok()?;
    let max = if net.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some(Cidr { net, bits })
}

/// ISO 8601 (`2026-01-01`, `2026-01-01T12:00:00Z`, with fraction or offset) or
/// epoch seconds, as seconds since the epoch.
pub fn parse_date(s: &str) -> Option<f64> {
    if let Ok(n) = s.parse::<f64>() {
        return Some(n);
    }
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&d)
    {
        return None;
    }
    let mut secs = days_from_civil(y, m, d) as f64 * 86400.0;
    if b.len() == 10 {
        return Some(secs);
    }
    if !matches!(b.get(10), Some(b'T' | b't')) || b.get(13) != Some(&b':') {
        return None;
    }
    let (hh, mm) = (num(11..13)?, num(14..16)?);
    let mut i = 16;
    let mut ss = 0.0;
    if b.get(16) == Some(&b':') {
        let end = s[17..]
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .map_or(s.len(), |e| e + 17);
        ss = s[17..end].parse().ok()?;
        i = end;
    }
    secs += (hh * 3600 + mm * 60) as f64 + ss;
    match &s[i..] {
        "Z" | "z" => Some(secs),
        off if off.len() == 6 && (off.starts_with('+') || off.starts_with('-')) => {
            let oh: i64 = off[1..3].parse().ok()?;
            let om: i64 = off[4..6].parse().ok()?;
            let delta = (oh * 3600 + om * 60) as f64;
            Some(if off.starts_with('+') {
                secs - delta
            } else {
                secs + delta
            })
        }
        _ => None,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's method).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(parse_date("2020-01-01T00:00:00Z"), Some(1_577_836_800.0));
        assert_eq!(parse_date("2020-01-01"), Some(1_577_836_800.0));
        assert_eq!(
            parse_date("2020-01-01T01:00:00+01:00"),
            Some(1_577_836_800.0)
        );
        assert_eq!(parse_date("2020-01-01T00:00:00.5Z"), Some(1_577_836_800.5));
        assert_eq!(parse_date("1577836800"), Some(1_577_836_800.0));
        assert_eq!(parse_date("2020-13-01"), None);
        assert_eq!(parse_date("yesterday"), None);
    }

    #[test]
    fn cidrs() {
        let net = parse_cidr("203.0.113.0/24").unwrap();
        assert!(net.contains("203.0.113.9".parse().unwrap()));
        assert!(!net.contains("203.0.114.9".parse().unwrap()));
        let net = parse_cidr("2001:db8::/32").unwrap();
        assert!(net.contains("2001:db8:1::1".parse().unwrap()));
        assert!(!net.contains("203.0.113.9".parse().unwrap()));
        assert!(parse_cidr("10.0.0.0/33").is_none());
        assert!(parse_cidr("127.0.0.1")
            .unwrap()
            .contains("127.0.0.1".parse().unwrap()));
    }
}
