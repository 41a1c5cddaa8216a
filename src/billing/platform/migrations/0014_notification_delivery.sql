-- One-time codes are no longer stored readable. A notification keeps its message with a slot for the code
-- ('{code}') and the code itself sealed (Fernet, with NOTIFICATION_KEY, which is not in the database) until the
-- API's relay hands it to the delivery channel; then the sealed copy is cleared. key_id says which key sealed it,
-- so a relay only takes what it can open. A code not delivered before it expires is cleared as well.
ALTER TABLE notifications
    ADD COLUMN status      text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'expired')),
    ADD COLUMN sealed_code text,
    ADD COLUMN key_id      text,
    ADD COLUMN expires_at  timestamptz,
    ADD COLUMN attempts    integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    ADD CONSTRAINT notifications_sealed_only_while_pending CHECK (status = 'pending' OR sealed_code IS NULL);

-- Rows written before this held the code in clear in body, and nothing ever delivered them: their codes expired
-- minutes after (OTP_TTL_S). The code is cut out of the text and the row closed as expired.
UPDATE notifications SET body = regexp_replace(body, '[0-9]{4,}', '{code}', 'g'), status = 'expired';

DROP INDEX notifications_unsent;
CREATE INDEX notifications_pending ON notifications (key_id, notification_id) WHERE status = 'pending';
