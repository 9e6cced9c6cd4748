//! In a process of its own ([`testkit::in_own_process`]): Rayon's global
//! pool must not exist before the call, which the other tests of this binary
//! could not promise, and the mode it sets would reach their pool threads.

use std::hint::black_box;

/// Half the smallest normal f32: subnormal unless flushed. `black_box` keeps the
/// compiler from folding it or reusing a result computed before the mode changed.
fn half_of_smallest_normal() -> f32 {
    black_box(f32::MIN_POSITIVE) * black_box(0.5f32)
}

#[test]
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn subnormal_results_become_zero_on_this_thread_and_in_the_pool() {
    if !testkit::in_own_process(
        "denormals::subnormal_results_become_zero_on_this_thread_and_in_the_pool",
    ) {
        return;
    }
    assert!(
        half_of_smallest_normal() > 0.0,
        "subnormals exist before the call"
    );
    model::flush_denormals_to_zero();
    assert_eq!(half_of_smallest_normal(), 0.0);
    let in_pool = rayon::broadcast(|_| half_of_smallest_normal());
    assert!(in_pool.iter().all(|&x| x == 0.0), "{in_pool:?}");
}
