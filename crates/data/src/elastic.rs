//! Simard's elastic displacement field: uniform noise in [-1, 1] per pixel
//! and axis (`F`, 28x28), smoothed by a Gaussian of width `sigma` along rows
//! and columns (`G F G` for the blur matrix `G`) and scaled by `alpha`.
//!
//! Drawn here without the 28x28 noise and the two full blurs. `G` is
//! symmetric, `G = U L U^T`, and its eigenvalues fall fast (for sigma 4:
//! 0.93, 0.75, 0.52, 0.31, 0.16, 0.08, 0.03, 0.01, 0.003, ...). The field is
//! `alpha A Z A^T` with `A = U_r L_r` (the `r` leading eigenvectors times their
//! eigenvalues) and `Z` an `r x r` matrix of uniform numbers in [-1, 1):
//!
//! - `G F G` has the covariance `(1/3) (G^2 (x) G^2)`, and `A Z A^T` has
//!   `(1/3) (A A^T (x) A A^T)` with `A A^T = U_r L_r^2 U_r^T`, `G^2` cut to
//!   rank `r`. The rank is the smallest that leaves out at most 10^-4 of
//!   `G^2` (Frobenius norm): the same covariance to that precision, so the
//!   same root mean square at every place of the frame and the same
//!   smoothness between neighbours.
//! - Each value of either is a weighted sum of many independent uniform
//!   numbers (784 in `G F G`, `r^2` here), so both are nearly Gaussian.
//!
//! For sigma 4 the rank is 8: 128 random numbers and about 16,000
//! multiply-adds per image instead of 1,568 and 88,000. The tests check the
//! fields' statistics against `G F G` drawn as Simard wrote it.

use std::cell::RefCell;

use multiversion::multiversion;
use rand::rngs::{SmallRng, StdRng};
use rand::{Rng, RngCore, SeedableRng};

use crate::mnist::{IMAGE_PIXELS, IMAGE_SIDE};

/// The part of `G^2` (relative, Frobenius norm) the rank may leave out.
const CUT: f64 = 1e-4;

/// A smoothed random displacement per output pixel, in pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct ElasticField {
    /// `[784]` each, row-major.
    pub dx: Vec<f32>,
    pub dy: Vec<f32>,
}

impl ElasticField {
    /// The field of width `sigma` and scale `alpha`, from the next number of
    /// the image's generator `rng`.
    pub(crate) fn draw(rng: &mut StdRng, sigma: f32, alpha: f32) -> Self {
        thread_local! {
            static BASIS: RefCell<Option<Basis>> = const { RefCell::new(None) };
        }
        // A fast generator for the 2 r^2 uniform numbers, seeded from the
        // image's own generator.
        let mut fast = SmallRng::seed_from_u64(rng.random());
        BASIS.with(|basis| {
            let mut basis = basis.borrow_mut();
            if basis.as_ref().is_none_or(|basis| basis.sigma != sigma) {
                *basis = Some(Basis::new(sigma));
            }
            let basis = basis.as_ref().expect("just built");
            let count = basis.rank * basis.rank;
            // The x field's numbers, then the y field's, drawn in one loop
            // that keeps the generator's state in registers.
            let noise: Vec<f32> = (0..2 * count)
                .map(|_| signed_unit(fast.next_u32()))
                .collect();
            let (x, y) = noise.split_at(count);
            Self {
                dx: basis.field(x, alpha),
                dy: basis.field(y, alpha),
            }
        })
    }
}

/// The top 24 of 32 random bits as a number uniform in [-1, 1).
pub(crate) fn signed_unit(bits: u32) -> f32 {
    (bits >> 8) as f32 * (2.0 / (1u32 << 24) as f32) - 1.0
}

