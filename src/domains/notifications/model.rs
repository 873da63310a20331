//! Notifications' types: channels, categories, deliveries, preferences and quiet hours.

use std::collections::BTreeMap;

use chrono::{DateTime, Days, FixedOffset, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::platform::http::FieldError;

pub use super::contract::{Category, Channel};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its job.
    Pending,
    /// Held by the user's quiet hours until `deliver_after`.
    Held,
    Sent,
    Failed,
    /// Not sent: turned off in preferences, the channel is not configured, no phone number.
    Skipped,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Held => "held",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Held,
            Self::Sent,
            Self::Failed,
            Self::Skipped,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Sent | Self::Failed | Self::Skipped)
    }
}

/// One channel's part of a notification.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Delivery {
    pub channel: Channel,
    pub status: DeliveryStatus,
    pub attempts: i32,
    /// Why it was skipped or failed, or what the provider answered.
    pub detail: Option<String>,
    /// The provider's id for it (the email's id for `email`).
    pub external_id: Option<String>,
    pub deliver_after: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Notification {
    pub id: Uuid,
    pub user_id: Uuid,
    #[schema(example = "orders.status_changed")]
    pub event_type: String,
    pub category: Category,
    /// Critical notifications (security notices) ignore preferences and quiet hours.
    pub critical: bool,
    pub title: String,
    pub body: String,
    /// The facts the templates were rendered with (order id, amount...).
    #[schema(value_type = Object)]
    pub data: Value,
    pub read: bool,
    pub read_at: Option<DateTime<Utc>>,
    /// Taken out of the inbox by its user (administrators still see it in the history).
    pub removed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Per-channel delivery status.
    pub deliveries: Vec<Delivery>,
}

/// Which channels each category may use: `{"orders": {"email": true, "sms": false, ...}}`.
pub type ChannelMatrix = BTreeMap<Category, BTreeMap<Channel, bool>>;

/// Channels a category uses until the user says otherwise. SMS costs money and marketing is
/// opt-in, so both start off.
pub fn default_enabled(category: Category, channel: Channel) -> bool {
    match (category, channel) {
        (_, Channel::InApp) => true,
        (Category::Marketing, _) => false,
        (_, Channel::Sms) => false,
        _ => true,
    }
}

pub fn default_matrix() -> ChannelMatrix {
    Category::ALL
        .iter()
        .map(|&category| {
            let channels = Channel::ALL
                .iter()
                .map(|&channel| (channel, default_enabled(category, channel)))
                .collect();
            (category, channels)
        })
        .collect()
}

/// A daily window in the user's local time during which only in-app notifications arrive;
/// the rest wait until it ends. `start` after `end` spans midnight (22:00 to 07:00). Local
/// time is a time zone's (daylight saving included) or a fixed offset from UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    /// Local time `HH:MM` the quiet hours begin.
    #[schema(value_type = String, pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "22:00")]
    #[serde(with = "hhmm")]
    pub start: u16,
    /// Local time `HH:MM` they end; not equal to `start`.
    #[schema(value_type = String, pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "07:00")]
    #[serde(with = "hhmm")]
    pub end: u16,
    /// The user's offset from UTC in minutes (60 for UTC+1), when no `time_zone` is given.
    #[serde(default)]
    #[schema(minimum = -840, maximum = 840)]
    pub utc_offset_minutes: i16,
    /// An IANA time zone; its offset follows daylight saving time.
    #[schema(example = "Europe/Berlin")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

impl QuietHours {
    pub fn validate(&self) -> Result<(), FieldError> {
        if let Some(zone) = &self.time_zone {
            if zone.parse::<Tz>().is_err() {
                return Err(FieldError {
                    field: "quiet_hours.time_zone".into(),
                    message: format!("`{zone}` is not an IANA time zone (like Europe/Berlin)"),
                });
            }
            if self.utc_offset_minutes != 0 {
                return Err(FieldError {
                    field: "quiet_hours.utc_offset_minutes".into(),
                    message: "give either a time_zone or an offset".into(),
                });
            }
        }
        if !(-14 * 60..=14 * 60).contains(&self.utc_offset_minutes) {
            return Err(FieldError {
                field: "quiet_hours.utc_offset_minutes".into(),
                message: "must be between -840 and 840".into(),
            });
        }
        if self.start == self.end {
            return Err(FieldError {
                field: "quiet_hours.end".into(),
                message: "must differ from start".into(),
            });
        }
        Ok(())
    }

