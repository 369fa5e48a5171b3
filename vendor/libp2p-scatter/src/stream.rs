//! PATCH(stream): the whole of this file is the patch's (see the repository's vendor/README.md).
//!
//! A connection handler that keeps one long-lived outbound stream per topic and reads every
//! inbound stream for as long as the remote keeps it open. Each message is a frame: its length
//! as an unsigned varint, then the message's bytes as `Message::to_bytes` writes them (the
//! same bytes the one-shot protocol sent alone on a stream of their own).
//!
//! The released crate opens a new stream for every message: a yamux stream, a protocol
//! negotiation, one write and a close, each way. Consensus messages are small and many, so
//! that per-message cost was most of what a validator's network did. Here a message costs one
//! frame on a stream that is already open. Messages of one topic keep their order; topics do
//! not wait for each other (a large proposal part does not hold up a vote of another topic).
//!
//! Bounds: at most `MAX_INBOUND_STREAMS` inbound streams per connection (more are refused);
//! a frame longer than the configured `max_buf_size` ends its stream with an error, and so does
//! a malformed message; at most `max_pending_bytes` per connection waiting behind the writes in
//! progress. Every error is reported to the behaviour, which closes the connection, as it did
//! for a failed one-shot stream. What the peer did wrong (a malformed or oversized frame, too
//! many streams, not reading) is also logged as a warning naming the peer; a failed write or
//! read of a connection that is going away is left to the behaviour's debug log.

use std::collections::VecDeque;
use std::io;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use futures::stream::{BoxStream, SelectAll};
use futures::{FutureExt, StreamExt};
use libp2p::core::upgrade::ReadyUpgrade;
use libp2p::swarm::handler::{
    ConnectionEvent, DialUpgradeError, FullyNegotiatedInbound, FullyNegotiatedOutbound,
};
use libp2p::swarm::{ConnectionHandler, ConnectionHandlerEvent, Stream, SubstreamProtocol};
use libp2p::{PeerId, StreamProtocol};

use crate::protocol::{Config, Message, Topic};
use crate::HandlerEvent;

/// The protocol of the streamed form. It differs from the one-shot protocol's name, so a peer
/// running the released crate fails negotiation instead of misreading frames.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/scatter/stream/1.0.0");

/// Inbound streams a connection may hold at once: one per topic the remote sends on, with
/// room for a stream being replaced.
pub const MAX_INBOUND_STREAMS: usize = 16;

/// The least a connection may queue for writing, whatever `max_buf_size` is.
const MIN_PENDING_BYTES: usize = 64 << 20;

/// How long opening (and negotiating) an outbound stream may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// What the handler reports to the behaviour: a message, or an error after which the
/// connection should be closed.
pub type ToBehaviour = Result<HandlerEvent, io::Error>;

enum OutboundState {
    /// No stream: one is requested when a frame is queued.
    Closed,
    /// Requested from the connection; frames queue meanwhile.
    Opening,
    /// Open and idle.
    Ready(Stream),
    /// Writing the frames that were queued when the write began.
    Writing(BoxFuture<'static, io::Result<Stream>>),
}

struct Outbound {
    topic: Topic,
    /// Frames not yet handed to the stream, back to back.
    pending: Vec<u8>,
    state: OutboundState,
}

pub struct Handler {
    /// The remote, named in the warnings about what it sent.
    peer: PeerId,
    max_frame: usize,
    max_pending_bytes: usize,
    /// Bytes in every `Outbound::pending` together.
    pending_bytes: usize,
    outbound: Vec<Outbound>,
    inbound: SelectAll<BoxStream<'static, io::Result<Message>>>,
    events: VecDeque<ToBehaviour>,
}

impl Handler {
    pub fn new(config: &Config, peer: PeerId) -> Self {
        Self {
            peer,
            max_frame: config.max_buf_size,
            max_pending_bytes: MIN_PENDING_BYTES.max(config.max_buf_size.saturating_mul(4)),
            pending_bytes: 0,
            outbound: Vec::new(),
            inbound: SelectAll::new(),
            events: VecDeque::new(),
        }
    }

    fn queue(&mut self, message: Message) {
        let topic = match &message {
            Message::Subscribe(topic) | Message::Unsubscribe(topic) => *topic,
            Message::Broadcast(topic, _) => *topic,
        };
        let frame = message.to_bytes();
        let mut varint = unsigned_varint::encode::usize_buffer();
        let prefix = unsigned_varint::encode::usize(frame.len(), &mut varint);
        let bytes = prefix.len() + frame.len();
        if self.pending_bytes + bytes > self.max_pending_bytes {
            let error = io::Error::other(format!(
                "more than {} bytes queued for a peer that does not read them",
                self.max_pending_bytes
            ));
            tracing::warn!(peer = %self.peer, "closing a broadcast connection: {error}");
            self.events.push_back(Err(error));
            return;
        }
        let index = match self.outbound.iter().position(|o| o.topic == topic) {
            Some(index) => index,
            None => {
                self.outbound.push(Outbound {
                    topic,
                    pending: Vec::new(),
                    state: OutboundState::Closed,
                });
                self.outbound.len() - 1
            }
        };
        let pending = &mut self.outbound[index].pending;
        pending.extend_from_slice(prefix);
        pending.extend_from_slice(&frame);
        self.pending_bytes += bytes;
    }

