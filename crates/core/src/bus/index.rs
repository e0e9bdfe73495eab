//! Which targets an event may match, found without matching it against every
//! target: with a thousand rules, matching each event against each rule cost
//! a fifth of the write throughput (bench/EVENTS_RESULTS.md).
//!
//! Each target is filed under its account and region, then under one anchor
//! of its pattern (a field that must hold one of some exact strings or start
//! with one of some prefixes; see `Pattern::anchors`), the anchor fewest other
//! targets of the account share: `source` is in almost every pattern and tells
//! little, a secret's name tells a lot. An event's candidates are the targets
//! filed under the values it holds at the indexed fields, and those without an
//! anchor; the matcher then matches it against those only. Anchors are
//! conditions every match meets, so no target that matches is left out.

use super::matcher::{Interest, Seen};
use super::pattern::{values_at, Anchor};
use std::collections::{BTreeSet, HashMap};

/// The targets of every account and region; a target is its position in the
/// list the index was built from.
#[derive(Default)]
pub(super) struct Index {
    scopes: HashMap<String, HashMap<String, Scope>>,
}

#[derive(Default)]
struct Scope {
    paths: Vec<PathIndex>,
    unanchored: Vec<usize>,
}

struct PathIndex {
    path: Vec<String>,
    exact: HashMap<String, Vec<usize>>,
    prefixes: HashMap<String, Vec<usize>>,
    /// The lengths of `prefixes`' keys: a value is looked up at each.
    prefix_lens: BTreeSet<usize>,
}

/// A scope's targets with their anchors.
type Members = Vec<(usize, Vec<Anchor>)>;

/// (path, is a prefix, value): how many targets name it.
type Popularity<'a> = HashMap<(&'a [String], bool, &'a str), usize>;

impl Index {
    pub(super) fn build(interests: &[&Interest]) -> Index {
        let mut groups: HashMap<(&str, &str), Members> = HashMap::new();
        for (i, it) in interests.iter().enumerate() {
            // A disabled target or one without a pattern matches nothing.
            let Some(p) = it.pattern.as_ref().filter(|_| it.enabled) else {
                continue;
            };
            groups
                .entry((&it.account, &it.region))
                .or_default()
                .push((i, p.anchors()));
        }
        let mut idx = Index::default();
        for ((account, region), members) in &groups {
            let mut popularity = Popularity::new();
            for (_, anchors) in members {
                for a in anchors {
                    for (prefix, v) in keys(a) {
                        *popularity.entry((&a.path, prefix, v)).or_default() += 1;
                    }
                }
            }
            let cost = |a: &Anchor| -> usize {
                keys(a)
                    .map(|(prefix, v)| popularity[&(a.path.as_slice(), prefix, v)])
                    .sum()
            };
            let mut scope = Scope::default();
            for (i, anchors) in members {
                match anchors.iter().min_by_key(|a| cost(a)) {
                    Some(a) => scope.file(*i, a),
                    None => scope.unanchored.push(*i),
                }
            }
            idx.scopes
                .entry((*account).to_string())
                .or_default()
                .insert((*region).to_string(), scope);
        }
        idx
    }

    /// The targets that may match `e` (a superset of those that do), in
    /// ascending order, each once.
    pub(super) fn candidates(&self, e: &Seen) -> Vec<usize> {
        let (Some(event), Some(scope)) = (
            e.event.as_ref(),
            self.scopes
                .get(&e.account_id)
                .and_then(|r| r.get(&e.region)),
        ) else {
            return Vec::new();
        };
        let mut out = scope.unanchored.clone();
        for p in &scope.paths {
            for v in values_at(event, &p.path) {
                let Some(v) = v.as_str() else { continue };
                if let Some(ts) = p.exact.get(v) {
                    out.extend(ts);
                }
                for &n in p.prefix_lens.iter().take_while(|n| **n <= v.len()) {
                    if let Some(ts) = v.get(..n).and_then(|head| p.prefixes.get(head)) {
                        out.extend(ts);
                    }
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// An anchor's lookup keys: (is a prefix, value).
fn keys(a: &Anchor) -> impl Iterator<Item = (bool, &str)> {
    let exact = a.exact.iter().map(|v| (false, v.as_str()));
    exact.chain(a.prefixes.iter().map(|v| (true, v.as_str())))
}

impl Scope {
    fn file(&mut self, target: usize, a: &Anchor) {
        if !self.paths.iter().any(|p| p.path == a.path) {
            self.paths.push(PathIndex {
                path: a.path.clone(),
                exact: HashMap::new(),
                prefixes: HashMap::new(),
                prefix_lens: BTreeSet::new(),
            });
        }
        let Some(p) = self.paths.iter_mut().find(|p| p.path == a.path) else {
            return;
        };
        for v in &a.exact {
            p.exact.entry(v.clone()).or_default().push(target);
        }
        for v in &a.prefixes {
            p.prefixes.entry(v.clone()).or_default().push(target);
            p.prefix_lens.insert(v.len());
        }
    }
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
