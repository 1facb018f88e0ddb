//! Field deserializers for partial updates (`PATCH` bodies).
//!
//! In a PATCH body an absent field means "leave it", and `null` means
//! "remove it" where the field can be removed. Fields that cannot be removed
//! (a title, a name, a capacity) must refuse `null` instead of reading it as
//! "absent": otherwise `{"title": null}` is a valid-looking body that
//! changes nothing. Use with `#[serde(default, deserialize_with = ...)]` and
//! declare the field `nullable = false` in its schema.

use serde::{Deserialize, Deserializer};

/// A field that may be changed but not removed: absent -> `None`, a value
/// -> `Some(value)`, `null` -> the error "invalid type: null, expected ...",
/// a 422 naming the field.
pub fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// A field that may be removed: absent -> `None`, `null` -> `Some(None)`,
/// a value -> `Some(Some(value))`.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Patch {
        #[serde(default, deserialize_with = "present")]
        title: Option<String>,
        #[serde(default, deserialize_with = "nullable")]
        image: Option<Option<String>>,
    }

    #[test]
    fn absent_value_and_null() {
        let p: Patch = parse_json(br#"{}"#).unwrap();
        assert_eq!((p.title, p.image), (None, None));
        let p: Patch = parse_json(br#"{"title":"t","image":"i"}"#).unwrap();
        assert_eq!(
            (p.title.as_deref(), p.image),
            (Some("t"), Some(Some("i".into())))
        );
        let p: Patch = parse_json(br#"{"image":null}"#).unwrap();
        assert_eq!(p.image, Some(None));
    }

    #[test]
    fn null_for_a_field_that_cannot_be_removed_names_the_field() {
        let err = parse_json::<Patch>(br#"{"title":null}"#).unwrap_err();
        assert_eq!(err.status().as_u16(), 422);
        assert_eq!(err.errors()[0].field, "title");
        assert!(
            err.errors()[0].message.contains("null"),
            "{:?}",
            err.errors()
        );
    }
}
