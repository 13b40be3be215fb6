//! Which host a request was addressed to, for refs (`Location`, every `*_ref`) and for the
//! DNS-rebinding guard: the `Host` header, or — only when the connection comes from one of
//! `server.trusted_proxies` — `Forwarded` / `X-Forwarded-Host` / `X-Forwarded-Proto`.

use std::net::{IpAddr, SocketAddr};

use actix_web::http::header::{self, HeaderMap};
use actix_web::HttpRequest;
use ipnet::IpNet;

use crate::error::ApiError;

/// How requests are mapped to hosts.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    /// `server.host_href`: the fixed prefix of refs; `None`: from each request.
    pub host_href: Option<String>,
    /// `server.trusted_proxies`: peers whose forwarding headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// The bound address (refs of a request without any Host).
    pub bound: SocketAddr,
    /// When the authentication believes what callers say of themselves (trusted headers
    /// without a proxy secret): the host names, besides loopback ones, a request may be
    /// addressed to. `None`: any.
    pub allowed_hosts: Option<Vec<String>>,
}

/// The host (and scheme) a request was addressed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addressed {
    pub scheme: String,
    /// `host[:port]`, as sent.
    pub authority: Option<String>,
}

fn bad_host(what: &str) -> ApiError {
    ApiError::bad_request(format!("Invalid {what} header."))
}

/// Whether `s` is `host[:port]`: a DNS name or IPv4 address, or an IPv6 literal in brackets.
pub fn valid_authority(s: &str) -> bool {
    if s.is_empty() || s.len() > 262 {
        return false;
    }
    let (host, port) = split_port(s);
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let host_ok = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        inner.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
            && !host.starts_with(['-', '.'])
    };
    port_ok && host_ok
}

/// `(host, port)` of an authority.
fn split_port(s: &str) -> (&str, Option<&str>) {
    if s.starts_with('[') {
        return match s.find(']') {
            Some(end) => match s[end + 1..].strip_prefix(':') {
                Some(port) => (&s[..=end], Some(port)),
                None => (s, None),
            },
            None => (s, None),
        };
    }
    match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    }
}

/// The host name of an authority, lower case, without brackets or port.
pub fn host_name(authority: &str) -> String {
    let (host, _) = split_port(authority);
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

/// Whether a host name can only be this machine: `localhost` (and `*.localhost`, RFC 6761)
/// or a loopback address.
pub fn is_loopback_name(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn first_value<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => {
            let v = v.to_str().map_err(|_| bad_host(name))?;
            Ok(v.split(',').next().map(str::trim).filter(|s| !s.is_empty()))
        }
    }
}

/// `host` and `proto` of the first element of a `Forwarded` header (RFC 7239).
fn forwarded(headers: &HeaderMap) -> Result<(Option<String>, Option<String>), ApiError> {
    let Some(first) = first_value(headers, "forwarded")? else {
        return Ok((None, None));
    };
    let (mut host, mut proto) = (None, None);
    for pair in first.split(';') {
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"').to_owned();
        match name.trim().to_ascii_lowercase().as_str() {
            "host" => host = Some(value),
            "proto" => proto = Some(value),
            _ => {}
        }
    }
    Ok((host, proto))
}

impl HostPolicy {
    /// Whether the connection's peer is a trusted proxy.
    fn is_trusted_proxy(&self, peer: Option<SocketAddr>) -> bool {
        peer.is_some_and(|p| {
            let ip = p.ip().to_canonical();
            self.trusted_proxies.iter().any(|net| net.contains(&ip))
        })
    }

    /// Where `req` was addressed; 400 for a malformed `Host` or forwarding header.
    pub fn addressed(&self, req: &HttpRequest) -> Result<Addressed, ApiError> {
        let headers = req.headers();
        let mut scheme = "http".to_owned();
        let mut authority = None;
        if self.is_trusted_proxy(req.peer_addr()) {
            let (f_host, f_proto) = forwarded(headers)?;
            let host = match f_host {
                Some(h) => Some(h),
                None => first_value(headers, "x-forwarded-host")?.map(str::to_owned),
            };
            let proto = match f_proto {
                Some(p) => Some(p),
                None => first_value(headers, "x-forwarded-proto")?.map(str::to_owned),
            };
            if let Some(h) = host {
                if !valid_authority(&h) {
                    return Err(bad_host("forwarded host"));
                }
                authority = Some(h);
            }
            if let Some(p) = proto {
                let p = p.to_ascii_lowercase();
                if p != "http" && p != "https" {
                    return Err(bad_host("forwarded proto"));
                }
                scheme = p;
            }
        }
        if authority.is_none() {
            let host = match headers.get(header::HOST) {
                Some(v) => Some(v.to_str().map_err(|_| bad_host("Host"))?.to_owned()),
                None => req.uri().authority().map(|a| a.as_str().to_owned()),
            };
            if let Some(h) = host {
                if !valid_authority(&h) {
                    return Err(bad_host("Host"));
                }
                authority = Some(h);
            }
        }
        Ok(Addressed { scheme, authority })
    }

