//! Every op returns `KernelError::Shape` (never panics) when an operand does not fit its
//! buffer, an id is out of range, or ranges overlap where the op forbids it.

mod common;
use common::Bufs;
use rnngym_kernels::{
    AdamStep, Backend, Cell, CellStep, CpuBackend, Gemm, KernelError, Precision, Result,
    RmsPropStep, Rows,
};

#[track_caller]
fn shape<T: std::fmt::Debug>(r: Result<T>) {
    match r {
        Err(KernelError::Shape(msg)) => assert!(!msg.is_empty()),
        other => panic!("expected a shape error, got {other:?}"),
    }
}

#[test]
fn memory_and_dense_ops() {
    let be = CpuBackend::new(1);
    let mut a = vec![0.0f32; 8];
    let b = vec![0.0f32; 8];
    let mut out = vec![0.0f32; 4];
    shape(be.write(&mut a, 6, &[1.0; 3]));
    shape(be.read(&b, 7, &mut out));
    shape(be.fill(&mut a, 9, 0, 1.0));
    shape(be.fill(&mut a, usize::MAX, 2, 1.0));
    shape(be.fill_rows(&mut a, Rows::new(3, 2, 3), &[true, false], 1.0));
    shape(be.fill_rows(&mut a, Rows::new(0, 2, 3), &[true], 1.0));
    shape(be.fill_rows(&mut a, Rows::new(0, usize::MAX, 3), &[], 1.0));
    shape(be.copy(&b, 6, &mut a, 0, 3));
    shape(be.copy(&b, 0, &mut a, 6, 3));
    shape(be.copy_within(&mut a, 0, 2, 3));
    shape(be.copy_within(&mut a, 0, 6, 3));
    shape(be.write_ids(&mut vec![0u32; 2], &[1, 2, 3]));
    shape(be.broadcast_rows(&b, 6, &mut a, 0, 2, 3));
    shape(be.broadcast_rows(&b, 0, &mut a, 3, 2, 3));
    shape(be.sum_rows(&b, Rows::new(3, 2, 3), &mut a, 0, false));
    shape(be.sum_rows(&b, Rows::new(0, 2, 3), &mut a, 6, true));
    shape(be.mul_assign(&mut a, 5, &b, 0, 4));
    shape(be.mul_assign(&mut a, 0, &b, 5, 4));
    shape(be.scale(&mut a, 5, 4, 2.0));
    shape(be.sum_squares(&b, 5, 4));
}

#[test]
fn reduced_precision_operands() {
    let be = CpuBackend::new(1);
    let w = vec![0.5f32; 12];
    shape(be.quantize(&w, 1, 3, 4, Precision::Int8));
    shape(be.quantize(&w, 0, usize::MAX, 2, Precision::Bf16));
    let q = be.quantize(&w, 0, 3, 4, Precision::Bf16).unwrap();
    let (x, mut y) = (vec![1.0f32; 8], vec![0.0f32; 6]);
    shape(be.qgemv(&q, 1, &x, 5, &mut y, 0, false));
    shape(be.qgemv(&q, 2, &x, 1, &mut y, 0, false));
    shape(be.qgemv(&q, 2, &x, 0, &mut y, 1, true));
    be.qgemv(&q, 2, &x, 0, &mut y, 0, false).unwrap();
    assert_eq!(y, [2.0; 6]);
}

#[test]
fn gemm_operands() {
    let be = CpuBackend::new(1);
    let (a, b) = (vec![0.0f32; 6], vec![0.0f32; 6]);
    let mut c = vec![0.0f32; 4];
    shape(be.gemm(&Gemm::nn(2, 2, 3).offsets(1, 0, 0), &a, &b, &mut c));
    shape(be.gemm(&Gemm::nn(2, 2, 3).offsets(0, 1, 0), &a, &b, &mut c));
    shape(be.gemm(&Gemm::nn(2, 2, 3).offsets(0, 0, 1), &a, &b, &mut c));
    shape(be.gemm(&Gemm::nn(2, 2, 4), &a, &b, &mut c));
    shape(be.gemm(
        &Gemm {
            lda: 2,
            ..Gemm::nn(2, 2, 3)
        },
        &a,
        &b,
        &mut c,
    ));
    shape(be.gemm(
        &Gemm {
            ldc: 1,
            ..Gemm::nn(2, 2, 3)
        },
        &a,
        &b,
        &mut c,
    ));
    shape(be.gemm(
        &Gemm {
            a_off: usize::MAX,
            ..Gemm::tn(2, 2, 3)
        },
        &a,
        &b,
        &mut c,
    ));
    shape(be.gemm(&Gemm::nt(3, 2, 2), &a, &b, &mut c));
    assert!(be.gemm(&Gemm::nn(2, 2, 3), &a, &b, &mut c).is_ok());
}