    /// When the quiet hours that `now` falls in end, or None if `now` is outside them.
    pub fn ends_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.time_zone.as_deref().and_then(|z| z.parse::<Tz>().ok()) {
            Some(zone) => self.ends_in(&zone, now),
            None => {
                let offset = FixedOffset::east_opt(i32::from(self.utc_offset_minutes) * 60)?;
                self.ends_in(&offset, now)
            }
        }
    }

    fn ends_in<Z: TimeZone>(&self, zone: &Z, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(zone).naive_local();
        let minute = local.hour() * 60 + local.minute();
        let (start, end) = (u32::from(self.start), u32::from(self.end));
        let inside = if start < end {
            minute >= start && minute < end
        } else {
            minute >= start || minute < end
        };
        if !inside {
            return None;
        }
        let day = if minute < end {
            local.date()
        } else {
            local.date().checked_add_days(Days::new(1))?
        };
        let end_local = day.and_time(NaiveTime::from_hms_opt(end / 60, end % 60, 0)?);
        // An end inside a daylight-saving gap (02:30 on the night the clocks skip from 02:00
        // to 03:00) is read with the offset from before the jump: 03:30 on the new clock.
        let end_at = zone
            .from_local_datetime(&end_local)
            .earliest()
            .or_else(|| {
                zone.from_local_datetime(&(end_local + chrono::Duration::hours(1)))
                    .earliest()
            })?;
        Some(end_at.with_timezone(&Utc))
    }
}

/// `"HH:MM"` <-> minutes after midnight.
mod hhmm {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(minutes: &u16, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:02}:{:02}", minutes / 60, minutes % 60))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
        let text = String::deserialize(d)?;
        let parsed = text.split_once(':').and_then(|(h, m)| {
            let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
            (h < 24 && m < 60 && text.len() == 5).then_some(h * 60 + m)
        });
        parsed.ok_or_else(|| D::Error::custom(format!("`{text}` is not a time like `22:30`")))
    }
}

/// `GET /notification-preferences`: every category and channel, and the quiet hours.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Preferences {
    #[schema(value_type = std::collections::HashMap<String, std::collections::HashMap<String, bool>>, example = json!({"orders": {"email": true, "in_app": true, "sms": false, "push": true}}))]
    pub channels: ChannelMatrix,
    pub quiet_hours: Option<QuietHours>,
}

/// `PUT /notification-preferences`: categories and channels left out keep their setting;
/// `quiet_hours: null` removes them, leaving the field out keeps them.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesUpdate {
    #[serde(default)]
    #[schema(value_type = std::collections::HashMap<String, std::collections::HashMap<String, bool>>, example = json!({"orders": {"sms": true}, "marketing": {"email": false}}))]
    pub channels: ChannelMatrix,
    #[serde(default, deserialize_with = "present")]
    pub quiet_hours: Option<Option<QuietHours>>,
}

/// Tells `null` (Some(None)) from a missing field (None).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `POST /notifications`: an administrator writes to users.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminNotice {
    /// 1 to 1,000 accounts.
    pub user_ids: Vec<Uuid>,
    #[schema(example = "Maintenance tonight")]
    pub title: String,
    #[schema(example = "The shop is read-only from 22:00 to 23:00 UTC.")]
    pub body: String,
    /// Decides which preferences apply; `account` by default.
    #[serde(default = "account")]
    pub category: Category,
    /// Ignores preferences and quiet hours; for security notices.
    #[serde(default)]
    pub critical: bool,
}

fn account() -> Category {
    Category::Account
}

pub const MAX_ADMIN_RECIPIENTS: usize = 1000;

