-- Files (ids of the files domain) sent along with an email.

ALTER TABLE mail_emails ADD COLUMN attachments TEXT NOT NULL DEFAULT '[]';
