-- A reviewer may void a held invoice instead of releasing it (for example one held because an upstream system
-- already invoiced the period). A void invoice never gets a number; its discounts go back to the customer.
ALTER TABLE invoices DROP CONSTRAINT IF EXISTS invoices_status_check;
ALTER TABLE invoices ADD CONSTRAINT invoices_status_check CHECK (status IN ('issued', 'held', 'void'));
ALTER TABLE invoices ADD COLUMN void_reason text;
