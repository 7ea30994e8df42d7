//! The custom-gym example: a gym defined outside the library registers, passes `check_gym`,
//! and trains through the `Trainer` API to a loss well below the uniform baseline.

#[path = "../examples/custom_gym.rs"]
#[allow(dead_code)]
mod custom_gym;

#[test]
fn custom_gym_trains_well_below_the_uniform_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let (loss, baseline) = custom_gym::train_demo(300, dir.path()).unwrap();
    // Sums are partly predictable (format, carries, the answer's digits): well under ln 13.
    assert!(
        loss < 0.6 * baseline,
        "validation loss {loss:.3} vs uniform {baseline:.3}"
    );
}
