//! Round timeouts, and how they adapt to the network ([`Pace`]).
//!
//! The configured timeouts must cover the slowest case a deployment expects: on an idle
//! network the proposer waits up to the idle-block interval for a transaction before it
//! proposes, so the propose timeout must exceed that interval, and on a WAN a block must cross
//! round trips of tens of milliseconds. While transactions wait, though, an honest proposer
//! proposes at once, and a validator that waits the whole configured timeout for a proposer
//! that is down (before attendance takes it for absent) makes every caller wait with it.
//!
//! So each node times how long it waited for the proposal of round 0 at the heights it began
//! with transactions waiting in its own mempool ("busy" heights), from the round's start to
//! the proposal's validation. At a busy height, round 0 waits twice the longest of the last
//! [`PACE_WINDOW`] such waits, never less than the configured floor nor more than the
//! configured timeout; prevote, precommit and probe timeouts are cut to the same bound. Later
//! rounds are as long as configured or longer, so a network slower than the window showed
//! costs one short round, and the late proposal's wait, once timed, doubles the bound. At a
//! height begun with an empty mempool the configured timeouts apply whole (the proposer may
//! rightly wait for a transaction).
//!
//! Timeouts are local: each node may choose its own without any effect on safety, and nodes
//! need not agree. A faulty proposer can only lengthen a node's bound (up to the configured
//! timeouts) by proposing late; it cannot shorten it below the floor.

use std::collections::VecDeque;
use std::time::Duration;

use malachite_core_types::LinearTimeouts;

use super::context::ConsensusValidatorSet;

/// How many busy heights' waits for a round-0 proposal a node remembers.
pub const PACE_WINDOW: usize = 32;

/// How many waits a node must have timed before its timeouts adapt at all.
pub const PACE_SAMPLES_MIN: usize = 8;

/// Consensus timeouts. These defaults (the simulator's and the tests') suit a four-member
/// consortium on a LAN: a proposal is waited for 1 s, a mixed quorum of prevotes or
/// precommits 500 ms, an absent validator's probe 250 ms, and busy heights adapt down to a
/// floor of 200 ms ([`Pace`]). Each grows by half its base per round, so a network that is
/// slower than assumed still converges. A node's configuration sets its own (`[consensus]`,
/// where the propose timeout defaults to 2 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsensusTimeouts {
    /// How long validators wait for the round's proposal before prevoting nil.
    pub propose: Duration,
    /// How long validators wait after a quorum of prevotes for different values.
    pub prevote: Duration,
    /// How long validators wait after a quorum of precommits for different values.
    pub precommit: Duration,
    /// How long validators wait for the proposal of round 0, and then for its precommits,
    /// when it probes a validator taken for absent (`Attendance`): one that is back proposes
    /// at once, and one still away costs twice this (at most the propose timeout).
    pub probe: Duration,
    /// The least the timeouts of a busy height adapt down to ([`Pace`]). At or above
    /// `propose`, the timeouts do not adapt.
    pub floor: Duration,
}

impl Default for ConsensusTimeouts {
    fn default() -> Self {
        Self {
            propose: Duration::from_secs(1),
            prevote: Duration::from_millis(500),
            precommit: Duration::from_millis(500),
            probe: Duration::from_millis(250),
            floor: Duration::from_millis(200),
        }
    }
}

impl ConsensusTimeouts {
    /// The engine's timeouts: these bases, each growing by half its base per round, a
    /// rebroadcast of the node's votes after a whole round's worth of time, and no timeout
    /// above 30 s.
    pub fn to_engine(self) -> LinearTimeouts {
        LinearTimeouts {
            propose: self.propose,
            propose_delta: self.propose / 2,
            prevote: self.prevote,
            prevote_delta: self.prevote / 2,
            precommit: self.precommit,
            precommit_delta: self.precommit / 2,
            rebroadcast: self.propose + self.prevote + self.precommit,
            max_timeout: Duration::from_secs(30),
        }
    }

