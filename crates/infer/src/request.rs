//! What a client may send to `POST /api/predict`, and the [`ApiError`] it
//! gets back when the request is wrong.

use std::path::Path;

use axum::body::{Body, Bytes};
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request};
use axum::http::header::CONTENT_TYPE;
use data::{IMAGE_PIXELS, ImageError};
use serde::Deserialize;

use crate::api_error::ApiError;

/// How a predict request's body is encoded, from its `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/json`: `{"pixels": [...]}`.
    Pixels,
    /// `image/*`: the bytes of an image file.
    Image,
    /// `multipart/form-data`: an image file in the first file field.
    Multipart,
}

const EXPECTED_TYPES: &str = "application/json with {\"pixels\": [784 numbers]}, an image/* \
                              type with the image file as the body, or multipart/form-data";

impl BodyKind {
    /// The body kind a `Content-Type` header names; 415 for anything else.
    pub fn of(content_type: Option<&str>) -> Result<Self, ApiError> {
        let unsupported =
            |what: String| ApiError::UnsupportedMediaType(format!("{what}: send {EXPECTED_TYPES}"));
        let Some(content_type) = content_type else {
            return Err(unsupported("no Content-Type".into()));
        };
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/json" => Ok(Self::Pixels),
            "multipart/form-data" => Ok(Self::Multipart),
            image if image.starts_with("image/") => Ok(Self::Image),
            _ => Err(unsupported(format!("Content-Type {content_type:?}"))),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PixelsBody {
    pixels: PixelList,
}

/// A JSON array of pixels, of which only the first [`IMAGE_PIXELS`] values
/// are kept; the rest are counted and dropped one by one. Kept whole, an
/// 8 MiB body of `0,0,0,...` was 4 million `serde_json::Value`s, 116-129 MiB
/// per request.
struct PixelList {
    first: Vec<serde_json::Value>,
    count: usize,
}

impl<'de> Deserialize<'de> for PixelList {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = PixelList;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of pixels")
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<PixelList, A::Error> {
                let mut list = PixelList {
                    first: Vec::with_capacity(IMAGE_PIXELS),
                    count: 0,
                };
                while let Some(value) = seq.next_element::<serde_json::Value>()? {
                    if list.count < IMAGE_PIXELS {
                        list.first.push(value);
                    }
                    list.count += 1;
                }
                Ok(list)
            }
        }
        deserializer.deserialize_seq(Visitor)
    }
}

/// The 28x28 image in a `{"pixels": [...]}` body: 784 numbers from 0 to 255,
/// row-major, ink bright on a dark background, as MNIST stores it. Fractions
/// are rounded to the nearest level.
pub fn parse_pixels(body: &[u8]) -> Result<[u8; IMAGE_PIXELS], ApiError> {
    let body: PixelsBody = serde_json::from_slice(body).map_err(|error| {
        ApiError::BadRequest(format!(
            "the body is not {{\"pixels\": [784 numbers]}}: {error}"
        ))
    })?;
    if body.pixels.count != IMAGE_PIXELS {
        return Err(ApiError::BadRequest(format!(
            "pixels has {} values, expected {IMAGE_PIXELS} (28x28, row-major)",
            body.pixels.count
        )));
    }
    let mut pixels = [0u8; IMAGE_PIXELS];
    for (index, (value, pixel)) in body.pixels.first.iter().zip(&mut pixels).enumerate() {
        match value.as_f64() {
            Some(level) if (0.0..=255.0).contains(&level) => *pixel = level.round() as u8,
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "pixels[{index}] is {value}, expected a number from 0 to 255"
                )));
            }
        }
    }
    Ok(pixels)
}

/// The 28x28 digit in an uploaded image file, preprocessed as `infer --image`
/// does; `name` says which upload in errors.
pub fn parse_image(bytes: &[u8], name: &str) -> Result<[u8; IMAGE_PIXELS], ApiError> {
    data::decode_digit(bytes, Path::new(name)).map_err(|error| match error {
        ImageError::TooLarge { .. } => ApiError::PayloadTooLarge(error.to_string()),
        _ => ApiError::BadImage(error.to_string()),
    })
}

