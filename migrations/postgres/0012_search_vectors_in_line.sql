-- Search vectors stay in the entry's row instead of out of line (TOAST).
-- Out of line, every row a plan reads costs a TOAST lookup that the planner
-- does not count: it priced a scan of the whole table at the main heap's
-- few pages, and took that scan over the GIN index for every word (a rare
-- word at 10,000 documents: 66 requests/s against 4,429 in line). In line,
-- the table's size is its real size, and a phrase or a prefix reads its
-- matches' vectors with the rows. A vector too large for a page still goes
-- out of line (STORAGE MAIN: the last resort, never an insert that fails).
-- Entries written before keep their place until the table is rewritten
-- (`VACUUM FULL search_documents`; README, Operations).
ALTER TABLE search_documents SET (toast_tuple_target = 8160);
ALTER TABLE search_documents ALTER COLUMN search_vector SET STORAGE MAIN;
