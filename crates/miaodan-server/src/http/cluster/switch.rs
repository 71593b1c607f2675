//! What a member of a cluster answers with: the platform's own router while it holds shards
//! (which sends on what another member's shards decide), the [`Forwarder`] while it holds none. One listener serves both, so a member's address never
//! changes with its role, and a request in flight keeps the router it started with.

use super::forward::Forwarder;
use axum::Router;
use axum::extract::Request;
use axum::response::Response;
use std::convert::Infallible;
use std::sync::{Arc, RwLock};
use tower::ServiceExt;

#[derive(Clone)]
pub struct Switch {
    serving: Arc<RwLock<Option<Router>>>,
    forwarder: Forwarder,
}

impl Switch {
    pub fn new(forwarder: Forwarder) -> Switch {
        Switch {
            serving: Arc::new(RwLock::new(None)),
            forwarder,
        }
    }

    /// The router to serve: every request is answered by the current role's.
    pub fn router(&self) -> Router {
        let switch = self.clone();
        Router::new().fallback_service(tower::service_fn(move |request: Request| {
            let switch = switch.clone();
            async move { Ok::<Response, Infallible>(switch.answer(request).await) }
        }))
    }

    async fn answer(&self, request: Request) -> Response {
        let serving = self.serving.read().ok().and_then(|router| router.clone());
        match serving {
            Some(router) => match router.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            },
            None => self.forwarder.forward(request).await,
        }
    }

    /// From now on requests are answered by the platform (`router`): this process holds shards.
    pub fn serve(&self, router: Router) {
        if let Ok(mut serving) = self.serving.write() {
            *serving = Some(router);
        }
    }

    /// From now on requests are forwarded to shard 0's holder: this process holds no shard.
    pub fn stand_by(&self) {
        if let Ok(mut serving) = self.serving.write() {
            *serving = None;
        }
    }
}