    /// The prefix of refs for `req` (no trailing slash), after the DNS-rebinding guard.
    pub fn href(&self, req: &HttpRequest) -> Result<String, ApiError> {
        let addressed = self.addressed(req)?;
        if let (Some(allowed), Some(authority)) = (&self.allowed_hosts, &addressed.authority) {
            let name = host_name(authority);
            if !is_loopback_name(&name) && !allowed.contains(&name) {
                return Err(ApiError::bad_request(
                    "This service only answers requests addressed to it by a loopback name or \
                     its configured host (server.host_href), while it believes the identity \
                     headers of its callers.",
                ));
            }
        }
        Ok(match &self.host_href {
            Some(h) => h.clone(),
            None => format!(
                "{}://{}",
                addressed.scheme,
                addressed
                    .authority
                    .unwrap_or_else(|| self.bound.to_string())
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn policy(trusted: &[&str], allowed: Option<&[&str]>) -> HostPolicy {
        HostPolicy {
            host_href: None,
            trusted_proxies: trusted.iter().map(|n| n.parse().unwrap()).collect(),
            bound: "127.0.0.1:9311".parse().unwrap(),
            allowed_hosts: allowed.map(|a| a.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn peer(ip: &str) -> SocketAddr {
        format!("{ip}:50000").parse().unwrap()
    }

    #[test]
    fn authorities() {
        for good in [
            "kms.example.com",
            "kms.example.com:9311",
            "127.0.0.1:80",
            "[::1]:9311",
            "[fe80::1]",
            "localhost",
            "a_b.internal",
        ] {
            assert!(valid_authority(good), "{good}");
        }
        for bad in [
            "",
            "evil.example/x",
            "a@b",
            "a b",
            "kms:",
            "kms:123456",
            "kms:80a",
            "[::1",
            "[nope]:80",
            "-x.example",
            "x\"y",
        ] {
            assert!(!valid_authority(bad), "{bad}");
        }
        assert_eq!(host_name("[::1]:80"), "::1");
        assert_eq!(host_name("KMS.example.com:80"), "kms.example.com");
        assert!(is_loopback_name("127.0.0.2") && is_loopback_name("::1"));
        assert!(is_loopback_name("a.localhost") && !is_loopback_name("localhost.evil"));
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let p = policy(&["10.0.0.0/8"], None);
        let req = |ip: &str| {
            TestRequest::default()
                .peer_addr(peer(ip))
                .insert_header(("Host", "internal:9311"))
                .insert_header(("X-Forwarded-Host", "kms.example.com, other"))
                .insert_header(("X-Forwarded-Proto", "https"))
                .to_http_request()
        };
        assert_eq!(p.href(&req("10.1.2.3")).unwrap(), "https://kms.example.com");
        assert_eq!(p.href(&req("192.0.2.1")).unwrap(), "http://internal:9311");
        let fwd = TestRequest::default()
            .peer_addr(peer("10.0.0.1"))
            .insert_header(("Host", "internal"))
            .insert_header((
                "Forwarded",
                "for=1.2.3.4;proto=https;host=\"kms.example.com:8443\"",
            ))
            .insert_header(("X-Forwarded-Host", "ignored.example"))
            .to_http_request();
        assert_eq!(p.href(&fwd).unwrap(), "https://kms.example.com:8443");
        let evil = TestRequest::default()
            .peer_addr(peer("10.0.0.1"))
            .insert_header(("X-Forwarded-Host", "evil.example/path"))
            .to_http_request();
        assert!(p.href(&evil).is_err());
        let no_host = TestRequest::default()
            .peer_addr(peer("192.0.2.1"))
            .to_http_request();
        assert_eq!(p.href(&no_host).unwrap(), "http://127.0.0.1:9311");
    }

    #[test]
    fn believing_callers_only_answers_loopback_or_configured_names() {
        let p = policy(&[], Some(&["kms.example.com"]));
        let with_host = |h: &str| {
            TestRequest::default()
                .peer_addr(peer("127.0.0.1"))
                .insert_header(("Host", h))
                .to_http_request()
        };
        assert!(p.href(&with_host("localhost:9311")).is_ok());
        assert!(p.href(&with_host("127.0.0.1:9311")).is_ok());
        assert!(p.href(&with_host("[::1]:9311")).is_ok());
        assert!(p.href(&with_host("KMS.example.com")).is_ok());
        assert!(p.href(&with_host("rebind.attacker.example:9311")).is_err());
        let fixed = HostPolicy {
            host_href: Some("https://kms.example.com".into()),
            ..p
        };
        assert_eq!(
            fixed.href(&with_host("localhost")).unwrap(),
            "https://kms.example.com"
        );
        assert!(fixed.href(&with_host("attacker.example")).is_err());
    }
}
