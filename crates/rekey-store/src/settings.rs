//! An account's rotation settings as the store keeps them: the JSON its row holds (the text the
//! account's MAC covers, verified before anything is parsed) and the [`RotationSettings`] that
//! JSON gives, parsed and validated once, when the row is read.
//!
//! Default settings are stored as `{}`. Settings that do not parse or break a rule (written by
//! another version, or altered in the database) still read: the account is listed, its JSON is
//! shown as stored, and whatever acts on its settings is refused with the [`SettingsProblem`].

use rekey_domain::{CredentialKind, RotationSettings, ValidationError};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::{borrow::Cow, fmt};

/// An account's rotation settings: the stored JSON (what outputs show) and its typed reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSettings {
    stored: serde_json::Value,
    typed: Result<RotationSettings, SettingsProblem>,
}

/// Why stored settings give no usable [`RotationSettings`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsProblem {
    /// The JSON is not settings this version reads (an unknown field, a value of the wrong type).
    Unreadable(String),
    /// They read, but break a rule [`RotationSettings::validate`] checks (the rules may have
    /// tightened since they were written).
    BreaksRule(ValidationError),
}

impl fmt::Display for SettingsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreadable(e) => f.write_str(e),
            Self::BreaksRule(e) => e.fmt(f),
        }
    }
}

impl AccountSettings {
    /// The settings a row holds, read and validated.
    pub fn from_stored(stored: serde_json::Value) -> Self {
        let typed = match RotationSettings::deserialize(&stored) {
            Ok(s) => s.validate().map(|()| s).map_err(SettingsProblem::BreaksRule),
            Err(e) => Err(SettingsProblem::Unreadable(e.to_string())),
        };
        Self { stored, typed }
    }

    /// The JSON as stored (`{}`: all defaults).
    pub fn stored(&self) -> &serde_json::Value {
        &self.stored
    }

    /// The JSON as an account of `kind` shows it: without the settings of the other kind
    /// (stored, never used). Settings that do not read are shown whole, as stored, so what is
    /// wrong with them can be seen.
    pub fn shown_for(&self, kind: CredentialKind) -> Cow<'_, serde_json::Value> {
        match (&self.typed, &self.stored) {
            (Ok(_), serde_json::Value::Object(m)) if m.keys().any(|k| !RotationSettings::applies(k, kind)) => {
                let kept = m.iter().filter(|(k, _)| RotationSettings::applies(k, kind));
                Cow::Owned(serde_json::Value::Object(kept.map(|(k, v)| (k.clone(), v.clone())).collect()))
            }
            _ => Cow::Borrowed(&self.stored),
        }
    }

    /// Whether the account has never had settings of its own (stored as `{}`).
    pub fn is_unset(&self) -> bool {
        self.stored.as_object().is_some_and(serde_json::Map::is_empty)
    }

    /// The typed settings, or why the stored ones give none.
    pub fn typed(&self) -> Result<&RotationSettings, &SettingsProblem> {
        self.typed.as_ref()
    }

    /// The text a row stores for `settings`: `{}` for the defaults, else their JSON.
    pub(crate) fn text_of(settings: &RotationSettings) -> String {
        crate::rows::to_json(&Self::json_of(settings))
    }

    /// `settings` as stored JSON: `{}` for the defaults.
    fn json_of(settings: &RotationSettings) -> serde_json::Value {
        if *settings == RotationSettings::default() {
            return serde_json::Value::Object(serde_json::Map::new());
        }
        serde_json::to_value(settings).unwrap_or_default()
    }
}

impl Default for AccountSettings {
    /// All defaults, stored as `{}`.
    fn default() -> Self {
        RotationSettings::default().into()
    }
}

impl From<RotationSettings> for AccountSettings {
    /// `settings` as a row would store them (`{}` for the defaults).
    fn from(settings: RotationSettings) -> Self {
        Self { stored: Self::json_of(&settings), typed: Ok(settings) }
    }
}

impl Serialize for AccountSettings {
    /// The JSON as stored: outputs show the settings as the row holds them.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.stored.serialize(s)
    }
}

impl<'de> Deserialize<'de> for AccountSettings {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(d).map(Self::from_stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_are_stored_and_shown_as_an_empty_object() {
        let unset = AccountSettings::default();
        assert!(unset.is_unset());
        assert_eq!(unset.typed(), Ok(&RotationSettings::default()));
        assert_eq!(serde_json::to_value(&unset).expect("serializes"), json!({}));
        assert_eq!(AccountSettings::from(RotationSettings::default()), unset);
        assert_eq!(AccountSettings::text_of(&RotationSettings::default()), "{}");
        assert_eq!(AccountSettings::from_stored(json!({})), unset);
    }

    #[test]
    fn set_settings_read_back_as_written() {
        let s = RotationSettings { every_ms: Some(86_400_000), ..Default::default() };
        let text = AccountSettings::text_of(&s);
        let read = AccountSettings::from_stored(serde_json::from_str(&text).expect("JSON"));
        assert!(!read.is_unset());
        assert_eq!(read.typed(), Ok(&s));
        assert_eq!(read, AccountSettings::from(s));
    }

    #[test]
    fn settings_that_do_not_read_or_break_a_rule_keep_their_json_and_say_why() {
        let unknown = json!({ "schedule": "@every 30d" });
        let read = AccountSettings::from_stored(unknown.clone());
        assert_eq!(read.stored(), &unknown, "shown as stored");
        assert!(matches!(read.typed(), Err(SettingsProblem::Unreadable(e)) if e.contains("schedule")), "{read:?}");

        let zero = AccountSettings::from_stored(json!({ "every_ms": 0 }));
        match zero.typed() {
            Err(p @ SettingsProblem::BreaksRule(e)) => {
                assert_eq!(e.field, "--every");
                assert_eq!(p.to_string(), e.to_string());
            }
            other => panic!("a zero interval breaks a rule: {other:?}"),
        }
        let back: AccountSettings =
            serde_json::from_value(serde_json::to_value(&zero).expect("serializes")).expect("deserializes");
        assert_eq!(back, zero);
    }

    #[test]
    fn an_account_shows_only_the_settings_of_its_kind() {
        let s = RotationSettings { every_ms: Some(86_400_000), ..Default::default() };
        let set = AccountSettings::from(s);
        let keys = |kind| {
            let shown = set.shown_for(kind).into_owned();
            shown.as_object().expect("an object").keys().cloned().collect::<Vec<_>>()
        };
        let key = keys(CredentialKind::AccessKey);
        assert!(key.contains(&"verify".into()) && key.contains(&"every_ms".into()), "{key:?}");
        assert!(!key.contains(&"password".into()) && !key.contains(&"create_login_profile".into()), "{key:?}");
        let pw = keys(CredentialKind::Password);
        assert!(pw.contains(&"password".into()) && pw.contains(&"every_ms".into()), "{pw:?}");
        assert!(
            !pw.iter().any(|k| RotationSettings::only_for(CredentialKind::AccessKey).contains(&k.as_str())),
            "{pw:?}"
        );
        assert!(set.stored()["password"].is_object(), "stored whole");
        // Settings that do not read are shown as stored, every key of them.
        let bad = AccountSettings::from_stored(json!({ "password": { "length": "long" }, "every_ms": 5 }));
        assert_eq!(bad.shown_for(CredentialKind::AccessKey).as_ref(), bad.stored());
    }
}
