-- Laravel 11's default migrations as its PostgreSQL grammar writes them, plus the stock app's
-- tables, in a second schema of the search path too.
create table "migrations" ("id" serial not null primary key, "migration" varchar(255) not null, "batch" integer not null);
create table "users" ("id" bigserial not null primary key, "name" varchar(255) not null, "email" varchar(255) not null, "email_verified_at" timestamp(0) without time zone null, "password" varchar(255) not null, "remember_token" varchar(100) null, "created_at" timestamp(0) without time zone null, "updated_at" timestamp(0) without time zone null);
alter table "users" add constraint "users_email_unique" unique ("email");
create table "password_reset_tokens" ("email" varchar(255) not null, "token" varchar(255) not null, "created_at" timestamp(0) without time zone null, primary key ("email"));
create table "sessions" ("id" varchar(255) not null, "user_id" bigint null, "ip_address" varchar(45) null, "user_agent" text null, "payload" text not null, "last_activity" integer not null, primary key ("id"));
create index "sessions_user_id_index" on "sessions" ("user_id");
create index "sessions_last_activity_index" on "sessions" ("last_activity");
create table "cache" ("key" varchar(255) not null, "value" text not null, "expiration" integer not null, primary key ("key"));
create table "cache_locks" ("key" varchar(255) not null, "owner" varchar(255) not null, "expiration" integer not null, primary key ("key"));
create table "jobs" ("id" bigserial not null primary key, "queue" varchar(255) not null, "payload" text not null, "attempts" smallint not null, "reserved_at" integer null, "available_at" integer not null, "created_at" integer not null);
create index "jobs_queue_index" on "jobs" ("queue");
create table "job_batches" ("id" varchar(255) not null, "name" varchar(255) not null, "total_jobs" integer not null, "pending_jobs" integer not null, "failed_jobs" integer not null, "failed_job_ids" text not null, "options" text null, "cancelled_at" integer null, "created_at" integer not null, "finished_at" integer null, primary key ("id"));
create table "failed_jobs" ("id" bigserial not null primary key, "uuid" varchar(255) not null, "connection" text not null, "queue" text not null, "payload" text not null, "exception" text not null, "failed_at" timestamp(0) without time zone not null default CURRENT_TIMESTAMP);
alter table "failed_jobs" add constraint "failed_jobs_uuid_unique" unique ("uuid");
create schema "app";
create table "app"."products" ("id" bigserial not null primary key, "name" varchar(255) not null, "stock" integer not null default '0', "created_at" timestamp(0) without time zone null);
create table "app"."receptions" ("id" bigserial not null primary key, "product_id" bigint not null, "quantity" integer not null);
alter table "app"."receptions" add constraint "receptions_product_id_foreign" foreign key ("product_id") references "app"."products" ("id") on delete cascade;
insert into "migrations" ("migration", "batch") values ('0001_01_01_000000_create_users_table', 1), ('0001_01_01_000001_create_cache_table', 1);
insert into "users" ("name", "email", "password", "created_at") values ('Admin', 'admin@example.org', '$2y$12$abcdefghijklmnopqrstuv', '2026-12-01 08:00:00');
insert into "sessions" values ('s1', 1, '10.0.0.1', 'Mozilla', 'payload', 1733470000);
insert into "cache" values ('k', 's:1:"v";', 1999999999);
insert into "app"."products" ("name", "stock") select 'product ' || i, i % 50 from generate_series(1, 500) i;
insert into "app"."receptions" ("product_id", "quantity") select (i % 500) + 1, i from generate_series(1, 2000) i;
