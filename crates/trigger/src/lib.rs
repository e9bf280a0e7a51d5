//! Redeploy triggers: a secret URL that rolls a Deployment or StatefulSet.
//!
//! The pure part decides — [`token`] (generation, hashing, constant-time comparison),
//! [`image`] (references and allowed patterns), [`registry`] (push notifications),
//! [`limits`] (coalescing and rate limits), [`proxy`] (which address a call came from),
//! [`model`] (what a trigger is and may do). The shells talk to the world — [`server`] (HTTP),
//! [`store`] (`RedeployTrigger`s), [`rollout`] (patches, Events and status through the
//! Kubernetes API), [`client`] (calling a trigger from CI), [`legacy`] (migrating 0.1's
//! trigger Secrets).

pub mod client;
pub mod image;
pub mod index;
pub mod legacy;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod proxy;
pub mod registry;
pub mod rollout;
pub mod server;
pub mod store;
pub mod token;