impl AdminNotice {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut check = |ok: bool, field: &str, message: &str| {
            if !ok {
                errors.push(FieldError {
                    field: field.into(),
                    message: message.into(),
                });
            }
        };
        check(
            (1..=MAX_ADMIN_RECIPIENTS).contains(&self.user_ids.len()),
            "user_ids",
            "needs 1 to 1000 accounts",
        );
        check(
            (1..=200).contains(&self.title.trim().chars().count()),
            "title",
            "needs 1 to 200 characters",
        );
        check(
            (1..=5000).contains(&self.body.trim().chars().count()),
            "body",
            "needs 1 to 5000 characters",
        );
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, h, m, 30).unwrap()
    }

    #[test]
    fn quiet_hours_across_midnight_end_the_next_morning() {
        let q = QuietHours {
            start: 22 * 60,
            end: 7 * 60,
            utc_offset_minutes: 0,
            time_zone: None,
        };
        assert_eq!(
            q.ends_after(at(23, 10)),
            Some(Utc.with_ymd_and_hms(2026, 11, 25, 7, 0, 0).unwrap())
        );
        assert_eq!(
            q.ends_after(at(3, 0)),
            Some(Utc.with_ymd_and_hms(2026, 11, 24, 7, 0, 0).unwrap())
        );
        assert_eq!(q.ends_after(at(7, 0)), None);
        assert_eq!(q.ends_after(at(12, 0)), None);
    }

    #[test]
    fn quiet_hours_follow_the_users_offset() {
        // 13:00-14:00 in UTC+2 is 11:00-12:00 UTC.
        let q = QuietHours {
            start: 13 * 60,
            end: 14 * 60,
            utc_offset_minutes: 120,
            time_zone: None,
        };
        assert_eq!(
            q.ends_after(at(11, 15)),
            Some(Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap())
        );
        assert_eq!(q.ends_after(at(13, 15)), None);
    }

    fn berlin(start: u16, end: u16) -> QuietHours {
        QuietHours {
            start,
            end,
            utc_offset_minutes: 0,
            time_zone: Some("Europe/Berlin".into()),
        }
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn quiet_hours_in_a_time_zone_follow_daylight_saving() {
        let night = berlin(22 * 60, 7 * 60);
        // Summer (UTC+2): 23:30 local is 21:30 UTC; 07:00 local is 05:00 UTC.
        assert_eq!(
            night.ends_after(utc(2026, 7, 1, 21, 30)),
            Some(utc(2026, 7, 2, 5, 0))
        );
        // Winter (UTC+1): the same hours end at 06:00 UTC.
        assert_eq!(
            night.ends_after(utc(2026, 12, 1, 22, 30)),
            Some(utc(2026, 12, 2, 6, 0))
        );
        assert_eq!(night.ends_after(utc(2026, 12, 1, 20, 30)), None);
        // The night the clocks go forward (29 March 2026): 23:00 CET, ends 07:00 CEST.
        assert_eq!(
            night.ends_after(utc(2026, 3, 28, 22, 0)),
            Some(utc(2026, 3, 29, 5, 0))
        );
        // An end that the clocks skip (02:30) is read with the offset before the jump.
        assert_eq!(
            berlin(60, 150).ends_after(utc(2026, 3, 29, 0, 15)),
            Some(utc(2026, 3, 29, 1, 30))
        );
    }

    #[test]
    fn a_time_zone_must_exist_and_excludes_an_offset() {
        assert!(berlin(60, 120).validate().is_ok());
        let mut unknown = berlin(60, 120);
        unknown.time_zone = Some("Europe/Atlantis".into());
        assert_eq!(
            unknown.validate().unwrap_err().field,
            "quiet_hours.time_zone"
        );
        let mut both = berlin(60, 120);
        both.utc_offset_minutes = 60;
        assert_eq!(
            both.validate().unwrap_err().field,
            "quiet_hours.utc_offset_minutes"
        );
    }

    #[test]
    fn times_parse_strictly() {
        let parse = |s: &str| {
            serde_json::from_value::<QuietHours>(serde_json::json!({"start": s, "end": "07:00"}))
        };
        assert_eq!(parse("22:30").unwrap().start, 22 * 60 + 30);
        assert!(parse("24:00").is_err());
        assert!(parse("7:00").is_err());
        assert!(parse("noon").is_err());
    }

    #[test]
    fn sms_and_marketing_start_off() {
        let m = default_matrix();
        assert!(!m[&Category::Orders][&Channel::Sms]);
        assert!(m[&Category::Orders][&Channel::Email]);
        assert!(!m[&Category::Marketing][&Channel::Email]);
        assert!(m[&Category::Marketing][&Channel::InApp]);
    }
}
