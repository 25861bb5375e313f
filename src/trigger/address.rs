//! Which addresses a webhook may reach (SPEC §10), checked on the address actually connected to (after DNS
//! resolution, so a name that resolves to an internal address later is still refused).
//!
//! - Always refused: link-local and cloud metadata addresses (`169.254.0.0/16`, `fe80::/10`,
//!   `::ffff:169.254.0.0/112`) and the unspecified addresses (`0.0.0.0`, `::`), which reach the local host.
//! - Refused unless listed in `HERALD_WEBHOOK_ALLOW_CIDRS`: loopback (`127.0.0.0/8`, `::1`), private
//!   (`10/8`, `172.16/12`, `192.168/16`, `fc00::/7`), shared address space (`100.64/10`), broadcast and
//!   multicast. Default list: loopback in inline mode (the embedded default, where receivers usually run on the
//!   same machine), nothing otherwise.
//! - Everything else (public addresses) is allowed.
//!
//! IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) are judged as the IPv4 address they carry.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Why an address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AddressRefusal {
    /// Link-local, metadata or unspecified: never reachable by a webhook.
    #[error("{0} is a link-local, metadata or unspecified address, which webhooks may never reach")]
    Forbidden(IpAddr),
    /// Loopback, private or otherwise internal, and not in `HERALD_WEBHOOK_ALLOW_CIDRS`.
    #[error("{0} is an internal address not listed in HERALD_WEBHOOK_ALLOW_CIDRS")]
    NotAllowed(IpAddr),
}

/// The configured allow list for internal addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressPolicy {
    allowed: Vec<IpNet>,
}

impl AddressPolicy {
    /// A policy allowing the internal ranges in `allowed`.
    pub fn new(allowed: Vec<IpNet>) -> AddressPolicy {
        AddressPolicy { allowed }
    }

    /// The default: loopback (`127.0.0.0/8`, `::1/128`) in inline mode, no internal range otherwise.
    pub fn default_for(inline_mode: bool) -> AddressPolicy {
        let allowed = if inline_mode {
            // unwrap: constant, valid CIDRs.
            vec![
                "127.0.0.0/8".parse().expect("cidr"),
                "::1/128".parse().expect("cidr"),
            ]
        } else {
            Vec::new()
        };
        AddressPolicy { allowed }
    }

    /// Parses `HERALD_WEBHOOK_ALLOW_CIDRS`: CIDRs (or single addresses) separated by commas; empty allows none.
    ///
    /// # Errors
    /// A message naming the entry that is not a CIDR or an address.
    pub fn parse(list: &str) -> Result<AddressPolicy, String> {
        let allowed = list
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("`{entry}` is not a CIDR (`10.0.0.0/8`) or an IP address"))
            })
            .collect::<Result<_, _>>()?;
        Ok(AddressPolicy { allowed })
    }

    /// Whether a webhook may connect to `ip`.
    ///
    /// # Errors
    /// The [`AddressRefusal`] saying why not.
    pub fn check(&self, ip: IpAddr) -> Result<(), AddressRefusal> {
        let ip = canonical(ip);
        if is_forbidden(ip) {
            return Err(AddressRefusal::Forbidden(ip));
        }
        if is_internal(ip) && !self.allowed.iter().any(|net| net.contains(&ip)) {
            return Err(AddressRefusal::NotAllowed(ip));
        }
        Ok(())
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it carries.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local() || v4.is_unspecified(),
        IpAddr::V6(v6) => is_v6_link_local(v6) || v6.is_unspecified(),
    }
}

fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || is_shared(v4)
                || v4.is_broadcast()
                || v4.is_multicast()
        }
        IpAddr::V6(v6) => v6.is_loopback() || is_unique_local(v6) || v6.is_multicast(),
    }
}

/// `100.64.0.0/10`, carrier-grade NAT.
fn is_shared(v4: Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    a == 100 && (64..128).contains(&b)
}

/// `fe80::/10`.
fn is_v6_link_local(v6: Ipv6Addr) -> bool {
    v6.segments()[0] & 0xffc0 == 0xfe80
}

/// `fc00::/7`.
fn is_unique_local(v6: Ipv6Addr) -> bool {
    v6.segments()[0] & 0xfe00 == 0xfc00
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn link_local_metadata_and_unspecified_are_always_refused() {
        let everything = AddressPolicy::parse("0.0.0.0/0, ::/0").unwrap();
        for forbidden in [
            "169.254.169.254",
            "169.254.0.1",
            "fe80::1",
            "::ffff:169.254.169.254",
            "0.0.0.0",
            "::",
        ] {
            assert_eq!(
                everything.check(ip(forbidden)),
                Err(AddressRefusal::Forbidden(canonical(ip(forbidden)))),
                "{forbidden}"
            );
        }
    }

    #[test]
    fn internal_ranges_need_the_allow_list() {
        let none = AddressPolicy::default_for(false);
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
        ] {
            assert!(
                matches!(none.check(ip(internal)), Err(AddressRefusal::NotAllowed(_))),
                "{internal}"
            );
        }
        let private = AddressPolicy::parse("10.0.0.0/8,192.168.1.7").unwrap();
        assert_eq!(private.check(ip("10.9.9.9")), Ok(()));
        assert_eq!(
            private.check(ip("::ffff:10.9.9.9")),
            Ok(()),
            "mapped addresses judged as IPv4"
        );
        assert_eq!(private.check(ip("192.168.1.7")), Ok(()));
        assert!(private.check(ip("192.168.1.8")).is_err());
    }

    #[test]
    fn inline_mode_allows_loopback_by_default() {
        let inline = AddressPolicy::default_for(true);
        assert_eq!(inline.check(ip("127.0.0.1")), Ok(()));
        assert_eq!(inline.check(ip("::1")), Ok(()));
        assert!(inline.check(ip("10.0.0.1")).is_err());
    }

    #[test]
    fn public_addresses_are_allowed() {
        let none = AddressPolicy::default_for(false);
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "100.128.0.1",
            "172.32.0.1",
        ] {
            assert_eq!(none.check(ip(public)), Ok(()), "{public}");
        }
    }

    #[test]
    fn a_bad_allow_list_names_the_entry() {
        let error = AddressPolicy::parse("10.0.0.0/8, intranet").unwrap_err();
        assert!(error.contains("`intranet`"), "{error}");
        assert_eq!(
            AddressPolicy::parse(" ").unwrap(),
            AddressPolicy::new(Vec::new())
        );
    }
}
