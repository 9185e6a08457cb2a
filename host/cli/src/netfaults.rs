//! Network faults between nodes, for fault-injection runs: partitions, lost requests
//! and replies, duplicated requests and delays, injected where a node opens its
//! connections ([`Link::Faulty`]). A node built without them (every node the command
//! starts) never consults any.
//!
//! One [`NetFaults`] is shared by the nodes of a test cluster; each node's link is
//! [`NetFaults::wrap`]ped with the node's own address, so a rule can name both ends of
//! a connection. The random choices come from one seeded generator, drawn in the order
//! the connections are made (which the executor, not the seed, decides).

use std::collections::BTreeSet;
use std::io;
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::link::Link;

/// The rules every wrapped link consults before it sends a request.
#[derive(Clone)]
pub struct NetFaults(Arc<Mutex<Rules>>);

impl std::fmt::Debug for NetFaults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rules = self.rules();
        f.debug_struct("NetFaults")
            .field("cut", &rules.cut.len())
            .field("drop", &rules.drop)
            .field("duplicate", &rules.duplicate)
            .field("delay", &rules.delay)
            .finish()
    }
}

struct Rules {
    /// Directed pairs (from, to) that cannot reach each other.
    cut: BTreeSet<(String, String)>,
    /// Chance a request is lost (half of those before delivery, half after: the
    /// reply is lost).
    drop: f64,
    /// Chance a request is delivered twice.
    duplicate: f64,
    /// Added latency, drawn per request.
    delay: Range<Duration>,
    rng: StdRng,
}

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Never reaches the peer.
    Lost,
    /// Reaches the peer; its reply is lost.
    ReplyLost,
    /// Reaches the peer twice; the second reply is the one returned.
    Duplicated,
    /// Reaches the peer once.
    Delivered,
}

/// A link that consults [`NetFaults`] (see [`Link::Faulty`]).
#[derive(Debug)]
pub struct FaultyLink {
    pub(crate) link: Link,
    pub(crate) from: String,
    pub(crate) faults: NetFaults,
}

impl NetFaults {
    /// No faults yet; random choices seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(Arc::new(Mutex::new(Rules {
            cut: BTreeSet::new(),
            drop: 0.0,
            duplicate: 0.0,
            delay: Duration::ZERO..Duration::ZERO,
            rng: StdRng::seed_from_u64(seed),
        })))
    }

    fn rules(&self) -> std::sync::MutexGuard<'_, Rules> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `link`, for the node at `from`, with these faults applied to what it sends.
    pub fn wrap(&self, link: Link, from: &str) -> Link {
        let link = match link {
            Link::Faulty(faulty) => faulty.link.clone(),
            link => link,
        };
        Link::Faulty(Arc::new(FaultyLink {
            link,
            from: from.to_owned(),
            faults: self.clone(),
        }))
    }

    /// Splits the nodes into `groups` (by address): no request crosses from one group
    /// to another, in either direction, until [`heal`](Self::heal). Replaces any
    /// earlier partition.
    pub fn partition(&self, groups: &[Vec<String>]) {
        let mut rules = self.rules();
        rules.cut.clear();
        for (i, a) in groups.iter().enumerate() {
            for b in groups.iter().skip(i + 1) {
                for x in a {
                    for y in b {
                        rules.cut.insert((x.clone(), y.clone()));
                        rules.cut.insert((y.clone(), x.clone()));
                    }
                }
            }
        }
    }

    /// Loses each request with chance `drop`, delivers it twice with chance
    /// `duplicate`, and delays each by a time drawn from `delay`.
    pub fn set_lossy(&self, drop: f64, duplicate: f64, delay: Range<Duration>) {
        let mut rules = self.rules();
        rules.drop = drop.clamp(0.0, 1.0);
        rules.duplicate = duplicate.clamp(0.0, 1.0);
        rules.delay = delay;
    }

    /// Ends every partition, loss, duplication and delay.
    pub fn heal(&self) {
        let mut rules = self.rules();
        rules.cut.clear();
        rules.drop = 0.0;
        rules.duplicate = 0.0;
        rules.delay = Duration::ZERO..Duration::ZERO;
    }

    /// What happens to a request from `from` to `to`, and how long it is delayed.
    pub(crate) fn fate(&self, from: &str, to: &str) -> (Fate, Duration) {
        let mut rules = self.rules();
        if rules.cut.contains(&(from.to_owned(), to.to_owned())) {
            return (Fate::Lost, Duration::ZERO);
        }
        let delay = if rules.delay.is_empty() {
            Duration::ZERO
        } else {
            let range = rules.delay.clone();
            rules.rng.random_range(range)
        };
        let (drop, duplicate) = (rules.drop, rules.duplicate);
        let roll: f64 = rules.rng.random();
        let fate = if roll < drop / 2.0 {
            Fate::Lost
        } else if roll < drop {
            Fate::ReplyLost
        } else if roll < drop + duplicate {
            Fate::Duplicated
        } else {
            Fate::Delivered
        };
        (fate, delay)
    }
}

/// The error a request lost to a fault gives: a reset connection. The text says
/// whether the peer may have acted on it (a lost reply) or surely did not.
pub(crate) fn lost(to: &str, delivered: bool) -> io::Error {
    let what = if delivered {
        "the reply was lost"
    } else {
        "not delivered"
    };
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        format!("{to}: {what} (injected network fault)"),
    )
}

#[cfg(test)]
mod tests {
    use super::{Fate, NetFaults};
    use std::time::Duration;

    #[test]
    fn a_partition_cuts_both_ways_between_groups_only() {
        let faults = NetFaults::new(1);
        let groups = [vec!["a".to_owned()], vec!["b".to_owned(), "c".to_owned()]];
        faults.partition(&groups);
        assert_eq!(faults.fate("a", "b").0, Fate::Lost);
        assert_eq!(faults.fate("c", "a").0, Fate::Lost);
        assert_eq!(faults.fate("b", "c").0, Fate::Delivered);
        faults.heal();
        assert_eq!(faults.fate("a", "b").0, Fate::Delivered);
    }

    #[test]
    fn losses_and_duplicates_come_at_about_their_rates() {
        let faults = NetFaults::new(7);
        let delay = Duration::from_millis(1)..Duration::from_millis(5);
        faults.set_lossy(0.2, 0.1, delay.clone());
        let mut counts = [0u32; 4];
        for _ in 0..10_000 {
            let (fate, d) = faults.fate("a", "b");
            assert!(delay.contains(&d));
            counts[match fate {
                Fate::Lost => 0,
                Fate::ReplyLost => 1,
                Fate::Duplicated => 2,
                Fate::Delivered => 3,
            }] += 1;
        }
        // 10 %, 10 %, 10 %, 70 %, each within 2 points.
        for (count, expected) in counts.iter().zip([1000, 1000, 1000, 7000]) {
            assert!(count.abs_diff(expected) < 200, "{counts:?}");
        }
    }
}