    /// The bound a busy height's round 0 waits for its proposal, given the longest wait of the
    /// node's window ([`Pace::longest`]): twice that wait, within `floor` and `propose`.
    /// `None` when the timeouts do not adapt (no window yet, or a floor at or above the
    /// propose timeout).
    pub fn adapted(self, longest_wait: Option<Duration>) -> Option<Duration> {
        let longest = longest_wait?;
        if self.floor >= self.propose {
            return None;
        }
        Some(longest.saturating_mul(2).clamp(self.floor, self.propose))
    }

    /// The engine's timeouts for a height whose validators are `validators`, where `adapted`
    /// is the bound [`ConsensusTimeouts::adapted`] gave for a busy height (`None` for a height
    /// begun with an empty mempool): as [`ConsensusTimeouts::to_engine`], except that round
    /// 0's propose, prevote and precommit timeouts are at most `adapted` at a busy height, and
    /// at most `probe` when round 0 probes an absent validator. Round 1 then waits exactly as
    /// long as usual, and each later round longer than usual (by the amount cut from round
    /// 0), so that a proposer that rightly waits for transactions in round 1 is not cut short.
    ///
    /// The precommit timeout counts as much as the propose timeout: a round whose proposer is
    /// down ends with a quorum of nil precommits, and the engine then waits the precommit
    /// timeout before the next round, as it does after any mixed quorum.
    pub fn for_height(
        self,
        validators: &ConsensusValidatorSet,
        adapted: Option<Duration>,
    ) -> LinearTimeouts {
        let mut engine = self.to_engine();
        let mut bound = adapted.unwrap_or(Duration::MAX);
        if validators.attendance().probe().is_some() {
            bound = bound.min(self.probe);
        }
        let shorten = |base: Duration| -> (Duration, Duration) {
            let first = bound.min(base);
            (first, (base + base / 2).saturating_sub(first))
        };
        (engine.propose, engine.propose_delta) = shorten(self.propose);
        (engine.prevote, engine.prevote_delta) = shorten(self.prevote);
        (engine.precommit, engine.precommit_delta) = shorten(self.precommit);
        engine
    }
}

/// What a node has seen of its network's pace: how long it waited for round 0's proposal at
/// its last busy heights (see the module's documentation). Plain state with the clock passed
/// in, so that the simulator runs it as the node does.
#[derive(Debug, Clone, Default)]
pub struct Pace {
    /// The waits, in milliseconds, oldest first; at most [`PACE_WINDOW`].
    waits_ms: VecDeque<u64>,
    /// Round 0 of the height consensus works on: the height, when the round started, and
    /// whether the height began busy.
    round_zero: Option<(u64, u64, bool)>,
    /// The height whose round-0 proposal was just validated and is still to be timed.
    validated: Option<u64>,
}

impl Pace {
    /// Round 0 of `height` started at `now_ms`; `busy`: transactions were waiting in this
    /// node's mempool when the height began.
    pub fn round_zero_started(&mut self, height: u64, now_ms: u64, busy: bool) {
        self.round_zero = Some((height, now_ms, busy));
        self.validated = None;
    }

    /// A fresh proposal for round 0 of `height` was found valid; [`Pace::timed`] reads the
    /// clock once its validation is done.
    pub fn proposal_validated(&mut self, height: u64) {
        if matches!(self.round_zero, Some((h, _, true)) if h == height) {
            self.validated = Some(height);
        }
    }

    /// The clock reads `now_ms` after the validation [`Pace::proposal_validated`] announced:
    /// the wait is recorded (once per height). Returns it.
    pub fn timed(&mut self, now_ms: u64) -> Option<Duration> {
        let height = self.validated.take()?;
        let (h, started_ms, busy) = self.round_zero?;
        if h != height || !busy {
            return None;
        }
        // Once per height: a second valid proposal for round 0 (equivocation) is not timed.
        self.round_zero = Some((h, started_ms, false));
        let wait = now_ms.saturating_sub(started_ms);
        if self.waits_ms.len() == PACE_WINDOW {
            self.waits_ms.pop_front();
        }
        self.waits_ms.push_back(wait);
        Some(Duration::from_millis(wait))
    }

