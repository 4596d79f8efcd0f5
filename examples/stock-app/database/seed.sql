-- The example stock database (what `php artisan migrate --seed` makes in the real app).
-- Rebuild: rm -f database.sqlite && sqlite3 database.sqlite < seed.sql
PRAGMA journal_mode = DELETE;
BEGIN;
CREATE TABLE migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, migration VARCHAR NOT NULL, batch INTEGER NOT NULL);
CREATE TABLE products (id INTEGER PRIMARY KEY AUTOINCREMENT, code VARCHAR NOT NULL UNIQUE, name VARCHAR NOT NULL,
  unit VARCHAR NOT NULL, seuil_alerte INTEGER NOT NULL DEFAULT 0, stock INTEGER NOT NULL DEFAULT 0,
  created_at DATETIME, updated_at DATETIME);
CREATE TABLE receptions (id INTEGER PRIMARY KEY AUTOINCREMENT, product_id INTEGER NOT NULL REFERENCES products(id),
  quantite INTEGER NOT NULL, lot VARCHAR, date_peremption DATE, fournisseur VARCHAR, date_reception DATE NOT NULL,
  created_at DATETIME, updated_at DATETIME);
CREATE TABLE sorties (id INTEGER PRIMARY KEY AUTOINCREMENT, product_id INTEGER NOT NULL REFERENCES products(id),
  quantite INTEGER NOT NULL, service VARCHAR, motif VARCHAR, date_sortie DATE NOT NULL,
  created_at DATETIME, updated_at DATETIME);
CREATE TABLE inventaires (id INTEGER PRIMARY KEY AUTOINCREMENT, product_id INTEGER NOT NULL REFERENCES products(id),
  stock_theorique INTEGER NOT NULL, stock_physique INTEGER NOT NULL, date_inventaire DATE NOT NULL, observation TEXT,
  created_at DATETIME, updated_at DATETIME);
CREATE INDEX receptions_product_id_index ON receptions (product_id);
CREATE INDEX sorties_product_id_index ON sorties (product_id);
CREATE INDEX inventaires_product_id_index ON inventaires (product_id);
INSERT INTO migrations (migration, batch) VALUES
  ('2024_01_01_000001_create_products_table', 1), ('2024_01_01_000002_create_receptions_table', 1),
  ('2024_01_01_000003_create_sorties_table', 1), ('2024_01_01_000004_create_inventaires_table', 1);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
INSERT INTO products (code, name, unit, seuil_alerte, created_at, updated_at)
SELECT printf('MED-%04d', i),
       (CASE i % 5 WHEN 0 THEN 'Paracétamol ' WHEN 1 THEN 'Amoxicilline ' WHEN 2 THEN 'Gants nitrile '
        WHEN 3 THEN 'Compresses ' ELSE 'Sérum physiologique ' END) || i,
       CASE i % 3 WHEN 0 THEN 'boîte' WHEN 1 THEN 'flacon' ELSE 'unité' END,
       10 + i % 40, '2024-01-01 08:00:00', '2024-01-01 08:00:00' FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
INSERT INTO receptions (product_id, quantite, lot, date_peremption, fournisseur, date_reception, created_at, updated_at)
SELECT 1 + i % 200, 20 + i % 80, printf('LOT%06d', i), date('2027-01-01', '+' || (i % 700) || ' days'),
       CASE i % 2 WHEN 0 THEN 'Pharmacie centrale' ELSE 'Dépôt régional' END,
       date('2024-01-01', '+' || (i % 690) || ' days'), '2024-01-01 08:00:00', '2024-01-01 08:00:00' FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
INSERT INTO sorties (product_id, quantite, service, motif, date_sortie, created_at, updated_at)
SELECT 1 + i % 200, 1 + i % 15, CASE i % 3 WHEN 0 THEN 'Maternité' WHEN 1 THEN 'Urgences' ELSE 'Pédiatrie' END,
       'Consommation', date('2024-01-02', '+' || (i % 690) || ' days'), '2024-01-01 08:00:00', '2024-01-01 08:00:00' FROM n;
UPDATE products SET stock = (SELECT coalesce(sum(quantite), 0) FROM receptions r WHERE r.product_id = products.id)
                          - (SELECT coalesce(sum(quantite), 0) FROM sorties s WHERE s.product_id = products.id);
INSERT INTO inventaires (product_id, stock_theorique, stock_physique, date_inventaire, observation, created_at, updated_at)
SELECT id, stock, stock - (id % 3), '2025-12-31', CASE id % 3 WHEN 0 THEN NULL ELSE 'Écart constaté' END,
       '2025-12-31 17:00:00', '2025-12-31 17:00:00' FROM products;
COMMIT;
