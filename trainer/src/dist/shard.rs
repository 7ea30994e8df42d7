//! Which lanes of the global batch a rank computes: `train.batch` stays the global batch and
//! rank `r` of `N` takes lanes `r·B/N .. (r+1)·B/N`. Until gyms learn to serve a shard, every
//! rank reads the full window and keeps its lanes (the fallback the issue allows).

use rnngym_gyms::Step;

use super::DistError;

/// Rank `rank` of `world`, computing `lanes` of a global batch of `batch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This rank.
    pub rank: usize,
    /// The ranks.
    pub world: usize,
    /// The global batch (`train.batch`).
    pub batch: usize,
    /// The lanes this rank computes, `batch / world`.
    pub lanes: usize,
}

impl Shard {
    /// The shard of `rank` of `world` in a global batch of `batch`; an error naming both
    /// numbers when `batch` is not a multiple of `world`.
    pub fn new(rank: usize, world: usize, batch: usize) -> Result<Self, DistError> {
        if world == 0 || !batch.is_multiple_of(world) {
            return Err(DistError::Indivisible { batch, world });
        }
        Ok(Shard {
            rank,
            world,
            batch,
            lanes: batch / world,
        })
    }

    /// The whole batch, on one process.
    pub fn whole(batch: usize) -> Self {
        Shard {
            rank: 0,
            world: 1,
            batch,
            lanes: batch,
        }
    }

    /// The first global lane of this rank.
    pub fn first(&self) -> usize {
        self.rank * self.lanes
    }

    /// This rank's rows of a lane-major `[batch, width]` array (`None` when `all` has another
    /// length).
    pub fn rows<'a, T>(&self, all: &'a [T]) -> Option<&'a [T]> {
        if !all.len().is_multiple_of(self.batch.max(1)) {
            return None;
        }
        let width = all.len() / self.batch.max(1);
        all.get(self.first() * width..(self.first() + self.lanes) * width)
    }

    /// This rank's lanes of a full window (the window itself on one process).
    pub fn window(&self, step: Step) -> Step {
        if self.world == 1 {
            return step;
        }
        let cut = |v: &[u32]| self.rows(v).map(<[u32]>::to_vec).unwrap_or_default();
        Step {
            inputs: cut(&step.inputs),
            targets: cut(&step.targets),
            reset: self
                .rows(&step.reset)
                .map(<[bool]>::to_vec)
                .unwrap_or_default(),
            episode_done: step.episode_done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_not_divisible_names_both_numbers() {
        let e = Shard::new(0, 4, 6).unwrap_err().to_string();
        assert!(
            e.contains("train.batch = 6") && e.contains("4 processes"),
            "{e}"
        );
    }

    #[test]
    fn ranks_take_consecutive_lanes() {
        // B = 4, T = 2: lane l holds tokens 10·l, 10·l + 1.
        let step = Step {
            inputs: vec![0, 1, 10, 11, 20, 21, 30, 31],
            targets: vec![1, 2, 11, 12, 21, 22, 31, 32],
            reset: vec![true, false, true, false],
            episode_done: true,
        };
        let s = Shard::new(1, 2, 4).unwrap().window(step.clone());
        assert_eq!(s.inputs, vec![20, 21, 30, 31]);
        assert_eq!(s.targets, vec![21, 22, 31, 32]);
        assert_eq!(s.reset, vec![true, false]);
        assert!(s.episode_done);
        assert_eq!(Shard::whole(4).window(step.clone()), step);
    }
}