    /// The longest wait of the window, once it holds [`PACE_SAMPLES_MIN`] waits.
    pub fn longest(&self) -> Option<Duration> {
        if self.waits_ms.len() < PACE_SAMPLES_MIN {
            return None;
        }
        self.waits_ms
            .iter()
            .max()
            .map(|ms| Duration::from_millis(*ms))
    }
}

#[cfg(test)]
mod tests {
    use evidence_core::keys::SigningKey;
    use malachite_core_types::{Round, Timeout, TimeoutKind};

    use super::super::context::{Attendance, Proposed};
    use super::*;

    fn four() -> (
        Vec<evidence_core::keys::PublicKey>,
        evidence_core::validators::ValidatorSet,
    ) {
        let keys: Vec<_> = (1..=4u8)
            .map(|i| SigningKey::from_seed(&[i; 32]).public_key())
            .collect();
        let set = evidence_core::validators::ValidatorSet::new(
            keys.iter()
                .map(|k| evidence_core::validators::Validator {
                    public_key: *k,
                    voting_power: 1,
                })
                .collect(),
        )
        .unwrap();
        (keys, set)
    }

    fn duration(engine: &LinearTimeouts, kind: TimeoutKind, round: u32) -> Duration {
        engine.duration_for(Timeout::new(Round::new(round), kind))
    }

    #[test]
    fn timeouts_grow_per_round_and_are_capped() {
        let engine = ConsensusTimeouts::default().to_engine();
        assert_eq!(engine.propose, Duration::from_secs(1));
        assert_eq!(engine.prevote, Duration::from_millis(500));
        assert_eq!(engine.propose_delta, Duration::from_millis(500));
        assert_eq!(engine.max_timeout, Duration::from_secs(30));
    }

    #[test]
    fn a_probed_round_zero_is_short_and_later_rounds_are_not() {
        let (keys, set) = four();
        let hash = set.hash(evidence_core::digest::HashAlgorithm::Blake3);
        let timeouts = ConsensusTimeouts::default();
        // Everyone present: the usual timeouts.
        let everyone = ConsensusValidatorSet::new(set.clone());
        assert_eq!(timeouts.for_height(&everyone, None), timeouts.to_engine());
        // One validator never proposed, and block time crossed a probe interval.
        let history: Vec<Proposed> = (1..=12u64)
            .map(|height| Proposed {
                height,
                time_ms: height * 10_000,
                proposer: keys[(height % 3) as usize],
                validator_set_hash: hash,
            })
            .collect();
        let attendance = Attendance::of(&set, &hash, 13, &history);
        assert!(attendance.probe().is_some());
        let probing = ConsensusValidatorSet::new(set).with_attendance(attendance);
        let engine = timeouts.for_height(&probing, None);
        let usual = timeouts.to_engine();
        let propose = TimeoutKind::Propose;
        assert_eq!(duration(&engine, propose, 0), Duration::from_millis(250));
        assert_eq!(duration(&engine, propose, 1), duration(&usual, propose, 1));
        for round in 2..6 {
            assert!(duration(&engine, propose, round) > duration(&usual, propose, round));
        }
        // The round's nil precommits are waited for no longer than its proposal.
        for kind in [TimeoutKind::Prevote, TimeoutKind::Precommit] {
            assert_eq!(duration(&engine, kind, 0), Duration::from_millis(250));
            assert_eq!(duration(&engine, kind, 1), duration(&usual, kind, 1));
        }

        // Busy as well, with a bound below the probe's: the shorter wins.
        let busy = timeouts.for_height(&probing, Some(Duration::from_millis(200)));
        assert_eq!(duration(&busy, propose, 0), Duration::from_millis(200));
        assert_eq!(duration(&busy, propose, 1), duration(&usual, propose, 1));
    }

