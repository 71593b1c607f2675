-- Version 10: a product's after-sales goods class (`customised`, `perishable`,
-- `digital_delivery`, `periodical`), which the no-reason window may exclude; NULL for ordinary
-- goods, which every product written before this version is.

ALTER TABLE products ADD COLUMN goods_class TEXT;
