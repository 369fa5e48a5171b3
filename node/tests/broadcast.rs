//! The consensus network's broadcast protocol: the engine's network sends votes and proposal
//! parts through `libp2p-scatter`, vendored with a patch that sends every message of a topic
//! as a frame on one long-lived stream per connection (vendor/README.md). These tests run two
//! real libp2p swarms (TCP, Noise, Yamux on 127.0.0.1): what one sends arrives whole and in
//! order; a peer that sends malformed or oversized frames loses its connection and hands
//! nothing of them on; and a peer that reads nothing loses it once 64 MiB wait for it.

use std::convert::Infallible;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::{AsyncWriteExt, StreamExt};
use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::core::upgrade::ReadyUpgrade;
use libp2p::swarm::handler::{ConnectionEvent, FullyNegotiatedInbound, FullyNegotiatedOutbound};
use libp2p::swarm::{
    ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, FromSwarm,
    NetworkBehaviour, SubstreamProtocol, SwarmEvent, THandler, THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm};
use libp2p_scatter::{Behaviour, Config, Event, Topic};

mod support;

use support::swarm;

/// The streamed protocol's name, as the patch defines it.
const PROTOCOL: StreamProtocol = StreamProtocol::new("/scatter/stream/1.0.0");

/// How long any one expected event may take on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(20);

async fn listen<B: NetworkBehaviour>(swarm: &mut Swarm<B>) -> Multiaddr {
    swarm
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .unwrap();
    loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            return address;
        }
    }
}

/// Polls `other` in the background while waiting for `swarm`'s next event.
async fn next_event<A: NetworkBehaviour, B: NetworkBehaviour>(
    swarm: &mut Swarm<A>,
    other: &mut Swarm<B>,
) -> SwarmEvent<A::ToSwarm> {
    let wait = async {
        loop {
            tokio::select! {
                event = swarm.select_next_some() => return event,
                _ = other.select_next_some() => {}
            }
        }
    };
    tokio::time::timeout(PATIENCE, wait)
        .await
        .expect("an expected network event did not come")
}

/// A message of the broadcast protocol as the patch frames it: the message's length as an
/// unsigned varint, then a header byte (the topic's length shifted left by two, with `0b01` for
/// a broadcast), the topic and the payload.
fn frame(topic: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut message = vec![(topic.len() as u8) << 2 | 0b01];
    message.extend_from_slice(topic);
    message.extend_from_slice(payload);
    let mut out = varint(message.len());
    out.extend_from_slice(&message);
    out
}

