//! Several upstreams: the order in which a connection tries them (`--balance`), and the
//! back-off that keeps one that refused or timed out out of the rotation for a while.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::ValueEnum;

use super::addr::Endpoint;

/// How long an upstream that failed a connect is skipped the first time; each failure after
/// its back-off ended (before a success) doubles it, up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(2);
/// The longest back-off.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Which upstream a connection tries first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Balance {
    /// Each in turn.
    Roundrobin,
    /// The first one up, in the order given (the others are spares).
    First,
    /// The one with the fewest open connections (ties: each in turn).
    Leastconn,
}

/// An upstream, its open connections and its health.
struct Upstream {
    at: Endpoint,
    open: AtomicUsize,
    health: Mutex<Health>,
}

/// Up when `down_until` is not in the future; `backoff` is zero after a success.
#[derive(Debug, Default, Clone, Copy)]
struct Health {
    down_until: Option<Instant>,
    backoff: Duration,
}

impl Health {
    fn up(&self, now: Instant) -> bool {
        self.down_until.is_none_or(|t| t <= now)
    }
}

/// The upstreams of a relay, shared by its workers.
pub struct Pool {
    ups: Vec<Upstream>,
    how: Balance,
    turn: AtomicUsize,
}

/// Counts a connection open on an upstream (for `leastconn`) until dropped.
pub struct Open<'a>(&'a AtomicUsize);

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Pool {
    pub fn new(at: Vec<Endpoint>, how: Balance) -> Pool {
        let ups = at
            .into_iter()
            .map(|at| Upstream {
                at,
                open: AtomicUsize::new(0),
                health: Mutex::new(Health::default()),
            })
            .collect();
        let turn = AtomicUsize::new(0);
        Pool { ups, how, turn }
    }

    pub fn at(&self, i: usize) -> &Endpoint {
        &self.ups[i].at
    }

    /// Whether upstream `i` takes connections at `now` (it is not in a back-off).
    pub fn is_up(&self, i: usize, now: Instant) -> bool {
        self.health(i).up(now)
    }

    pub fn len(&self) -> usize {
        self.ups.len()
    }

    fn health(&self, i: usize) -> Health {
        *self.ups[i].health.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The order in which a new connection tries the upstreams: those up, by the balance
    /// rule, then those down, the soonest back first (when all are down each is still
    /// tried, so one that came back is used at once, not after its back-off).
    pub fn order(&self, now: Instant) -> Vec<usize> {
        let health: Vec<Health> = (0..self.len()).map(|i| self.health(i)).collect();
        let (mut up, mut down): (Vec<usize>, Vec<usize>) =
            (0..self.len()).partition(|&i| health[i].up(now));
        if !up.is_empty() && self.how != Balance::First {
            let k = self.turn.fetch_add(1, Ordering::Relaxed) % up.len();
            up.rotate_left(k);
        }
        if self.how == Balance::Leastconn {
            up.sort_by_key(|&i| self.ups[i].open.load(Ordering::Relaxed));
        }
        down.sort_by_key(|&i| health[i].down_until);
        up.extend(down);
        up
    }

    /// Notes that a connect to upstream `i` failed: one that was up goes down for its
    /// back-off, which is returned (never with a single upstream: there is nothing else to try).
    pub fn failed(&self, i: usize, now: Instant) -> Option<Duration> {
        if self.len() < 2 {
            return None;
        }
        let mut h = self.ups[i].health.lock().unwrap_or_else(|p| p.into_inner());
        if !h.up(now) {
            // Tried while down (every upstream was), or failed on two connections at once.
            return None;
        }
        h.backoff = match h.backoff {
            d if d.is_zero() => FIRST_BACKOFF,
            d => (d * 2).min(MAX_BACKOFF),
        };
        h.down_until = Some(now + h.backoff);
        Some(h.backoff)
    }

    /// Notes that a connect to upstream `i` worked: it is up, its back-off forgotten; the
    /// connection counts as open on it until the result is dropped.
    pub fn connected(&self, i: usize) -> Open<'_> {
        *self.ups[i].health.lock().unwrap_or_else(|p| p.into_inner()) = Health::default();
        self.ups[i].open.fetch_add(1, Ordering::Relaxed);
        Open(&self.ups[i].open)
    }
}

impl std::fmt::Display for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, u) in self.ups.iter().enumerate() {
            let sep = if i > 0 { ", " } else { "" };
            write!(f, "{sep}{}", u.at)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{Balance, Endpoint, Pool, FIRST_BACKOFF, MAX_BACKOFF};
    use std::time::{Duration, Instant};

    fn pool(n: u16, how: Balance) -> Pool {
        let at = (1..=n).map(|p| Endpoint::parse(&p.to_string()).unwrap());
        Pool::new(at.collect(), how)
    }

    #[test]
    fn roundrobin_turns_over_the_upstreams_up() {
        let (p, t) = (pool(3, Balance::Roundrobin), Instant::now());
        let firsts: Vec<usize> = (0..6).map(|_| p.order(t)[0]).collect();
        assert_eq!(firsts, [0, 1, 2, 0, 1, 2]);
        assert_eq!(p.failed(1, t), Some(FIRST_BACKOFF));
        // Down: last in every order, and the two others share the connections evenly.
        let orders: Vec<Vec<usize>> = (0..4).map(|_| p.order(t)).collect();
        assert!(orders.iter().all(|o| o[2] == 1), "{orders:?}");
        let zeros = orders.iter().filter(|o| o[0] == 0).count();
        assert_eq!(zeros, 2, "{orders:?}");
        // Back after its back-off.
        assert!(p.order(t + FIRST_BACKOFF).contains(&1));
        assert_eq!(p.order(t + FIRST_BACKOFF).len(), 3);
    }

    #[test]
    fn first_uses_the_first_up_and_leastconn_the_least_busy() {
        let (p, t) = (pool(3, Balance::First), Instant::now());
        assert_eq!((p.order(t), p.order(t)), (vec![0, 1, 2], vec![0, 1, 2]));
        p.failed(0, t);
        assert_eq!(p.order(t), [1, 2, 0]);
        let _open = p.connected(0);
        assert_eq!(p.order(t), [0, 1, 2]);

        let p = pool(3, Balance::Leastconn);
        let (a, b) = (p.connected(0), p.connected(0));
        let c = p.connected(2);
        assert_eq!(p.order(t)[..2], [1, 2]);
        drop((a, b));
        let _d = p.connected(1);
        assert_eq!(p.order(t)[0], 0);
        drop(c);
        assert_eq!(p.order(t)[2], 1);
    }

    #[test]
    fn the_backoff_doubles_to_its_cap_and_a_success_resets_it() {
        let (p, mut t) = (pool(2, Balance::First), Instant::now());
        let mut seen = Vec::new();
        for _ in 0..6 {
            let d = p.failed(0, t).unwrap();
            // Failing again while down changes nothing.
            assert_eq!(p.failed(0, t + Duration::from_millis(1)), None);
            seen.push(d.as_secs());
            t += d;
        }
        assert_eq!(seen, [2, 4, 8, 16, 30, 30]);
        assert_eq!(MAX_BACKOFF.as_secs(), 30);
        drop(p.connected(0));
        assert_eq!(p.failed(0, t), Some(FIRST_BACKOFF));
        // One upstream is never marked down: there is nothing else to try.
        assert_eq!(pool(1, Balance::First).failed(0, t), None);
    }
}