#[test]
fn embedding_loss_regularisation_optimizers() {
    let be = CpuBackend::new(1);
    let table = vec![0.0f32; 6]; // [3, 2]
    let mut out = vec![0.0f32; 4];
    shape(be.gather_rows(&table, 2, &vec![0, 3], 2, &mut out));
    shape(be.gather_rows(&table, 2, &vec![0], 2, &mut out));
    shape(be.gather_rows(&table, 2, &vec![0, 1, 2], 3, &mut out));
    // Two sums of two rows: an id past the table, too few ids, too small an output.
    shape(be.gather_sum_rows(&table, 2, &vec![0, 1, 2, 3], 2, 2, &mut out, false));
    shape(be.gather_sum_rows(&table, 2, &vec![0, 1, 2], 2, 2, &mut out, false));
    shape(be.gather_sum_rows(&table, 2, &vec![0, 1, 2, 1], 2, 3, &mut out, true));
    assert!(be
        .gather_sum_rows(&table, 2, &vec![0, 1, 2, 1], 2, 2, &mut out, true)
        .is_ok());
    let mut d_table = vec![0.0f32; 7];
    shape(be.scatter_add_rows(&out, 2, &vec![0, 3], 2, &mut d_table, 0));
    shape(be.scatter_add_rows(&out, 2, &vec![0, 2], 2, &mut d_table, 2));
    shape(be.scatter_add_rows(&out, 2, &vec![0], 1, &mut d_table, 8));
    let logits = vec![0.0f32; 6];
    let mut d = vec![0.0f32; 5];
    shape(be.softmax_xent(&logits, 2, 3, &vec![0, 3], None, 1.0));
    shape(be.softmax_xent(&logits, 3, 3, &vec![0, 1, 2], None, 1.0));
    shape(be.softmax_xent(&logits, 2, 3, &vec![0], None, 1.0));
    shape(be.softmax_xent(&logits, 2, 3, &vec![0, 1], Some(&mut d), 1.0));
    let (mut x, mut mask) = (vec![0.0f32; 4], vec![0.0f32; 4]);
    shape(be.dropout(&mut x, 1, &mut mask, 4, 0.5, 1));
    shape(be.dropout(&mut x, 0, &mut mask[..].to_vec()[..3].to_vec(), 4, 0.5, 1));
    let (mut p, g, mut m, mut v) = (
        vec![0.0f32; 4],
        vec![0.0f32; 3],
        vec![0.0f32; 4],
        vec![0.0f32; 4],
    );
    let s = AdamStep {
        lr: 0.1,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
        step: 1,
    };
    shape(be.adam_step(&mut p, &g, &mut m, &mut v, 4, &s));
    shape(be.adam_step(&mut p, &m.clone(), &mut m, &mut v, 5, &s));
    let r = RmsPropStep {
        lr: 0.1,
        alpha: 0.99,
        eps: 1e-8,
    };
    shape(be.rmsprop_step(&mut p, &g, &mut m, 4, &r));
    shape(be.rmsprop_step(&mut p, &m.clone(), &mut v[..2].to_vec(), 4, &r));
}

#[test]
fn cells() {
    let be = CpuBackend::new(1);
    let (b, h) = (2, 3);
    let nh = b * h;
    let ok = |cell| CellStep {
        cell,
        b,
        h,
        gates: 0,
        prev: 0,
        next: nh,
    };
    let mut bufs = Bufs {
        gates: vec![0.0f32; 4 * nh],
        gh: vec![0.0f32; 3 * nh],
        hs: vec![0.0f32; 2 * nh],
        cs: vec![0.0f32; 2 * nh],
        dhs: vec![0.0f32; 2 * nh],
        dc: vec![0.0f32; nh],
    };
    for cell in Cell::ALL {
        let c = ok(cell);
        let g = nh * cell.gates_per_unit();
        let bad = [
            // The gate block runs past `gates` (GRU: past `gh` too).
            CellStep {
                gates: bufs.gates.len() - g + 1,
                ..c
            },
            // The produced state runs past the state buffers.
            CellStep { next: nh + 1, ..c },
            // Carried-in and produced states partially overlap.
            CellStep { next: 3, ..c },
            // B·H overflows.
            CellStep { b: usize::MAX, ..c },
        ];
        for (i, bad) in bad.iter().enumerate() {
            // The RNN never reads the carried state; only the GRU's backward writes it (below).
            if i == 2 {
                if cell != Cell::Rnn {
                    shape(be.cell_forward(bad, &mut bufs.state()));
                }
                continue;
            }
            shape(be.cell_forward(bad, &mut bufs.state()));
            shape(be.cell_backward(bad, &mut bufs.state()));
        }
        // The carried-in state runs past the state buffers (every cell reads it but the RNN).
        if cell != Cell::Rnn {
            shape(be.cell_forward(&CellStep { prev: nh + 1, ..c }, &mut bufs.state()));
        }
        // A buffer the cell needs is too short.
        let mut short = bufs.clone();
        match cell {
            Cell::Lstm => short.dc.truncate(5),
            Cell::Gru => short.gh.truncate(3 * nh - 1),
            Cell::Rnn => short.dhs.truncate(2 * nh - 1),
        }
        shape(be.cell_backward(&c, &mut short.state()));
        // The same calls with valid offsets succeed, so the errors above are about the offsets.
        be.cell_forward(&c, &mut bufs.state()).unwrap();
        be.cell_backward(&c, &mut bufs.state()).unwrap();
    }
    // The GRU adds into dh_prev: it must not overlap dh.
    shape(be.cell_backward(
        &CellStep {
            next: 0,
            ..ok(Cell::Gru)
        },
        &mut bufs.state(),
    ));
}
