//! The address guard for links a feed points at (`fetch_article`): which addresses an article
//! fetch may connect to. Pure: it classifies addresses and decides, it never resolves or
//! connects; `fetch::resolve` applies it to every address DNS returns and `Fetcher` to every
//! redirect hop, so a name that resolves (or re-resolves, "DNS rebinding") to a private address
//! is refused as surely as a literal one.
//!
//! Why: a feed is written by someone else. Without this, a hostile feed could make feedwatch
//! probe the local network (router admin pages, cloud metadata at 169.254.169.254, services on
//! 127.0.0.1) and leak what it finds through alert snippets.
//!
//! The ranges follow the IANA special-purpose registries (RFC 6890 and its updates): every
//! block that is not globally reachable is "non-public" here, plus IPv6 forms that embed an
//! IPv4 address (mapped, compatible, NAT64, 6to4), which are judged by the address inside.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// Why an address is not public. The `Display` form is the reason logged and stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    /// `0.0.0.0/8`, `::`: "this host", which most stacks connect to as loopback.
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918: `10/8`, `172.16/12`, `192.168/16`.
    Private,
    /// RFC 6598 carrier-grade NAT, `100.64/10`: private to the provider's network.
    SharedAddressSpace,
    /// `169.254/16`, `fe80::/10` (cloud metadata services live here).
    LinkLocal,
    /// `fc00::/7` (RFC 4193), and the deprecated site-local `fec0::/10`.
    UniqueLocal,
    /// Multicast and the IPv4 broadcast address: never a web server.
    Multicast,
    /// Documentation, benchmarking, protocol-assignment and reserved blocks: not routed on
    /// the internet, so on a given network they can only be something local.
    Reserved,
}

impl fmt::Display for AddressKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressKind::Unspecified => "unspecified",
            AddressKind::Loopback => "loopback",
            AddressKind::Private => "private",
            AddressKind::SharedAddressSpace => "shared (carrier-grade NAT)",
            AddressKind::LinkLocal => "link-local",
            AddressKind::UniqueLocal => "unique-local",
            AddressKind::Multicast => "multicast or broadcast",
            AddressKind::Reserved => "reserved",
        })
    }
}

/// Why a link was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Only `http` and `https` links are fetched (no `file:`, `ftp:`, `gopher:` …).
    #[error("only http and https links are fetched, not {scheme}:")]
    Scheme {
        /// The link's scheme.
        scheme: String,
    },
    /// The link has no host to connect to.
    #[error("the link has no host")]
    NoHost,
    /// The link's host is, or resolves to, an address that is not public.
    #[error("{ip} is a {kind} address (set allow_private = true on the feed to fetch it)")]
    NonPublic {
        /// The refused address.
        ip: IpAddr,
        /// Which kind of non-public address it is.
        kind: AddressKind,
    },
}

/// Which addresses one feed's article fetches may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Whether non-public addresses are allowed.
    allow_non_public: bool,
}

impl AddressPolicy {
    /// Only public addresses.
    pub const PUBLIC_ONLY: AddressPolicy = AddressPolicy {
        allow_non_public: false,
    };
    /// Any address (a feed with `allow_private = true`).
    pub const ANY: AddressPolicy = AddressPolicy {
        allow_non_public: true,
    };

    /// The policy for a feed: `allow_private` when the feed sets it (`false` refuses
    /// non-public links even for a feed on such an address); otherwise non-public links are
    /// allowed exactly when the feed itself is on a non-public address (`feed_addrs`: the
    /// addresses the feed was fetched from), since such a feed is already local and its
    /// articles usually live beside it.
    pub fn for_feed(
        allow_private: Option<bool>,
        feed_addrs: impl IntoIterator<Item = IpAddr>,
    ) -> AddressPolicy {
        let allow_non_public = match allow_private {
            Some(explicit) => explicit,
            None => feed_addrs.into_iter().any(|ip| classify(ip).is_some()),
        };
        AddressPolicy { allow_non_public }
    }

