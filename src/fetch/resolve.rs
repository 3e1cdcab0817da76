//! A DNS resolver for reqwest that applies the address guard ([`super::guard`]) to every
//! address a name resolves to, and hands reqwest only the allowed ones. Because the connection
//! is made to exactly the addresses checked here (no second lookup), a name that answers with
//! a public address once and a private one the next time ("DNS rebinding") cannot slip past.

use std::net::SocketAddr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::guard::{AddressPolicy, Refusal};

/// Resolves with the system resolver (as reqwest's default does), then filters by `policy`.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    /// Which addresses may be connected to.
    pub policy: AddressPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        let host = name.as_str().to_string();
        Box::pin(async move {
            // Port 0: reqwest puts the URL's (or the scheme's) port in afterwards.
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let (allowed, refused) = filter(policy, resolved);
            match (allowed.is_empty(), refused) {
                (false, _) | (true, None) => {
                    let addrs: Addrs = Box::new(allowed.into_iter());
                    Ok(addrs)
                }
                (true, Some(refusal)) => Err(Box::new(refusal) as _),
            }
        })
    }
}

/// The allowed addresses, and the first refusal (to report when nothing is allowed).
fn filter(policy: AddressPolicy, addrs: Vec<SocketAddr>) -> (Vec<SocketAddr>, Option<Refusal>) {
    let mut refused = None;
    let allowed = addrs
        .into_iter()
        .filter(|addr| match policy.check_ip(addr.ip()) {
            Ok(()) => true,
            Err(refusal) => {
                refused.get_or_insert(refusal);
                false
            }
        })
        .collect();
    (allowed, refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter()
            .map(|a| a.parse().expect("test address parses"))
            .collect()
    }

    #[test]
    fn a_name_answering_public_and_private_keeps_only_the_public_addresses() {
        let (allowed, refused) = filter(
            AddressPolicy::PUBLIC_ONLY,
            addrs(&["10.0.0.1:0", "93.184.216.34:0", "[::1]:0"]),
        );
        assert_eq!(allowed, addrs(&["93.184.216.34:0"]));
        assert!(refused.is_some());
    }

    #[tokio::test]
    async fn localhost_is_refused_without_allow_private() {
        let resolver = GuardedResolver {
            policy: AddressPolicy::PUBLIC_ONLY,
        };
        let name: Name = "localhost".parse().expect("valid name");
        let err = match resolver.resolve(name).await {
            Ok(_) => panic!("localhost must be refused"),
            Err(err) => err,
        };
        let refusal = err.downcast_ref::<Refusal>().expect("a guard refusal");
        assert!(matches!(refusal, Refusal::NonPublic { .. }), "{refusal}");
    }

    #[tokio::test]
    async fn localhost_resolves_with_allow_private() {
        let resolver = GuardedResolver {
            policy: AddressPolicy::ANY,
        };
        let name: Name = "localhost".parse().expect("valid name");
        let Ok(found) = resolver.resolve(name).await else {
            panic!("localhost resolves when allowed");
        };
        assert!(found.into_iter().all(|a| a.ip().is_loopback()));
    }
}
