//! Random distortions of the training digits, drawn anew for every image in
//! every epoch: the affine ones (rotation, scaling, shear, translation) and
//! the elastic one of Simard, Steinkraus and Platt (2003, "Best practices for
//! convolutional neural networks applied to visual document analysis"): a
//! random displacement field, uniform in [-1, 1] per pixel and axis, smoothed
//! by a Gaussian of width `sigma` and scaled by `alpha` ([`crate::elastic`]).
//!
//! Coordinates: pixel `(x, y)` has its centre at integer `x` (right) and `y`
//! (down), 0 to 27; the frame's centre is `(13.5, 13.5)`. A [`Warp`] maps every
//! output pixel to a point of the input image, which is read by bilinear
//! interpolation; outside the frame is paper (0).
//!
//! Every draw comes from a generator seeded by `(seed, epoch, image index)`,
//! so an epoch's distorted digits are the same whatever happened before it:
//! a resumed run sees what an uninterrupted one saw.

use multiversion::multiversion;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub use crate::elastic::ElasticField;
use crate::mnist::{IMAGE_PIXELS, IMAGE_SIDE};

/// The ranges distortions are drawn from; the default (all zero) leaves every
/// image as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Distortion {
    /// Largest rotation either way, in degrees.
    pub rotation: f32,
    /// Largest relative change of size either way: 0.1 scales by a factor
    /// drawn from [0.9, 1.1].
    pub scale: f32,
    /// Largest horizontal shear either way, in degrees (the angle a vertical
    /// stroke leans by).
    pub shear: f32,
    /// Largest shift either way along each axis, in pixels.
    pub translation: f32,
    /// Width (standard deviation) of the Gaussian that smooths the elastic
    /// displacement field, in pixels; Simard's MNIST value is 4.
    pub elastic_sigma: f32,
    /// Scale of the smoothed elastic displacement field, in pixels; 0 turns
    /// elastic distortion off. Simard's MNIST value is 34.
    pub elastic_alpha: f32,
}

impl From<&config::AugmentSection> for Distortion {
    fn from(section: &config::AugmentSection) -> Self {
        Self {
            rotation: section.rotation,
            scale: section.scale,
            shear: section.shear,
            translation: section.translation,
            elastic_sigma: section.elastic_sigma,
            elastic_alpha: section.elastic_alpha,
        }
    }
}

impl Distortion {
    /// Whether every image comes out as it went in.
    pub fn is_identity(&self) -> bool {
        self.rotation == 0.0
            && self.scale == 0.0
            && self.shear == 0.0
            && self.translation == 0.0
            && !self.is_elastic()
    }

    /// Whether an elastic field is added to the affine map.
    pub fn is_elastic(&self) -> bool {
        self.elastic_alpha != 0.0 && self.elastic_sigma > 0.0
    }

    /// The warp of image `index` in `epoch` (1-based) of a run seeded `seed`.
    pub fn draw(&self, seed: u64, epoch: usize, index: usize) -> Warp {
        let mut rng = generator(seed, epoch, index);
        let mut warp = self.draw_affine(&mut rng);
        warp.field = self
            .is_elastic()
            .then(|| ElasticField::draw(&mut rng, self.elastic_sigma, self.elastic_alpha));
        warp
    }

    /// The same draw as [`Self::draw`] for the device
    /// ([`crate::device_augment`]): the affine part is the one `draw` gives;
    /// the elastic field is left for the device to make from a key (the
    /// number `draw` seeds the field's own generator with).
    pub fn draw_keyed(&self, seed: u64, epoch: usize, index: usize) -> KeyedWarp {
        let mut rng = generator(seed, epoch, index);
        let warp = self.draw_affine(&mut rng);
        KeyedWarp {
            inverse: warp.inverse,
            shift: warp.shift,
            field_key: rng.random(),
        }
    }

    /// The affine part of a draw, from the first numbers of `rng`.
    fn draw_affine(&self, rng: &mut StdRng) -> Warp {
        let mut uniform = |limit: f32| {
            if limit > 0.0 {
                rng.random_range(-limit..=limit)
            } else {
                0.0
            }
        };
        let angle = uniform(self.rotation).to_radians();
        let scale = 1.0 + uniform(self.scale);
        let shear = uniform(self.shear).to_radians().tan();
        let shift = [uniform(self.translation), uniform(self.translation)];
        Warp::new(angle, scale, shear, shift, None)
    }
}

