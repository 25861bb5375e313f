//! Latencies of a bench run, in an HDR histogram: constant memory however many samples (a run with 100 WebSocket
//! clients records 100 receipts per event) and percentiles to three significant digits.

use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};

use super::round;

/// Microseconds per millisecond: samples are recorded in µs and printed in ms with three decimals.
const MICROS_PER_MS: f64 = 1000.0;
/// Significant digits kept per sample: values are exact to 0.1 %.
const SIGNIFICANT_DIGITS: u8 = 3;

/// Latencies recorded in microseconds and reported in milliseconds.
#[derive(Debug, Clone)]
pub(super) struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Latencies {
        Latencies::new()
    }
}

impl Latencies {
    /// An empty record that grows to whatever range it is given.
    pub(super) fn new() -> Latencies {
        // unwrap: `new` fails only for more than 5 significant digits.
        Latencies(Histogram::new(SIGNIFICANT_DIGITS).unwrap())
    }

    /// Records one sample of `ms` milliseconds (negative ones as 0).
    pub(super) fn record_ms(&mut self, ms: f64) {
        let micros = (ms * MICROS_PER_MS).round().max(0.0) as u64;
        // `record` grows the histogram to the value (`saturating_record` would not: it clamps to the current
        // range); only a value past what any size can hold fails, and is then kept as the largest trackable.
        if self.0.record(micros).is_err() {
            self.0.saturating_record(micros);
        }
    }

    /// Adds every sample of `other`.
    ///
    /// # Errors
    /// Never in practice: the histogram resizes itself to `other`'s range.
    pub(super) fn merge(&mut self, other: &Latencies) -> anyhow::Result<()> {
        self.0.add(&other.0)?;
        Ok(())
    }

    /// How many samples were recorded.
    pub(super) fn count(&self) -> u64 {
        self.0.len()
    }

    /// The `q` quantile (0.5 for the median), in ms; 0 with no samples.
    pub(super) fn quantile_ms(&self, q: f64) -> f64 {
        round(self.0.value_at_quantile(q) as f64 / MICROS_PER_MS)
    }

    /// The largest sample, in ms; 0 with no samples.
    pub(super) fn max_ms(&self) -> f64 {
        round(self.0.max() as f64 / MICROS_PER_MS)
    }

    /// `{"p50", "p95", "p99"}` in ms, the shape every bench prints its latencies in.
    pub(super) fn percentiles(&self) -> Map<String, Value> {
        let mut view = Map::new();
        for (key, q) in [("p50", 0.50), ("p95", 0.95), ("p99", 0.99)] {
            view.insert(key.to_owned(), json!(self.quantile_ms(q)));
        }
        view
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_read_in_milliseconds_to_three_significant_digits() {
        let mut latencies = Latencies::new();
        for ms in 1..=100 {
            latencies.record_ms(f64::from(ms));
        }

        assert_eq!(latencies.count(), 100);
        let p50 = latencies.quantile_ms(0.5);
        assert!((p50 - 50.0).abs() <= 0.05, "{p50}");
        let p99 = latencies.quantile_ms(0.99);
        assert!((p99 - 99.0).abs() <= 0.1, "{p99}");
        let max = latencies.max_ms();
        assert!((max - 100.0).abs() <= 0.1, "{max}");
        assert_eq!(
            Value::Object(latencies.percentiles())
                .as_object()
                .map(|m| m.keys().cloned().collect::<Vec<_>>()),
            Some(vec!["p50".to_owned(), "p95".to_owned(), "p99".to_owned()])
        );
    }

    #[test]
    fn sub_millisecond_samples_keep_their_microseconds_and_an_empty_record_reads_zero() {
        let mut latencies = Latencies::new();
        assert_eq!(latencies.quantile_ms(0.99), 0.0);
        assert_eq!(latencies.max_ms(), 0.0);

        latencies.record_ms(0.25);
        assert_eq!(latencies.quantile_ms(0.5), 0.25);
    }

    #[test]
    fn merged_records_count_every_sample() {
        let mut a = Latencies::new();
        let mut b = Latencies::new();
        a.record_ms(1.0);
        b.record_ms(1000.0);
        b.record_ms(2000.0);

        a.merge(&b).unwrap();

        assert_eq!(a.count(), 3);
        assert!(a.max_ms() >= 2000.0);
    }
}