    fn fail(&mut self, topic: Topic, error: io::Error) {
        if let Some(outbound) = self.outbound.iter_mut().find(|o| o.topic == topic) {
            self.pending_bytes -= outbound.pending.len();
            outbound.pending = Vec::new();
            outbound.state = OutboundState::Closed;
        }
        self.events.push_back(Err(error));
    }
}

/// Reads one frame: `None` when the stream ends cleanly before a frame begins.
async fn read_frame(
    stream: &mut BufReader<Stream>,
    max_frame: usize,
) -> io::Result<Option<Vec<u8>>> {
    let mut varint = unsigned_varint::encode::usize_buffer();
    let mut read = 0;
    let len = loop {
        let mut byte = [0u8; 1];
        if stream.read(&mut byte).await? == 0 {
            if read == 0 {
                return Ok(None);
            }
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if read == varint.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a frame's length prefix is longer than any length",
            ));
        }
        varint[read] = byte[0];
        read += 1;
        match unsigned_varint::decode::usize(&varint[..read]) {
            Ok((len, _)) => break len,
            Err(unsigned_varint::decode::Error::Insufficient) => continue,
            Err(error) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("a frame's length prefix is malformed: {error}"),
                ))
            }
        }
    };
    if len == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "an empty frame"));
    }
    if len > max_frame {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame of {len} bytes exceeds the maximum of {max_frame} bytes"),
        ));
    }
    let mut frame = vec![0; len];
    stream.read_exact(&mut frame).await?;
    Ok(Some(frame))
}

fn frames(stream: Stream, max_frame: usize) -> BoxStream<'static, io::Result<Message>> {
    futures::stream::try_unfold(
        BufReader::with_capacity(64 * 1024, stream),
        move |mut stream| async move {
            match read_frame(&mut stream, max_frame).await? {
                None => Ok(None),
                Some(frame) => Ok(Some((Message::from_bytes(&frame)?, stream))),
            }
        },
    )
    .boxed()
}

async fn write(mut stream: Stream, frames: Vec<u8>) -> io::Result<Stream> {
    stream.write_all(&frames).await?;
    stream.flush().await?;
    Ok(stream)
}

impl ConnectionHandler for Handler {
    type FromBehaviour = Message;
    type ToBehaviour = ToBehaviour;
    type InboundProtocol = ReadyUpgrade<StreamProtocol>;
    type OutboundProtocol = ReadyUpgrade<StreamProtocol>;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = Topic;

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol> {
        SubstreamProtocol::new(ReadyUpgrade::new(PROTOCOL), ())
    }

    fn on_behaviour_event(&mut self, message: Message) {
        self.queue(message);
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, Topic, ToBehaviour>> {
        if let Some(event) = self.events.pop_front() {
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(event));
        }

        if let Poll::Ready(Some(received)) = self.inbound.poll_next_unpin(cx) {
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(
                received.map(HandlerEvent::Rx).inspect_err(|error| {
                    // Malformed, empty or oversized frames and messages: the peer's doing.
                    if error.kind() == io::ErrorKind::InvalidData {
                        tracing::warn!(
                            peer = %self.peer,
                            "closing a broadcast connection: {error}"
                        );
                    }
                }),
            ));
        }

        for index in 0..self.outbound.len() {
            loop {
                let outbound = &mut self.outbound[index];
                match std::mem::replace(&mut outbound.state, OutboundState::Closed) {
                    OutboundState::Writing(mut write) => match write.poll_unpin(cx) {
                        Poll::Ready(Ok(stream)) => outbound.state = OutboundState::Ready(stream),
                        Poll::Ready(Err(error)) => {
                            let topic = outbound.topic;
                            self.fail(topic, error);
                            break;
                        }
                        Poll::Pending => {
                            outbound.state = OutboundState::Writing(write);
                            break;
                        }
                    },
                    OutboundState::Ready(stream) if !outbound.pending.is_empty() => {
                        let frames = std::mem::take(&mut outbound.pending);
                        self.pending_bytes -= frames.len();
                        outbound.state = OutboundState::Writing(write(stream, frames).boxed());
                    }
                    OutboundState::Closed if !outbound.pending.is_empty() => {
                        outbound.state = OutboundState::Opening;
                        let protocol =
                            SubstreamProtocol::new(ReadyUpgrade::new(PROTOCOL), outbound.topic)
                                .with_timeout(OPEN_TIMEOUT);
                        return Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest {
                            protocol,
                        });
                    }
                    state => {
                        outbound.state = state;
                        break;
                    }
                }
            }
        }

        if let Some(event) = self.events.pop_front() {
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(event));
        }
        Poll::Pending
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<Self::InboundProtocol, Self::OutboundProtocol, (), Topic>,
    ) {
        match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                protocol: stream,
                ..
            }) => {
                if self.inbound.len() >= MAX_INBOUND_STREAMS {
                    tracing::warn!(
                        peer = %self.peer,
                        "refused a broadcast stream: {MAX_INBOUND_STREAMS} are open already"
                    );
                    drop(stream);
                    return;
                }
                self.inbound.push(frames(stream, self.max_frame));
            }
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound {
                protocol: stream,
                info: topic,
            }) => {
                if let Some(outbound) = self.outbound.iter_mut().find(|o| o.topic == topic) {
                    outbound.state = OutboundState::Ready(stream);
                }
            }
            ConnectionEvent::DialUpgradeError(DialUpgradeError { info: topic, error }) => {
                self.fail(
                    topic,
                    io::Error::other(format!("opening a broadcast stream failed: {error}")),
                );
            }
            _ => {}
        }
    }
}