/// A draw as the device applies it: [`Warp`]'s affine map, and the key its
/// elastic field is made from (used only if the distortion is elastic).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KeyedWarp {
    /// As [`Warp`]'s: `(a x + b y, c x + d y)` from output to input offsets.
    pub inverse: [f32; 4],
    /// The drawn translation, in output pixels.
    pub shift: [f32; 2],
    /// 64 random bits.
    pub field_key: u64,
}

/// The generator of image `index` in `epoch` of a run seeded `seed`.
fn generator(seed: u64, epoch: usize, index: usize) -> StdRng {
    StdRng::seed_from_u64(mix(seed, epoch as u64, index as u64))
}

/// One generator seed from three numbers (SplitMix64's finaliser on each in
/// turn): nearby `(seed, epoch, index)` triples give unrelated streams.
/// Also keys the dropout masks (`model::dropout`).
pub fn mix(seed: u64, epoch: u64, index: u64) -> u64 {
    let finalize = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let golden = 0x9e37_79b9_7f4a_7c15u64;
    finalize(
        finalize(finalize(seed.wrapping_add(golden)) ^ epoch.wrapping_add(golden))
            ^ index.wrapping_add(golden),
    )
}

/// Where each output pixel reads the input: an affine map about the frame's
/// centre, plus an elastic displacement if drawn.
#[derive(Clone, Debug, PartialEq)]
pub struct Warp {
    /// Output offset from the centre to input offset: `[a, b, c, d]` as
    /// `(a x + b y, c x + d y)`; the inverse of the drawn transform.
    inverse: [f32; 4],
    /// The drawn translation, in output pixels.
    shift: [f32; 2],
    pub field: Option<ElasticField>,
}

pub(crate) const CENTRE: f32 = (IMAGE_SIDE as f32 - 1.0) / 2.0;

impl Warp {
    /// Scales by `scale`, shears by `shear` (x moves by `shear * y`), rotates
    /// by `angle` (radians, counter-clockwise on screen), then shifts by
    /// `shift` pixels.
    fn new(
        angle: f32,
        scale: f32,
        shear: f32,
        shift: [f32; 2],
        field: Option<ElasticField>,
    ) -> Self {
        // Forward: R(angle) . Shear(shear) . scale. y points down, so a
        // counter-clockwise turn on screen is (x cos + y sin, -x sin + y cos).
        let (sin, cos) = angle.sin_cos();
        let rotation = [cos, sin, -sin, cos];
        let shearing = [1.0, shear, 0.0, 1.0];
        let forward = multiply(rotation, multiply(shearing, [scale, 0.0, 0.0, scale]));
        let [a, b, c, d] = forward;
        let determinant = a * d - b * c;
        Self {
            inverse: [
                d / determinant,
                -b / determinant,
                -c / determinant,
                a / determinant,
            ],
            shift,
            field,
        }
    }

    /// The warped image, pixel values in [0, 255] (not rounded), into `out`.
    ///
    /// # Panics
    /// If either slice is not 784 long.
    pub fn apply(&self, image: &[u8], out: &mut [f32]) {
        assert_eq!(image.len(), IMAGE_PIXELS, "a 28x28 image");
        assert_eq!(out.len(), IMAGE_PIXELS, "a 28x28 output");
        // The image inside a border of paper two pixels wide, so that every
        // read below is in bounds and needs no test.
        let mut padded = [0.0f32; PADDED * PADDED];
        for (row, pixels) in image.chunks_exact(IMAGE_SIDE).enumerate() {
            let start = (row + BORDER) * PADDED + BORDER;
            for (cell, &pixel) in padded[start..start + IMAGE_SIDE].iter_mut().zip(pixels) {
                *cell = f32::from(pixel);
            }
        }
        sample(self, &padded, out);
    }
}

