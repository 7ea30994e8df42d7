//! The order in which the GPU's `scatter_add_rows` adds (`kernels/src/cuda/kernels/embed.cu`,
//! fed the host's [`RowLists`]) modelled on the CPU: one thread per (id, column), in any order,
//! each adding its id's rows in list order onto the table's value. The model must give the CPU
//! backend's bits exactly, which makes the GPU's embedding gradient deterministic and equal to
//! the CPU's (float `atomicAdd` was neither). Needs no GPU; `cuda_parity` checks the kernel
//! itself against the CPU bit for bit where a GPU is present.

mod common;
use common::*;
use rand::seq::SliceRandom;
use rnngym_kernels::cuda::RowLists;
use rnngym_kernels::{Backend, CpuBackend};

/// `scatter_add_rows` as the kernel computes it, visiting the (id, column) threads in `order`.
fn kernel_model(
    src: &[f32],
    cols: usize,
    lists: &RowLists,
    d_table: &mut [f32],
    order: &[(usize, usize)],
) {
    let (ids, starts, rows) = (lists.ids(), lists.starts(), lists.rows());
    for &(u, c) in order {
        let d = &mut d_table[ids[u] as usize * cols + c];
        let mut acc = *d;
        for &r in &rows[starts[u] as usize..starts[u + 1] as usize] {
            acc += src[r as usize * cols + c];
        }
        *d = acc;
    }
}

/// Every (id, column) thread of a launch, shuffled: threads run in no fixed order.
fn threads(r: &mut rand::rngs::StdRng, k: usize, cols: usize) -> Vec<(usize, usize)> {
    let mut all: Vec<_> = (0..k)
        .flat_map(|u| (0..cols).map(move |c| (u, c)))
        .collect();
    all.shuffle(r);
    all
}

#[test]
fn row_lists_group_every_row_by_id_in_order() {
    let mut r = rng(40);
    for n in [0usize, 1, 7, 500] {
        let ids = skewed_ids(&mut r, n, 65);
        let l = RowLists::new(&ids);
        assert_eq!(l.starts().len(), l.len() + 1);
        assert_eq!(l.rows().len(), n);
        assert!(l.ids().windows(2).all(|w| w[0] < w[1]), "ids ascending");
        let mut seen = vec![false; n];
        for (u, &id) in l.ids().iter().enumerate() {
            let rows = &l.rows()[l.starts()[u] as usize..l.starts()[u + 1] as usize];
            assert!(!rows.is_empty(), "only ids that occur are listed");
            assert!(rows.windows(2).all(|w| w[0] < w[1]), "rows ascending");
            for &row in rows {
                assert_eq!(ids[row as usize], id);
                seen[row as usize] = true;
            }
        }
        assert!(seen.iter().all(|&s| s), "every row listed once");
        assert_eq!(l.is_empty(), n == 0);
    }
}

#[test]
fn the_kernel_order_gives_the_cpu_bits() {
    let cpu = CpuBackend::new(1);
    let mut r = rng(41);
    // (vocab, cols, ids given, ids used, table offset, id pattern)
    let cases: &[(u32, usize, usize, usize, usize, &str)] = &[
        (65, 48, 700, 700, 0, "skewed"),
        (65, 257, 6400, 6400, 4, "skewed"),
        (5, 3, 300, 250, 1, "skewed"),
        (300, 1, 40, 40, 0, "skewed"),
        (65, 16, 200, 200, 0, "one id"),
        (500, 8, 400, 400, 2, "all distinct"),
        (65, 8, 10, 0, 0, "none used"),
    ];
    for &(vocab, cols, given, used, off, pattern) in cases {
        let ids: Vec<u32> = match pattern {
            "one id" => vec![7; given],
            "all distinct" => {
                let mut v: Vec<u32> = (0..vocab).collect();
                v.shuffle(&mut r);
                v.truncate(given);
                v
            }
            _ => skewed_ids(&mut r, given, vocab),
        };
        let src = wide_values(&mut r, used * cols);
        let table = wide_values(&mut r, off + vocab as usize * cols);

        let mut want = cpu.upload(&table).unwrap();
        let mut tok = cpu.zeros_ids(ids.len()).unwrap();
        cpu.write_ids(&mut tok, &ids).unwrap();
        let s = cpu.upload(&src).unwrap();
        cpu.scatter_add_rows(&s, cols, &tok, used, &mut want, off)
            .unwrap();

        let lists = RowLists::new(&ids[..used]);
        let mut got = table.clone();
        let order = threads(&mut r, lists.len(), cols);
        kernel_model(&src, cols, &lists, &mut got[off..], &order);
        let same = got
            .iter()
            .zip(&want)
            .all(|(g, w)| g.to_bits() == w.to_bits());
        assert!(
            same,
            "{pattern} V={vocab} cols={cols} n={used}: not the CPU's bits"
        );
    }
}

#[test]
fn the_check_would_see_another_order() {
    // Guards the test above: with these values, adding an id's rows in reverse changes bits.
    let mut r = rng(42);
    let (vocab, cols, n) = (65u32, 48usize, 700usize);
    let ids = skewed_ids(&mut r, n, vocab);
    let src = wide_values(&mut r, n * cols);
    let table = wide_values(&mut r, vocab as usize * cols);
    let lists = RowLists::new(&ids);
    let order = threads(&mut r, lists.len(), cols);
    let mut forward = table.clone();
    kernel_model(&src, cols, &lists, &mut forward, &order);
    let mut reversed = table;
    for &(u, c) in &order {
        let id = lists.ids()[u] as usize;
        let rows = &lists.rows()[lists.starts()[u] as usize..lists.starts()[u + 1] as usize];
        let mut acc = reversed[id * cols + c];
        for &row in rows.iter().rev() {
            acc += src[row as usize * cols + c];
        }
        reversed[id * cols + c] = acc;
    }
    let differ = forward
        .iter()
        .zip(&reversed)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    assert!(differ > 100, "only {differ} elements depend on the order");
}
