//! The stages a delivery passes, each a small piece of plain state with an injected
//! "now": the channel's rate limit, the retry policy, the circuit breaker. The delivery
//! worker (`pipeline::deliver`) strings them together around a channel and the outbox.

mod breaker;
mod limit;
mod options;
mod retry;

pub use breaker::{Breaker, BreakerState};
pub use limit::{RateLimit, RateLimiter};
pub use options::{DeliveryOptions, DeliveryPlan};
pub use retry::RetryPolicy;
