-- +migrate Up
CREATE TYPE order_status AS ENUM ('pending', 'processing', 'active', 'completed', 'on_hold', 'canceled');
CREATE TYPE order_source AS ENUM ('checkout', 'manual');

-- fix: order numbers come from a sequence, never from count(*)+1.
CREATE SEQUENCE order_number_seq;

CREATE TABLE orders (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    order_number   text NOT NULL UNIQUE DEFAULT ('SM' || lpad(nextval('order_number_seq')::text, 6, '0')),
    user_id        uuid,
    status         order_status NOT NULL DEFAULT 'pending',
    source         order_source NOT NULL DEFAULT 'checkout',
    subtotal       numeric(12,2) NOT NULL DEFAULT 0,
    tax            numeric(12,2) NOT NULL DEFAULT 0,
    total          numeric(12,2) NOT NULL DEFAULT 0,
    currency       currency_code NOT NULL DEFAULT 'EUR',
    notes          text,
    customer_email text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_created_at_id_idx ON orders (created_at DESC, id DESC);
CREATE INDEX orders_user_id_idx ON orders (user_id, created_at DESC);
CREATE INDEX orders_status_idx ON orders (status);

CREATE TABLE order_items (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    order_id         uuid NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    product_id       uuid REFERENCES products(id) ON DELETE SET NULL,
    product_title    text NOT NULL,
    quantity         integer NOT NULL CHECK (quantity > 0),
    unit_price       numeric(12,2) NOT NULL,
    total_price      numeric(12,2) NOT NULL,
    selected_options jsonb,
    attributes       jsonb,
    -- The priced snapshot of the configuration chosen: options, add-ons, plan,
    -- custom field values, defaults applied and the price breakdown.
    configuration    jsonb NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_items_order_id_idx ON order_items (order_id);
CREATE INDEX order_items_product_id_idx ON order_items (product_id);

-- Every order status change: from, to, when, by which role, note.
CREATE TABLE order_status_events (
    id          bigserial PRIMARY KEY,
    order_id    uuid NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    from_status order_status,
    to_status   order_status NOT NULL,
    actor       text NOT NULL,
    note        text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_status_events_order_id_idx ON order_status_events (order_id, id);

-- Idempotency keys for order and checkout creation, scoped per API key.
CREATE TABLE idempotency_keys (
    scope           text NOT NULL,
    key             text NOT NULL,
    request_hash    text NOT NULL,
    response_status integer,
    response_body   bytea,
    created_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);

-- +migrate Down
DROP TABLE idempotency_keys;
DROP TABLE order_status_events;
DROP TABLE order_items;
DROP TABLE orders;
DROP SEQUENCE order_number_seq;
DROP TYPE order_source;
DROP TYPE order_status;
