-- Files (ids of the files domain) sent along with an email.

ALTER TABLE mail_emails ADD COLUMN attachments JSONB NOT NULL DEFAULT '[]';
