//! Paging as Barbican does it: `limit`/`offset` cleaned the way `clean_paging_values` does,
//! and `previous`/`next` hrefs that repeat the other query parameters, URL-encoded like
//! Python's `urlencode`.

/// The most parameters a query string may have (the pipeline answers 400 beyond).
pub const MAX_QUERY_PARAMS: usize = 64;

/// Why a query string is refused before any handler reads it.
pub fn check_query(query: &str) -> Result<(), crate::error::ApiError> {
    let bad = |m: &str| crate::error::ApiError::bad_request(m.to_owned());
    for (n, (k, v)) in url::form_urlencoded::parse(query.as_bytes()).enumerate() {
        if n >= MAX_QUERY_PARAMS {
            return Err(bad(
                "URI provided invalid query string parameters: too many parameters.",
            ));
        }
        if k.contains('\0') || v.contains('\0') {
            return Err(bad(
                "URI provided invalid query string parameters: a NUL character.",
            ));
        }
    }
    Ok(())
}

/// The query string's parameters, decoded, in order. A repeated name keeps its first value
/// (in its first position), as a list-valued parameter would.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if seen.insert(k.clone()) {
            out.push((k.into_owned(), v.into_owned()));
        }
    }
    out
}

/// The value of a parameter.
pub fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Python's `int()` of a query value: optional sign, digits, surrounding whitespace.
pub fn py_int(text: &str) -> Option<i64> {
    let t = text.trim();
    let digits = t.strip_prefix('+').unwrap_or(t);
    if digits.is_empty() || digits.starts_with('+') {
        return None;
    }
    digits.parse::<i64>().ok()
}

/// oslo's `bool_from_string(strict=True)`: `None` for anything but a recognized boolean.
pub fn strict_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Some(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Some(false),
        _ => None,
    }
}

/// `(offset, limit)` from raw values: bad offsets become 0; limits below 1 become 1, above the
/// maximum the maximum, unparseable ones the default.
pub fn clean_paging(
    offset: Option<&str>,
    limit: Option<&str>,
    default_limit: i64,
    max_limit: i64,
) -> (i64, i64) {
    let offset = offset
        .filter(|s| !s.is_empty())
        .map(|s| py_int(s).map(|o| o.max(0)).unwrap_or(0))
        .unwrap_or(0);
    let limit = match limit.filter(|s| !s.is_empty()) {
        None => default_limit,
        Some(s) => match py_int(s) {
            None => default_limit,
            Some(l) if l < 1 => 1,
            Some(l) => l.min(max_limit),
        },
    };
    (offset, limit)
}

