//! The canonical request of SigV4, for services other than S3 (paths double-encoded).

/// The parts of an HTTP request that SigV4 covers.
pub struct CanonicalInput<'a> {
    pub method: &'a str,
    /// The path as sent on the wire (still percent-encoded).
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// Header (name, value) pairs as received; names in any case, repeats allowed.
    pub headers: &'a [(&'a str, &'a str)],
    /// Lower-case names from SignedHeaders.
    pub signed_headers: &'a [String],
    pub payload_sha256_hex: &'a str,
}

/// Builds the canonical request string.
pub fn canonical_request(input: &CanonicalInput<'_>) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(input.method);
    out.push('\n');
    out.push_str(&canonical_path(input.path));
    out.push('\n');
    out.push_str(&canonical_query(input.query));
    out.push('\n');
    for name in input.signed_headers {
        let values: Vec<String> = input
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| collapse_spaces(v))
            .collect();
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&input.signed_headers.join(";"));
    out.push('\n');
    out.push_str(input.payload_sha256_hex);
    out
}

fn collapse_spaces(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Normalises the path as AWS does for every service but S3, then encodes each
/// segment again (AWS's double encoding).
fn canonical_path(path: &str) -> String {
    let segments = normalised_segments(path);
    let mut out = String::with_capacity(path.len() + 8);
    for seg in &segments {
        out.push('/');
        out.push_str(&uri_encode(seg.as_bytes()));
    }
    // A trailing slash names a different resource, so it survives normalisation;
    // but a path that normalises to nothing is just the root.
    if segments.is_empty() || path.ends_with('/') {
        out.push('/');
    }
    out
}

/// RFC 3986 dot-segment removal, plus what AWS adds: empty segments (`//`) are
/// dropped too, and `..` never climbs above the root.
fn normalised_segments(path: &str) -> Vec<&str> {
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    segments
}

fn canonical_query(query: &str) -> String {
    if query.is_empty() {
        return String::new();
    }
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k)),
                uri_encode(&percent_decode(v)),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes everything but AWS's unreserved set `A-Za-z0-9-_.~`.
fn uri_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> Vec<u8> {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}
