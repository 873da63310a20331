-- The account mails of auth (verification, reset, lockout) as mail templates, so they are
-- edited like any other template and sent as emails with a status. Variables: name, link,
-- token, valid_for_minutes, locked_until.

INSERT INTO mail_templates (id, name, subject, html, text, created_at, updated_at) VALUES
    (X'0195e2a40000700080000000000000a1', 'auth.verify_email', 'Confirm your email address', NULL,
     'Hello {{ name }},

please confirm your email address by opening this link:

{{ link }}

or by entering this code in the app:
token: {{ token }}

The link is valid for {{ valid_for_minutes }} minutes.
If you did not create an account, ignore this message.
',
     '2026-11-24T00:00:00+00:00', '2026-11-24T00:00:00+00:00'),
    (X'0195e2a40000700080000000000000a2', 'auth.reset_password', 'Reset your password', NULL,
     'Hello {{ name }},

someone (hopefully you) asked to reset the password of your account.
To choose a new password, open this link:

{{ link }}

or enter this code in the app:
token: {{ token }}

The link is valid for {{ valid_for_minutes }} minutes and works once.
Every session of your account ends when the password changes.
If you did not ask for this, ignore this message: your password stays as it is.
',
     '2026-11-24T00:00:00+00:00', '2026-11-24T00:00:00+00:00'),
    (X'0195e2a40000700080000000000000a3', 'auth.account_locked', 'Your account was locked', NULL,
     'Hello {{ name }},

your account was locked after several failed login attempts.
You can log in again after {{ locked_until }} (UTC).

If these attempts were not yours, consider resetting your password.
',
     '2026-11-24T00:00:00+00:00', '2026-11-24T00:00:00+00:00');
