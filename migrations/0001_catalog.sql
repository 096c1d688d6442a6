-- +migrate Up
CREATE TYPE product_status AS ENUM ('draft', 'active', 'archived');
CREATE TYPE currency_code AS ENUM ('EUR', 'USD');
CREATE TYPE option_group_type AS ENUM ('single', 'multiple');
CREATE TYPE custom_field_type AS ENUM ('text', 'url', 'number');
CREATE TYPE billing_cycle AS ENUM ('one_time', 'monthly', 'quarterly', 'annual');

CREATE TABLE products (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug               text NOT NULL UNIQUE,
    title              text NOT NULL,
    description        text,
    category           text NOT NULL,
    base_price         numeric(10,2) NOT NULL CHECK (base_price >= 0),
    currency           currency_code NOT NULL DEFAULT 'EUR',
    status             product_status NOT NULL DEFAULT 'draft',
    fulfillment_config jsonb,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
-- Catalog pages are ordered by (created_at, id) for stable cursors.
CREATE INDEX products_created_at_id_idx ON products (created_at, id);
CREATE INDEX products_status_idx ON products (status);

CREATE TABLE product_option_groups (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    product_id    uuid NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    name          text NOT NULL,
    description   text,
    group_type    option_group_type NOT NULL DEFAULT 'single',
    is_required   boolean NOT NULL DEFAULT false,
    display_order integer NOT NULL DEFAULT 0,
    metadata_json jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX product_option_groups_product_id_idx ON product_option_groups (product_id, display_order);

CREATE TABLE product_options (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    group_id      uuid NOT NULL REFERENCES product_option_groups(id) ON DELETE CASCADE,
    name          text NOT NULL,
    description   text,
    price_delta   numeric(10,2) NOT NULL DEFAULT 0,
    metadata_json jsonb,
    display_order integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX product_options_group_id_idx ON product_options (group_id, display_order);

CREATE TABLE product_add_ons (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    product_id     uuid NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    label          text NOT NULL,
    description    text,
    price_delta    numeric(10,2) NOT NULL DEFAULT 0,
    is_recommended boolean NOT NULL DEFAULT false,
    display_order  integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX product_add_ons_product_id_idx ON product_add_ons (product_id, display_order);

CREATE TABLE product_custom_fields (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    product_id    uuid NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    label         text NOT NULL,
    field_type    custom_field_type NOT NULL DEFAULT 'text',
    placeholder   text,
    help_text     text,
    is_required   boolean NOT NULL DEFAULT false,
    display_order integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX product_custom_fields_product_id_idx ON product_custom_fields (product_id, display_order);

CREATE TABLE product_subscription_plans (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    product_id       uuid NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    label            text NOT NULL,
    description      text,
    billing_cycle    billing_cycle NOT NULL DEFAULT 'one_time',
    price_multiplier numeric(10,4) CHECK (price_multiplier > 0),
    price_delta      numeric(10,2),
    is_default       boolean NOT NULL DEFAULT false,
    display_order    integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX product_subscription_plans_product_id_idx ON product_subscription_plans (product_id, display_order);
-- fix: at most one default plan per product.
CREATE UNIQUE INDEX product_subscription_plans_one_default ON product_subscription_plans (product_id) WHERE is_default;

-- +migrate Down
DROP TABLE product_subscription_plans;
DROP TABLE product_custom_fields;
DROP TABLE product_add_ons;
DROP TABLE product_options;
DROP TABLE product_option_groups;
DROP TABLE products;
DROP TYPE billing_cycle;
DROP TYPE custom_field_type;
DROP TYPE option_group_type;
DROP TYPE currency_code;
DROP TYPE product_status;
