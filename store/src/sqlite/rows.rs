//! A group's readings and rollups written with multi-row statements. One `INSERT` per reading
//! opened and closed the table's and its two indexes' cursors for every row and went through a
//! bind, a step and a reset each time: at a few hundred rows a commit that was a sixth of the
//! sink's CPU. A group is cut into chunks whose sizes are powers of two up to [`CHUNK`], so seven
//! statements of each kind cover every group and stay prepared in the connection's cache.

use crate::group::{RollupDelta, Row};
use rusqlite::Transaction;
use std::collections::HashSet;

/// Rows per statement at most (8 parameters a row: far below SQLite's 32,766).
const CHUNK: usize = 64;

/// `(start, len)` of each chunk of `n` rows: as many of [`CHUNK`] as fit, then the rest's binary
/// digits, largest first.
fn chunks(n: usize) -> impl Iterator<Item = (usize, usize)> {
    let mut start = 0;
    std::iter::from_fn(move || {
        let left = n - start;
        if left == 0 {
            return None;
        }
        let len = if left >= CHUNK { CHUNK } else { 1 << left.ilog2() };
        start += len;
        Some((start - len, len))
    })
}

/// `head VALUES (?, ..), (?, ..) tail` with `rows` groups of `columns` parameters.
fn values_sql(head: &str, columns: usize, rows: usize, tail: &str) -> String {
    let one = format!("({})", vec!["?"; columns].join(", "));
    format!("{head} VALUES {} {tail}", vec![one; rows].join(", "))
}

/// Inserts the rows whose `keep` is true, each as (node, sensor) `pairs[i]`; returns, per row,
/// whether it was inserted (false: refused by `keep`, or already stored under its (node, seq)).
pub(super) fn insert_readings(
    tx: &Transaction,
    rows: &[Row],
    pairs: &[(i64, i64)],
    keep: &[bool],
) -> rusqlite::Result<Vec<bool>> {
    let mut inserted = vec![false; rows.len()];
    let kept: Vec<usize> = (0..rows.len()).filter(|&i| keep[i]).collect();
    // The rows a statement inserted, by their key: `prepare` left one row per (node, seq) in the
    // group, and a row without a seq is never a repeat.
    let mut returned: HashSet<(i64, i64)> = HashSet::new();
    for (start, len) in chunks(kept.len()) {
        let sql = values_sql(
            "INSERT INTO readings (node, sensor, sampled_ms, received_ms, milli_c, error, seq, ts_quality)",
            8,
            len,
            "ON CONFLICT DO NOTHING RETURNING node, seq",
        );
        let mut st = tx.prepare_cached(&sql)?;
        let chunk = &kept[start..start + len];
        for (k, &i) in chunk.iter().enumerate() {
            let (r, (node, sensor)) = (&rows[i], pairs[i]);
            let at = k * 8;
            st.raw_bind_parameter(at + 1, node)?;
            st.raw_bind_parameter(at + 2, sensor)?;
            st.raw_bind_parameter(at + 3, r.sampled_ms)?;
            st.raw_bind_parameter(at + 4, r.received_ms)?;
            st.raw_bind_parameter(at + 5, r.milli_c)?;
            st.raw_bind_parameter(at + 6, r.error)?;
            st.raw_bind_parameter(at + 7, r.seq)?;
            st.raw_bind_parameter(at + 8, r.ts_quality)?;
        }
        returned.clear();
        let mut out = st.raw_query();
        while let Some(row) = out.next()? {
            if let Some(seq) = row.get::<_, Option<i64>>(1)? {
                returned.insert((row.get(0)?, seq));
            }
        }
        for &i in chunk {
            inserted[i] = rows[i].seq.is_none_or(|seq| returned.contains(&(pairs[i].0, seq)));
        }
    }
    Ok(inserted)
}

/// Adds each sensor-hour's share to its rollup row, creating the row if it is the hour's first.
pub(super) fn add_rollups(tx: &Transaction, rollups: &[RollupDelta]) -> rusqlite::Result<()> {
    for (start, len) in chunks(rollups.len()) {
        // SQLite's two-argument min() is NULL if either is: the coalesces keep the known one.
        let sql = values_sql(
            "INSERT INTO rollups (hour_ms, sensor, min_milli_c, max_milli_c, sum_milli_c, n, errors)",
            7,
            len,
            "ON CONFLICT (hour_ms, sensor) DO UPDATE SET \
             min_milli_c = min(coalesce(min_milli_c, excluded.min_milli_c), coalesce(excluded.min_milli_c, min_milli_c)), \
             max_milli_c = max(coalesce(max_milli_c, excluded.max_milli_c), coalesce(excluded.max_milli_c, max_milli_c)), \
             sum_milli_c = sum_milli_c + excluded.sum_milli_c, n = n + excluded.n, errors = errors + excluded.errors",
        );
        let mut st = tx.prepare_cached(&sql)?;
        for (k, h) in rollups[start..start + len].iter().enumerate() {
            let at = k * 7;
            st.raw_bind_parameter(at + 1, h.hour_ms)?;
            st.raw_bind_parameter(at + 2, h.sensor)?;
            st.raw_bind_parameter(at + 3, h.min)?;
            st.raw_bind_parameter(at + 4, h.max)?;
            st.raw_bind_parameter(at + 5, h.sum)?;
            st.raw_bind_parameter(at + 6, h.count)?;
            st.raw_bind_parameter(at + 7, h.errors)?;
        }
        st.raw_execute()?;
    }
    Ok(())
}

/// The statements' texts that one connection keeps prepared: two kinds, seven sizes each.
pub(super) const STATEMENTS: usize = 14;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_row_once_in_powers_of_two_up_to_64() {
        for n in 0..300 {
            let c: Vec<(usize, usize)> = chunks(n).collect();
            assert_eq!(c.iter().map(|&(_, l)| l).sum::<usize>(), n);
            let mut next = 0;
            for &(s, l) in &c {
                assert_eq!(s, next);
                assert!(l.is_power_of_two() && l <= CHUNK, "{n}: {c:?}");
                next = s + l;
            }
            assert!(c.iter().filter(|&&(_, l)| l < CHUNK).count() <= 6);
        }
        let sizes: HashSet<usize> = (0..300).flat_map(|n| chunks(n).map(|(_, l)| l)).collect();
        assert_eq!(sizes.len(), STATEMENTS / 2);
    }

    #[test]
    fn the_text_has_one_group_of_parameters_a_row() {
        assert_eq!(
            values_sql("INSERT INTO t (a, b)", 2, 3, "RETURNING a"),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?) RETURNING a"
        );
    }
}
