-- Good standing reads overdue invoices from collections (issue 13 point 4): the first day an invoice counts as
-- overdue (due date + grace + 1), set by the dunning pass that first sees it past that day on the event-time
-- clock. It stays set; the invoice stops counting when its open amount reaches 0.
ALTER TABLE collection_invoices ADD COLUMN overdue_from date;
CREATE INDEX collection_invoices_overdue ON collection_invoices (account_id) WHERE open_minor > 0 AND overdue_from IS NOT NULL;
