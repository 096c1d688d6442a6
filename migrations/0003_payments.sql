-- +migrate Up
CREATE TYPE payment_provider AS ENUM ('stripe', 'manual');
CREATE TYPE payment_status AS ENUM ('pending', 'succeeded', 'failed', 'refunded');

CREATE TABLE payments (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    order_id           uuid NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    provider           payment_provider NOT NULL DEFAULT 'stripe',
    -- fix: the Checkout Session id (Stripe returns no PaymentIntent at creation).
    provider_reference text NOT NULL UNIQUE,
    payment_intent_id  text,
    checkout_url       text,
    status             payment_status NOT NULL DEFAULT 'pending',
    amount             numeric(12,2) NOT NULL,
    currency           currency_code NOT NULL,
    failure_reason     text,
    captured_at        timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_order_id_idx ON payments (order_id);
CREATE INDEX payments_payment_intent_id_idx ON payments (payment_intent_id) WHERE payment_intent_id IS NOT NULL;

CREATE TABLE webhook_events (
    id           bigserial PRIMARY KEY,
    provider     payment_provider NOT NULL,
    external_id  text NOT NULL,
    event_type   text NOT NULL,
    outcome      text NOT NULL DEFAULT 'processed',
    processed_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provider, external_id)
);
CREATE INDEX webhook_events_processed_at_idx ON webhook_events (processed_at DESC);

-- +migrate Down
DROP TABLE webhook_events;
DROP TABLE payments;
DROP TYPE payment_status;
DROP TYPE payment_provider;
