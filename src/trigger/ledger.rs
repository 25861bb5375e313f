//! Which stored events of this instance still await trigger evaluation (SPEC §3): the bookkeeping behind the
//! evaluation mark an instance writes every second. Pure: the directory feeds it what was stored, evaluated and
//! found deferred; [`EvaluationLedger::mark`] is the lowest sequence not yet known to be settled.

use std::collections::BTreeSet;

/// Stored-but-unevaluated events of one instance, by `ingressSequence`.
#[derive(Debug, Clone, Default)]
pub struct EvaluationLedger {
    unsettled: BTreeSet<i64>,
    /// Every sequence below it was stored before this instance started or seen by it.
    next: i64,
}

impl EvaluationLedger {
    /// A ledger for an instance starting when the highest stored sequence is `max_stored` (0: none): events
    /// stored before it are not its to evaluate.
    pub fn starting_after(max_stored: i64) -> EvaluationLedger {
        EvaluationLedger {
            unsettled: BTreeSet::new(),
            next: max_stored + 1,
        }
    }

    /// This instance stored the event at `sequence`; `awaits` when some trigger selects its type and source.
    pub fn stored(&mut self, sequence: i64, awaits: bool) {
        self.next = self.next.max(sequence + 1);
        if awaits {
            self.unsettled.insert(sequence);
        }
    }

    /// The outcomes of these events are committed, or they are durably deferred by their source's limiter.
    pub fn settled(&mut self, sequences: impl IntoIterator<Item = i64>) {
        for sequence in sequences {
            self.unsettled.remove(&sequence);
        }
    }

    /// The lowest sequence whose evaluation is not known to be committed: every event this instance stored below
    /// it is settled.
    pub fn mark(&self) -> i64 {
        self.unsettled.first().copied().unwrap_or(self.next)
    }

    /// Up to `n` of the oldest unsettled sequences (to check against the durable deferrals).
    pub fn oldest(&self, n: usize) -> Vec<i64> {
        self.unsettled.iter().take(n).copied().collect()
    }

    /// How many events await evaluation.
    pub fn len(&self) -> usize {
        self.unsettled.len()
    }

    /// Whether none does.
    pub fn is_empty(&self) -> bool {
        self.unsettled.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_is_the_oldest_unsettled_event_or_past_everything_seen() {
        let mut ledger = EvaluationLedger::starting_after(100);
        assert_eq!(
            ledger.mark(),
            101,
            "nothing stored before the start is ours"
        );
        ledger.stored(105, false);
        assert_eq!(
            ledger.mark(),
            106,
            "an event no trigger selects needs no evaluation"
        );
        ledger.stored(107, true);
        ledger.stored(108, true);
        ledger.stored(109, false);
        assert_eq!(ledger.mark(), 107);
        ledger.settled([108]);
        assert_eq!(
            ledger.mark(),
            107,
            "out of order settling keeps the mark at the oldest"
        );
        assert_eq!(ledger.oldest(5), vec![107]);
        ledger.settled([107, 999]);
        assert_eq!(ledger.mark(), 110);
        assert!(ledger.is_empty());
    }
}
