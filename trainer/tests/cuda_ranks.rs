//! Data-parallel training with the ranks as threads of one process ([`ThreadGroup`]): two CPU
//! ranks train what one rank trains (the host all-reduce), and on a machine with two GPUs, two
//! GPU ranks average their gradients with NCCL and train what one GPU trains. Without two
//! GPUs and NCCL the GPU test prints `SKIPPED <test>: <reason>` and passes (a single-GPU
//! machine cannot run two NCCL ranks: NCCL refuses two ranks on one device).
//!
//! Tolerance: 1e-5 relative per iteration between 1 and 2 ranks on the same kind of device
//! (the gradient mean is summed in another order); 2e-3 between CPU and GPU (as in
//! `cuda_training`).

mod common;
use common::*;
use std::sync::{Arc, Mutex};
use std::thread;

use rnngym_kernels::{Backend, CpuBackend, CudaBackend};
use rnngym_trainer::dist::{Collective, Single, ThreadGroup};
use rnngym_trainer::{Config, Trainer};

fn config(dir: &std::path::Path) -> Config {
    let mut c = tiny_config(dir);
    c.model.hidden = 48;
    c.train.batch = 8;
    c.train.lr = 5e-3;
    c.train.iterations = 20;
    c.train.threads = 1;
    c
}

/// Trains `cfg` on `comm`'s rank with `be`; the per-iteration losses and whether the gradients
/// were averaged on the devices.
fn train_rank<B: Backend>(be: B, cfg: &Config, comm: Arc<dyn Collective>) -> (Vec<f64>, bool) {
    let gym = text_gym(&TEXT.repeat(8), 0.0);
    let mut t = Trainer::with_collective(be, cfg.clone(), gym, comm).unwrap();
    let losses = Arc::new(Mutex::new(Vec::new()));
    t.add_observer(Box::new(Losses(losses.clone())));
    t.train(cfg.train.iterations).unwrap();
    let v = losses.lock().unwrap().clone();
    (v, t.reduces_on_device())
}

/// Every rank's `(losses, on device)` from `world` thread ranks, rank `r` on `open(r)`.
fn train_threads<B: Backend>(
    world: usize,
    cfg: &Config,
    open: impl Fn(usize) -> B + Sync,
) -> Vec<(Vec<f64>, bool)> {
    let ranks = ThreadGroup::new(world);
    thread::scope(|s| {
        let handles: Vec<_> = ranks
            .into_iter()
            .map(|g| {
                let open = &open;
                s.spawn(move || {
                    let be = open(g.rank());
                    train_rank(be, cfg, Arc::new(g))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn assert_close(a: &[f64], b: &[f64], rel: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            x.is_finite() && (x - y).abs() <= rel * x.abs(),
            "{what}: iteration {i}: {x} vs {y}"
        );
    }
}

#[test]
fn two_thread_ranks_on_the_cpu_train_what_one_rank_trains() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let (one, _) = train_rank(CpuBackend::new(1), &cfg, Arc::new(Single));
    assert_eq!(one.len(), 20);
    assert!(one[19] < one[0] - 0.3, "it learns: {one:?}");
    let two = train_threads(2, &cfg, |_| CpuBackend::new(1));
    for (rank, (losses, on_device)) in two.iter().enumerate() {
        assert!(!on_device, "rank {rank}: the CPU has no device collectives");
        assert_close(&one, losses, 1e-5, &format!("rank {rank} of 2 vs 1 rank"));
    }
}

#[test]
fn two_gpu_ranks_average_their_gradients_with_nccl() {
    let test = "two_gpu_ranks_average_their_gradients_with_nccl";
    let gpus = rnngym_kernels::cuda::device_count();
    if gpus < 2 || !rnngym_kernels::cuda::nccl_available() {
        eprintln!(
            "SKIPPED {test}: needs 2 GPUs and libnccl.so.2 (found {gpus} GPU(s), NCCL {})",
            if rnngym_kernels::cuda::nccl_available() {
                "present"
            } else {
                "absent"
            }
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let (cpu, _) = train_rank(CpuBackend::new(1), &cfg, Arc::new(Single));
    let (gpu, _) = train_rank(CudaBackend::new(0).unwrap(), &cfg, Arc::new(Single));
    let two = train_threads(2, &cfg, |r| CudaBackend::new(r).unwrap());
    for (rank, (losses, on_device)) in two.iter().enumerate() {
        assert!(on_device, "rank {rank}: gradients should go through NCCL");
        assert_close(
            &gpu,
            losses,
            1e-4,
            &format!("GPU rank {rank} of 2 vs 1 GPU"),
        );
        assert_close(
            &cpu,
            losses,
            2e-3,
            &format!("GPU rank {rank} of 2 vs the CPU"),
        );
    }
}
