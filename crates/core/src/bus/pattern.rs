//! EventBridge's event-pattern language: parsed once when a rule is put, then
//! matched against every event.
//!
//! A pattern is an object whose keys name fields of the event. A key maps to a
//! nested pattern (an object) or to an array of matchers, any of which may
//! match. Keys are ANDed; `$or` takes a list of patterns, any of which must
//! match. Arrays in the event are flattened, as EventBridge does: a matcher
//! matches a field holding an array when it matches any element, and a nested
//! pattern looks into every object of an array. Matchers are exact values
//! (strings, numbers, booleans, null), `prefix`, `suffix` (each optionally
//! `equals-ignore-case`), `equals-ignore-case`, `wildcard`, `anything-but`
//! (a value, a list, or a `prefix`/`suffix`/`equals-ignore-case`/`wildcard`),
//! `numeric` ranges, `exists` and `cidr`. Comparison operators match leaves
//! (strings, numbers, booleans, null), never objects.

use serde_json::{Map, Value};
use std::net::IpAddr;

/// A pattern that is not valid, with EventBridge's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl Invalid {
    /// The message of `InvalidEventPatternException`.
    pub fn message(&self) -> String {
        format!("Event pattern is not valid. Reason: {}", self.0)
    }
}

fn invalid<T>(reason: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid(reason.into()))
}

/// Numeric matching's range, as EventBridge documents it.
const NUMERIC_LIMIT: f64 = 5.0e9;

#[derive(Debug, Clone)]
pub struct Pattern(Obj);

#[derive(Debug, Clone)]
struct Obj {
    fields: Vec<(String, Field)>,
    /// Each `$or`: any of its patterns.
    ors: Vec<Vec<Obj>>,
}

#[derive(Debug, Clone)]
enum Field {
    Nested(Obj),
    Leaf(Vec<Matcher>),
}

#[derive(Debug, Clone)]
enum Matcher {
    Exact(Value),
    Prefix(String, bool),
    Suffix(String, bool),
    IgnoreCase(String),
    Wildcard(String),
    AnythingBut(AnythingBut),
    Numeric(Vec<(Cmp, f64)>),
    Exists(bool),
    Cidr(IpAddr, u8),
}

#[derive(Debug, Clone)]
enum AnythingBut {
    Values(Vec<Value>),
    Prefix(String),
    Suffix(String),
    IgnoreCase(Vec<String>),
    Wildcard(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Pattern {
    /// Parses and checks a pattern's JSON text.
    pub fn parse(text: &str) -> Result<Pattern, Invalid> {
        let v: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => return invalid(format!("Filter is not valid JSON: {e}")),
        };
        match &v {
            Value::Object(m) => Ok(Pattern(obj(m)?)),
            _ => invalid("Filter is not an object"),
        }
    }

    /// Whether `event` matches.
    pub fn matches(&self, event: &Value) -> bool {
        self.0.matches(&[event])
    }

    /// Conditions every matching event meets that an index can look up (the
    /// fields ANDed at every level, outside `$or`).
    pub fn anchors(&self) -> Vec<Anchor> {
        let mut out = Vec::new();
        self.0.anchors(&mut Vec::new(), &mut out);
        out
    }
}

/// A field whose matchers are all exact strings or case-sensitive prefixes:
/// a matching event holds, at `path` (arrays flattened, as matching does), a
/// string equal to one of `exact` or starting with one of `prefixes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub path: Vec<String>,
    pub exact: Vec<String>,
    pub prefixes: Vec<String>,
}

/// The values a pattern's field at `path` sees in `event`, arrays flattened.
pub fn values_at<'a>(event: &'a Value, path: &[String]) -> Vec<&'a Value> {
    let mut here = vec![event];
    for k in path {
        here = children(&here, k);
    }
    here
}

impl Obj {
    fn anchors(&self, path: &mut Vec<String>, out: &mut Vec<Anchor>) {
        for (k, f) in &self.fields {
            path.push(k.clone());
            match f {
                Field::Nested(o) => o.anchors(path, out),
                Field::Leaf(ms) => {
                    let mut a = Anchor {
                        path: path.clone(),
                        exact: Vec::new(),
                        prefixes: Vec::new(),
                    };
                    let indexable = ms.iter().all(|m| match m {
                        Matcher::Exact(Value::String(s)) => {
                            a.exact.push(s.clone());
                            true
                        }
                        Matcher::Prefix(p, false) => {
                            a.prefixes.push(p.clone());
                            true
                        }
                        _ => false,
                    });
                    if indexable {
                        out.push(a);
                    }
                }
            }
            path.pop();
        }
    }
}

