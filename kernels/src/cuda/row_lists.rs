//! [`RowLists`]: a batch's rows grouped by token id, built on the host from the ids' host copy
//! for `scatter_add_rows` (`kernels/embed.cu`). With each id's rows listed in ascending order,
//! one GPU thread per (id, column) adds them in the CPU's order, so the embedding gradient is
//! bit-identical to the CPU's and to itself on every run (float `atomicAdd` was neither).

/// The rows `r` of `ids[r]` grouped by id: the distinct ids in ascending order, and for the
/// `u`-th of them its rows `rows[starts[u] .. starts[u + 1]]`, ascending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowLists {
    /// `[ids (k) | starts (k + 1) | rows (n)]`: one upload.
    packed: Vec<u32>,
    k: usize,
}

impl RowLists {
    /// Groups the rows of `ids` (a counting sort: stable, O(n + max id)). At most `u32::MAX`
    /// rows (the caller checks).
    pub fn new(ids: &[u32]) -> Self {
        let top = ids.iter().max().map_or(0, |&m| m as usize + 1);
        let mut count = vec![0u32; top];
        for &id in ids {
            count[id as usize] += 1;
        }
        let k = count.iter().filter(|&&c| c > 0).count();
        let n = ids.len();
        let mut packed = Vec::with_capacity(2 * k + 1 + n);
        // Distinct ids, then their starts; `count` becomes each id's next free slot.
        packed.extend((0..top as u32).filter(|&id| count[id as usize] > 0));
        let mut at = 0u32;
        for c in count.iter_mut().filter(|c| **c > 0) {
            packed.push(at);
            let n = std::mem::replace(c, at);
            at += n;
        }
        packed.push(at);
        let base = packed.len();
        packed.resize(base + n, 0);
        for (r, &id) in ids.iter().enumerate() {
            let slot = &mut count[id as usize];
            packed[base + *slot as usize] = r as u32;
            *slot += 1;
        }
        RowLists { packed, k }
    }

    /// Number of distinct ids.
    pub fn len(&self) -> usize {
        self.k
    }

    /// Whether there are no ids.
    pub fn is_empty(&self) -> bool {
        self.k == 0
    }

    /// The distinct ids, ascending.
    pub fn ids(&self) -> &[u32] {
        &self.packed[..self.k]
    }

    /// `k + 1` offsets into [`RowLists::rows`]: id `u`'s rows start at `starts[u]`.
    pub fn starts(&self) -> &[u32] {
        &self.packed[self.k..2 * self.k + 1]
    }

    /// Every row, grouped by id, ascending within an id.
    pub fn rows(&self) -> &[u32] {
        &self.packed[2 * self.k + 1..]
    }

    /// The three arrays back to back, as the kernel reads them from one upload.
    pub fn packed(&self) -> &[u32] {
        &self.packed
    }
}
