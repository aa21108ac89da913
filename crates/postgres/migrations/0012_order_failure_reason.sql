-- Why a failed order failed, when that is recorded: a placement taken into the order
-- queue while this database was unreachable, and refused when it was placed later (stock
-- ran out, the payment was declined). ADR 0016.
ALTER TABLE orders ADD COLUMN failure_reason TEXT;