fn obj(m: &Map<String, Value>) -> Result<Obj, Invalid> {
    if m.is_empty() {
        return invalid("Empty objects are not allowed");
    }
    let mut o = Obj {
        fields: Vec::new(),
        ors: Vec::new(),
    };
    for (k, v) in m {
        if k == "$or" {
            let Value::Array(alts) = v else {
                return invalid("Value of $or must be an array.");
            };
            if alts.len() < 2 {
                return invalid("Value of $or must have at least 2 items.");
            }
            let alts = alts
                .iter()
                .map(|a| match a {
                    Value::Object(m) => obj(m),
                    _ => invalid("Value of $or must be an array of objects."),
                })
                .collect::<Result<_, _>>()?;
            o.ors.push(alts);
            continue;
        }
        let field = match v {
            Value::Object(m) => Field::Nested(obj(m)?),
            Value::Array(items) if items.is_empty() => {
                return invalid(format!("Empty arrays are not allowed at \"{k}\""))
            }
            Value::Array(items) => Field::Leaf(
                items
                    .iter()
                    .map(|i| matcher(k, i))
                    .collect::<Result<_, _>>()?,
            ),
            other => {
                return invalid(format!(
                    "\"{k}\" must be an object or an array, not {other}"
                ))
            }
        };
        o.fields.push((k.clone(), field));
    }
    Ok(o)
}

fn matcher(key: &str, item: &Value) -> Result<Matcher, Invalid> {
    let Value::Object(m) = item else {
        return match item {
            Value::Array(_) => invalid(format!("Arrays are not allowed as values of \"{key}\"")),
            v => Ok(Matcher::Exact(v.clone())),
        };
    };
    if m.len() != 1 {
        return invalid(format!(
            "A filter at \"{key}\" must hold exactly one operator"
        ));
    }
    let (op, arg) = m.iter().next().expect("one entry");
    match op.as_str() {
        "prefix" => affix(arg, "prefix").map(|(s, ic)| Matcher::Prefix(s, ic)),
        "suffix" => affix(arg, "suffix").map(|(s, ic)| Matcher::Suffix(s, ic)),
        "equals-ignore-case" => string(arg, op).map(|s| Matcher::IgnoreCase(s.to_lowercase())),
        "wildcard" => wildcard(arg).map(Matcher::Wildcard),
        "anything-but" => anything_but(arg).map(Matcher::AnythingBut),
        "numeric" => numeric(arg).map(Matcher::Numeric),
        "exists" => match arg {
            Value::Bool(b) => Ok(Matcher::Exists(*b)),
            _ => invalid("exists match pattern must be either true or false."),
        },
        "cidr" => cidr(arg),
        other => invalid(format!("Unrecognized match type {other}")),
    }
}

fn string(arg: &Value, op: &str) -> Result<String, Invalid> {
    match arg {
        Value::String(s) => Ok(s.clone()),
        _ => invalid(format!("{op} match pattern must be a string")),
    }
}

/// `prefix`/`suffix`: a string, or `{"equals-ignore-case": string}`.
fn affix(arg: &Value, op: &str) -> Result<(String, bool), Invalid> {
    match arg {
        Value::String(s) => Ok((s.clone(), false)),
        Value::Object(m) if m.len() == 1 => match m.get("equals-ignore-case") {
            Some(Value::String(s)) => Ok((s.to_lowercase(), true)),
            _ => invalid(format!("Unsupported {op} pattern")),
        },
        _ => invalid(format!("{op} match pattern must be a string")),
    }
}

fn wildcard(arg: &Value) -> Result<String, Invalid> {
    let s = string(arg, "wildcard")?;
    let mut chars = s.chars().peekable();
    let mut star = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('*' | '\\') => star = false,
                _ => return invalid("Invalid escape character in wildcard pattern"),
            },
            '*' if star => return invalid("Consecutive wildcard characters are not allowed"),
            '*' => star = true,
            _ => star = false,
        }
    }
    Ok(s)
}

