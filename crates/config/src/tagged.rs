//! A section whose `kind` key decides which other keys it may hold
//! (`[optimizer]`, `[schedule]`): the split of a TOML table into its kind and
//! that kind's keys, with a message naming the key that belongs elsewhere.

use toml::{Table, Value};

/// The kinds of one section and the keys each takes (besides `kind`).
pub(crate) struct Kinds {
    /// The section's name, for messages: `optimizer`.
    pub section: &'static str,
    /// The kind taken when the section gives none.
    pub default: &'static str,
    pub keys: &'static [(&'static str, &'static [&'static str])],
}

impl Kinds {
    /// The section's kind (or the default) and its other keys, all of which
    /// belong to that kind. A key of another kind, or an unknown kind, is an
    /// error such as `optimizer.momentum = 0.9: applies to kind = "sgd" only`.
    pub fn split(&self, mut table: Table) -> Result<(&'static str, Table), String> {
        let kind = match table.remove("kind") {
            None => self.default,
            Some(Value::String(name)) => self.kind(&name).ok_or_else(|| self.unknown(&name))?,
            Some(other) => return Err(self.unknown(&other.to_string())),
        };
        let allowed = self.keys_of(kind);
        for (key, value) in &table {
            if allowed.contains(&key.as_str()) {
                continue;
            }
            let owners: Vec<String> = self
                .keys
                .iter()
                .filter(|(_, keys)| keys.contains(&key.as_str()))
                .map(|(name, _)| format!("\"{name}\""))
                .collect();
            if !owners.is_empty() {
                return Err(format!(
                    "{}.{key} = {value}: applies to kind = {} only",
                    self.section,
                    owners.join(" or ")
                ));
            }
            // An unknown key: the kind's own deserialisation names it.
        }
        Ok((kind, table))
    }

    /// Keeps only the keys `kind` takes (the rest belonged to the previous
    /// kind): what `--set <section>.kind=...` does to the section.
    pub fn retain(&self, table: &mut Table) {
        let kind = match table.get("kind") {
            Some(Value::String(name)) => self.kind(name),
            _ => None,
        };
        if let Some(kind) = kind {
            let allowed = self.keys_of(kind);
            table.retain(|key, _| key == "kind" || allowed.contains(&key));
        }
    }

    fn kind(&self, name: &str) -> Option<&'static str> {
        self.keys
            .iter()
            .map(|(kind, _)| *kind)
            .find(|kind| *kind == name)
    }

    fn keys_of(&self, kind: &str) -> &'static [&'static str] {
        self.keys
            .iter()
            .find(|(name, _)| *name == kind)
            .map_or(&[], |(_, keys)| keys)
    }

    fn unknown(&self, name: &str) -> String {
        let kinds: Vec<String> = self
            .keys
            .iter()
            .map(|(kind, _)| format!("\"{kind}\""))
            .collect();
        format!(
            "{}.kind = {name:?}: expected one of {}",
            self.section,
            kinds.join(", ")
        )
    }
}

/// `table` as the keys struct `T` (whose own defaults fill what is missing,
/// and which names an unknown key).
pub(crate) fn keys<T: serde::de::DeserializeOwned>(table: Table) -> Result<T, String> {
    table
        .try_into()
        .map_err(|error: toml::de::Error| error.message().to_string())
}

/// `value`'s keys as a table, after `kind`.
pub(crate) fn table_of<T: serde::Serialize>(kind: &str, value: &T) -> Table {
    let mut table = Table::new();
    table.insert("kind".into(), Value::String(kind.into()));
    table.extend(Table::try_from(value).expect("a section of numbers serialises to a table"));
    table
}
