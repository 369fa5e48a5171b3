//! What more than one of the node's test binaries needs.

use std::time::Duration;

use libp2p::Swarm;
use libp2p::swarm::NetworkBehaviour;

/// A libp2p swarm with a key of its own, speaking the nodes' transport (TCP, Noise, Yamux),
/// that keeps an idle connection for a minute.
pub(crate) fn swarm<B: NetworkBehaviour>(behaviour: B) -> Swarm<B> {
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default(),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| behaviour)
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}