fn anything_but(arg: &Value) -> Result<AnythingBut, Invalid> {
    let strings = |v: &Value, op: &str| -> Result<Vec<String>, Invalid> {
        match v {
            Value::String(s) => Ok(vec![s.clone()]),
            Value::Array(a) if !a.is_empty() => a.iter().map(|i| string(i, op)).collect(),
            _ => invalid(format!(
                "Inside anything-but/{op}, must provide a string or an array of strings"
            )),
        }
    };
    match arg {
        Value::String(_) | Value::Number(_) => Ok(AnythingBut::Values(vec![arg.clone()])),
        Value::Array(a) => {
            let all_strings = a.iter().all(Value::is_string);
            let all_numbers = a.iter().all(Value::is_number);
            if a.is_empty() || !(all_strings || all_numbers) {
                return invalid("Inside anything but list, start|null|boolean is not supported.");
            }
            Ok(AnythingBut::Values(a.clone()))
        }
        Value::Object(m) if m.len() == 1 => {
            let (op, v) = m.iter().next().expect("one entry");
            match op.as_str() {
                "prefix" => string(v, "anything-but/prefix").map(AnythingBut::Prefix),
                "suffix" => string(v, "anything-but/suffix").map(AnythingBut::Suffix),
                "equals-ignore-case" => Ok(AnythingBut::IgnoreCase(
                    strings(v, op)?.iter().map(|s| s.to_lowercase()).collect(),
                )),
                "wildcard" => {
                    let w = strings(v, op)?;
                    for p in &w {
                        wildcard(&Value::String(p.clone()))?;
                    }
                    Ok(AnythingBut::Wildcard(w))
                }
                other => invalid(format!("Unsupported anything-but pattern: {other}")),
            }
        }
        _ => invalid("Value of anything-but must be an array or single string/number value."),
    }
}

fn numeric(arg: &Value) -> Result<Vec<(Cmp, f64)>, Invalid> {
    let Value::Array(items) = arg else {
        return invalid("Value of numeric must be an array.");
    };
    if items.is_empty() || items.len() % 2 != 0 || items.len() > 4 {
        return invalid("Value of numeric must be an array of one or two comparisons.");
    }
    let mut out = Vec::new();
    for pair in items.chunks(2) {
        let op = match pair[0].as_str() {
            Some("=") => Cmp::Eq,
            Some("<") => Cmp::Lt,
            Some("<=") => Cmp::Le,
            Some(">") => Cmp::Gt,
            Some(">=") => Cmp::Ge,
            _ => return invalid(format!("Unrecognized numeric range operator: {}", pair[0])),
        };
        let Some(n) = pair[1].as_f64() else {
            return invalid(format!("Value of {} must be numeric", pair[0]));
        };
        if !(-NUMERIC_LIMIT..=NUMERIC_LIMIT).contains(&n) {
            return invalid("Value of numeric is out of range: must be between -5.0e9 and 5.0e9");
        }
        out.push((op, n));
    }
    let lower = |c: Cmp| matches!(c, Cmp::Gt | Cmp::Ge);
    match out.as_slice() {
        [_] => Ok(out),
        [(Cmp::Eq, _), _] | [_, (Cmp::Eq, _)] => {
            invalid("Bad numeric range: = takes no second comparison")
        }
        [(a, x), (b, y)] if lower(*a) != lower(*b) => {
            let (lo, hi) = if lower(*a) { (x, y) } else { (y, x) };
            if lo < hi {
                Ok(out)
            } else {
                invalid("Bad numeric range: the bottom must be less than the top")
            }
        }
        _ => invalid("Bad numeric range: give one bottom and one top"),
    }
}

fn cidr(arg: &Value) -> Result<Matcher, Invalid> {
    let s = string(arg, "cidr")?;
    let bad = || invalid(format!("Malformed CIDR, one '/' required: {s}"));
    let Some((ip, bits)) = s.split_once('/') else {
        return bad();
    };
    let (Ok(ip), Ok(bits)) = (ip.parse::<IpAddr>(), bits.parse::<u8>()) else {
        return bad();
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if bits > max {
        return bad();
    }
    Ok(Matcher::Cidr(ip, bits))
}

impl Obj {
    fn matches(&self, here: &[&Value]) -> bool {
        self.fields.iter().all(|(k, f)| {
            with_children(here, k, |values| match f {
                Field::Nested(o) => o.matches(values),
                Field::Leaf(ms) => ms.iter().any(|m| m.matches(values)),
            })
        }) && self
            .ors
            .iter()
            .all(|alts| alts.iter().any(|a| a.matches(here)))
    }
}

/// Calls `f` with the values of field `k` in `here`. Every rule looks at every
/// event, so the common case (one object, a field that is no array) borrows
/// instead of collecting.
fn with_children<R>(here: &[&Value], k: &str, f: impl FnOnce(&[&Value]) -> R) -> R {
    if let [one] = here {
        match one.get(k) {
            None => return f(&[]),
            Some(c) if !c.is_array() => return f(std::slice::from_ref(&c)),
            Some(_) => {}
        }
    }
    f(&children(here, k))
}

/// The values of field `k` of every object in `here`, arrays flattened.
fn children<'a>(here: &[&'a Value], k: &str) -> Vec<&'a Value> {
    fn flatten<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
        match v {
            Value::Array(a) => a.iter().for_each(|i| flatten(i, out)),
            v => out.push(v),
        }
    }
    let mut out = Vec::new();
    for v in here {
        if let Some(c) = v.get(k) {
            flatten(c, &mut out);
        }
    }
    out
}

