//! Learning-rate schedules: linear warmup, then constant, step decay or cosine decay.

use crate::config::{ScheduleKind, TrainConfig};

/// The learning rate for 0-based `iteration` under `cfg`'s warmup and schedule.
pub fn lr_at(cfg: &TrainConfig, iteration: u64) -> f32 {
    let (lr, min_lr) = (cfg.lr, cfg.min_lr);
    if iteration < cfg.warmup {
        // (it + 1) so that iteration 0 already takes a (small) step instead of a wasted one.
        return (lr * (iteration + 1) as f64 / cfg.warmup as f64) as f32;
    }
    let t = iteration - cfg.warmup;
    let v = match cfg.schedule {
        ScheduleKind::Constant => lr,
        ScheduleKind::Step => match t.checked_div(cfg.decay_every) {
            // decay_every = 0 (refused by validate) means "never decay" rather than a panic.
            None => lr,
            Some(k) => {
                let k = i32::try_from(k).unwrap_or(i32::MAX);
                (lr * cfg.decay_rate.powi(k)).max(min_lr)
            }
        },
        ScheduleKind::Cosine => {
            let span = cfg.iterations.saturating_sub(cfg.warmup);
            if span == 0 {
                lr
            } else {
                let progress = (t as f64 / span as f64).min(1.0);
                let c = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
                min_lr + (lr - min_lr) * c
            }
        }
    };
    v as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(schedule: ScheduleKind) -> TrainConfig {
        TrainConfig {
            schedule,
            lr: 1.0,
            iterations: 1100,
            warmup: 100,
            decay_every: 200,
            decay_rate: 0.5,
            min_lr: 0.1,
            ..TrainConfig::default()
        }
    }

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() <= 1e-6 * b.abs().max(1.0)
    }

    #[test]
    fn warmup_is_linear_from_lr_over_warmup() {
        for kind in [
            ScheduleKind::Constant,
            ScheduleKind::Step,
            ScheduleKind::Cosine,
        ] {
            let c = cfg(kind);
            assert!(close(lr_at(&c, 0), 0.01));
            assert!(close(lr_at(&c, 49), 0.5));
            assert!(close(lr_at(&c, 99), 1.0));
            assert!(close(lr_at(&c, 100), 1.0));
        }
    }

    #[test]
    fn constant() {
        let c = TrainConfig {
            lr: 3e-3,
            ..TrainConfig::default()
        };
        for it in [0, 1, 500, 1999, 10_000] {
            assert_eq!(lr_at(&c, it), 3e-3);
        }
    }

    #[test]
    fn step_decays_and_floors() {
        let c = cfg(ScheduleKind::Step);
        assert!(close(lr_at(&c, 299), 1.0));
        assert!(close(lr_at(&c, 300), 0.5));
        assert!(close(lr_at(&c, 500), 0.25));
        assert!(close(lr_at(&c, 700), 0.125));
        assert!(close(lr_at(&c, 900), 0.1));
        assert!(close(lr_at(&c, u64::MAX), 0.1));
        let no_floor = TrainConfig {
            min_lr: 0.0,
            ..c.clone()
        };
        assert!(close(lr_at(&no_floor, 900), 0.0625));
    }

    #[test]
    fn cosine_goes_from_lr_to_min_lr() {
        let c = cfg(ScheduleKind::Cosine);
        assert!(close(lr_at(&c, 100), 1.0));
        assert!(close(lr_at(&c, 600), 0.55));
        let quarter = 0.1 + 0.9 * 0.5 * (1.0 + std::f32::consts::FRAC_PI_4.cos());
        assert!(close(lr_at(&c, 350), quarter));
        assert!(close(lr_at(&c, 1100), 0.1));
        assert!(close(lr_at(&c, 5000), 0.1));
        let mut prev = f32::INFINITY;
        for it in 100..1100 {
            let v = lr_at(&c, it);
            assert!(v <= prev);
            prev = v;
        }
    }

    #[test]
    fn degenerate_settings_do_not_panic() {
        let mut c = cfg(ScheduleKind::Cosine);
        c.warmup = 5000;
        assert!(close(lr_at(&c, 5000), 1.0));
        c.schedule = ScheduleKind::Step;
        c.decay_every = 0;
        assert!(close(lr_at(&c, 6000), 1.0));
    }
}
