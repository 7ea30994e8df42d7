//! Which lanes of the global batch a rank computes: `train.batch` stays the global batch and
//! rank `r` of `N` takes lanes `r·B/N .. (r+1)·B/N`. [`RankGym`] serves them: a gym that
//! shards ([`Gym::serve_lanes`]) reads only those lanes' data; from one that does not, the
//! rank cuts its rows out of full windows.

use std::ops::Range;
use std::sync::Arc;

use rnngym_gyms::{Codec, EpisodeInfo, Gym, GymError, Shape, Split, Step};

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

    /// This rank's lanes of the global batch.
    pub fn range(&self) -> Range<usize> {
        self.first()..self.first() + self.lanes
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

/// A gym seen by one rank: its episodes are reset with the global batch's shape and each
/// `step` returns this rank's lanes, checked against the shape asked for. One process gets
/// the gym's windows unchanged (checked).
pub struct RankGym {
    inner: Box<dyn Gym>,
    shard: Shard,
    /// Whether `inner` serves the rank's lanes itself.
    native: bool,
    /// The shape of the episode under way; `None` during a whole-source walk (unchecked: its
    /// last window is shorter).
    shape: Option<Shape>,
}

impl RankGym {
    /// `gym` serving `shard`'s lanes (asked of the gym first, see [`Gym::serve_lanes`]).
    pub fn new(mut gym: Box<dyn Gym>, shard: Shard) -> Self {
        let native = shard.world > 1 && gym.serve_lanes(Some(shard.range()));
        if shard.world > 1 {
            let how = match native {
                true => "reads only those",
                false => "cannot shard: lanes are cut from full windows",
            };
            log::debug!(
                "rank {}: lanes {}..{} of {}; gym {} {how}",
                shard.rank,
                shard.first(),
                shard.first() + shard.lanes,
                shard.batch,
                gym.id()
            );
        }
        RankGym {
            inner: gym,
            shard,
            native,
            shape: None,
        }
    }

    /// Whether the gym serves this rank's lanes itself (no rank reads another's data).
    pub fn is_native(&self) -> bool {
        self.native
    }
}

impl Gym for RankGym {
    fn id(&self) -> &str {
        self.inner.id()
    }
    fn codec(&self) -> Arc<dyn Codec> {
        self.inner.codec()
    }
    fn reset(&mut self, split: Split, seed: u64, shape: Shape) -> Result<EpisodeInfo, GymError> {
        self.shape = None;
        let info = self.inner.reset(split, seed, shape)?;
        self.shape = Some(shape);
        Ok(info)
    }
    fn step(&mut self) -> Result<Step, GymError> {
        let step = self.inner.step()?;
        let Some(shape) = self.shape else {
            return Ok(step);
        };
        if step.episode_done {
            self.shape = None;
        }
        if self.shard.world == 1 {
            check_step(&step, shape.batch, shape.seq)?;
            return Ok(step);
        }
        if self.native {
            check_step(&step, self.shard.lanes, shape.seq)?;
            return Ok(step);
        }
        check_step(&step, shape.batch, shape.seq)?;
        Ok(self.shard.window(step))
    }
    fn fork(&self) -> Option<Box<dyn Gym>> {
        let fork = self.inner.fork()?;
        Some(Box::new(RankGym::new(fork, self.shard)))
    }
    fn sources(&self, split: Split) -> Vec<(String, usize)> {
        self.inner.sources(split)
    }
    fn reset_source(
        &mut self,
        split: Split,
        index: usize,
        seq: usize,
    ) -> Result<EpisodeInfo, GymError> {
        self.shape = None;
        self.inner.reset_source(split, index, seq)
    }
}

/// Checks a window against `lanes × seq`.
fn check_step(step: &Step, lanes: usize, seq: usize) -> Result<(), GymError> {
    let n = lanes * seq;
    if step.inputs.len() != n || step.targets.len() != n || step.reset.len() != lanes {
        return Err(GymError::Contract(format!(
            "step returned {} inputs, {} targets, {} reset flags; expected {n}, {n} and {lanes}",
            step.inputs.len(),
            step.targets.len(),
            step.reset.len(),
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rnngym_gyms::text::TextGym;

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

    /// A text gym that cannot shard (it keeps [`Gym::serve_lanes`]'s default).
    struct Plain(TextGym);

    impl Gym for Plain {
        fn id(&self) -> &str {
            "plain-v1"
        }
        fn codec(&self) -> Arc<dyn Codec> {
            self.0.codec()
        }
        fn reset(&mut self, s: Split, seed: u64, shape: Shape) -> Result<EpisodeInfo, GymError> {
            self.0.reset(s, seed, shape)
        }
        fn step(&mut self) -> Result<Step, GymError> {
            self.0.step()
        }
    }

    fn text() -> TextGym {
        TextGym::from_text(
            &"the quick brown fox jumps over the lazy dog. ".repeat(40),
            0.2,
        )
        .unwrap()
    }

    /// Every window of an episode of `gym` (reset with `shape` and `seed`).
    fn episode(gym: &mut dyn Gym, split: Split, seed: u64, shape: Shape) -> Vec<Step> {
        gym.reset(split, seed, shape).unwrap();
        let mut out = Vec::new();
        loop {
            let step = gym.step().unwrap();
            let done = step.episode_done;
            out.push(step);
            if done {
                return out;
            }
        }
    }

    #[test]
    fn each_rank_gets_its_rows_of_the_full_windows_sharded_or_cut() {
        let shape = Shape { batch: 6, seq: 7 };
        for split in [Split::Train, Split::Val] {
            let full = episode(&mut text(), split, 9, shape);
            assert!(full.len() > 3, "{} windows", full.len());
            for world in [1, 2, 3] {
                for rank in 0..world {
                    let shard = Shard::new(rank, world, shape.batch).unwrap();
                    let want: Vec<Step> = full.iter().map(|s| shard.window(s.clone())).collect();
                    let mut native = RankGym::new(Box::new(text()), shard);
                    assert_eq!(native.is_native(), world > 1);
                    let mut cut = RankGym::new(Box::new(Plain(text())), shard);
                    assert!(!cut.is_native());
                    assert_eq!(
                        episode(&mut native, split, 9, shape),
                        want,
                        "{rank}/{world}"
                    );
                    assert_eq!(episode(&mut cut, split, 9, shape), want, "{rank}/{world}");
                    // A fork serves the same rank's lanes.
                    let mut fork = native.fork().unwrap();
                    assert_eq!(episode(fork.as_mut(), split, 9, shape), want);
                }
            }
        }
    }

    /// Serves one lane fewer than asked.
    struct Short(TextGym);

    impl Gym for Short {
        fn id(&self) -> &str {
            "short-v1"
        }
        fn codec(&self) -> Arc<dyn Codec> {
            self.0.codec()
        }
        fn reset(&mut self, s: Split, seed: u64, shape: Shape) -> Result<EpisodeInfo, GymError> {
            let fewer = Shape {
                batch: shape.batch - 1,
                ..shape
            };
            self.0.reset(s, seed, fewer)
        }
        fn step(&mut self) -> Result<Step, GymError> {
            self.0.step()
        }
    }

    #[test]
    fn a_window_of_the_wrong_shape_is_a_contract_error() {
        let shape = Shape { batch: 4, seq: 5 };
        for shard in [Shard::whole(4), Shard::new(1, 2, 4).unwrap()] {
            let mut gym = RankGym::new(Box::new(Short(text())), shard);
            gym.reset(Split::Train, 1, shape).unwrap();
            let e = gym.step().unwrap_err();
            assert!(matches!(e, GymError::Contract(_)), "{e:?}");
            assert!(e.to_string().contains("expected 20, 20 and 4"), "{e}");
        }
    }
}
