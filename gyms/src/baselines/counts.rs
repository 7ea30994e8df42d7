//! Adaptive count models with the Krichevsky–Trofimov estimator: after `n` tokens, of which
//! `c(x)` were `x`, `p(x) = (c(x) + ½) / (n + V/2)` over a vocabulary of `V` tokens
//! (first order: the counts of the tokens that followed the previous token).

use std::collections::HashMap;

use super::Baseline;

/// Adaptive unigram: `p(x) = (c(x) + ½) / (n + V/2)`.
#[derive(Clone, Debug)]
pub struct KtUnigram {
    counts: Vec<u64>,
    total: u64,
}

impl KtUnigram {
    /// No tokens seen yet, over `vocab` tokens.
    pub fn new(vocab: usize) -> KtUnigram {
        KtUnigram {
            counts: vec![0; vocab],
            total: 0,
        }
    }
}

/// `−ln((c + ½) / (n + V/2))`.
fn kt_nats(count: u64, total: u64, vocab: usize) -> f64 {
    let p = (count as f64 + 0.5) / (total as f64 + 0.5 * vocab as f64);
    -p.ln()
}

impl Baseline for KtUnigram {
    fn nats(&self, token: u32) -> f64 {
        let c = self.counts.get(token as usize).copied().unwrap_or(0);
        kt_nats(c, self.total, self.counts.len())
    }

    fn observe(&mut self, token: u32) {
        if let Some(c) = self.counts.get_mut(token as usize) {
            *c += 1;
        }
        self.total += 1;
    }
}

/// Adaptive first order: `p(x | a) = (c(a, x) + ½) / (c(a) + V/2)`, where `c(a, x)` counts
/// `x` right after `a` and `c(a)` counts the tokens after `a`.
#[derive(Clone, Debug)]
pub struct KtBigram {
    vocab: usize,
    /// `a·V + x` → c(a, x) (sparse: audio vocabularies reach 65536², text rarely fills V²).
    pairs: HashMap<u64, u64>,
    /// c(a).
    after: Vec<u64>,
    prev: Option<u32>,
}

impl KtBigram {
    /// No tokens seen yet, over `vocab` tokens.
    pub fn new(vocab: usize) -> KtBigram {
        KtBigram {
            vocab,
            pairs: HashMap::new(),
            after: vec![0; vocab],
            prev: None,
        }
    }

    fn key(&self, a: u32, x: u32) -> u64 {
        u64::from(a) * self.vocab as u64 + u64::from(x)
    }
}

impl Baseline for KtBigram {
    fn nats(&self, token: u32) -> f64 {
        let (c, n) = match self.prev {
            Some(a) => (
                self.pairs.get(&self.key(a, token)).copied().unwrap_or(0),
                self.after.get(a as usize).copied().unwrap_or(0),
            ),
            None => (0, 0),
        };
        kt_nats(c, n, self.vocab)
    }

    fn observe(&mut self, token: u32) {
        if let Some(a) = self.prev {
            let k = self.key(a, token);
            *self.pairs.entry(k).or_insert(0) += 1;
            if let Some(n) = self.after.get_mut(a as usize) {
                *n += 1;
            }
        }
        self.prev = Some(token);
    }
}

#[cfg(test)]
mod tests {
    use super::super::score;
    use super::*;

    /// "abab" over V = 2 (a = 0, b = 1), hand-computed.
    #[test]
    fn kt_unigram_on_abab() {
        // After "a": p(b) = ½ / (1 + 1) = ¼; after "ab": p(a) = 1.5 / 3 = ½;
        // after "aba": p(b) = 1.5 / 4 = 3/8.
        let want = -(0.25f64.ln() + 0.5f64.ln() + 0.375f64.ln());
        let got = score(&mut KtUnigram::new(2), &[0, 1, 0, 1]);
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }

    #[test]
    fn kt_bigram_on_abab() {
        // b after a: unseen context, ½ / 1; a after b: ½ / 1; b after a (seen once, b):
        // 1.5 / 2.
        let want = -(0.5f64.ln() + 0.5f64.ln() + 0.75f64.ln());
        let got = score(&mut KtBigram::new(2), &[0, 1, 0, 1]);
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }

    #[test]
    fn kt_probabilities_sum_to_one() {
        let mut u = KtUnigram::new(5);
        let mut b = KtBigram::new(5);
        for t in [3, 1, 3, 3, 0, 4, 3] {
            u.observe(t);
            b.observe(t);
            let su: f64 = (0..5).map(|x| (-u.nats(x)).exp()).sum();
            let sb: f64 = (0..5).map(|x| (-b.nats(x)).exp()).sum();
            assert!(
                (su - 1.0).abs() < 1e-12 && (sb - 1.0).abs() < 1e-12,
                "{su} {sb}"
            );
        }
    }
}
