//! A change to an account's rotation settings, named like `rekey account set`'s options
//! (snake_case): what the CLI's flags and the API's `PATCH …/settings` body both become. Every
//! value is parsed when the patch is built (durations from text, policies by name), so applying
//! it cannot fail; the settings it produces are validated as a whole afterwards
//! ([`RotationSettings::validate`]). The folder and title ride along (they are account fields,
//! not settings: [`SettingsPatch::apply`] leaves them to the caller). Delivery targets are not
//! part of it.

use crate::{
    duration::parse_duration_ms, error::ValidationError, schedule::parse_cron, Folder, PastDeadline, PreviousKeyPolicy,
    Retirement, RotationSettings,
};
use serde::{de, Deserialize, Deserializer};

/// Which settings change, to what. Absent fields stay as they are.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    /// Rotate every interval, e.g. `90d`; `null` removes the interval (a cron schedule stays).
    #[serde(default, deserialize_with = "interval")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub every: Option<Option<u64>>,
    /// Rotate on a cron schedule (5 fields, UTC), e.g. `0 3 1 * *`; `null` removes it (an
    /// interval stays).
    #[serde(default, deserialize_with = "cron")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub cron: Option<Option<String>>,
    /// Remove the schedule (interval and cron); not with a value for `every` or `cron`.
    #[serde(default)]
    pub no_schedule: bool,
    /// Report the credential as overdue past this age.
    #[serde(default, deserialize_with = "duration")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub max_age: Option<u64>,
    /// What happens to the previous access key: `deactivate`, `delete` or `keep`.
    #[serde(default, deserialize_with = "by_name")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub previous_key: Option<PreviousKeyPolicy>,
    /// Grace before the previous key is deactivated.
    #[serde(default, deserialize_with = "duration")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub deactivate_after: Option<u64>,
    /// Grace between deactivation and deletion (policy `delete`).
    #[serde(default, deserialize_with = "duration")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub delete_after: Option<u64>,
    /// Retire the previous key only if IAM shows no use of it since the cut-over.
    pub retire_only_if_unused: Option<bool>,
    /// How retirement is decided: `grace` or `confirmed`.
    #[serde(default, deserialize_with = "by_name")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub retirement: Option<Retirement>,
    /// Confirmed cut-over: how long to wait for the evidence.
    #[serde(default, deserialize_with = "duration")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub cutover_deadline: Option<u64>,
    /// Confirmed cut-over past its deadline: `wait` or `proceed`.
    #[serde(default, deserialize_with = "by_name")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub cutover_past_deadline: Option<PastDeadline>,
    /// Length of generated passwords (8–128).
    #[serde(default, deserialize_with = "password_length")]
    #[cfg_attr(feature = "openapi", schema(minimum = 8, maximum = 128))]
    pub password_length: Option<u8>,
    /// Symbols generated passwords may use (a subset of IAM's).
    pub password_symbols: Option<String>,
    /// Include symbols in generated passwords.
    pub password_use_symbols: Option<bool>,
    /// Create the console password if the user has none.
    pub create_login_profile: Option<bool>,
    /// Consecutive GetCallerIdentity successes that verify a new key (1–20).
    #[serde(default, deserialize_with = "verify_successes")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 20))]
    pub verify_successes: Option<u32>,
    /// Abort the rotation if the new key has not verified within this time.
    #[serde(default, deserialize_with = "duration")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub verify_deadline: Option<u64>,
    /// First backoff between verification attempts.
    #[serde(default, deserialize_with = "duration")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub verify_backoff: Option<u64>,
    /// Move to this folder (`""` takes it out of every folder).
    #[serde(default, deserialize_with = "folder")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub folder: Option<Option<Folder>>,
    /// New title, at most 200 printable characters (`""` clears it).
    #[serde(default, deserialize_with = "title")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub title: Option<Option<String>>,
}

/// Longest account title.
pub const MAX_TITLE: usize = 200;

/// A folder as `account set --folder` and the API's `folder` take it: `""` takes the account out
/// of every folder.
pub fn parse_folder(text: &str) -> Result<Option<Folder>, ValidationError> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some)
}

