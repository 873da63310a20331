-- Quiet hours in an IANA time zone (daylight saving included) instead of a fixed offset.
ALTER TABLE notification_quiet_hours ADD COLUMN time_zone TEXT;
