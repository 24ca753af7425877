//! Which proxy a request to the Flex API goes through, from the environment as curl and
//! reqwest read it: `HTTPS_PROXY` for https, `HTTP_PROXY` for http, `ALL_PROXY` for either
//! (lowercase forms too, the lowercase one first), and `NO_PROXY` naming hosts, domains
//! (`.example.com` or `example.com`), IP addresses, CIDR blocks or `*` that go direct.
//!
//! flexform resolves it once for its one endpoint and hands reqwest exactly that proxy, so
//! that what `-v` says is what happens.

use std::net::IpAddr;

/// The proxy for `url`, if any: its URL as configured (with any credentials in it).
pub fn proxy_for(url: &reqwest::Url, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let var = |name: &str| {
        env(&name.to_ascii_lowercase())
            .or_else(|| env(name))
            .filter(|v| !v.trim().is_empty())
    };
    let host = url.host_str()?;
    if let Some(no_proxy) = var("NO_PROXY") {
        if bypassed(host, &no_proxy) {
            return None;
        }
    }
    let scheme_var = match url.scheme() {
        "https" => "HTTPS_PROXY",
        _ => "HTTP_PROXY",
    };
    var(scheme_var).or_else(|| var("ALL_PROXY"))
}

/// Whether `host` is in the `NO_PROXY` list.
fn bypassed(host: &str, no_proxy: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let ip: Option<IpAddr> = host.parse().ok();
    no_proxy
        .split(',')
        .map(|entry| entry.trim().to_ascii_lowercase())
        .filter(|entry| !entry.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            if let (Some(ip), Some((net, bits))) = (ip, entry.split_once('/')) {
                return in_cidr(ip, net, bits);
            }
            let domain = entry.trim_start_matches('.');
            host == domain || host.ends_with(&format!(".{domain}"))
        })
}

fn in_cidr(ip: IpAddr, net: &str, bits: &str) -> bool {
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// A proxy as reqwest reads it: `host:port` and `user:pw@host:port` without a scheme are
/// `http://` proxies.
pub fn normalized(proxy: &str) -> String {
    if proxy.contains("://") {
        proxy.to_owned()
    } else {
        format!("http://{proxy}")
    }
}

/// A proxy URL without its credentials, for logs.
pub fn redacted(proxy: &str) -> String {
    match reqwest::Url::parse(&normalized(proxy)) {
        Ok(mut url) => {
            if !url.username().is_empty() || url.password().is_some() {
                let _ = url.set_username("");
                let _ = url.set_password(None);
            }
            url.to_string().trim_end_matches('/').to_owned()
        }
        Err(_) => "(a proxy URL that does not parse)".to_owned(),
    }
}

/// An endpoint as given, without what could be a user and password (between `://` and the
/// last `@` before the path), for an error about an endpoint that does not parse.
pub fn redacted_endpoint(endpoint: &str) -> String {
    let (scheme, rest) = endpoint
        .split_once("://")
        .map_or(("", endpoint), |(s, r)| (s, r));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let sep = if scheme.is_empty() { "" } else { "://" };
            format!("{scheme}{sep}[redacted]@{}", &rest[at + 1..])
        }
        None => endpoint.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn url(text: &str) -> reqwest::Url {
        reqwest::Url::parse(text).unwrap()
    }

    #[test]
    fn the_scheme_picks_the_variable_and_all_proxy_is_the_fallback() {
        let env = with(&[
            ("HTTPS_PROXY", "http://secure:3128"),
            ("HTTP_PROXY", "http://plain:3128"),
        ]);
        let https = url("https://flex-api.twilio.com");
        assert_eq!(
            proxy_for(&https, &env).as_deref(),
            Some("http://secure:3128")
        );
        let http = url("http://flex.test:8787");
        assert_eq!(proxy_for(&http, &env).as_deref(), Some("http://plain:3128"));
        let env = with(&[("all_proxy", "http://any:1")]);
        assert_eq!(proxy_for(&https, &env).as_deref(), Some("http://any:1"));
        let env = with(&[
            ("https_proxy", "http://lower:1"),
            ("HTTPS_PROXY", "http://upper:1"),
        ]);
        assert_eq!(proxy_for(&https, &env).as_deref(), Some("http://lower:1"));
        assert_eq!(proxy_for(&https, &with(&[])), None);
    }

    #[test]
    fn no_proxy_matches_hosts_domains_addresses_and_blocks() {
        let proxy = ("HTTPS_PROXY", "http://p:1");
        let cases = [
            ("flex-api.twilio.com", "https://flex-api.twilio.com", true),
            (".twilio.com", "https://flex-api.twilio.com", true),
            ("twilio.com", "https://flex-api.twilio.com", true),
            ("api.twilio.com", "https://flex-api.twilio.com", false),
            ("*", "https://anything.example", true),
            ("10.0.0.0/8", "https://10.1.2.3:8443", true),
            ("10.0.0.0/8", "https://11.1.2.3:8443", false),
            ("127.0.0.1", "https://127.0.0.1:8443", true),
            ("localhost, example.org", "https://example.org", true),
        ];
        for (no_proxy, target, direct) in cases {
            let vars = [proxy, ("NO_PROXY", no_proxy)];
            let env = with(&vars);
            assert_eq!(
                proxy_for(&url(target), &env).is_none(),
                direct,
                "NO_PROXY={no_proxy} for {target}"
            );
        }
    }

    #[test]
    fn logs_never_show_proxy_or_endpoint_credentials() {
        assert_eq!(
            redacted_endpoint("http://user:s3cret@flex api.example/x@y"),
            "http://[redacted]@flex api.example/x@y"
        );
        assert_eq!(
            redacted_endpoint("https://flex-api.twilio.com"),
            "https://flex-api.twilio.com"
        );
        assert_eq!(
            redacted("http://user:s3cret@proxy.corp:3128"),
            "http://proxy.corp:3128"
        );
        assert!(!redacted("http://user:s3cret@proxy.corp:3128/").contains("s3cret"));
        // Without a scheme (as curl and reqwest accept it), still no credentials.
        assert_eq!(
            redacted("jsmith:S3cret@proxy.corp:3128"),
            "http://proxy.corp:3128"
        );
    }
}