/// A title as `account set --name` and the API's `title` take it: `""` clears it, else at most
/// [`MAX_TITLE`] printable characters.
pub fn parse_title(text: &str) -> Result<Option<String>, ValidationError> {
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(ValidationError::new(
            "title",
            format!("the title contains a control character ({c:?})"),
            "write it on one line, without tabs, line breaks or other control characters",
        ));
    }
    let length = text.chars().count();
    if length > MAX_TITLE {
        return Err(ValidationError::new(
            "title",
            format!("the title is {length} characters long; a title is at most {MAX_TITLE}"),
            "shorten it (\"\" clears it)",
        ));
    }
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

fn folder<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<Folder>>, D::Error> {
    let Some(text) = Option::<String>::deserialize(d)? else { return Ok(None) };
    parse_folder(&text).map(Some).map_err(de::Error::custom)
}

fn title<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    let Some(text) = Option::<String>::deserialize(d)? else { return Ok(None) };
    parse_title(&text).map(Some).map_err(de::Error::custom)
}

/// What to send instead of an empty string for a setting that cannot be empty.
const KEEP_IT: &str = "leave the field out to keep the current value";
/// The same for the schedule's fields, which can be removed.
const REMOVE_SCHEDULE: &str = "use no_schedule: true to remove the schedule (null removes this field only)";

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    duration_or(d, KEEP_IT)
}

/// `every`: absent is `None` (serde's default), `null` is `Some(None)` (remove the interval).
fn interval<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    duration_or(d, REMOVE_SCHEDULE).map(Some)
}

/// A duration; an empty string is refused with `instead` (it does not clear the setting).
fn duration_or<'de, D: Deserializer<'de>>(d: D, instead: &str) -> Result<Option<u64>, D::Error> {
    let Some(text) = Option::<String>::deserialize(d)? else { return Ok(None) };
    if text.trim().is_empty() {
        return Err(de::Error::custom(format!("{text:?} is not a duration; {instead}")));
    }
    parse_duration_ms(&text).map(Some).map_err(de::Error::custom)
}

/// `cron`: absent is `None` (serde's default), `null` is `Some(None)` (remove the cron schedule).
fn cron<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    let spec = Option::<String>::deserialize(d)?;
    if let Some(s) = &spec {
        if s.trim().is_empty() {
            return Err(de::Error::custom(format!("{s:?} is not a cron schedule; {REMOVE_SCHEDULE}")));
        }
        parse_cron(s).map_err(de::Error::custom)?;
    }
    Ok(Some(spec))
}

/// A password length: a whole number in [`crate::password::LENGTH`] (not whatever fits a `u8`).
fn password_length<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    crate::password::LENGTH.optional(d)
}

/// Verification successes: a whole number in [`crate::settings::VERIFY_SUCCESSES`].
fn verify_successes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    crate::settings::VERIFY_SUCCESSES.optional(d)
}

fn by_name<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr<Err = ValidationError>,
{
    Option::<String>::deserialize(d)?.map(|s| s.parse().map_err(de::Error::custom)).transpose()
}

