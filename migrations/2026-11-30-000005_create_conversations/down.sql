DROP TABLE inbound_seen;
DROP TABLE inbox_sync_leases;
DROP TABLE inbox_folders;
DROP TABLE attachments;
DROP TABLE messages;
DROP TABLE conversations;
ALTER TABLE sends DROP COLUMN subject, DROP COLUMN text_body, DROP COLUMN html_body;
