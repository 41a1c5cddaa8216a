-- A dispute credit is a credit_note grant decided by the discount authority (streams/disputes/resolution.py):
-- within the resolver's authority it is granted at once, above it it waits here for a second person like any
-- discount. The request remembers the dispute it settles and the resolver's reason, so the approval can issue
-- the credit note and resolve the dispute. One credit at a time waits per dispute.
ALTER TABLE discount_requests
    ADD COLUMN dispute_id      text,
    ADD COLUMN resolution_note text;
CREATE INDEX discount_requests_dispute ON discount_requests (dispute_id) WHERE dispute_id IS NOT NULL;
CREATE UNIQUE INDEX discount_requests_one_pending_per_dispute ON discount_requests (dispute_id)
    WHERE status = 'pending' AND dispute_id IS NOT NULL;