/// The bytes and a name (`upload "<file name>"`) of the first file in a
/// multipart body. `body` is whole, already read under the server's limit.
pub async fn first_file(content_type: &str, body: Bytes) -> Result<(Bytes, String), ApiError> {
    let bad = ApiError::BadRequest;
    let mut request = Request::builder()
        .header(CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .map_err(|error| bad(format!("bad Content-Type {content_type:?}: {error}")))?;
    // A request built here carries no body limit, so axum's multipart reader
    // would apply its default of 2 MiB to a body the server already took
    // whole under its own (8 MiB): a 3 MB upload was refused as multipart and
    // accepted as image/png.
    DefaultBodyLimit::disable().apply(&mut request);
    let mut multipart = Multipart::from_request(request, &()).await?;
    loop {
        let field = multipart
            .next_field()
            .await?
            .ok_or_else(|| bad("the multipart body has no file field".into()))?;
        let Some(file_name) = field.file_name().map(str::to_string) else {
            continue;
        };
        let bytes = field.bytes().await?;
        return Ok((bytes, format!("upload {file_name:?}")));
    }
}

/// A body that is not valid multipart: 400.
impl From<MultipartRejection> for ApiError {
    fn from(rejection: MultipartRejection) -> Self {
        Self::BadRequest(format!("bad multipart body: {}", rejection.body_text()))
    }
}

/// A multipart field that cannot be read: 400.
impl From<MultipartError> for ApiError {
    fn from(error: MultipartError) -> Self {
        Self::BadRequest(format!("bad multipart body: {}", error.body_text()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pixels_json(values: &str, count: usize) -> String {
        format!("{{\"pixels\": [{}]}}", vec![values; count].join(","))
    }

    #[test]
    fn content_types_pick_the_body_kind() {
        assert_eq!(BodyKind::of(Some("application/json")), Ok(BodyKind::Pixels));
        assert_eq!(
            BodyKind::of(Some("Application/JSON; charset=utf-8")),
            Ok(BodyKind::Pixels)
        );
        assert_eq!(BodyKind::of(Some("image/png")), Ok(BodyKind::Image));
        assert_eq!(
            BodyKind::of(Some("multipart/form-data; boundary=x")),
            Ok(BodyKind::Multipart)
        );
        let error = BodyKind::of(Some("text/plain")).unwrap_err();
        assert_eq!(error.code(), "unsupported_media_type");
        assert!(
            error
                .message()
                .starts_with("Content-Type \"text/plain\": send application/json")
        );
        assert!(
            BodyKind::of(None)
                .unwrap_err()
                .message()
                .starts_with("no Content-Type")
        );
    }

    #[test]
    fn pixels_are_784_levels_rounded_to_bytes() {
        let mut values: Vec<String> = (0..IMAGE_PIXELS).map(|i| (i % 256).to_string()).collect();
        values[1] = "0.6".into();
        values[2] = "254.4".into();
        let body = format!("{{\"pixels\": [{}]}}", values.join(","));
        let pixels = parse_pixels(body.as_bytes()).unwrap();
        assert_eq!(&pixels[..4], &[0, 1, 254, 3]);
        assert_eq!(pixels[783], (783 % 256) as u8);
    }

    #[test]
    fn bad_pixels_name_what_is_wrong() {
        let message = |body: &str| {
            let error = parse_pixels(body.as_bytes()).unwrap_err();
            assert_eq!(error.code(), "bad_request", "{error:?}");
            error.message()
        };
        assert_eq!(
            message(&pixels_json("0", 783)),
            "pixels has 783 values, expected 784 (28x28, row-major)"
        );
        let mut values = vec!["0".to_string(); IMAGE_PIXELS];
        values[5] = "\"white\"".into();
        assert_eq!(
            message(&format!("{{\"pixels\": [{}]}}", values.join(","))),
            "pixels[5] is \"white\", expected a number from 0 to 255"
        );
        values[5] = "256".into();
        assert!(
            message(&format!("{{\"pixels\": [{}]}}", values.join(",")))
                .starts_with("pixels[5] is 256,")
        );
        values[5] = "-1".into();
        assert!(
            message(&format!("{{\"pixels\": [{}]}}", values.join(",")))
                .starts_with("pixels[5] is -1,")
        );
        assert!(
            message("{\"pixels\": [1, 2")
                .starts_with("the body is not {\"pixels\": [784 numbers]}: ")
        );
        assert!(message("{\"image\": []}").contains("unknown field `image`"));
        // A key holding a newline (found by the request fuzz target) is echoed escaped.
        assert!(message("{\"a\\nb\": []}").contains("unknown field `a\\nb`"));
        assert!(message("").starts_with("the body is not"));
        // A huge array is counted, not kept.
        assert_eq!(
            message(&pixels_json("0", 4_000_000)),
            "pixels has 4000000 values, expected 784 (28x28, row-major)"
        );
    }

    #[test]
    fn images_that_are_not_digits_are_unprocessable() {
        let error = parse_image(b"plain text", "the upload").unwrap_err();
        assert_eq!(error.code(), "bad_image");
        assert!(
            error.message().starts_with("the upload: not an image"),
            "{error:?}"
        );
        let blank = data::png_bytes(&[0; IMAGE_PIXELS]);
        let error = parse_image(&blank, "the upload").unwrap_err();
        assert_eq!(error.code(), "bad_image");
        assert!(error.message().contains("blank"));
    }
}