/// `warp` applied to the `padded` image, into `out` (784 long), compiled for
/// AVX-512 and AVX2 too, chosen at run time. Two passes: where each output
/// pixel reads the input, the affine map about the centre plus the elastic
/// displacement (vectorised), then the bilinear reads of the four nearest
/// pixels. Far-away points are clamped into the border, which is paper (0)
/// too.
#[multiversion(targets("x86_64+avx512f+avx512bw+avx512dq+avx512vl", "x86_64+avx2+fma",))]
fn sample(warp: &Warp, padded: &[f32; PADDED * PADDED], out: &mut [f32]) {
    let zero = [0.0f32; IMAGE_PIXELS];
    let (dx, dy) = match &warp.field {
        Some(field) => (&field.dx[..], &field.dy[..]),
        None => (&zero[..], &zero[..]),
    };
    let [a, b, c, d] = warp.inverse;
    let limit = (PADDED - 2) as f32;
    let mut at = [0u32; IMAGE_PIXELS];
    let mut fx = [0.0f32; IMAGE_PIXELS];
    let mut fy = [0.0f32; IMAGE_PIXELS];
    for p in 0..IMAGE_PIXELS {
        let (u, v) = (
            (p % IMAGE_SIDE) as f32 - CENTRE - warp.shift[0],
            (p / IMAGE_SIDE) as f32 - CENTRE - warp.shift[1],
        );
        // (Adding the zero field of an affine warp changes no value.)
        let x = (a * u + b * v + CENTRE + dx[p] + BORDER as f32).clamp(0.0, limit);
        let y = (c * u + d * v + CENTRE + dy[p] + BORDER as f32).clamp(0.0, limit);
        let (x0, y0) = (x.floor(), y.floor());
        fx[p] = x - x0;
        fy[p] = y - y0;
        // The index `y0 * 32 + x0` (at most 990) as an integer without a
        // float-to-integer conversion (which compiles to scalar code): added
        // to 2^23, an integer's bits are 2^23's plus itself.
        at[p] = (y0 * PADDED as f32 + x0 + TWO_23)
            .to_bits()
            .wrapping_sub(TWO_23.to_bits());
    }
    for (p, out) in out.iter_mut().enumerate() {
        // At most 30 * 32 + 30 already (the clamp; a NaN, which no valid
        // draw makes, would land anywhere); `min` keeps it so, and the four
        // reads need no bounds checks.
        let at = (at[p] as usize).min(PADDED * PADDED - PADDED - 2);
        let (fx, fy) = (fx[p], fy[p]);
        let top = padded[at] * (1.0 - fx) + padded[at + 1] * fx;
        let bottom = padded[at + PADDED] * (1.0 - fx) + padded[at + PADDED + 1] * fx;
        *out = top * (1.0 - fy) + bottom * fy;
    }
}

/// 2^23: from here on every `f32` is an integer.
const TWO_23: f32 = 8_388_608.0;

fn multiply(m: [f32; 4], n: [f32; 4]) -> [f32; 4] {
    [
        m[0] * n[0] + m[1] * n[2],
        m[0] * n[1] + m[1] * n[3],
        m[2] * n[0] + m[3] * n[2],
        m[2] * n[1] + m[3] * n[3],
    ]
}