    #[test]
    fn a_busy_height_waits_twice_the_longest_wait_within_the_bounds() {
        let timeouts = ConsensusTimeouts::default();
        let mut pace = Pace::default();
        // Too few waits: nothing adapts.
        for height in 1..PACE_SAMPLES_MIN as u64 {
            pace.round_zero_started(height, height * 1_000, true);
            pace.proposal_validated(height);
            assert_eq!(
                pace.timed(height * 1_000 + 30),
                Some(Duration::from_millis(30))
            );
            assert_eq!(timeouts.adapted(pace.longest()), None);
        }
        // An idle height (empty mempool when it began) is not timed: the proposer may rightly
        // have waited for a transaction.
        pace.round_zero_started(50, 50_000, false);
        pace.proposal_validated(50);
        assert_eq!(pace.timed(50_900), None);
        // The eighth busy wait: 30 ms waits give the floor, 200 ms.
        pace.round_zero_started(51, 51_000, true);
        pace.proposal_validated(51);
        pace.timed(51_030);
        assert_eq!(
            timeouts.adapted(pace.longest()),
            Some(Duration::from_millis(200))
        );
        // A slower proposal raises the bound to twice its wait...
        pace.round_zero_started(52, 52_000, true);
        pace.proposal_validated(52);
        pace.timed(52_150);
        assert_eq!(
            timeouts.adapted(pace.longest()),
            Some(Duration::from_millis(300))
        );
        // ... timed once, though a second proposal for the round arrived...
        pace.proposal_validated(52);
        assert_eq!(pace.timed(52_900), None);
        // ... and never above the configured timeout.
        pace.round_zero_started(53, 53_000, true);
        pace.proposal_validated(53);
        pace.timed(53_700);
        assert_eq!(timeouts.adapted(pace.longest()), Some(timeouts.propose));
        // The slow waits leave the window after PACE_WINDOW busy heights.
        for height in 54..54 + PACE_WINDOW as u64 {
            pace.round_zero_started(height, height * 1_000, true);
            pace.proposal_validated(height);
            pace.timed(height * 1_000 + 20);
        }
        assert_eq!(
            timeouts.adapted(pace.longest()),
            Some(Duration::from_millis(200))
        );
        // A proposal validated for another height than round 0's is not timed.
        pace.round_zero_started(100, 100_000, true);
        pace.proposal_validated(99);
        assert_eq!(pace.timed(100_500), None);
        // A floor at or above the propose timeout turns adaptation off.
        let fixed = ConsensusTimeouts {
            floor: timeouts.propose,
            ..timeouts
        };
        assert_eq!(fixed.adapted(pace.longest()), None);
    }

    #[test]
    fn a_busy_round_zero_is_short_and_later_rounds_are_as_long_as_configured_or_longer() {
        let (_, set) = four();
        let timeouts = ConsensusTimeouts::default();
        let usual = timeouts.to_engine();
        let everyone = ConsensusValidatorSet::new(set);
        let engine = timeouts.for_height(&everyone, Some(Duration::from_millis(300)));
        for kind in [
            TimeoutKind::Propose,
            TimeoutKind::Prevote,
            TimeoutKind::Precommit,
        ] {
            assert_eq!(duration(&engine, kind, 0), Duration::from_millis(300));
            assert_eq!(duration(&engine, kind, 1), duration(&usual, kind, 1));
            for round in 2..8 {
                assert!(duration(&engine, kind, round) >= duration(&usual, kind, round));
            }
        }
        assert_eq!(engine.rebroadcast, usual.rebroadcast);
        // A bound above a configured timeout leaves that one whole.
        let engine = timeouts.for_height(&everyone, Some(Duration::from_millis(800)));
        assert_eq!(engine.propose, Duration::from_millis(800));
        assert_eq!(engine.prevote, usual.prevote);
        assert_eq!(engine.prevote_delta, usual.prevote_delta);
    }
}
