-- Every order's split wrote a row of order_allocations, and its foreign key to warehouses
-- made each insert take a KEY SHARE lock on the warehouse's row: with every SKU in the
-- default warehouse, every concurrent order locked the same row, and PostgreSQL turned
-- those shared locks into multixacts (benches/RESULTS.md, "Placement after warehouses").
-- Warehouses are never deleted (there is no route or statement that deletes one), and an
-- allocation is only ever written from a warehouse_stock row, whose own foreign key names
-- the warehouse; the check the constraint made at every order is kept where rows are
-- born, not repeated per order.
ALTER TABLE order_allocations DROP CONSTRAINT order_allocations_warehouse_id_fkey;