/// Paper around the padded image, in pixels.
pub(crate) const BORDER: usize = 2;
/// Side of the padded image.
pub(crate) const PADDED: usize = IMAGE_SIDE + 2 * BORDER;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A 28x28 image with one lit pixel.
    fn dot(x: usize, y: usize) -> Vec<u8> {
        let mut image = vec![0u8; IMAGE_PIXELS];
        image[y * IMAGE_SIDE + x] = 255;
        image
    }

    /// The config's `[augment]` section becomes the same ranges; all zero, the
    /// default, leaves images as they are, and an elastic field needs both
    /// `elastic_alpha` and a positive `elastic_sigma`.
    #[test]
    fn the_config_section_gives_its_ranges() {
        let off = Distortion::from(&config::AugmentSection::default());
        assert!(off.is_identity());
        let section = config::AugmentSection {
            rotation: 10.0,
            scale: 0.1,
            shear: 5.0,
            translation: 2.0,
            elastic_alpha: 34.0,
            elastic_sigma: 4.0,
        };
        let distortion = Distortion::from(&section);
        assert_eq!(
            (distortion.rotation, distortion.scale, distortion.shear),
            (10.0, 0.1, 5.0)
        );
        assert_eq!(distortion.translation, 2.0);
        assert_eq!(
            (distortion.elastic_alpha, distortion.elastic_sigma),
            (34.0, 4.0)
        );
        assert!(!distortion.is_identity() && distortion.is_elastic());
        let no_sigma = config::AugmentSection {
            elastic_alpha: 34.0,
            ..Default::default()
        };
        assert!(Distortion::from(&no_sigma).is_identity());
    }

    fn warped(warp: &Warp, image: &[u8]) -> Vec<f32> {
        let mut out = vec![0.0; IMAGE_PIXELS];
        warp.apply(image, &mut out);
        out
    }

    /// A stroke-like test digit: a ring of ink.
    pub(crate) fn ring() -> Vec<u8> {
        (0..IMAGE_PIXELS)
            .map(|p| {
                let (x, y) = (
                    (p % IMAGE_SIDE) as f32 - CENTRE,
                    (p / IMAGE_SIDE) as f32 - CENTRE,
                );
                let r = (x * x + y * y).sqrt();
                if (5.0..8.0).contains(&r) { 255 } else { 0 }
            })
            .collect()
    }

    #[test]
    fn zero_strength_is_the_identity() {
        let none = Distortion::default();
        assert!(none.is_identity());
        let image = ring();
        let out = warped(&none.draw(7, 3, 11), &image);
        let expected: Vec<f32> = image.iter().map(|&p| f32::from(p)).collect();
        assert_eq!(out, expected);
    }

    /// Each transform moves a lit pixel where its matrix says (offsets are
    /// from the frame's centre, 13.5, 13.5; y points down).
    #[test]
    fn the_affine_map_moves_a_lit_pixel_where_the_matrix_says() {
        let lit = |out: &[f32]| {
            let index = out
                .iter()
                .position(|&v| v > 254.0)
                .expect("a fully lit pixel");
            (index % IMAGE_SIDE, index / IMAGE_SIDE)
        };
        // A quarter turn counter-clockwise on screen: (18, 13), offset
        // (4.5, -0.5), goes to offset (-0.5, -4.5): pixel (13, 9).
        let turned = Warp::new(std::f32::consts::FRAC_PI_2, 1.0, 0.0, [0.0, 0.0], None);
        assert_eq!(lit(&warped(&turned, &dot(18, 13))), (13, 9));
        // A shift of (3, -2): 3 right, 2 up.
        let shifted = Warp::new(0.0, 1.0, 0.0, [3.0, -2.0], None);
        assert_eq!(lit(&warped(&shifted, &dot(10, 10))), (13, 8));
        // A shear of 2 moves x by 2 y: (10, 15), offset (-3.5, 1.5), goes to
        // (-0.5, 1.5): pixel (13, 15).
        let sheared = Warp::new(0.0, 1.0, 2.0, [0.0, 0.0], None);
        assert_eq!(lit(&warped(&sheared, &dot(10, 15))), (13, 15));
        // Doubling: (17, 14), offset (3.5, 0.5), goes to (7, 1), the corner
        // of four pixels, (20, 14) to (21, 15); each reads 0.75 x 0.75 of it.
        let doubled = Warp::new(0.0, 2.0, 0.0, [0.0, 0.0], None);
        let out = warped(&doubled, &dot(17, 14));
        for (x, y) in [(20, 14), (21, 14), (20, 15), (21, 15)] {
            let value = out[y * IMAGE_SIDE + x];
            assert!((value - 255.0 * 0.5625).abs() < 1e-3, "({x}, {y}): {value}");
        }
    }

    /// The two-pass `sample` is the plain per-pixel warp to the bit: the
    /// source point (affine map plus field), clamped into the border, read
    /// bilinearly with `floor`, for affine and elastic draws.
    #[test]
    fn sampling_is_the_plain_per_pixel_warp_to_the_bit() {
        let image = ring();
        let mut padded = [0.0f32; PADDED * PADDED];
        for (p, &pixel) in image.iter().enumerate() {
            padded[(p / IMAGE_SIDE + BORDER) * PADDED + p % IMAGE_SIDE + BORDER] = f32::from(pixel);
        }
        let plain = |warp: &Warp| -> Vec<f32> {
            let [a, b, c, d] = warp.inverse;
            (0..IMAGE_PIXELS)
                .map(|p| {
                    let u = (p % IMAGE_SIDE) as f32 - CENTRE - warp.shift[0];
                    let v = (p / IMAGE_SIDE) as f32 - CENTRE - warp.shift[1];
                    let (mut sx, mut sy) = (a * u + b * v + CENTRE, c * u + d * v + CENTRE);
                    if let Some(field) = &warp.field {
                        sx += field.dx[p];
                        sy += field.dy[p];
                    }
                    let limit = (PADDED - 2) as f32;
                    let x = (sx + BORDER as f32).clamp(0.0, limit);
                    let y = (sy + BORDER as f32).clamp(0.0, limit);
                    let (fx, fy) = (x - x.floor(), y - y.floor());
                    let at = y.floor() as usize * PADDED + x.floor() as usize;
                    let top = padded[at] * (1.0 - fx) + padded[at + 1] * fx;
                    let bottom = padded[at + PADDED] * (1.0 - fx) + padded[at + PADDED + 1] * fx;
                    top * (1.0 - fy) + bottom * fy
                })
                .collect()
        };
        let strong = Distortion {
            rotation: 40.0,
            scale: 0.5,
            shear: 30.0,
            translation: 12.0,
            elastic_sigma: 4.0,
            elastic_alpha: 34.0,
        };
        let affine = Distortion {
            elastic_alpha: 0.0,
            ..strong
        };
        for distortion in [strong, affine] {
            for index in 0..50 {
                let warp = distortion.draw(1, 1, index);
                let bits = |m: &[f32]| m.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&warped(&warp, &image)),
                    bits(&plain(&warp)),
                    "image {index}"
                );
            }
        }
    }

    #[test]
    fn the_same_seed_draws_the_same_elastic_field() {
        let elastic = Distortion {
            elastic_sigma: 4.0,
            elastic_alpha: 34.0,
            ..Distortion::default()
        };
        let a = elastic.draw(1, 2, 3);
        assert_eq!(a, elastic.draw(1, 2, 3));
        assert_ne!(a, elastic.draw(1, 3, 3), "another epoch, another field");
        assert_ne!(a, elastic.draw(1, 2, 4), "another image, another field");
        // Smoothing leaves a displacement of a few pixels, not alpha.
        let field = a.field.unwrap();
        let largest = field
            .dx
            .iter()
            .chain(&field.dy)
            .fold(0.0f32, |m, v| m.max(v.abs()));
        assert!((0.5..10.0).contains(&largest), "{largest}");
    }

    /// Ink stays inside the frame. Rotation, shear and translation keep the
    /// total ink (to interpolation's rounding: 1%); elastic distortion
    /// stretches and squeezes strokes locally, so single images gain or lose
    /// ink (Simard's sigma 4, alpha 34 on this ring: 0.65x to 1.48x over 200
    /// draws) while the median stays put.
    #[test]
    fn distorted_digits_keep_their_ink_in_the_frame() {
        let affine = Distortion {
            rotation: 15.0,
            shear: 15.0,
            translation: 2.0,
            ..Distortion::default()
        };
        let elastic = Distortion {
            elastic_sigma: 4.0,
            elastic_alpha: 34.0,
            ..affine
        };
        let image = ring();
        let ink: f32 = image.iter().map(|&p| f32::from(p)).sum();
        let ratios = |distortion: &Distortion| -> Vec<f32> {
            let mut ratios: Vec<f32> = (0..200)
                .map(|index| {
                    let out = warped(&distortion.draw(5, 1, index), &image);
                    assert!(out.iter().all(|&v| (0.0..=255.0).contains(&v)));
                    let border: f32 = (0..IMAGE_SIDE)
                        .map(|i| out[i] + out[IMAGE_PIXELS - 1 - i])
                        .sum();
                    assert!(
                        border < 0.01 * ink,
                        "image {index}: ink on the frame's edge"
                    );
                    out.iter().sum::<f32>() / ink
                })
                .collect();
            ratios.sort_by(f32::total_cmp);
            ratios
        };
        let affine = ratios(&affine);
        assert!(affine.iter().all(|r| (r - 1.0).abs() < 0.01), "{affine:?}");
        let elastic = ratios(&elastic);
        assert!((elastic[100] - 1.0).abs() < 0.05, "median {}", elastic[100]);
        assert!(
            elastic[0] > 0.5 && elastic[199] < 1.6,
            "{} to {}",
            elastic[0],
            elastic[199]
        );
    }
}
