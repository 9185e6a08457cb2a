//! The runtime's only clock: tokio's monotonic time (paused in tests) mapped onto wall
//! time, so the core receives instants and the loops can sleep until them.

use chrono::{DateTime, TimeDelta, Utc};
use tokio::time::Instant;

use crate::core::Timestamp;

/// Maps tokio instants to wall-clock timestamps from a fixed origin.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
    origin_wall: Timestamp,
}

impl Clock {
    /// A clock anchored at the current instant and wall time.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
            origin_wall: DateTime::<Utc>::from(std::time::SystemTime::now()),
        }
    }

    /// A clock anchored at the current instant and a given wall time (for
    /// deterministic tests).
    pub fn starting_at(wall: Timestamp) -> Self {
        Self {
            origin: Instant::now(),
            origin_wall: wall,
        }
    }

    /// Now, as a wall-clock timestamp.
    pub fn now(&self) -> Timestamp {
        self.wall(Instant::now())
    }

    /// The wall time of an instant.
    pub fn wall(&self, instant: Instant) -> Timestamp {
        let elapsed = instant.saturating_duration_since(self.origin);
        self.origin_wall + TimeDelta::from_std(elapsed).unwrap_or(TimeDelta::MAX)
    }

    /// The instant of a wall time (the origin for times before it).
    pub fn instant(&self, wall: Timestamp) -> Instant {
        let since = wall.signed_duration_since(self.origin_wall);
        match since.to_std() {
            Ok(d) => self.origin + d,
            Err(_) => self.origin,
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}
