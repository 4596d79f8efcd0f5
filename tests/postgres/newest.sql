-- What PostgreSQL 18 added that a schema can hold: named, NO INHERIT and NOT VALID NOT NULL
-- constraints, NOT ENFORCED checks and foreign keys, virtual generated columns, temporal keys
-- (WITHOUT OVERLAPS) and temporal foreign keys (PERIOD).
CREATE TABLE public.rooms (
    id integer CONSTRAINT room_id_required NOT NULL,
    during tstzrange NOT NULL,
    beds integer NOT NULL NO INHERIT,
    price numeric(8, 2),
    with_tax numeric GENERATED ALWAYS AS (price * 1.2) VIRTUAL,
    CONSTRAINT price_positive CHECK (price > 0) NOT ENFORCED,
    PRIMARY KEY (id, during WITHOUT OVERLAPS)
);
CREATE TABLE public.stays (
    room integer,
    during tstzrange,
    guest text,
    FOREIGN KEY (room, PERIOD during) REFERENCES public.rooms (id, PERIOD during)
);
CREATE TABLE public.legacy (code text);
INSERT INTO public.legacy VALUES ('a'), (NULL);
ALTER TABLE public.legacy ADD CONSTRAINT code_wanted NOT NULL code NOT VALID;
INSERT INTO public.rooms (id, during, beds, price) VALUES
    (1, '[2026-01-01,2026-06-01)', 2, -5), (1, '[2026-06-01,2027-01-01)', 2, 90);
INSERT INTO public.stays VALUES (1, '[2026-02-01,2026-02-05)', 'Ada');
