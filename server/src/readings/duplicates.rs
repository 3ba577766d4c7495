//! Notices a client whose readings keep arriving at or below its id's stored high-water mark. One
//! answer of duplicates is normal (a resend after a lost ack); answer after answer of them means the
//! readings are being dropped: another client uses the same id, or its state dir was reset and its
//! seqs started again at 1.

use cliser_protocol::ClientId;
use std::collections::HashMap;

/// Duplicate-only answers in a row per client id.
#[derive(Debug, Default)]
pub struct DuplicateWatch {
    runs: HashMap<ClientId, Run>,
}

#[derive(Debug)]
struct Run {
    answers: u32,
    readings: u64,
    first: u64,
    last: u64,
    /// The run length at which to warn next (2, 4, 8 ...): visible, but not a line per answer.
    warn_at: u32,
}

/// What one answer brought.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnswerTally {
    /// Readings dropped as duplicates.
    pub duplicates: u64,
    /// Lowest and highest duplicate seq.
    pub range: Option<(u64, u64)>,
    /// Whether it also brought a new reading with a seq (which ends a run).
    pub fresh: bool,
}

impl AnswerTally {
    /// Counts a duplicate seq.
    pub fn duplicate(&mut self, seq: u64) {
        self.duplicates += 1;
        self.range = Some(self.range.map_or((seq, seq), |(a, b)| (a.min(seq), b.max(seq))));
    }
}

impl DuplicateWatch {
    /// Notes one answer of `cid` whose stored mark is `stored`; returns the warning to log, if due.
    pub fn note(&mut self, cid: &ClientId, tally: AnswerTally, stored: Option<u64>) -> Option<String> {
        if tally.fresh || tally.duplicates == 0 {
            self.runs.remove(cid);
            return None;
        }
        let (first, last) = tally.range?;
        let run =
            self.runs.entry(cid.clone()).or_insert(Run { answers: 0, readings: 0, first, last, warn_at: 2 });
        run.answers += 1;
        run.readings += tally.duplicates;
        run.first = run.first.min(first);
        run.last = run.last.max(last);
        if run.answers < run.warn_at {
            return None;
        }
        run.warn_at = run.warn_at.saturating_mul(2);
        Some(format!(
            "cid={cid}: {} readings in {} answers in a row were at or below its stored seq {} (seq {}..={}) \
             and dropped as duplicates: another client may use id {cid}, or its state dir was reset",
            run.readings,
            run.answers,
            stored.map_or_else(|| "-".to_owned(), |s| s.to_string()),
            run.first,
            run.last
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dups(seqs: &[u64]) -> AnswerTally {
        let mut t = AnswerTally::default();
        for &s in seqs {
            t.duplicate(s);
        }
        t
    }

    #[test]
    fn one_answer_of_duplicates_is_normal_a_run_is_warned_about_with_backoff() {
        let mut w = DuplicateWatch::default();
        let kitchen = ClientId::new("kitchen").unwrap();
        assert_eq!(w.note(&kitchen, dups(&[1, 2]), Some(10)), None, "a resend after a lost ack");
        let warning = w.note(&kitchen, dups(&[3, 4]), Some(10)).expect("second answer in a row");
        assert!(warning.contains("4 readings in 2 answers") && warning.contains("seq 1..=4"), "{warning}");
        assert!(warning.contains("another client may use id kitchen"), "{warning}");
        assert_eq!(w.note(&kitchen, dups(&[5]), Some(10)), None, "3rd: quiet");
        assert!(w.note(&kitchen, dups(&[6]), Some(10)).is_some(), "4th: again");
        let fresh = AnswerTally { fresh: true, ..dups(&[7]) };
        assert_eq!(w.note(&kitchen, fresh, Some(11)), None);
        assert_eq!(w.note(&kitchen, dups(&[8]), Some(11)), None, "a new run starts quiet");
    }
}
