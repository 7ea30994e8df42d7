//! Fast recurrent cell steps against the reference, on random inputs at nonzero offsets.
//!
//! Tolerance: `1e-5·|ref| + 1e-6` (both sides are f32 with the same formulas; only
//! instruction order and libm may differ).

mod common;
use common::*;
use rnngym_kernels::cpu::reference;
use rnngym_kernels::{Backend, CellDims, CpuBackend};

const REL: f32 = 1e-5;
const ABS: f32 = 1e-6;
const DIMS: [CellDims; 3] = [
    CellDims { b: 1, h: 1 },
    CellDims { b: 3, h: 17 },
    CellDims { b: 5, h: 65 },
];
/// Big enough that two threads split the rows (odd B: uneven halves).
const SPLIT: CellDims = CellDims { b: 65, h: 512 };

#[test]
fn lstm_fwd_bwd_match_reference() {
    for threads in [1, 2] {
        lstm_case(&CpuBackend::new(threads));
    }
}

fn lstm_case(be: &CpuBackend) {
    for (s, &d) in DIMS.iter().chain([&SPLIT]).enumerate() {
        let mut r = rng(s as u64);
        let nh = d.b * d.h;
        let (g_off, h_off, dh_off) = (3, 2, 5);
        // cs holds [pad, c_prev, c]: the forward step reads one slot and writes the next.
        let (cp_off, c_off) = (1, 1 + nh);
        let gates0 = rand_vec(&mut r, g_off + 4 * nh + 2, 3.0);
        let cs0 = rand_vec(&mut r, 1 + 2 * nh + 1, 2.0);
        let hs0 = rand_vec(&mut r, h_off + nh + 1, 1.0);
        let dhs = rand_vec(&mut r, dh_off + nh, 1.0);
        let dc0 = rand_vec(&mut r, nh, 1.0);

        let (mut g_want, mut cs_want, mut hs_want) = (gates0.clone(), cs0.clone(), hs0.clone());
        reference::lstm_fwd(
            d,
            &mut g_want,
            g_off,
            &mut cs_want,
            cp_off,
            c_off,
            &mut hs_want,
            h_off,
        );
        let (mut g_got, mut cs_got, mut hs_got) = (gates0.clone(), cs0.clone(), hs0.clone());
        be.lstm_fwd(
            d,
            &mut g_got,
            g_off,
            &mut cs_got,
            cp_off,
            c_off,
            &mut hs_got,
            h_off,
        )
        .unwrap();
        assert_close("lstm_fwd gates", &g_got, &g_want, REL, ABS);
        assert_close("lstm_fwd cs", &cs_got, &cs_want, REL, ABS);
        assert_close("lstm_fwd hs", &hs_got, &hs_want, REL, ABS);

        let mut dc_want = dc0.clone();
        reference::lstm_bwd(
            d,
            &mut g_want,
            g_off,
            &cs_want,
            cp_off,
            c_off,
            &dhs,
            dh_off,
            &mut dc_want,
        );
        let mut dc_got = dc0.clone();
        be.lstm_bwd(
            d,
            &mut g_got,
            g_off,
            &cs_got,
            cp_off,
            c_off,
            &dhs,
            dh_off,
            &mut dc_got,
        )
        .unwrap();
        assert_close("lstm_bwd d_gates", &g_got, &g_want, REL, ABS);
        assert_close("lstm_bwd dc", &dc_got, &dc_want, REL, ABS);

        // In place (c_prev_off == c_off), the generation path, gives the same c and h.
        let (mut g_in, mut cs_in, mut hs_in) = (gates0.clone(), cs0.clone(), hs0.clone());
        be.lstm_fwd(
            d, &mut g_in, g_off, &mut cs_in, cp_off, cp_off, &mut hs_in, h_off,
        )
        .unwrap();
        assert_close(
            "lstm_fwd in-place c",
            &cs_in[cp_off..cp_off + nh],
            &cs_want[c_off..c_off + nh],
            REL,
            ABS,
        );
        assert_close("lstm_fwd in-place h", &hs_in, &hs_want, REL, ABS);
    }
}