fn varint(mut value: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

fn payload(i: usize) -> Bytes {
    // Sizes from 8 bytes to about 45 KiB, each message's bytes its own.
    let mut bytes = (i as u64).to_le_bytes().to_vec();
    bytes.extend((0..(i % 1_200) * 37).map(|j| (i + j) as u8));
    Bytes::from(bytes)
}

#[tokio::test]
async fn every_message_of_a_topic_arrives_whole_and_in_order() {
    let topics = [Topic::new(b"consensus"), Topic::new(b"proposal-parts")];
    let mut sender = swarm(Behaviour::new(Config::default()));
    let mut receiver = swarm(Behaviour::new(Config::default()));
    for topic in topics {
        sender.behaviour_mut().subscribe(topic);
        receiver.behaviour_mut().subscribe(topic);
    }
    let address = listen(&mut sender).await;
    receiver.dial(address).unwrap();
    // The sender broadcasts to the peers it knows to be subscribed.
    let mut subscribed = 0;
    while subscribed < topics.len() {
        if let SwarmEvent::Behaviour(Event::Subscribed(..)) =
            next_event(&mut sender, &mut receiver).await
        {
            subscribed += 1;
        }
    }

    // 3,000 messages on two topics, with one of 3 MiB among them.
    let mut sent: [Vec<Bytes>; 2] = Default::default();
    for i in 0..3_000 {
        let message = if i == 1_500 {
            Bytes::from(vec![7u8; 3 << 20])
        } else {
            payload(i)
        };
        sender
            .behaviour_mut()
            .broadcast(&topics[i % 2], message.clone());
        sent[i % 2].push(message);
    }
    let from = *sender.local_peer_id();
    let mut received: [Vec<Bytes>; 2] = Default::default();
    while received[0].len() + received[1].len() < 3_000 {
        match next_event(&mut receiver, &mut sender).await {
            SwarmEvent::Behaviour(Event::Received(peer, topic, message)) => {
                assert_eq!(peer, from);
                let index = topics.iter().position(|t| *t == topic).unwrap();
                received[index].push(message);
            }
            SwarmEvent::ConnectionClosed { cause, .. } => {
                panic!("the connection closed: {cause:?}")
            }
            _ => {}
        }
    }
    for (topic, (received, sent)) in received.iter().zip(&sent).enumerate() {
        assert_eq!(
            received.len(),
            sent.len(),
            "topic {topic}: every message arrives"
        );
        if let Some(i) = (0..sent.len()).find(|&i| received[i] != sent[i]) {
            panic!("topic {topic}: message {i} arrived out of order or changed");
        }
    }
}

#[tokio::test]
async fn a_message_over_the_receivers_limit_closes_the_connection() {
    let topic = Topic::new(b"consensus");
    let mut sender = swarm(Behaviour::new(Config::default()));
    let mut receiver = swarm(Behaviour::new(Config::default().max_buf_size(1_024)));
    sender.behaviour_mut().subscribe(topic);
    receiver.behaviour_mut().subscribe(topic);
    let address = listen(&mut sender).await;
    receiver.dial(address).unwrap();
    loop {
        if let SwarmEvent::Behaviour(Event::Subscribed(..)) =
            next_event(&mut sender, &mut receiver).await
        {
            break;
        }
    }
    sender
        .behaviour_mut()
        .broadcast(&topic, Bytes::from_static(b"within the limit"));
    sender
        .behaviour_mut()
        .broadcast(&topic, Bytes::from(vec![1u8; 2_000]));
    sender
        .behaviour_mut()
        .broadcast(&topic, Bytes::from_static(b"after the oversized one"));
    let mut received = Vec::new();
    loop {
        match next_event(&mut receiver, &mut sender).await {
            SwarmEvent::Behaviour(Event::Received(_, _, message)) => received.push(message),
            SwarmEvent::ConnectionClosed { .. } => break,
            _ => {}
        }
    }
    assert_eq!(received, vec![Bytes::from_static(b"within the limit")]);
}

/// A peer that opens one stream of the broadcast protocol, writes the given bytes on it and
/// then keeps it open (or closes it), speaking nothing else. It accepts the streams its peer
/// opens and never reads them.
struct RawSender {
    bytes: Vec<u8>,
    close: bool,
}

struct RawHandler {
    bytes: Option<Vec<u8>>,
    close: bool,
    unread: Vec<libp2p::Stream>,
}

impl NetworkBehaviour for RawSender {
    type ConnectionHandler = RawHandler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler())
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler())
    }

    fn on_swarm_event(&mut self, _: FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Infallible, Infallible>> {
        Poll::Pending
    }
}

impl RawSender {
    fn handler(&self) -> RawHandler {
        RawHandler {
            bytes: Some(self.bytes.clone()),
            close: self.close,
            unread: Vec::new(),
        }
    }
}

impl ConnectionHandler for RawHandler {
    type FromBehaviour = Infallible;
    type ToBehaviour = Infallible;
    type InboundProtocol = ReadyUpgrade<StreamProtocol>;
    type OutboundProtocol = ReadyUpgrade<StreamProtocol>;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = Option<Vec<u8>>;

    fn listen_protocol(&self) -> SubstreamProtocol<ReadyUpgrade<StreamProtocol>> {
        SubstreamProtocol::new(ReadyUpgrade::new(PROTOCOL), ())
    }

    fn poll(
        &mut self,
        _: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, Option<Vec<u8>>, Infallible>> {
        match self.bytes.take() {
            Some(bytes) => Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest {
                protocol: SubstreamProtocol::new(ReadyUpgrade::new(PROTOCOL), Some(bytes)),
            }),
            None => Poll::Pending,
        }
    }

    fn on_behaviour_event(&mut self, event: Infallible) {
        match event {}
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<
            ReadyUpgrade<StreamProtocol>,
            ReadyUpgrade<StreamProtocol>,
            (),
            Option<Vec<u8>>,
        >,
    ) {
        if let ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
            protocol: stream,
            ..
        }) = event
        {
            self.unread.push(stream);
            return;
        }
        if let ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound {
            protocol: mut stream,
            info: Some(bytes),
        }) = event
        {
            let close = self.close;
            tokio::spawn(async move {
                // The receiver may close the connection at any point: errors are its verdict.
                let _ = stream.write_all(&bytes).await;
                let _ = stream.flush().await;
                if close {
                    let _ = stream.close().await;
                } else {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
            });
        }
    }
}