impl SettingsPatch {
    /// Refuses fields that contradict each other: `no_schedule` removes the schedule that
    /// `every` and `cron` would set (applied, one would silently win). `null` for either (which
    /// removes it) agrees with `no_schedule`.
    pub fn check(&self) -> Result<(), ValidationError> {
        let given = [("every", matches!(self.every, Some(Some(_)))), ("cron", matches!(self.cron, Some(Some(_))))];
        let set: Vec<&str> = given.into_iter().filter_map(|(name, given)| given.then_some(name)).collect();
        if self.no_schedule && !set.is_empty() {
            return Err(ValidationError::new(
                "settings",
                format!("no_schedule conflicts with {}: it removes the schedule they set", set.join(" and ")),
                format!(
                    "give either no_schedule: true (no schedule) or {}, not both; null removes one of them",
                    set.join(" and ")
                ),
            ));
        }
        Ok(())
    }

    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// The options of a kind given in it (by their names), for refusing those the account's
    /// kind ignores: (access-key only, password only).
    pub fn kind_only(&self) -> (Vec<&'static str>, Vec<&'static str>) {
        let given = |opts: &[(&'static str, bool)]| opts.iter().filter(|(_, on)| *on).map(|(n, _)| *n).collect();
        let access_key = given(&[
            ("previous_key", self.previous_key.is_some()),
            ("deactivate_after", self.deactivate_after.is_some()),
            ("delete_after", self.delete_after.is_some()),
            ("retire_only_if_unused", self.retire_only_if_unused.is_some()),
            ("verify_successes", self.verify_successes.is_some()),
            ("verify_deadline", self.verify_deadline.is_some()),
            ("verify_backoff", self.verify_backoff.is_some()),
            ("retirement", self.retirement.is_some()),
            ("cutover_deadline", self.cutover_deadline.is_some()),
            ("cutover_past_deadline", self.cutover_past_deadline.is_some()),
        ]);
        let password = given(&[
            ("password_length", self.password_length.is_some()),
            ("password_symbols", self.password_symbols.is_some()),
            ("password_use_symbols", self.password_use_symbols.is_some()),
            ("create_login_profile", self.create_login_profile.is_some()),
        ]);
        (access_key, password)
    }

    /// Applies the patch to `s` (validate `s` afterwards).
    pub fn apply(&self, s: &mut RotationSettings) {
        if self.no_schedule {
            s.every_ms = None;
            s.cron = None;
        }
        if let Some(every) = self.every {
            s.every_ms = every;
        }
        if let Some(cron) = &self.cron {
            s.cron.clone_from(cron);
        }
        if self.max_age.is_some() {
            s.max_age_ms = self.max_age;
        }
        if self.cutover_deadline.is_some() {
            s.cutover_deadline_ms = self.cutover_deadline;
        }
        s.previous_key = self.previous_key.unwrap_or(s.previous_key);
        s.retirement = self.retirement.unwrap_or(s.retirement);
        s.cutover_past_deadline = self.cutover_past_deadline.unwrap_or(s.cutover_past_deadline);
        s.deactivate_after_ms = self.deactivate_after.unwrap_or(s.deactivate_after_ms);
        s.delete_after_ms = self.delete_after.unwrap_or(s.delete_after_ms);
        s.retire_only_if_unused = self.retire_only_if_unused.unwrap_or(s.retire_only_if_unused);
        s.password.length = self.password_length.unwrap_or(s.password.length);
        if let Some(sym) = &self.password_symbols {
            s.password.symbol_set.clone_from(sym);
        }
        s.password.symbols = self.password_use_symbols.unwrap_or(s.password.symbols);
        s.create_login_profile = self.create_login_profile.unwrap_or(s.create_login_profile);
        s.verify.successes = self.verify_successes.unwrap_or(s.verify.successes);
        s.verify.deadline_ms = self.verify_deadline.unwrap_or(s.verify.deadline_ms);
        s.verify.backoff_ms = self.verify_backoff.unwrap_or(s.verify.backoff_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(json: &str) -> Result<SettingsPatch, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn values_are_parsed_when_the_patch_is_read() {
        let p = patch(r#"{"every":"30d","previous_key":"delete","verify_successes":2,"cron":"0 3 1 * *"}"#).unwrap();
        assert_eq!(p.every, Some(Some(30 * 86_400_000)));
        assert_eq!(p.previous_key, Some(PreviousKeyPolicy::Delete));
        for bad in [
            r#"{"every":"soon"}"#,
            r#"{"previous_key":"shred"}"#,
            r#"{"cron":"61 * * * *"}"#,
            r#"{"retirement":"eventually"}"#,
            r#"{"colour":"red"}"#,
            r#"{"password_length":"long"}"#,
            r#"{"password_length":300}"#,
            r#"{"folder":"../etc"}"#,
            r#"{"title":"a\u0007b"}"#,
        ] {
            assert!(patch(bad).is_err(), "{bad}");
        }
        assert!(patch("{}").unwrap().is_empty());
        let p = patch(r#"{"folder":"","title":"Payments"}"#).unwrap();
        assert_eq!((p.folder, p.title.as_ref()), (Some(None), Some(&Some("Payments".to_owned()))));
    }

    #[test]
    fn apply_changes_what_is_given_and_keeps_the_rest() {
        let mut s = RotationSettings::default();
        let before = s.clone();
        patch(r#"{"every":"7d","password_length":40,"verify_backoff":"2s"}"#).unwrap().apply(&mut s);
        assert_eq!((s.every_ms, s.password.length, s.verify.backoff_ms), (Some(7 * 86_400_000), 40, 2_000));
        assert_eq!(
            (s.previous_key, s.verify.successes, &s.targets),
            (before.previous_key, before.verify.successes, &before.targets)
        );
        patch(r#"{"no_schedule":true}"#).unwrap().apply(&mut s);
        assert_eq!((s.every_ms, s.cron.as_deref()), (None, None));
        patch(r#"{"password_symbols":""}"#).unwrap().apply(&mut s);
        assert!(s.validate().is_err(), "apply does not validate; the settings are validated as a whole after");
    }

    #[test]
    fn titles_and_folders_clear_with_an_empty_string() {
        assert_eq!(parse_title("").unwrap(), None);
        assert_eq!(parse_title("Payments CI").unwrap().as_deref(), Some("Payments CI"));
        assert!(parse_title(&"x".repeat(MAX_TITLE + 1)).is_err());
        assert!(parse_title("two\nlines").is_err());
        assert_eq!(parse_folder("").unwrap(), None);
        assert_eq!(parse_folder("prod/payments").unwrap().unwrap().as_str(), "prod/payments");
        assert!(parse_folder("../etc").is_err());
    }

    #[test]
    fn no_schedule_with_a_schedule_is_refused_naming_both() {
        for (json, named) in [
            (r#"{"every":"60d","no_schedule":true}"#, "every"),
            (r#"{"cron":"0 3 1 * *","no_schedule":true}"#, "cron"),
            (r#"{"every":"1d","cron":"0 3 1 * *","no_schedule":true}"#, "every and cron"),
        ] {
            let e = patch(json).unwrap().check().unwrap_err();
            assert!(e.problem.contains("no_schedule conflicts with") && e.problem.contains(named), "{json}: {e}");
        }
        for fine in [
            r#"{"no_schedule":true}"#,
            r#"{"every":"60d","cron":"0 3 1 * *"}"#,
            r#"{"every":"60d","no_schedule":false}"#,
            r#"{"every":null,"no_schedule":true}"#,
        ] {
            assert!(patch(fine).unwrap().check().is_ok(), "{fine}");
        }
    }

    #[test]
    fn null_removes_one_part_of_the_schedule_and_absent_keeps_it() {
        let mut s = RotationSettings::default();
        patch(r#"{"every":"7d","cron":"0 3 1 * *"}"#).unwrap().apply(&mut s);
        patch(r#"{"every":null}"#).unwrap().apply(&mut s);
        assert_eq!((s.every_ms, s.cron.as_deref()), (None, Some("0 3 1 * *")));
        patch(r#"{"every":"7d"}"#).unwrap().apply(&mut s);
        patch(r#"{"cron":null}"#).unwrap().apply(&mut s);
        assert_eq!((s.every_ms, s.cron.as_deref()), (Some(7 * 86_400_000), None));
        patch(r#"{"max_age":"30d"}"#).unwrap().apply(&mut s);
        assert_eq!(s.every_ms, Some(7 * 86_400_000), "absent keeps it");
    }

    #[test]
    fn empty_values_and_out_of_range_lengths_say_what_to_send() {
        let says = |json: &str| patch(json).unwrap_err().to_string();
        assert!(says(r#"{"every":""}"#).contains("use no_schedule: true to remove the schedule"));
        assert!(says(r#"{"cron":""}"#).contains("use no_schedule: true to remove the schedule"));
        assert!(says(r#"{"max_age":""}"#).contains("leave the field out"));
        for bad in [r#"{"password_length":500}"#, r#"{"password_length":7}"#, r#"{"password_length":-1}"#] {
            let e = says(bad);
            assert!(e.contains("8 to 128") && !e.contains("u8"), "{bad}: {e}");
        }
        for bad in [r#"{"verify_successes":0}"#, r#"{"verify_successes":21}"#, r#"{"verify_successes":"three"}"#] {
            let e = says(bad);
            assert!(
                e.contains("verified by 1 to 20 consecutive successes; use e.g. 3") && !e.contains("u32"),
                "{bad}: {e}"
            );
        }
        assert_eq!(patch(r#"{"verify_successes":20}"#).unwrap().verify_successes, Some(20));
        assert_eq!(patch(r#"{"password_length":128}"#).unwrap().password_length, Some(128));
        assert_eq!(patch(r#"{"password_length":null}"#).unwrap().password_length, None);
    }

    #[test]
    fn a_title_with_a_control_character_says_so() {
        let e = parse_title("a\tb").unwrap_err();
        assert!(e.problem.contains("control character"), "{e}");
        let e = parse_title(&"x".repeat(MAX_TITLE + 1)).unwrap_err();
        assert!(e.problem.contains("201 characters"), "{e}");
    }

    #[test]
    fn options_of_one_kind_are_named() {
        let p = patch(r#"{"previous_key":"keep","password_length":20,"every":"1d"}"#).unwrap();
        assert_eq!(p.kind_only(), (vec!["previous_key"], vec!["password_length"]));
    }
}