    /// Whether non-public addresses are allowed.
    pub fn allows_non_public(self) -> bool {
        self.allow_non_public
    }

    /// Whether a connection to `ip` is allowed.
    pub fn check_ip(self, ip: IpAddr) -> Result<(), Refusal> {
        match classify(ip) {
            Some(kind) if !self.allow_non_public => Err(Refusal::NonPublic { ip, kind }),
            _ => Ok(()),
        }
    }

    /// Whether `url` may be requested at all: an http/https link with a host, and when the
    /// host is a literal address, an allowed one. A host *name* passes here; its addresses are
    /// checked when it is resolved (`fetch::resolve`), once per connection.
    pub fn check_url(self, url: &Url) -> Result<(), Refusal> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refusal::Scheme {
                scheme: url.scheme().to_string(),
            });
        }
        match url.host() {
            None => Err(Refusal::NoHost),
            Some(Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)),
            Some(Host::Domain(_)) => Ok(()),
        }
    }
}

/// What kind of non-public address `ip` is, or `None` for a public (globally reachable) one.
pub fn classify(ip: IpAddr) -> Option<AddressKind> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressKind> {
    let [a, b, c, _] = ip.octets();
    let kind = match (a, b, c) {
        (0, _, _) => AddressKind::Unspecified,
        (127, _, _) => AddressKind::Loopback,
        (10, _, _) | (192, 168, _) => AddressKind::Private,
        (172, 16..=31, _) => AddressKind::Private,
        (100, 64..=127, _) => AddressKind::SharedAddressSpace,
        (169, 254, _) => AddressKind::LinkLocal,
        (224..=239, _, _) => AddressKind::Multicast,
        _ if ip.is_broadcast() => AddressKind::Multicast,
        // 192.0.0/24 protocol assignments, the three documentation nets (RFC 5737),
        // 198.18/15 benchmarking (RFC 2544), 240/4 reserved.
        (192, 0, 0) | (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => AddressKind::Reserved,
        (198, 18..=19, _) | (240..=255, _, _) => AddressKind::Reserved,
        _ => return None,
    };
    Some(kind)
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressKind> {
    if ip.is_unspecified() {
        return Some(AddressKind::Unspecified);
    }
    if ip.is_loopback() {
        return Some(AddressKind::Loopback);
    }
    // Forms that carry an IPv4 address are as reachable as that address: ::ffff:127.0.0.1
    // reaches loopback on a dual-stack socket, and so can a NAT64 or 6to4 gateway.
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    let s = ip.segments();
    let kind = match s[0] {
        0xfe80..=0xfebf => AddressKind::LinkLocal,
        // fec0::/10 site-local is deprecated (RFC 3879) but still means "this site".
        0xfec0..=0xfeff | 0xfc00..=0xfdff => AddressKind::UniqueLocal,
        0xff00..=0xffff => AddressKind::Multicast,
        // 64:ff9b:1::/48, local-use NAT64 (RFC 8215).
        0x0064 if s[1] == 0xff9b && s[2] == 1 => AddressKind::Private,
        // 2001:db8::/32 documentation; 2001::/23 protocol assignments, Teredo among them
        // (its client address is obfuscated, so it cannot be judged by what it embeds).
        0x2001 if s[1] == 0x0db8 || s[1] < 0x0200 => AddressKind::Reserved,
        // 100::/64 discard-only (RFC 6666); anything else in ::/8 is reserved.
        0x0100 if s[1] == 0 && s[2] == 0 && s[3] == 0 => AddressKind::Reserved,
        0x0000..=0x00ff => AddressKind::Reserved,
        _ => return None,
    };
    Some(kind)
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`,
/// deprecated), NAT64 well-known prefix (`64:ff9b::a.b.c.d`, RFC 6052) or 6to4 (`2002:AABB:CCDD::`,
/// RFC 3056) address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0, 0, _, _] => Some(low),
        [0x0064, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address parses")
    }

    #[test]
    fn classify_table() {
        use AddressKind::*;
        let cases: &[(&str, Option<AddressKind>)] = &[
            // public
            ("93.184.216.34", None),
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("172.15.255.255", None),
            ("172.32.0.1", None),
            ("100.63.255.255", None),
            ("100.128.0.1", None),
            ("169.253.1.1", None),
            ("192.0.1.1", None),
            ("198.20.0.1", None),
            ("223.255.255.255", None),
            ("2606:4700::1111", None),
            ("2a00:1450:4001::200e", None),
            ("2001:4860:4860::8888", None),
            // loopback
            ("127.0.0.1", Some(Loopback)),
            ("127.255.255.254", Some(Loopback)),
            ("::1", Some(Loopback)),
            // unspecified
            ("0.0.0.0", Some(Unspecified)),
            ("0.1.2.3", Some(Unspecified)),
            ("::", Some(Unspecified)),
            // private (RFC 1918) and shared
            ("10.0.0.1", Some(Private)),
            ("10.255.255.255", Some(Private)),
            ("172.16.0.1", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("192.168.1.1", Some(Private)),
            ("100.64.0.1", Some(SharedAddressSpace)),
            ("100.127.255.255", Some(SharedAddressSpace)),
            // link-local, cloud metadata
            ("169.254.169.254", Some(LinkLocal)),
            ("fe80::1", Some(LinkLocal)),
            ("febf::1", Some(LinkLocal)),
            // unique-local and site-local IPv6
            ("fc00::1", Some(UniqueLocal)),
            ("fd12:3456:789a::1", Some(UniqueLocal)),
            ("fec0::1", Some(UniqueLocal)),
            // multicast, broadcast
            ("224.0.0.1", Some(Multicast)),
            ("239.255.255.250", Some(Multicast)),
            ("255.255.255.255", Some(Multicast)),
            ("ff02::1", Some(Multicast)),
            // reserved, documentation, benchmarking
            ("192.0.0.8", Some(Reserved)),
            ("192.0.2.1", Some(Reserved)),
            ("198.51.100.1", Some(Reserved)),
            ("203.0.113.1", Some(Reserved)),
            ("198.18.0.1", Some(Reserved)),
            ("240.0.0.1", Some(Reserved)),
            ("2001:db8::1", Some(Reserved)),
            ("2001::1", Some(Reserved)),
            ("100::1", Some(Reserved)),
            // IPv4-mapped: judged by the address inside
            ("::ffff:127.0.0.1", Some(Loopback)),
            ("::ffff:10.1.2.3", Some(Private)),
            ("::ffff:169.254.169.254", Some(LinkLocal)),
            ("::ffff:0.0.0.0", Some(Unspecified)),
            ("::ffff:93.184.216.34", None),
            // IPv4-compatible (deprecated)
            ("::127.0.0.1", Some(Loopback)),
            ("::192.168.0.1", Some(Private)),
            ("::8.8.8.8", None),
            // NAT64 well-known prefix and local-use prefix
            ("64:ff9b::7f00:1", Some(Loopback)),
            ("64:ff9b::a00:1", Some(Private)),
            ("64:ff9b::808:808", None),
            ("64:ff9b:1::1", Some(Private)),
            // 6to4
            ("2002:7f00:1::", Some(Loopback)),
            ("2002:c0a8:101::1", Some(Private)),
            ("2002:808:808::1", None),
        ];
        for (addr, want) in cases {
            assert_eq!(classify(ip(addr)), *want, "{addr}");
        }
    }

    #[test]
    fn policy_decision_table() {
        // (allow_private, feed addresses, link address, allowed?)
        let public_feed = [ip("93.184.216.34")];
        let loopback_feed = [ip("127.0.0.1")];
        let private_feed = [ip("192.168.1.10")];
        type Case<'a> = (&'a str, Option<bool>, &'a [IpAddr], &'a str, bool);
        let cases: &[Case] = &[
            (
                "public feed, public link",
                None,
                &public_feed,
                "8.8.8.8",
                true,
            ),
            (
                "public feed, loopback link",
                None,
                &public_feed,
                "127.0.0.1",
                false,
            ),
            (
                "public feed, private link",
                None,
                &public_feed,
                "10.0.0.5",
                false,
            ),
            (
                "public feed, metadata link",
                None,
                &public_feed,
                "169.254.169.254",
                false,
            ),
            (
                "public feed, ula link",
                None,
                &public_feed,
                "fd00::1",
                false,
            ),
            (
                "public feed, mapped loopback",
                None,
                &public_feed,
                "::ffff:127.0.0.1",
                false,
            ),
            ("public feed, v6 loopback", None, &public_feed, "::1", false),
            (
                "public feed, unspecified",
                None,
                &public_feed,
                "0.0.0.0",
                false,
            ),
            (
                "loopback feed, loopback link",
                None,
                &loopback_feed,
                "127.0.0.1",
                true,
            ),
            (
                "loopback feed, private link",
                None,
                &loopback_feed,
                "10.0.0.5",
                true,
            ),
            (
                "private feed, private link",
                None,
                &private_feed,
                "192.168.1.11",
                true,
            ),
            ("unknown feed address", None, &[], "127.0.0.1", false),
            (
                "allow_private = true",
                Some(true),
                &public_feed,
                "127.0.0.1",
                true,
            ),
            (
                "allow_private = true, link-local",
                Some(true),
                &public_feed,
                "fe80::1",
                true,
            ),
            (
                "allow_private = false on loopback feed",
                Some(false),
                &loopback_feed,
                "127.0.0.1",
                false,
            ),
            (
                "allow_private = false on private feed",
                Some(false),
                &private_feed,
                "192.168.1.11",
                false,
            ),
            (
                "allow_private = false, public link",
                Some(false),
                &loopback_feed,
                "8.8.8.8",
                true,
            ),
        ];
        for (name, allow, feed, link, want) in cases {
            let policy = AddressPolicy::for_feed(*allow, feed.iter().copied());
            assert_eq!(policy.check_ip(ip(link)).is_ok(), *want, "{name}");
        }
    }

    #[test]
    fn refusal_names_the_address_and_its_kind() {
        let err = AddressPolicy::PUBLIC_ONLY
            .check_ip(ip("::ffff:10.0.0.1"))
            .expect_err("private is refused");
        assert_eq!(
            err.to_string(),
            "::ffff:10.0.0.1 is a private address (set allow_private = true on the feed to fetch it)"
        );
    }

    #[test]
    fn url_checks_scheme_and_literal_hosts() {
        let cases: &[(&str, AddressPolicy, bool)] = &[
            ("https://example.com/a", AddressPolicy::PUBLIC_ONLY, true),
            ("http://example.com/a", AddressPolicy::PUBLIC_ONLY, true),
            // names pass here; their addresses are checked when resolved
            ("http://localhost/a", AddressPolicy::PUBLIC_ONLY, true),
            ("http://127.0.0.1:8080/a", AddressPolicy::PUBLIC_ONLY, false),
            ("http://[::1]/a", AddressPolicy::PUBLIC_ONLY, false),
            (
                "http://[::ffff:7f00:1]/a",
                AddressPolicy::PUBLIC_ONLY,
                false,
            ),
            ("http://0x7f.1/a", AddressPolicy::PUBLIC_ONLY, false),
            ("http://2130706433/a", AddressPolicy::PUBLIC_ONLY, false),
            (
                "http://169.254.169.254/latest/meta-data",
                AddressPolicy::PUBLIC_ONLY,
                false,
            ),
            ("http://127.0.0.1:8080/a", AddressPolicy::ANY, true),
            ("file:///etc/passwd", AddressPolicy::ANY, false),
            ("ftp://example.com/a", AddressPolicy::ANY, false),
            ("gopher://example.com/a", AddressPolicy::ANY, false),
            ("data:text/html,hello", AddressPolicy::ANY, false),
        ];
        for (link, policy, want) in cases {
            let url = Url::parse(link).expect("test url parses");
            assert_eq!(policy.check_url(&url).is_ok(), *want, "{link}");
        }
    }
}
