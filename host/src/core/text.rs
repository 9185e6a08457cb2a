//! [`Text`]: an immutable, cheaply cloned string for the records every round copies.
//!
//! A round copies each server's record from the application's view into the new
//! state, and the previous state is dropped. With `String` fields every copy is an
//! allocation and a byte copy per field; with `Text` it is a reference-count
//! increment. (The reference gets the same effect from Go's shallow struct copies.)

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An immutable UTF-8 string shared by reference counting: cloning it never copies
/// the bytes. Compares, orders, hashes, prints and serialises like the string it
/// holds; build one with `.into()` from a `&str` or a `String`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text(Arc<str>);

impl Text {
    /// The text as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Shares one allocation of a string that is used over and over (an empty
    /// string, a common node type): `slot` holds it after the first call.
    pub(crate) fn interned(slot: &'static OnceLock<Text>, value: &'static str) -> Self {
        slot.get_or_init(|| Self(Arc::from(value))).clone()
    }
}

impl Default for Text {
    /// The empty string (shared, so a default costs no allocation).
    fn default() -> Self {
        static EMPTY: OnceLock<Text> = OnceLock::new();
        Self::interned(&EMPTY, "")
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Self(Arc::from(s))
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Self(Arc::from(s))
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        &*self.0 == other.as_str()
    }
}

impl PartialEq<Text> for str {
    fn eq(&self, other: &Text) -> bool {
        self == &*other.0
    }
}

impl PartialEq<Text> for &str {
    fn eq(&self, other: &Text) -> bool {
        *self == &*other.0
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::Text;

    #[test]
    fn behaves_like_the_string_it_holds() {
        let a = Text::from("node-1");
        let b = Text::from(String::from("node-1"));
        assert_eq!(a, b);
        assert_eq!(a, "node-1");
        let (a_text, b_text) = (Text::from("a"), Text::from("b"));
        assert!(a_text < b_text);
        assert_eq!(format!("{a} {a:?}"), "node-1 \"node-1\"");
        assert_eq!(
            serde_json::to_string(&a).ok().as_deref(),
            Some("\"node-1\"")
        );
        let back: Text = serde_json::from_str("\"x\\u00e9\"").unwrap_or_default();
        assert_eq!(back, "xé");
        assert!(Text::default().is_empty());
    }

    #[test]
    fn clones_share_the_bytes() {
        let a = Text::from("shared");
        let b = a.clone();
        assert!(std::ptr::eq(a.as_str(), b.as_str()));
    }
}
