//! A real server on a loopback port with a recording rollout, for the wire and load tests.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use diurnal_trigger::index::Index;
use diurnal_trigger::metrics::Metrics;
use diurnal_trigger::model::{Action, Intent, Trigger, Workload, WorkloadKind};
use diurnal_trigger::server::{self, Caller, Rolled, Rollout, RolloutError, Settings};
use diurnal_trigger::token::Token;
use futures::FutureExt as _;
use futures::future::BoxFuture;
use prometheus_client::registry::Registry;

/// The path of the one trigger served.
pub const PATH: &str = "/hooks/v1/namespaces/shop/triggers/web";

/// Counts rollouts.
#[derive(Default)]
pub struct Counting(pub AtomicUsize);

impl Rollout for Counting {
    fn roll<'a>(
        &'a self,
        _: &'a Trigger,
        _: &'a Intent,
        caller: &'a Caller,
    ) -> BoxFuture<'a, Result<Rolled, RolloutError>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        async move { Ok(Rolled { restarted_at: caller.restarted_at.clone(), image: None }) }.boxed()
    }
}

pub struct Running {
    pub addr: SocketAddr,
    pub token: Token,
    pub rollouts: Arc<Counting>,
}

/// Starts the server on the current runtime; it runs until the runtime ends.
pub fn start(settings: &Settings) -> Running {
    let token = Token::generate().unwrap();
    let index = Index::new();
    index.insert(Trigger {
        namespace: "shop".into(),
        name: "web".into(),
        workload: Workload { kind: WorkloadKind::Deployment, name: "web".into() },
        action: Action::Restart,
        container: None,
        image_pattern: None,
        allow_any_image: false,
        token_hash: token.hash(),
        token_issued: None,
        last_calls: Vec::new(),
    });
    index.set_ready();
    let rollouts = Arc::new(Counting::default());
    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    let (router, housekeeping) =
        server::router(index, rollouts.clone(), settings, metrics, Arc::new(registry));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        server::serve(
            router,
            housekeeping,
            listener,
            diurnal_serving::Options::default(),
            std::future::pending(),
        )
        .await
        .unwrap();
    });
    Running { addr, token, rollouts }
}
