-- Partitioned tables and inheritance, as pg_dump must reproduce them: range and hash
-- partitions, a default one, sub-partitions, a partition attached with its own column order
-- and a dropped column, keys and indexes on the parent attached to each partition's, foreign
-- keys to and from partitioned tables, a trigger on the parent with one partition's copy
-- disabled; inheritance with two parents and merged columns, inherited and NO INHERIT
-- checks, a child's own default and NOT NULL on an inherited column, a NOT VALID check.
CREATE TABLE public.sites (id integer PRIMARY KEY, name text NOT NULL);
INSERT INTO public.sites VALUES (1, 'Centre'), (2, 'Annexe');

CREATE TABLE public.movements (
    id bigint NOT NULL,
    at date NOT NULL,
    site integer NOT NULL REFERENCES public.sites (id),
    qty integer DEFAULT 1 CHECK (qty <> 0),
    note text
) PARTITION BY RANGE (at);
CREATE TABLE public.movements_2025 PARTITION OF public.movements
    FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
-- Its own column order, a dropped column, its own default: attached later.
CREATE TABLE public.movements_2026 (
    note text, gone integer, site integer NOT NULL, qty integer DEFAULT 7 CONSTRAINT movements_qty_check CHECK (qty <> 0),
    at date NOT NULL, id bigint NOT NULL
);
ALTER TABLE public.movements_2026 DROP COLUMN gone;
ALTER TABLE public.movements ATTACH PARTITION public.movements_2026
    FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE public.movements_other PARTITION OF public.movements DEFAULT
    PARTITION BY RANGE (at);
CREATE TABLE public.movements_other_old PARTITION OF public.movements_other
    FOR VALUES FROM (MINVALUE) TO ('2025-01-01');
CREATE TABLE public.movements_other_rest PARTITION OF public.movements_other DEFAULT;
ALTER TABLE public.movements ADD PRIMARY KEY (id, at);
CREATE INDEX movements_site ON public.movements (site, at);
CREATE INDEX movements_2025_note ON public.movements_2025 (note);

CREATE FUNCTION public.no_zero() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.qty = 0 THEN RAISE EXCEPTION 'zero'; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER movements_no_zero BEFORE INSERT ON public.movements
    FOR EACH ROW EXECUTE FUNCTION public.no_zero();
ALTER TABLE public.movements_2025 DISABLE TRIGGER movements_no_zero;

INSERT INTO public.movements (id, at, site, qty, note)
SELECT i, DATE '2024-11-01' + (i % 900), 1 + i % 2, i % 5 + 1, 'm' || i FROM generate_series(1, 3000) i;

-- A foreign key to a partitioned table.
CREATE TABLE public.corrections (
    id integer PRIMARY KEY,
    movement bigint NOT NULL,
    at date NOT NULL,
    FOREIGN KEY (movement, at) REFERENCES public.movements (id, at) ON DELETE CASCADE
);
INSERT INTO public.corrections VALUES (1, 10, DATE '2024-11-01' + 10), (2, 2000, DATE '2024-11-01' + (2000 % 900));

CREATE TABLE public.hashed (k integer PRIMARY KEY, v text) PARTITION BY HASH (k);
CREATE TABLE public.hashed_0 PARTITION OF public.hashed FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE public.hashed_1 PARTITION OF public.hashed FOR VALUES WITH (MODULUS 2, REMAINDER 1);
INSERT INTO public.hashed SELECT i, 'h' || i FROM generate_series(1, 50) i;

-- Inheritance.
CREATE TABLE public.items (name text NOT NULL, stock integer DEFAULT 0,
    CONSTRAINT stock_positive CHECK (stock >= 0),
    CONSTRAINT items_only CHECK (name <> '') NO INHERIT);
CREATE TABLE public.tracked (serial text, stock integer DEFAULT 5);
ALTER TABLE public.tracked ADD CONSTRAINT stock_positive CHECK (stock >= 0);
CREATE TABLE public.drugs (expires date, stock integer DEFAULT 0) INHERITS (public.items, public.tracked);
ALTER TABLE ONLY public.drugs ALTER COLUMN serial SET NOT NULL;
ALTER TABLE ONLY public.drugs ALTER COLUMN expires SET DEFAULT DATE '2030-01-01';
CREATE TABLE public.vaccines (cold boolean DEFAULT true) INHERITS (public.drugs);
ALTER TABLE ONLY public.vaccines ALTER COLUMN stock SET DEFAULT 2;
ALTER TABLE public.items ADD CONSTRAINT later CHECK (length(name) < 100) NOT VALID;
INSERT INTO public.items VALUES ('gauze', 10);
INSERT INTO public.drugs (name, stock, serial, expires) VALUES ('aspirin', 3, 'A1', '2027-01-01');
INSERT INTO public.vaccines (name, serial) VALUES ('flu', 'V1');

-- An identity column on a partitioned table (from PostgreSQL 17, its partitions share it).
CREATE TABLE public.events (id bigint GENERATED ALWAYS AS IDENTITY, at date NOT NULL,
    PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE public.events_all PARTITION OF public.events FOR VALUES FROM ('2020-01-01') TO ('2030-01-01');
INSERT INTO public.events (at) VALUES ('2021-01-01'), ('2022-02-02');