/// Python's `urllib.parse.quote_plus`.
pub fn quote_plus(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Python's `urllib.parse.unquote_plus` (Barbican applies it once more to `name`).
pub fn unquote_plus(text: &str) -> String {
    percent_encoding::percent_decode_str(&text.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// The parameters other than `limit` and `offset`, re-encoded for paging links.
pub fn carried_query(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .filter(|(k, _)| k != "limit" && k != "offset")
        .map(|(k, v)| format!("{}={}", quote_plus(k), quote_plus(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `(previous, next)` hrefs for a page of `collection`, none for an empty page (Barbican adds
/// links only when the page has items).
pub fn page_links(
    page_is_empty: bool,
    href: &str,
    collection: &str,
    offset: i64,
    limit: i64,
    total: i64,
    carried: &str,
) -> (Option<String>, Option<String>) {
    if page_is_empty {
        (None, None)
    } else {
        nav_links(href, collection, offset, limit, total, carried)
    }
}

/// `(previous, next)` hrefs for a page of `collection` (e.g. `secrets`).
pub fn nav_links(
    href: &str,
    collection: &str,
    offset: i64,
    limit: i64,
    total: i64,
    carried: &str,
) -> (Option<String>, Option<String>) {
    let link = |offset: i64| {
        let mut s = format!("{href}/v1/{collection}?limit={limit}&offset={offset}");
        if !carried.is_empty() {
            s.push('&');
            s.push_str(carried);
        }
        s
    };
    // Offsets come from clients: no sum or difference here may overflow.
    let previous = (offset > 0).then(|| link(offset.saturating_sub(limit).max(0)));
    let next = offset
        .checked_add(limit)
        .filter(|end| total > *end)
        .map(link);
    (previous, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning_matches_barbican() {
        let c = |o, l| clean_paging(o, l, 10, 100);
        assert_eq!(c(None, None), (0, 10));
        assert_eq!(c(Some("2"), Some("2")), (2, 2));
        assert_eq!(c(Some("-1"), Some("0")), (0, 1));
        assert_eq!(c(Some("abc"), Some("abc")), (0, 10));
        assert_eq!(c(Some(""), Some("")), (0, 10));
        assert_eq!(c(None, Some("1000")), (0, 100));
        assert_eq!(c(Some(" +3 "), Some("-7")), (3, 1));
        assert_eq!(c(Some("1.5"), Some("99999999999999999999")), (0, 10));
    }

    #[test]
    fn links_repeat_other_parameters() {
        let pairs = query_pairs("sort=name:desc&limit=3&name=a+b&limit=9&x=%2F");
        assert_eq!(param(&pairs, "limit"), Some("3"));
        assert_eq!(param(&pairs, "name"), Some("a b"));
        let carried = carried_query(&pairs);
        assert_eq!(carried, "sort=name%3Adesc&name=a+b&x=%2F");
        let (p, n) = nav_links("http://h", "secrets", 3, 3, 7, &carried);
        assert_eq!(
            p.as_deref(),
            Some("http://h/v1/secrets?limit=3&offset=0&sort=name%3Adesc&name=a+b&x=%2F")
        );
        assert_eq!(
            n.as_deref(),
            Some("http://h/v1/secrets?limit=3&offset=6&sort=name%3Adesc&name=a+b&x=%2F")
        );
        assert_eq!(nav_links("http://h", "secrets", 0, 2, 2, ""), (None, None));
        assert_eq!(
            nav_links("http://h", "secrets", 1, 2, 2, "").0.as_deref(),
            Some("http://h/v1/secrets?limit=2&offset=0")
        );
    }

    #[test]
    fn paging_arithmetic_never_overflows() {
        let (p, n) = nav_links("http://h", "secrets", i64::MAX - 1, 100, i64::MAX, "");
        assert_eq!(
            p.as_deref(),
            Some("http://h/v1/secrets?limit=100&offset=9223372036854775706")
        );
        assert_eq!(n, None, "no next page past i64::MAX");
        let (p, _) = nav_links("http://h", "secrets", 5, 100, 10, "");
        assert_eq!(p.as_deref(), Some("http://h/v1/secrets?limit=100&offset=0"));
    }

    #[test]
    fn query_strings_are_bounded_and_parsed_once_per_parameter() {
        let many: Vec<String> = (0..MAX_QUERY_PARAMS).map(|i| format!("p{i}=1")).collect();
        assert!(check_query(&many.join("&")).is_ok());
        let more = format!("{}&x=1", many.join("&"));
        assert!(check_query(&more).is_err());
        assert!(check_query("name=a%00b").is_err());
        assert!(check_query("a%00=b").is_err());
        assert!(check_query("name=a%01b&limit=2").is_ok());
        let pairs = query_pairs(
            &(0..5000)
                .map(|i| format!("k{}=v", i % 7))
                .collect::<Vec<_>>()
                .join("&"),
        );
        assert_eq!(pairs.len(), 7);
    }

    #[test]
    fn strict_booleans() {
        assert_eq!(strict_bool("True"), Some(true));
        assert_eq!(strict_bool(" no "), Some(false));
        assert_eq!(strict_bool("maybe"), None);
    }

    #[test]
    fn quote_plus_matches_python() {
        assert_eq!(quote_plus("a b:c,d/é~*"), "a+b%3Ac%2Cd%2F%C3%A9~%2A");
        assert_eq!(unquote_plus("a+b%20c%zz"), "a b c%zz");
    }
}