/// Sends `bytes` from a raw peer to a receiver with a 1 KiB frame limit that subscribes to
/// nothing (so it never opens a stream of its own to the raw peer, which would fail). Returns
/// the payloads handed on and whether the receiver closed the connection (waiting `quiet`
/// for it when it has not).
async fn send_raw(bytes: Vec<u8>, close: bool, quiet: Duration) -> (Vec<Bytes>, bool) {
    let mut receiver = swarm(Behaviour::new(Config::default().max_buf_size(1_024)));
    let mut raw = swarm(RawSender { bytes, close });
    let address = listen(&mut receiver).await;
    raw.dial(address).unwrap();
    let mut received = Vec::new();
    let deadline = tokio::time::Instant::now() + quiet;
    loop {
        let event = tokio::select! {
            event = receiver.select_next_some() => event,
            _ = raw.select_next_some() => continue,
            _ = tokio::time::sleep_until(deadline) => return (received, false),
        };
        match event {
            SwarmEvent::Behaviour(Event::Received(_, _, message)) => received.push(message),
            SwarmEvent::ConnectionClosed { .. } => return (received, true),
            _ => {}
        }
    }
}

#[tokio::test]
async fn malformed_frames_close_the_connection_and_hand_nothing_on() {
    let good = frame(b"consensus", b"a vote");
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("a length over the limit", varint(1_025), false),
        ("an empty frame", vec![0], false),
        ("a header of no kind", vec![1, 0b11], false),
        (
            "a topic longer than its frame",
            vec![3, (10 << 2) | 0b01, b'a', b'b'],
            false,
        ),
        ("a length prefix that never ends", vec![0xff; 11], false),
        (
            "a frame cut short by the stream's end",
            [varint(100), vec![1; 10]].concat(),
            true,
        ),
        (
            "a good frame, then an empty one",
            [good.clone(), vec![0]].concat(),
            false,
        ),
    ];
    for (case, bytes, close) in cases {
        let (received, closed) = send_raw(bytes, close, PATIENCE).await;
        assert!(closed, "{case}: the receiver closes the connection");
        let expected: Vec<Bytes> = if case.starts_with("a good frame") {
            vec![Bytes::from_static(b"a vote")]
        } else {
            vec![]
        };
        assert_eq!(
            received, expected,
            "{case}: only whole messages are handed on"
        );
    }

    // The same raw peer with well-formed frames only keeps its connection.
    let (received, closed) = send_raw(
        [
            good.clone(),
            frame(b"proposal-parts", &[9; 1_000]),
            frame(b"", b""),
        ]
        .concat(),
        false,
        Duration::from_secs(2),
    )
    .await;
    assert!(!closed, "well-formed frames keep the connection");
    assert_eq!(
        received,
        vec![
            Bytes::from_static(b"a vote"),
            Bytes::from(vec![9; 1_000]),
            Bytes::new()
        ]
    );
}

/// Sends `mib` messages of 1 MiB to a raw peer that subscribes to their topic and then reads
/// nothing; returns whether the sender closed the connection within `wait`.
async fn flood_a_peer_that_reads_nothing(mib: usize, wait: Duration) -> bool {
    let topic = Topic::new(b"proposal-parts");
    let subscribe = [
        varint(1 + topic.len()),
        vec![(topic.len() as u8) << 2],
        topic.to_vec(),
    ]
    .concat();
    let mut sender = swarm(Behaviour::new(Config::default()));
    let mut raw = swarm(RawSender {
        bytes: subscribe,
        close: false,
    });
    let address = listen(&mut sender).await;
    raw.dial(address).unwrap();
    loop {
        if let SwarmEvent::Behaviour(Event::Subscribed(_, subscribed)) =
            next_event(&mut sender, &mut raw).await
        {
            assert_eq!(subscribed, topic);
            break;
        }
    }
    for _ in 0..mib {
        sender
            .behaviour_mut()
            .broadcast(&topic, Bytes::from(vec![5u8; 1 << 20]));
    }
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let event = tokio::select! {
            event = sender.select_next_some() => event,
            _ = raw.select_next_some() => continue,
            _ = tokio::time::sleep_until(deadline) => return false,
        };
        if let SwarmEvent::ConnectionClosed { .. } = event {
            return true;
        }
    }
}

#[tokio::test]
async fn a_peer_that_stops_reading_loses_its_connection_at_the_bound() {
    // The stream's window and the sockets' buffers take a little; the rest waits in the
    // handler, up to 64 MiB.
    assert!(
        !flood_a_peer_that_reads_nothing(60, Duration::from_secs(2)).await,
        "60 MiB waiting keep the connection"
    );
    assert!(
        flood_a_peer_that_reads_nothing(100, PATIENCE).await,
        "past 64 MiB waiting, the connection is closed"
    );
}