impl Matcher {
    fn matches(&self, values: &[&Value]) -> bool {
        match self {
            // Present means a leaf: an object there is not what `exists` asks
            // about, and an empty array holds nothing.
            Matcher::Exists(true) => values.iter().any(|v| !v.is_object()),
            Matcher::Exists(false) => values.is_empty(),
            m => values.iter().any(|v| !v.is_object() && m.matches_one(v)),
        }
    }

    fn matches_one(&self, v: &Value) -> bool {
        let s = v.as_str();
        match self {
            Matcher::Exact(want) => same(want, v),
            Matcher::Prefix(p, false) => s.is_some_and(|s| s.starts_with(p.as_str())),
            Matcher::Prefix(p, true) => s.is_some_and(|s| s.to_lowercase().starts_with(p.as_str())),
            Matcher::Suffix(p, false) => s.is_some_and(|s| s.ends_with(p.as_str())),
            Matcher::Suffix(p, true) => s.is_some_and(|s| s.to_lowercase().ends_with(p.as_str())),
            Matcher::IgnoreCase(p) => s.is_some_and(|s| s.to_lowercase() == *p),
            Matcher::Wildcard(p) => s.is_some_and(|s| glob(p, s)),
            Matcher::AnythingBut(a) => a.allows(v),
            Matcher::Numeric(cmps) => v.as_f64().is_some_and(|n| {
                cmps.iter().all(|(c, x)| match c {
                    Cmp::Eq => (n - x).abs() < f64::EPSILON,
                    Cmp::Lt => n < *x,
                    Cmp::Le => n <= *x,
                    Cmp::Gt => n > *x,
                    Cmp::Ge => n >= *x,
                })
            }),
            Matcher::Cidr(net, bits) => s
                .and_then(|s| s.parse::<IpAddr>().ok())
                .is_some_and(|ip| in_net(ip, *net, *bits)),
            Matcher::Exists(_) => unreachable!("handled by matches"),
        }
    }
}

impl AnythingBut {
    fn allows(&self, v: &Value) -> bool {
        let s = v.as_str();
        match self {
            AnythingBut::Values(no) => {
                (v.is_string() || v.is_number()) && !no.iter().any(|n| same(n, v))
            }
            AnythingBut::Prefix(p) => s.is_some_and(|s| !s.starts_with(p.as_str())),
            AnythingBut::Suffix(p) => s.is_some_and(|s| !s.ends_with(p.as_str())),
            AnythingBut::IgnoreCase(no) => s.is_some_and(|s| !no.contains(&s.to_lowercase())),
            AnythingBut::Wildcard(no) => s.is_some_and(|s| !no.iter().any(|p| glob(p, s))),
        }
    }
}

/// Exact equality; numbers by value (`300` is `3.0e2`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// `*` matches any run of characters; `\*` and `\\` are literal.
fn glob(pattern: &str, s: &str) -> bool {
    #[derive(PartialEq)]
    enum Tok {
        Star,
        Char(char),
    }
    let mut toks = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        toks.push(match c {
            '\\' => Tok::Char(chars.next().unwrap_or('\\')),
            '*' => Tok::Star,
            c => Tok::Char(c),
        });
    }
    let text: Vec<char> = s.chars().collect();
    // Greedy matching with backtracking to the last star: linear for patterns
    // without stars, O(n·m) at worst.
    let (mut t, mut p) = (0, 0);
    let mut back: Option<(usize, usize)> = None;
    while t < text.len() {
        match toks.get(p) {
            Some(Tok::Char(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            Some(Tok::Star) => {
                back = Some((p, t));
                p += 1;
            }
            _ => match back {
                Some((bp, bt)) => {
                    p = bp + 1;
                    t = bt + 1;
                    back = Some((bp, bt + 1));
                }
                None => return false,
            },
        }
    }
    toks[p..].iter().all(|t| *t == Tok::Star)
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
#[path = "pattern_tests.rs"]
mod tests;