/// The 28x28 matrix `G` of a one-dimensional Gaussian blur of standard
/// deviation `sigma` (normalised weights, cut at three widths), with 0 beyond
/// the frame as SciPy's `gaussian_filter(mode="constant")`, which the usual
/// implementations of Simard's distortion use: displacements fade towards
/// the frame's edge rather than grow there. `G` is symmetric.
pub(crate) fn blur_matrix(sigma: f32) -> Vec<f32> {
    let radius = ((3.0 * sigma).ceil() as usize).min(IMAGE_SIDE - 1) as isize;
    let weights: Vec<f32> = (-radius..=radius)
        .map(|x| (-(x * x) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = weights.iter().sum();
    let mut matrix = vec![0.0f32; IMAGE_PIXELS];
    for i in 0..IMAGE_SIDE as isize {
        for k in (i - radius).max(0)..(i + radius + 1).min(IMAGE_SIDE as isize) {
            matrix[(i * IMAGE_SIDE as isize + k) as usize] =
                weights[(k - i + radius) as usize] / total;
        }
    }
    matrix
}

/// The factor `A` of one blur width (built once per thread and width).
struct Basis {
    sigma: f32,
    rank: usize,
    /// `A`, `[28, rank]`.
    factor: Vec<f32>,
    /// `A^T`, `[rank, 28]`.
    transposed: Vec<f32>,
}

impl Basis {
    fn new(sigma: f32) -> Self {
        let side = IMAGE_SIDE;
        let blur: Vec<f64> = blur_matrix(sigma).iter().map(|&w| f64::from(w)).collect();
        let (values, vectors) = symmetric_eigen(blur, side);
        let mut order: Vec<usize> = (0..side).collect();
        order.sort_by(|&a, &b| values[b].abs().total_cmp(&values[a].abs()));
        let rank = rank_for(&order.iter().map(|&i| values[i]).collect::<Vec<_>>());
        let mut factor = vec![0.0f32; side * rank];
        let mut transposed = vec![0.0f32; rank * side];
        for (column, &index) in order[..rank].iter().enumerate() {
            for row in 0..side {
                let value = (vectors[row * side + index] * values[index]) as f32;
                factor[row * rank + column] = value;
                transposed[column * side + row] = value;
            }
        }
        Self {
            sigma,
            rank,
            factor,
            transposed,
        }
    }

    /// `alpha A Z A^T` for `z` (`[rank, rank]`), row-major `[784]`.
    fn field(&self, z: &[f32], alpha: f32) -> Vec<f32> {
        let right = product(z, &self.transposed); // Z A^T: [rank, 28]
        let mut field = product(&self.factor, &right); // A (Z A^T): [28, 28]
        field.iter_mut().for_each(|value| *value *= alpha);
        field
    }
}

/// The smallest rank that leaves out at most [`CUT`] of `G^2`, given `G`'s
/// eigenvalues largest (in size) first: the Frobenius norm of `G^2` is
/// `sqrt(sum l^4)`.
fn rank_for(values: &[f64]) -> usize {
    let fourth: Vec<f64> = values.iter().map(|l| l.powi(4)).collect();
    let allowed = CUT * CUT * fourth.iter().sum::<f64>();
    let mut left_out = 0.0;
    let mut rank = values.len();
    while rank > 1 && left_out + fourth[rank - 1] <= allowed {
        left_out += fourth[rank - 1];
        rank -= 1;
    }
    rank
}

/// The eigenvalues and eigenvectors of the symmetric `n x n` matrix `a`
/// (row-major), by cyclic Jacobi rotations: `(values, vectors)` with
/// eigenvector `i` in column `i` of `vectors` (row-major `[n, n]`). Converges
/// quadratically; for 28x28 it takes well under a millisecond.
fn symmetric_eigen(mut a: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut vectors = vec![0.0; n * n];
    for i in 0..n {
        vectors[i * n + i] = 1.0;
    }
    let scale: f64 = a.iter().map(|v| v * v).sum();
    for _sweep in 0..64 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum();
        if off <= 1e-30 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                // The rotation J (c at (p, p) and (q, q), s at (p, q), -s at
                // (q, p)) that zeroes a_pq in J^T A J.
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let sign = if theta >= 0.0 { 1.0 } else { -1.0 };
                let t = sign / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                let rotate = |m: &mut [f64], i: usize, j: usize| {
                    let (x, y) = (m[i], m[j]);
                    m[i] = c * x - s * y;
                    m[j] = s * x + c * y;
                };
                for k in 0..n {
                    rotate(&mut a, k * n + p, k * n + q); // A J: columns p and q
                }
                for k in 0..n {
                    rotate(&mut a, p * n + k, q * n + k); // J^T (A J): rows p and q
                }
                for k in 0..n {
                    rotate(&mut vectors, k * n + p, k * n + q); // V J
                }
            }
        }
    }
    let values = (0..n).map(|i| a[i * n + i]).collect();
    (values, vectors)
}