#[test]
fn gru_fwd_bwd_match_reference() {
    let be = CpuBackend::new(1);
    for (s, &d) in DIMS.iter().enumerate() {
        let mut r = rng(10 + s as u64);
        let nh = d.b * d.h;
        let (gx_off, gh_off) = (4, 1);
        // hs holds [pad, h_prev, h]; dhs holds [pad, dh_prev, dh] with dh_prev pre-filled
        // because the backward step accumulates into it.
        let (hp_off, h_off) = (2, 2 + nh);
        let (dhp_off, dh_off) = (1, 1 + nh);
        let gx0 = rand_vec(&mut r, gx_off + 3 * nh + 1, 3.0);
        let gh0 = rand_vec(&mut r, gh_off + 3 * nh + 2, 3.0);
        let hs0 = rand_vec(&mut r, 2 + 2 * nh, 1.0);
        let dhs0 = rand_vec(&mut r, 1 + 2 * nh + 3, 1.0);

        let (mut gx_want, mut hs_want) = (gx0.clone(), hs0.clone());
        reference::gru_fwd(
            d,
            &mut gx_want,
            gx_off,
            &gh0,
            gh_off,
            &mut hs_want,
            hp_off,
            h_off,
        );
        let (mut gx_got, mut hs_got) = (gx0.clone(), hs0.clone());
        be.gru_fwd(
            d,
            &mut gx_got,
            gx_off,
            &gh0,
            gh_off,
            &mut hs_got,
            hp_off,
            h_off,
        )
        .unwrap();
        assert_close("gru_fwd gx", &gx_got, &gx_want, REL, ABS);
        assert_close("gru_fwd hs", &hs_got, &hs_want, REL, ABS);

        let (mut gh_want, mut dhs_want) = (gh0.clone(), dhs0.clone());
        reference::gru_bwd(
            d,
            &mut gx_want,
            gx_off,
            &mut gh_want,
            gh_off,
            &hs_want,
            hp_off,
            &mut dhs_want,
            dh_off,
            dhp_off,
        );
        let (mut gh_got, mut dhs_got) = (gh0.clone(), dhs0.clone());
        be.gru_bwd(
            d,
            &mut gx_got,
            gx_off,
            &mut gh_got,
            gh_off,
            &hs_got,
            hp_off,
            &mut dhs_got,
            dh_off,
            dhp_off,
        )
        .unwrap();
        assert_close("gru_bwd d_gx", &gx_got, &gx_want, REL, ABS);
        assert_close("gru_bwd d_gh", &gh_got, &gh_want, REL, ABS);
        assert_close("gru_bwd dhs", &dhs_got, &dhs_want, REL, ABS);

        // In place (h_prev_off == h_off) gives the same h.
        let (mut gx_in, mut hs_in) = (gx0.clone(), hs0.clone());
        be.gru_fwd(
            d, &mut gx_in, gx_off, &gh0, gh_off, &mut hs_in, hp_off, hp_off,
        )
        .unwrap();
        assert_close(
            "gru_fwd in-place h",
            &hs_in[hp_off..hp_off + nh],
            &hs_want[h_off..h_off + nh],
            REL,
            ABS,
        );
    }
}

#[test]
fn rnn_fwd_bwd_match_reference() {
    let be = CpuBackend::new(1);
    for (s, &d) in DIMS.iter().enumerate() {
        let mut r = rng(20 + s as u64);
        let nh = d.b * d.h;
        let (g_off, h_off, dh_off) = (2, 3, 1);
        let g0 = rand_vec(&mut r, g_off + nh + 1, 3.0);
        let hs0 = rand_vec(&mut r, h_off + nh + 2, 1.0);
        let dhs = rand_vec(&mut r, dh_off + nh, 1.0);
        let (mut g_want, mut hs_want) = (g0.clone(), hs0.clone());
        reference::rnn_fwd(d, &mut g_want, g_off, &mut hs_want, h_off);
        let (mut g_got, mut hs_got) = (g0.clone(), hs0.clone());
        be.rnn_fwd(d, &mut g_got, g_off, &mut hs_got, h_off)
            .unwrap();
        assert_close("rnn_fwd gates", &g_got, &g_want, REL, ABS);
        assert_close("rnn_fwd hs", &hs_got, &hs_want, REL, ABS);
        reference::rnn_bwd(d, &mut g_want, g_off, &dhs, dh_off);
        be.rnn_bwd(d, &mut g_got, g_off, &dhs, dh_off).unwrap();
        assert_close("rnn_bwd", &g_got, &g_want, REL, ABS);
    }
}

#[test]
fn saturated_gates_stay_finite() {
    // Pre-activations far beyond the f32 exp range must saturate, not produce NaN.
    let be = CpuBackend::new(1);
    let d = CellDims { b: 1, h: 2 };
    let mut gates = vec![1e4, -1e4, 1e4, -1e4, -1e4, 1e4, 1e4, -1e4];
    let mut cs = vec![0.5, -0.5, 0.0, 0.0];
    let mut hs = vec![0.0; 2];
    be.lstm_fwd(d, &mut gates, 0, &mut cs, 0, 2, &mut hs, 0)
        .unwrap();
    assert!(gates.iter().chain(&cs).chain(&hs).all(|x| x.is_finite()));
    assert_eq!(&gates[..2], &[1.0, 0.0]);
}
