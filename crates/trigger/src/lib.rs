//! Redeploy triggers: a secret URL that rolls a Deployment or StatefulSet.
//!
//! The pure part decides — [`token`] (generation, hashing, constant-time comparison),
//! [`image`] (references and allowed patterns), [`registry`] (push notifications),
//! [`limits`] (coalescing and rate limits), [`model`] (what a trigger is and may do). The
//! shells talk to the world — [`server`] (HTTP), [`store`] (trigger Secrets), [`rollout`]
//! (patches and Events through the Kubernetes API), [`client`] (calling a trigger from CI).

pub mod client;
pub mod image;
pub mod index;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod registry;
pub mod rollout;
pub mod server;
pub mod store;
pub mod token;