/// `a · b` for `a` `[rows, inner]` and `b` `[inner, 28]` (row-major), as
/// `[rows, 28]`, vectorised along the rows of the result (compiled for
/// AVX-512 and AVX2 too, chosen at run time). Rows as fixed-size arrays let
/// the compiler keep a row of the result in registers while it adds up; each
/// sum runs in the order of the textbook loop's, so the result is the same
/// to the bit.
#[multiversion(targets("x86_64+avx512f+avx512bw+avx512dq+avx512vl", "x86_64+avx2+fma",))]
fn product(a: &[f32], b: &[f32]) -> Vec<f32> {
    let (b, _) = b.as_chunks::<IMAGE_SIDE>();
    let inner = b.len();
    let mut out = vec![0.0f32; a.len() / inner * IMAGE_SIDE];
    let (rows, _) = out.as_chunks_mut::<IMAGE_SIDE>();
    for (out_row, a_row) in rows.iter_mut().zip(a.chunks_exact(inner)) {
        let mut sum = [0.0f32; IMAGE_SIDE];
        for (&weight, b_row) in a_row.iter().zip(b) {
            for (s, &v) in sum.iter_mut().zip(b_row) {
                *s += weight * v;
            }
        }
        *out_row = sum;
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `[rows, inner] · [inner, cols]`, the textbook triple loop.
    fn textbook(a: &[f32], b: &[f32], inner: usize, cols: usize) -> Vec<f32> {
        let rows = a.len() / inner;
        let mut out = vec![0.0f32; rows * cols];
        for i in 0..rows {
            for j in 0..cols {
                for k in 0..inner {
                    out[i * cols + j] += a[i * inner + k] * b[k * cols + j];
                }
            }
        }
        out
    }

    fn bits(m: &[f32]) -> Vec<u32> {
        m.iter().map(|v| v.to_bits()).collect()
    }

    /// The product is the textbook triple loop to the bit (the same sums in
    /// the same order), square with zeros in it and `[28, 8] · [8, 28]`.
    #[test]
    fn the_product_is_the_textbook_one_to_the_bit() {
        let a = blur_matrix(2.0);
        let b: Vec<f32> = (0..IMAGE_PIXELS)
            .map(|p| signed_unit((p as u32).wrapping_mul(2_654_435_761)))
            .collect();
        assert!(a.contains(&0.0));
        assert_eq!(
            bits(&product(&a, &b)),
            bits(&textbook(&a, &b, IMAGE_SIDE, IMAGE_SIDE))
        );
        let (tall, wide) = (&b[..IMAGE_SIDE * 8], &a[..8 * IMAGE_SIDE]);
        assert_eq!(
            bits(&product(tall, wide)),
            bits(&textbook(tall, wide, 8, IMAGE_SIDE))
        );
    }

    /// Jacobi's eigenvectors by hand: [[2, 1], [1, 2]] has 3 on (1, 1) / sqrt 2
    /// and 1 on (1, -1) / sqrt 2; and for the blur, `U L U^T` is `G` again.
    #[test]
    fn eigenvectors_rebuild_the_matrix() {
        let (values, vectors) = symmetric_eigen(vec![2.0, 1.0, 1.0, 2.0], 2);
        let mut pairs: Vec<(f64, [f64; 2])> = (0..2)
            .map(|i| (values[i], [vectors[i], vectors[2 + i]]))
            .collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let root = std::f64::consts::FRAC_1_SQRT_2;
        assert!((pairs[0].0 - 1.0).abs() < 1e-12 && (pairs[1].0 - 3.0).abs() < 1e-12);
        assert!((pairs[0].1[0] + pairs[0].1[1]).abs() < 1e-12);
        assert!((pairs[1].1[0] - pairs[1].1[1]).abs() < 1e-12);
        assert!((pairs[1].1[0].abs() - root).abs() < 1e-12);

        let side = IMAGE_SIDE;
        let blur: Vec<f64> = blur_matrix(4.0).iter().map(|&w| f64::from(w)).collect();
        let (values, vectors) = symmetric_eigen(blur.clone(), side);
        for i in 0..side {
            for j in 0..side {
                let rebuilt: f64 = (0..side)
                    .map(|k| vectors[i * side + k] * values[k] * vectors[j * side + k])
                    .sum();
                assert!((rebuilt - blur[i * side + j]).abs() < 1e-9, "({i}, {j})");
            }
        }
    }

    /// `A A^T` is `G^2` within the cut, at a rank that falls as the blur
    /// widens (and is the whole 28 for a blur too narrow to smooth much).
    #[test]
    fn the_factor_keeps_the_blur_s_covariance() {
        let mut ranks = Vec::new();
        for sigma in [1.0f32, 2.0, 4.0, 8.0] {
            let basis = Basis::new(sigma);
            let g: Vec<f64> = blur_matrix(sigma).iter().map(|&w| f64::from(w)).collect();
            let (side, rank) = (IMAGE_SIDE, basis.rank);
            let (mut error, mut norm) = (0.0f64, 0.0f64);
            for i in 0..side {
                for j in 0..side {
                    let square: f64 = (0..side).map(|k| g[i * side + k] * g[k * side + j]).sum();
                    let kept: f64 = (0..rank)
                        .map(|k| {
                            f64::from(basis.factor[i * rank + k])
                                * f64::from(basis.factor[j * rank + k])
                        })
                        .sum();
                    error += (square - kept).powi(2);
                    norm += square.powi(2);
                }
            }
            let relative = (error / norm).sqrt();
            assert!(
                relative < 2.0 * CUT,
                "sigma {sigma}: rank {rank}, {relative}"
            );
            ranks.push(rank);
        }
        assert!(ranks.windows(2).all(|pair| pair[0] >= pair[1]), "{ranks:?}");
        assert_eq!(ranks[2], 8, "sigma 4: {ranks:?}");
    }

    /// `count` fields of sigma 4 and alpha 34, `[dx..., dy...]` each, drawn
    /// as Simard wrote it: `alpha G F G` of uniform noise `F`.
    pub(crate) fn simard_fields(count: usize) -> Vec<Vec<f32>> {
        let g = blur_matrix(4.0);
        let mut rng = SmallRng::seed_from_u64(11);
        (0..count)
            .map(|_| {
                (0..2)
                    .flat_map(|_| {
                        let noise: Vec<f32> = (0..IMAGE_PIXELS)
                            .map(|_| signed_unit(rng.next_u32()))
                            .collect();
                        let rows = textbook(&g, &noise, IMAGE_SIDE, IMAGE_SIDE);
                        let field = textbook(&rows, &g, IMAGE_SIDE, IMAGE_SIDE);
                        field.into_iter().map(|v| v * 34.0)
                    })
                    .collect()
            })
            .collect()
    }

    /// Root mean square of the fields over images, per pixel and axis (`[1568]`).
    fn rms(fields: &[Vec<f32>]) -> Vec<f32> {
        (0..2 * IMAGE_PIXELS)
            .map(|p| {
                let sum: f32 = fields.iter().map(|field| field[p] * field[p]).sum();
                (sum / fields.len() as f32).sqrt()
            })
            .collect()
    }

    /// `fields` have `reference`'s statistics: mean 0, and the same root mean
    /// square at every place of the frame (it falls towards the edges, where
    /// the blur's constant mode adds paper), and neighbours that move
    /// together as much. With 2,000 images, and about (28 / 2 sigma)^2 = 12
    /// independent patches of noise per image and axis, each band's mean
    /// square is estimated from ~6,000 independent values per pixel band, a
    /// relative error of about sqrt(2 / 6000) = 1.8%, so the root mean
    /// square's is about 0.9%: 6% is over six of those for either side; the
    /// mean's tolerance, 5% of the RMS, is over six standard errors likewise.
    pub(crate) fn assert_same_field_statistics(fields: &[Vec<f32>], reference: &[Vec<f32>]) {
        let (rms_fields, rms_reference) = (rms(fields), rms(reference));
        let overall = rms_reference.iter().sum::<f32>() / rms_reference.len() as f32;
        assert!((1.0..10.0).contains(&overall), "reference RMS {overall}");
        // Bands of 4 rows, each axis: the edge bands against the centre's too.
        for axis in 0..2 {
            for band in 0..IMAGE_SIDE / 4 {
                let mean = |values: &[f32]| -> f32 {
                    let start = axis * IMAGE_PIXELS + band * 4 * IMAGE_SIDE;
                    values[start..start + 4 * IMAGE_SIDE].iter().sum::<f32>()
                        / (4 * IMAGE_SIDE) as f32
                };
                let (f, r) = (mean(&rms_fields), mean(&rms_reference));
                assert!(
                    (f / r - 1.0).abs() < 0.06,
                    "axis {axis} rows {}..{}: RMS {f} against {r}",
                    band * 4,
                    band * 4 + 4
                );
            }
        }
        let values = fields.len() * 2 * IMAGE_PIXELS;
        let mean = fields.iter().flatten().sum::<f32>() / values as f32;
        assert!(mean.abs() < 0.05 * overall, "mean displacement {mean}");
        // The correlation of dx between horizontal neighbours (the blur's width).
        let neighbour = |fields: &[Vec<f32>]| -> f32 {
            let (mut product, mut square) = (0.0f32, 0.0f32);
            for field in fields {
                for p in 0..IMAGE_PIXELS - 1 {
                    if p % IMAGE_SIDE != IMAGE_SIDE - 1 {
                        product += field[p] * field[p + 1];
                        square += field[p] * field[p];
                    }
                }
            }
            product / square
        };
        let (f, r) = (neighbour(fields), neighbour(reference));
        assert!(
            (f - r).abs() < 0.01,
            "neighbour correlation {f} against {r}"
        );
    }

    /// The fields drawn here have the statistics of Simard's `G F G`.
    #[test]
    fn fields_have_simard_s_statistics() {
        let mut rng = StdRng::seed_from_u64(5);
        let fields: Vec<Vec<f32>> = (0..2000)
            .map(|_| {
                let field = ElasticField::draw(&mut rng, 4.0, 34.0);
                field.dx.into_iter().chain(field.dy).collect()
            })
            .collect();
        assert_same_field_statistics(&fields, &simard_fields(2000));
    }
}
