-- The payment provider's webhook (issue 13 point 5, src/billing/entrypoints/api/routes/webhooks.py): one row per
-- provider event accepted, inserted in the transaction that writes its payment event to the outbox, so a
-- delivery repeated by the provider is acknowledged without a second event.
CREATE TABLE payment_webhook_events (
    provider_event_id text PRIMARY KEY,
    provider_type     text        NOT NULL,
    event_id          text,                              -- the payment event written (NULL: a type ignored)
    received_at       timestamptz NOT NULL DEFAULT now()
);
